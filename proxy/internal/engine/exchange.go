package engine

import (
	"time"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/http1"
	"github.com/meshbench/meshbench/proxy/internal/http2"
	"github.com/meshbench/meshbench/proxy/internal/metrics"
	"github.com/meshbench/meshbench/proxy/internal/route"
)

// The request pipeline. A downstream codec (downstream.go: HTTP/1.1 on a
// client connection) turns bytes into exchanges; the exchange owns the
// request's life and applies each policy at its layer, in this order
// (pipeline.go):
//
//	logical    route: Service lookup, HTTPRoute match      exchange.route
//	           request authorization (inbound mTLS)         exchange.authorize
//	           deadline from the rule's timeouts            exchange.route
//	concrete   weighted backend pick                        exchange.route
//	endpoint   P2C over healthy endpoints, pooled conns     exchange.attempt
//	attempt    retry a refused connect or a stale pooled    exchange.connectFailed,
//	           connection, once                             exchange.upstreamReset
//	outcome    metrics, outlier detection                   exchange.finish*, endpoint*
//
// An upstream codec (upstream.go: HTTP/1.1 to an endpoint) reports to the
// exchange (responseHead, responseBody, responseDone, upstreamBroke, ...)
// and never touches the downstream connection; the exchange hands the
// response to its downstream codec through the downstream interface, so a
// codec for another protocol plugs in on either side without the policies
// moving.

// exchange is one request and its response.
type exchange struct {
	l       *loop
	down    downstream // the codec the request arrived on, which answers it
	inbound bool

	start      int64 // monotime the request began (its first head byte)
	deadline   int64 // monotime the request times out; 0 = never
	lastActive int64 // monotime of the last byte moved either way, for the idle timeout

	table   *route.Table // the config this request started with; it finishes on it
	rule    *route.Rule
	backend *route.Backend
	series  *metrics.RequestSeries
	ep      *balance.Endpoint // endpoint with this request counted as outstanding
	up      upstream          // the attempt's connection or stream; nil between attempts

	attempts int // connection attempts made

	isHEAD    bool
	websocket bool // the request asks to switch to WebSocket (tunnel.go)
	// wsAccept is the Sec-WebSocket-Accept the upstream must answer when
	// the proxy made the handshake's key itself (an HTTP/2 client's
	// extended CONNECT, RFC 8441); wsCheck says it did.
	wsAccept   [webSocketAcceptLen]byte
	wsCheck    bool
	tunnel     bool // the upstream agreed: bytes are copied both ways unparsed
	bodyless   bool // the request had no body (safe to replay on a new connection)
	reqDone    bool // the request body has been handed to the upstream in full
	grpc       bool // a gRPC call (grpc.go)
	grpcStatus int  // the endpoint's grpc-status, -1 until one arrives
	// respStarted: a response head (or local reply) has gone to the
	// downstream codec; from then on a failure can only cut the response.
	respStarted bool

	head []byte // request head for an HTTP/1.1 upstream, kept until sent (and for one retry)
}

// downstream is the client side of exchanges: a codec that received
// requests and writes their responses in its protocol. Calls happen on the
// loop; ex is one of the codec's own exchanges.
type downstream interface {
	// localReply writes a response the proxy made itself (already
	// recorded) and ends ex on the client side.
	localReply(ex *exchange, status int, reason string)
	// interim forwards a 1xx response; false when the client connection
	// is gone.
	interim(ex *exchange, h *respHead) bool
	// responseHead takes the final response head; it may hold it back to
	// go out with the first body bytes.
	responseHead(ex *exchange, h *respHead)
	// responseBody writes body bytes (and a held-back head); false when the
	// client connection is gone.
	responseBody(ex *exchange, p []byte) bool
	// trailers writes the response's trailer fields (gRPC's grpc-status);
	// a codec whose client cannot receive them drops them.
	trailers(ex *exchange, f *http2.Fields)
	// flush writes a held-back head on its own (no body bytes at hand);
	// false when the client connection is gone.
	flush(ex *exchange) bool
	// responseEnd: the response is complete and recorded.
	responseEnd(ex *exchange)
	// cut makes the client see that the response cannot complete.
	cut(ex *exchange)
	// startTunnel writes a 101 and from then on copies bytes both ways.
	startTunnel(ex *exchange, h *respHead) bool
	// pumpRequest forwards whatever request body the codec holds, now that
	// the upstream can take it.
	pumpRequest(ex *exchange)
	// resumeRequest reads the client again if it was paused for the
	// upstream (which has now taken its backlog).
	resumeRequest(ex *exchange)
	// backlog counts response bytes queued for the client.
	backlog() int
	// framesHTTP1 reports whether the client speaks HTTP/1.1, so that an
	// HTTP/1.1 upstream's body framing passes through verbatim; otherwise
	// the upstream codec hands over the payload only.
	framesHTTP1() bool
}

