package engine

import (
	"crypto/tls"
	"net"
	"net/netip"
	"time"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/http1"
	"github.com/meshbench/meshbench/proxy/internal/identity"
	"github.com/meshbench/meshbench/proxy/internal/metrics"
	"github.com/meshbench/meshbench/proxy/internal/route"
)

// downState is where a downstream connection is in its request/response
// cycle. Requests on one connection are served strictly one at a time: a
// pipelined request stays in gnet's inbound buffer until the response before
// it is complete, which answers pipelined requests in order by construction.
type downState uint8

const (
	dsHead    downState = iota // waiting for (the rest of) a request head
	dsBody                     // request routed; forwarding its body (or waiting for the upstream to connect)
	dsWait                     // request fully forwarded; waiting for the response to finish
	dsClosing                  // last response written; close once it is flushed
)

// downConn is one client connection (to the outbound or inbound listener).
type downConn struct {
	prev, next *downConn // loop.downs membership

	l        *loop
	io       stream // the client connection (TLS-terminated on an mTLS inbound listener)
	inbound  bool
	clientIP []byte // textual peer address, appended to X-Forwarded-For
	xfcc     []byte // "x-forwarded-client-cert: By=...;URI=...\r\n" of an mTLS peer
	state    downState
	closed   bool
	inRead   bool // onTraffic is on the stack: nested callers must not re-enter it
	// origDst is where the app meant to connect before iptables redirected
	// the connection to the outbound listener (see origdst.go); zero when
	// not redirected. Kept as an address, not a *route.Service, so every
	// request resolves it against the table current at that request.
	origDst netip.AddrPort

	view reqView

	headStart  int64 // monotime of the first byte of the pending head; 0 = none yet
	lastActive int64 // monotime of the last progress, for the idle timeout
	start      int64 // monotime the current request began (its first head byte)
	deadline   int64 // monotime the current request times out; 0 = never

	table    *route.Table // the config this request started with; in-flight requests finish on it
	rule     *route.Rule
	backend  *route.Backend
	series   *metrics.RequestSeries
	ep       *balance.Endpoint // endpoint with this request counted as outstanding
	up       *upConn
	attempts int // connection attempts made for the current request

	bodyless    bool // the request had no body (safe to replay on a new connection)
	bodyChunked bool
	bodyLeft    int64
	bodyScan    http1.ChunkedScanner
	bodyDone    bool

	websocket   bool // the request asks to switch to WebSocket (tunnel.go)
	tunnel      bool // the upstream agreed: bytes are copied both ways unparsed
	respStarted bool // a response head (or local reply) has gone to the client
	closeAfter  bool // close the connection once this response is written
	keepAlive10 bool // HTTP/1.0 client that asked for keep-alive
	isHEAD      bool

	head []byte // request head rewritten for the upstream, kept until sent (and for one retry)
	out  []byte // response head (pending until its first body bytes) or local reply
}

// reqView adapts a parsed request to route.Request without copying.
type reqView struct {
	buf []byte
	req *http1.Request
}

func (v *reqView) Method() []byte { return v.req.Method.Bytes(v.buf) }
func (v *reqView) Path() []byte   { return v.req.Path.Bytes(v.buf) }
func (v *reqView) Query() []byte  { return v.req.Query.Bytes(v.buf) }

// Header returns the first field named name (given in lower case).
func (v *reqView) Header(name string) ([]byte, bool) {
	for i := 0; i < v.req.NumHeaders; i++ {
		h := &v.req.Headers[i]
		if equalFoldLower(h.Name.Bytes(v.buf), name) {
			return h.Value.Bytes(v.buf), true
		}
	}
	return nil, false
}