// upstream is the endpoint side of an attempt: an HTTP/1.1 connection
// (upConn) or a stream of an HTTP/2 connection (h2UpStream). The request it
// carries is always described in HTTP/1.1 terms (ex.head, then body bytes
// framed as that head announces); an HTTP/2 upstream translates.
type upstream interface {
	// requestBacklog returns the request bytes queued for the endpoint,
	// and false while the attempt cannot take any yet (connecting).
	requestBacklog() (int, bool)
	// sendRequest forwards request body bytes; false when the attempt is gone.
	sendRequest(p []byte) bool
	// resumeResponse reads the response again once the client has drained
	// what it was sent.
	resumeResponse()
	// abandon detaches the attempt from its exchange and ends it (an
	// HTTP/1.1 connection in an unknown state is closed, an HTTP/2 stream
	// reset).
	abandon()
}

// respHead is a response head as an upstream codec received it.
type respHead struct {
	raw  []byte // HTTP/1.1: the head's bytes, which resp's spans index
	resp *http1.Response
	// untilClose: the body ends when the upstream closes (no length, not
	// chunked); a client on HTTP/1.1 can then only learn its end by close.
	untilClose bool
	// bodyless: no body follows (204, 304, HEAD, content-length 0).
	bodyless bool
}

// reset prepares the exchange for a new request on table t.
func (ex *exchange) reset(t *route.Table, start int64) {
	ex.table, ex.rule, ex.backend, ex.ep, ex.up = t, nil, nil, nil, nil
	ex.series = ex.l.requestSeries(t, ex.inbound, nil, nil)
	ex.start, ex.deadline, ex.lastActive = start, 0, start
	ex.attempts = 0
	ex.isHEAD, ex.websocket, ex.tunnel, ex.wsCheck = false, false, false, false
	ex.bodyless, ex.reqDone = true, true
	ex.respStarted = false
	ex.grpc, ex.grpcStatus = false, -1
}

// reply answers the request with a response the proxy makes itself (404,
// 503, ...): it is recorded (meshproxy_local_replies_total and the request
// series), and the exchange ends.
func (ex *exchange) reply(status int, reason string) {
	ex.l.localReplies(ex.inbound, status, reason).Inc()
	ex.series.Observe(status, time.Duration(monotime()-ex.start))
	if ex.grpc {
		ex.series.ObserveGRPC(grpcForLocalReply(status, reason))
	}
	ex.respStarted = true
	ex.dropUpstream()
	ex.releaseEndpoint()
	ex.down.localReply(ex, status, reason)
}

// dropUpstream detaches and closes the attempt's connection: its state is
// unknown once the exchange gives up on it.
func (ex *exchange) dropUpstream() {
	if u := ex.up; u != nil {
		ex.up = nil
		u.abandon()
	}
}

// --- requests from the downstream codec ----------------------------------

// requestBacklog returns the request bytes queued for the upstream, and
// false while no connected upstream can take any.
func (ex *exchange) requestBacklog() (int, bool) {
	if ex.up == nil {
		return 0, false
	}
	return ex.up.requestBacklog()
}

// sendRequest forwards request body (or tunnelled) bytes to the upstream;
// false when the connection is gone. Callers check requestBacklog first.
func (ex *exchange) sendRequest(p []byte) bool {
	ex.lastActive = monotime()
	return ex.up.sendRequest(p)
}

// resumeResponse reads the upstream again if it was paused because the
// client had not taken the response (the client has now drained it).
func (ex *exchange) resumeResponse() {
	if ex.up != nil {
		ex.up.resumeResponse()
	}
}

// --- reports from the upstream codec ---------------------------------------

// upstreamReady runs when the attempt's connection can carry the request:
// the codec has written the head, the body follows.
func (ex *exchange) upstreamReady() {
	ex.lastActive = monotime()
	ex.down.pumpRequest(ex)
}

// upstreamWritable runs when the upstream has taken the request bytes
// queued for it down to the low-water mark.
func (ex *exchange) upstreamWritable() { ex.down.resumeRequest(ex) }

// responseInterim passes a 1xx (100 Continue, 103 Early Hints) on.
func (ex *exchange) responseInterim(h *respHead) bool {
	return ex.down.interim(ex, h)
}

// responseHead passes the final response head on.
func (ex *exchange) responseHead(h *respHead) {
	ex.respStarted = true
	ex.down.responseHead(ex, h)
}

// responseBody passes body bytes on; false when the client is gone.
func (ex *exchange) responseBody(p []byte) bool {
	return ex.down.responseBody(ex, p)
}

// touch records progress: bytes moved, so the exchange is not idle.
func (ex *exchange) touch() { ex.lastActive = monotime() }

// responseOverflow ends the exchange whose client was handed more than
// limits.maxBufferedBytes in one write (reads pause well before that, so
// only a single oversized write gets here).
func (ex *exchange) responseOverflow() {
	ex.l.p.bufferOverflow.Inc()
	ex.down.cut(ex)
}