// equalFoldLower reports whether b equals the lower-case ASCII string s,
// ignoring the case of b.
func equalFoldLower(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// onTraffic advances the connection as far as the buffered bytes allow.
func (d *downConn) onTraffic() {
	if d.inRead {
		return
	}
	d.inRead = true
	defer func() {
		d.inRead = false
		d.updateReads()
	}()
	for !d.closed {
		switch d.state {
		case dsHead:
			if d.io.outbound() > d.l.p.flow.high {
				// The client is not reading its responses: the next
				// request waits, and so do its bytes (updateReads).
				return
			}
			if !d.readHead() {
				return
			}
		case dsBody:
			if !d.forwardBody() {
				return
			}
		default:
			// Pipelined bytes wait in gnet's buffer for their turn, bounded
			// by pausing reads (updateReads).
			return
		}
	}
}

// resume continues with pipelined requests after an exchange ended from the
// upstream side. It is a no-op when onTraffic is already on the stack.
func (d *downConn) resume() {
	if !d.closed && d.state == dsHead && d.io.buffered() > 0 {
		d.onTraffic()
		return
	}
	d.updateReads()
}

// readHead parses the next request head and dispatches it. It reports
// whether the loop in onTraffic should continue.
func (d *downConn) readHead() bool {
	buf := d.io.peek()
	if len(buf) == 0 {
		if d.io.failed() != nil {
			d.closeConn() // the TLS session ended (close_notify) or broke
		}
		return false
	}
	o := &d.l.p.opts
	now := monotime()
	if d.headStart == 0 {
		d.headStart = now
	}
	n, err := http1.ParseRequest(buf, o.MaxHeaderBytes, &d.l.req)
	if err != nil {
		// The framing of what follows is unknown: answer and close.
		d.start, d.headStart = d.headStart, 0
		d.resetExchange(d.l.p.table.Load())
		d.bodyDone = false
		status, reason := 400, "bad_request"
		if e, ok := err.(*http1.Error); ok {
			status, reason = e.Status, e.Reason
		}
		d.io.discardAll()
		d.localReply(status, reason)
		return false
	}
	if n == 0 {
		return false
	}
	d.start, d.headStart, d.lastActive = d.headStart, 0, now
	d.dispatch(buf[:n])
	if d.closed {
		return false
	}
	d.io.discard(n)
	return true
}

// resetExchange clears the per-request state for a new request on table t.
func (d *downConn) resetExchange(t *route.Table) {
	d.table, d.rule, d.backend, d.ep, d.up = t, nil, nil, nil, nil
	d.series = d.l.requestSeries(t, d.inbound, nil, nil)
	d.attempts = 0
	d.websocket, d.tunnel = false, false
	d.respStarted = false
	d.closeAfter = d.l.p.draining.Load()
	d.keepAlive10 = false
	d.deadline = 0
	d.bodyChunked, d.bodyLeft, d.bodyDone, d.bodyless = false, 0, true, true
	d.bodyScan.Reset()
}

// dispatch routes the request just parsed into the loop's l.req and starts
// forwarding it. Everything later steps need is copied out of l.req here
// (framing into the exchange fields, the rewritten head into d.head).
func (d *downConn) dispatch(head []byte) {
	l, p := d.l, d.l.p
	d.resetExchange(p.table.Load())
	r := &l.req
	d.isHEAD = r.IsHEAD
	d.websocket = r.WebSocket
	d.bodyLeft, d.bodyChunked = r.BodyLength()
	d.bodyDone = !d.bodyChunked && d.bodyLeft == 0
	d.bodyless = d.bodyDone
	d.closeAfter = d.closeAfter || !r.KeepAlive
	d.keepAlive10 = r.Minor == 0 && r.KeepAlive
	if r.NumUnderscoreNames > 0 && p.opts.HeadersWithUnderscores != UnderscoreAllow {
		// Decided before routing, as Envoy's codec does, so a rejected
		// request costs no route lookup and reaches no upstream.
		if p.opts.HeadersWithUnderscores == UnderscoreReject {
			p.underscoreRejected.Inc()
			d.localReply(400, "underscore_header_name")
			return
		}
		p.underscoreDropped.Inc()
		r.DropUnderscoreNames()
	}

	t := d.table
	timeout := p.opts.RequestTimeout
	if d.inbound {
		d.backend = t.Inbound()
	} else {
		// A redirected connection goes to the Service the app dialled
		// (its cluster IP and port); otherwise the Host header names it.
		var svc *route.Service
		if d.origDst.IsValid() {
			svc = t.LookupAddrPort(d.origDst)
		} else {
			svc = t.Lookup(r.Host.Bytes(head))
		}
		if svc == nil {
			d.localReply(404, "unknown_host")
			return
		}
		d.view.buf, d.view.req = head, r
		d.rule = t.Match(svc, &d.view)
		d.view.buf = nil
		if d.rule == nil {
			d.localReply(404, "no_route")
			return
		}
		// The rule's timeout already falls back to the Proxy default, and
		// an explicit "0s" on the rule means none.
		timeout = d.rule.RequestTimeout
		// Without retries one backend request spans the whole request, so
		// the tighter of the two timeouts governs.
		if bt := d.rule.BackendRequestTimeout; bt > 0 && (timeout == 0 || bt < timeout) {
			timeout = bt
		}
		d.backend = d.rule.Pick(l.rnd)
	}
	if d.backend == nil {
		d.series = l.requestSeries(t, d.inbound, d.rule, nil)
		d.localReply(500, "no_backend")
		return
	}
	d.series = l.requestSeries(t, d.inbound, d.rule, d.backend)
	if d.backend.Invalid {
		d.localReply(500, "invalid_backend")
		return
	}
	if timeout > 0 {
		d.deadline = d.start + int64(timeout)
	}
	var extra []byte
	if d.inbound && d.io.tls != nil {
		// mTLS inbound: authorize the verified peer, and tell the app who
		// it is. A peer's own x-forwarded-client-cert is never trusted.
		if !p.opts.Authz.Allow(d.io.tls.peerID, r.Method.Bytes(head), r.Path.Bytes(head)) {
			d.localReply(403, "unauthorized")
			return
		}
		r.Drop(head, "x-forwarded-client-cert")
		extra = d.xfcc
	}
	d.head = http1.AppendRequestHead(d.head[:0], head, r, d.clientIP, extra)
	d.state = dsBody
	d.connectUpstream(false)
}

// connectUpstream picks an endpoint and attaches a pooled or new connection.
// fresh forbids pooled connections (used when retrying after a stale one).
func (d *downConn) connectUpstream(fresh bool) {
	l := d.l
	ep := balance.P2C(d.backend.Endpoints, l.rnd, time.Now())
	if ep == nil {
		d.localReply(503, "no_healthy_endpoint")
		return
	}
	d.attempts++
	d.ep = ep
	ep.Begin()
	// Outbound requests cross the mesh: with an identity they use mTLS,
	// verified against the SPIFFE ID the backend expects.
	id := l.p.opts.Identity
	key := poolKey{addr: ep.Addr, tls: id != nil && !d.inbound}
	if key.tls {
		key.identity = d.backend.ExpectedIdentity(ep)
	}
	var u *upConn
	if !fresh {
		u = l.idle(key)
	}
	if u == nil {
		var cfg *tls.Config
		if key.tls {
			cfg = id.ClientConfig(key.identity)
		}
		u = l.dial(ep, key, cfg)
	} else {
		u.reused = true
	}
	d.up, u.down = u, d
	if u.list == nil {
		l.ups.pushFront(u)
	}
	if u.io.c != nil && u.connected {
		u.begin()
	}
}

// forwardBody moves buffered request-body bytes to the upstream. It reports
// whether the loop in onTraffic should continue.
func (d *downConn) forwardBody() bool {
	u := d.up
	if u == nil || !u.connected {
		// Still connecting: the body waits in gnet's buffer, bounded by
		// pausing reads (updateReads).
		return false
	}
	if d.bodyDone {
		d.state = dsWait
		return true
	}
	buf := d.io.peek()
	if len(buf) == 0 {
		if d.io.failed() != nil {
			d.closeConn()
		}
		return false
	}
	var n int
	if d.tunnel {
		n = len(buf) // no framing: everything until either side closes
	} else if d.bodyChunked {
		var err error
		var done bool
		n, done, err = d.bodyScan.Scan(buf)
		if err != nil {
			// The upstream has seen part of a body it can never finish.
			u.closeConn()
			d.releaseEndpoint()
			d.bodyDone = false
			reason := "bad_chunk"
			if e, ok := err.(*http1.Error); ok {
				reason = e.Reason
			}
			d.localReply(400, reason)
			return false
		}
		d.bodyDone = done
	} else {
		n = len(buf)
		if int64(n) > d.bodyLeft {
			n = int(d.bodyLeft)
		}
		d.bodyLeft -= int64(n)
		d.bodyDone = d.bodyLeft == 0
	}
	if !u.write(buf[:n]) || d.closed {
		return false
	}
	d.io.discard(n)
	d.lastActive = monotime()
	if out := u.io.outbound(); out > d.l.p.flow.high {
		if out > d.l.p.opts.MaxBufferedBytes {
			// Only one oversized write gets here: reads pause at the
			// high-water mark.
			d.l.p.bufferOverflow.Inc()
			d.closeConn()
		}
		// The upstream reads slower than the client sends: stop reading
		// the client until it catches up (updateReads, onWritable).
		return false
	}
	if d.bodyDone && d.state == dsBody {
		d.state = dsWait
	}
	return true
}

// write sends p to the client and reports whether the connection survived.
func (d *downConn) write(p []byte) bool {
	if d.closed {
		return false
	}
	d.io.write(p) // a failed write closes the conn synchronously (OnClose)
	return !d.closed
}

// The exchange's endpoint is released in one of three ways, which say what
// passive health checking learns from it (balance.OutlierConsecutive).

// endpointAnswered releases the endpoint after it completed a response with
// status: a success, or a gateway failure if status is 502, 503 or 504.
func (d *downConn) endpointAnswered(status int) {
	if d.ep == nil {
		return
	}
	if balance.IsGatewayFailure(status) {
		d.endpointFailed()
		return
	}
	d.ep.End()
	d.ep.ReportSuccess()
	d.ep = nil
}

// endpointFailed releases the endpoint after it failed the exchange: reset
// before answering, cut or malformed response, or no answer in time.
func (d *downConn) endpointFailed() {
	if d.ep == nil {
		return
	}
	d.ep.End()
	var peers []*balance.Endpoint
	if d.backend != nil {
		peers = d.backend.Endpoints
	}
	d.ep.ReportGatewayFailure(time.Now(), peers)
	d.ep = nil
}

// releaseEndpoint releases the endpoint when the exchange ended for a
// reason that says nothing about its health (the client left or sent a
// bad body, a pooled connection went stale, or the outcome was already
// reported).
func (d *downConn) releaseEndpoint() {
	if d.ep == nil {
		return
	}
	d.ep.End()
	d.ep = nil
}

// localReply answers the current request with a response the proxy makes
// itself (404, 503, ...), records it, and ends the exchange.
func (d *downConn) localReply(status int, reason string) {
	if d.closed {
		return
	}
	if !d.bodyDone {
		// The unread request body would be taken for the next request.
		d.closeAfter = true
	}
	d.l.localReplies(d.inbound, status, reason).Inc()
	d.series.Observe(status, time.Duration(monotime()-d.start))
	d.out = http1.AppendLocalReply(d.out[:0], status, reason, d.closeAfter)
	d.respStarted = true
	if !d.write(d.out) {
		return
	}
	d.endExchange()
}

// endExchange returns the connection to reading heads, or closes it.
func (d *downConn) endExchange() {
	d.up = nil
	d.releaseEndpoint()
	d.lastActive = monotime()
	if d.closeAfter {
		d.state = dsClosing
		if d.io.outbound() == 0 {
			d.closeConn()
		}
		return
	}
	d.state = dsHead
}

// checkTimeouts enforces the header-read, idle and request timeouts.
func (d *downConn) checkTimeouts(now int64, o *Options) {
	switch d.state {
	case dsHead:
		switch {
		case d.headStart != 0 && o.HeaderReadTimeout > 0 && now-d.headStart > int64(o.HeaderReadTimeout):
			d.start, d.headStart = d.headStart, 0
			d.resetExchange(d.l.p.table.Load())
			d.bodyDone = false
			d.localReply(408, "header_read_timeout")
		case d.headStart == 0 && (d.l.p.draining.Load() ||
			(o.IdleTimeout > 0 && now-d.lastActive > int64(o.IdleTimeout))):
			d.closeConn()
		}
	case dsBody, dsWait:
		if d.tunnel {
			if o.IdleTimeout > 0 && now-d.lastActive > int64(o.IdleTimeout) {
				d.l.p.idleTimeouts.Inc()
				d.closeConn() // an idle WebSocket ends; onClosed records it
			}
			return
		}
		if d.deadline != 0 && now > d.deadline {
			d.l.p.timeouts.Inc()
			d.endpointFailed()
			d.abandonExchange(504, "upstream_timeout", d.l.p.cut.timeout)
			return
		}
		if o.IdleTimeout > 0 && now-d.lastActive > int64(o.IdleTimeout) {
			// Nothing moved either way for the idle timeout: a hung
			// upstream gets a 504, as nginx and HAProxy send, not a
			// silent close; a client that stopped sending the body it
			// announced gets a 408.
			d.l.p.idleTimeouts.Inc()
			if d.clientStalledBody() {
				d.abandonExchange(408, "request_body_timeout", d.l.p.cut.idleTimeout)
			} else {
				d.endpointFailed()
				d.abandonExchange(504, "upstream_idle_timeout", d.l.p.cut.idleTimeout)
			}
		}
	case dsClosing:
		if d.io.outbound() == 0 || (o.IdleTimeout > 0 && now-d.lastActive > int64(o.IdleTimeout)) {
			d.closeConn()
		}
	}
}

// abandonExchange ends the exchange in progress on the proxy's initiative:
// with a local reply when no response byte has reached the client yet, by
// cutting the connection otherwise (the client must see the truncation).
func (d *downConn) abandonExchange(status int, reason string, cut *metrics.Counter) {
	if d.respStarted {
		d.cutResponse(cut)
		return
	}
	if d.up != nil {
		d.up.closeConn()
	}
	d.localReply(status, reason)
	d.resume()
}

// cutResponse ends an exchange whose response has started and cannot be
// completed: the client sees the connection close before the response's
// end. The request is recorded with status 0 (the client did not get the
// response its status line announced), so a truncated 200 never counts as
// a success, and the cut is counted by cause.
func (d *downConn) cutResponse(cause *metrics.Counter) {
	cause.Inc()
	d.series.Observe(0, time.Duration(monotime()-d.start))
	d.closeConn()
}

// clientStalledBody reports whether an idle exchange waits on the client:
// its request body is unfinished while the upstream has taken every byte
// forwarded so far. Otherwise the upstream is the one not moving (not
// connected, not reading the body, or not answering).
func (d *downConn) clientStalledBody() bool {
	u := d.up
	return d.state == dsBody && !d.bodyDone && u != nil && u.connected && u.io.outbound() == 0
}

// closeConn closes the client connection on the proxy's initiative.
func (d *downConn) closeConn() {
	if d.closed {
		return
	}
	if d.io.tls != nil {
		d.io.tls.closeNotify()
	}
	d.io.c.SetContext(nil) // late events for this conn are ignored
	d.onClosed()
	_ = d.io.c.Close() // asynchronous: d.io.c stays valid for the rest of this callback
}

// onClosed releases everything the connection held; it runs once, whether
// the proxy or the peer closed it.
func (d *downConn) onClosed() {
	if d.closed {
		return
	}
	d.closed = true
	if t := d.io.tls; t != nil && t.handshaking {
		_ = t.br.Close() // unblock the handshake goroutine
	}
	d.l.downs.remove(d)
	d.l.p.activeConns(d.inbound).Add(-1)
	if d.tunnel {
		d.tunnelClosed()
	}
	if d.up != nil {
		// The client left mid-exchange: the upstream connection is in an
		// unknown state and cannot be reused.
		if !d.respStarted {
			d.series.Observe(0, time.Duration(monotime()-d.start))
		}
		d.up.down = nil
		d.up.closeConn()
		d.up = nil
	}
	d.releaseEndpoint()
	if d.l.p.draining.Load() {
		d.l.p.maybeFinishDrain()
	}
}

// startTLS begins terminating mTLS on an inbound connection.
func (d *downConn) startTLS() {
	p := d.l.p
	cfg := p.opts.Identity.ServerConfig()
	d.io.tls = newTLSSession(d.io.c, func(nc net.Conn) *tls.Conn { return tls.Server(nc, cfg) }, p.opts.MaxHeaderBytes)
	d.io.tls.startHandshakeDelayed(d.l.el, p.opts.HandshakeTimeout, time.Duration(TestInboundHandshakeDelay.Load()), d.onHandshake)
}

// onHandshake runs on the loop when the server handshake has finished.
func (d *downConn) onHandshake(err error) {
	p := d.l.p
	if err != nil {
		// Counted even when the peer has already hung up (it usually does
		// at once after our alert).
		p.tlsFailure(true, identity.Classify(err)).Inc()
		d.closeConn()
		return
	}
	if d.closed {
		return
	}
	t := d.io.tls
	t.handshakeDone()
	st := t.conn.ConnectionState()
	t.peerID = identity.PeerID(&st)
	p.tlsHandshakes(true, t.resumed).Inc()
	d.xfcc = append(d.xfcc[:0], "x-forwarded-client-cert: By="...)
	d.xfcc = append(d.xfcc, p.opts.Identity.ID()...)
	d.xfcc = append(d.xfcc, ";URI="...)
	d.xfcc = append(d.xfcc, t.peerID...)
	d.xfcc = append(d.xfcc, "\r\n"...)
	d.lastActive = monotime()
	d.onTraffic()
}

// feedHandshake hands handshake bytes over (pausing reads beyond the
// handshake bound; onHandshake's onTraffic resumes them).
func (d *downConn) feedHandshake(t *tlsSession) {
	if !t.feedHandshake(d.io.c) {
		d.closeConn()
	}
}