// responseTrailers passes trailer fields on; the response ends after them.
func (ex *exchange) responseTrailers(f *http2.Fields) {
	if ex.grpc {
		ex.grpcStatus = grpcStatusOf(f)
	}
	ex.down.trailers(ex, f)
}

// responseFlush writes a held-back head: no body bytes are at hand now.
func (ex *exchange) responseFlush() bool { return ex.down.flush(ex) }

// responseBacklog counts response bytes the client has not taken yet.
func (ex *exchange) responseBacklog() int { return ex.down.backlog() }

// responseDone completes the exchange with the upstream's status. The
// codec has already detached its connection (pooled or closed).
func (ex *exchange) responseDone(status int) {
	ex.series.Observe(status, time.Duration(monotime()-ex.start))
	if ex.grpc {
		ex.series.ObserveGRPC(ex.grpcOutcome(status))
	}
	ex.endpointAnswered(status)
	ex.down.responseEnd(ex)
}

// upstreamBroke ends the exchange after the upstream violated the protocol
// (a malformed head, an unexpected 101, a head too large): a local reply
// when no response byte reached the client yet, a cut otherwise. The codec
// has detached and closed its connection.
func (ex *exchange) upstreamBroke(status int, reason string) {
	ex.l.p.upstreamProtocolErrors.Inc()
	ex.endpointFailed()
	if ex.respStarted {
		ex.cut(ex.l.p.cut.upstreamError)
		return
	}
	ex.reply(status, reason)
}

// responseCut ends the exchange whose response broke after its head went
// out (the upstream closed early or its body framing broke).
func (ex *exchange) responseCut(cause *metrics.Counter) {
	ex.l.p.upstreamProtocolErrors.Inc()
	ex.endpointFailed()
	ex.cut(cause)
}

// cut ends an exchange whose response has started and cannot be completed.
// The request is recorded with status 0 (the client did not get the
// response its status line announced), so a truncated 200 never counts as
// a success, and the cut is counted by cause.
func (ex *exchange) cut(cause *metrics.Counter) {
	cause.Inc()
	ex.series.Observe(0, time.Duration(monotime()-ex.start))
	if ex.grpc {
		ex.series.ObserveGRPC(grpcInternal) // what a client makes of RST_STREAM INTERNAL_ERROR
	}
	ex.down.cut(ex)
}

// abandon ends the exchange on the proxy's initiative (a timeout): with a
// local reply when no response byte has reached the client yet, by
// cutting the response otherwise.
func (ex *exchange) abandon(status int, reason string, cut *metrics.Counter) {
	if ex.respStarted {
		ex.cut(cut)
		return
	}
	ex.reply(status, reason)
}

// downstreamGone releases what the exchange holds after its client left.
func (ex *exchange) downstreamGone() {
	if ex.tunnel {
		ex.tunnelEnded()
	}
	if ex.up != nil {
		// The client left mid-exchange: the upstream connection is in an
		// unknown state and cannot be reused.
		if !ex.respStarted {
			ex.series.Observe(0, time.Duration(monotime()-ex.start))
			if ex.grpc {
				ex.series.ObserveGRPC(grpcCancelled)
			}
		}
		ex.dropUpstream()
	}
	ex.releaseEndpoint()
}

// idleFor reports whether nothing moved either way for the idle timeout.
func (ex *exchange) idleFor(now int64, o *Options) bool {
	return o.IdleTimeout > 0 && now-ex.lastActive > int64(o.IdleTimeout)
}

// checkTimeouts enforces the request timeout and the idle timeout of an
// exchange in progress. clientStalled says the client is the side not
// moving (it has not finished a request body the upstream has taken so
// far): an idle exchange then gets a 408, not a 504.
func (ex *exchange) checkTimeouts(now int64, o *Options, clientStalled bool) {
	p := ex.l.p
	if ex.tunnel {
		if ex.idleFor(now, o) {
			p.idleTimeouts.Inc()
			ex.down.cut(ex) // an idle WebSocket ends; downstreamGone records it
		}
		return
	}
	if ex.deadline != 0 && now > ex.deadline {
		p.timeouts.Inc()
		ex.endpointFailed()
		ex.abandon(504, "upstream_timeout", p.cut.timeout)
		return
	}
	if ex.idleFor(now, o) {
		// Nothing moved either way for the idle timeout: a hung upstream
		// gets a 504, as nginx and HAProxy send, not a silent close; a
		// client that stopped sending the body it announced gets a 408.
		p.idleTimeouts.Inc()
		if clientStalled {
			ex.abandon(408, "request_body_timeout", p.cut.idleTimeout)
		} else {
			ex.endpointFailed()
			ex.abandon(504, "upstream_idle_timeout", p.cut.idleTimeout)
		}
	}
}
