package engine

import (
	"crypto/tls"
	"net"
	"net/netip"
	"time"

	"github.com/meshbench/meshbench/proxy/internal/http1"
	"github.com/meshbench/meshbench/proxy/internal/http2"
	"github.com/meshbench/meshbench/proxy/internal/identity"
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

// downConn is one client connection (to the outbound or inbound listener)
// and its HTTP/1.1 server codec: it parses request heads and bodies, hands
// each request to its exchange (exchange.go), and writes the responses the
// exchange passes back (the downstream interface). HTTP/1.1 carries one
// exchange at a time, so the connection holds exactly one, reused.
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
	lastActive int64 // monotime the connection last finished an exchange, for the keep-alive idle timeout

	ex exchange
	// h2 is set once the connection speaks HTTP/2 (h2server.go); ex is
	// then unused and each stream has its own exchange.
	h2       *h2Server
	detected bool // the first bytes were checked for the HTTP/2 preface

	// Request body framing of the current exchange.
	bodyChunked bool
	bodyLeft    int64
	bodyScan    http1.ChunkedScanner

	closeAfter  bool // close the connection once this response is written
	keepAlive10 bool // HTTP/1.0 client that asked for keep-alive
	// headPending: the response head is in out but not yet written, so it
	// can go out in one write with the first body bytes (one syscall per
	// small response instead of two).
	headPending bool

	out []byte // response head (pending until its first body bytes) or local reply
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
	if d.h2 != nil {
		d.h2.onTraffic()
		d.updateReads()
		return
	}
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
	if !d.detected {
		// h2c with prior knowledge (RFC 9113 3.3): the connection opens
		// with the preface instead of a request.
		complete, wait := isH2Preface(buf)
		if wait {
			return false
		}
		d.detected = true
		if complete {
			d.startH2()
			d.h2.onTraffic()
			return false
		}
	}
	o := &d.l.p.opts
	now := monotime()
	if d.headStart == 0 {
		d.headStart = now
	}
	n, err := http1.ParseRequest(buf, o.MaxHeaderBytes, &d.l.req)
	if err != nil {
		// The framing of what follows is unknown: answer and close.
		d.beginExchange()
		d.ex.reqDone = false
		status, reason := 400, "bad_request"
		if e, ok := err.(*http1.Error); ok {
			status, reason = e.Status, e.Reason
		}
		d.io.discardAll()
		d.ex.reply(status, reason)
		return false
	}
	if n == 0 {
		return false
	}
	d.dispatch(buf[:n], now)
	if d.closed {
		return false
	}
	d.io.discard(n)
	return true
}

// beginExchange starts the connection's exchange for the head that began
// at headStart, on the current table.
func (d *downConn) beginExchange() {
	d.ex.reset(d.l.p.table.Load(), d.headStart)
	d.headStart = 0
	d.closeAfter = d.l.p.draining.Load()
	d.keepAlive10 = false
	d.headPending = false
	d.bodyChunked, d.bodyLeft = false, 0
	d.bodyScan.Reset()
}

// dispatch hands the request just parsed into the loop's l.req to the
// exchange pipeline and starts forwarding it. Everything later steps need
// is copied out of l.req here (framing into the codec's fields, the
// rewritten head into ex.head).
func (d *downConn) dispatch(head []byte, now int64) {
	p := d.l.p
	d.beginExchange()
	ex := &d.ex
	ex.lastActive = now
	r := &d.l.req
	ex.isHEAD = r.IsHEAD
	ex.websocket = r.WebSocket
	d.bodyLeft, d.bodyChunked = r.BodyLength()
	ex.reqDone = !d.bodyChunked && d.bodyLeft == 0
	ex.bodyless = ex.reqDone
	d.closeAfter = d.closeAfter || !r.KeepAlive
	d.keepAlive10 = r.Minor == 0 && r.KeepAlive
	if r.NumUnderscoreNames > 0 && p.opts.HeadersWithUnderscores != UnderscoreAllow {
		// Decided by the codec before routing, as Envoy's codec does, so
		// a rejected request costs no route lookup and reaches no upstream.
		if p.opts.HeadersWithUnderscores == UnderscoreReject {
			p.underscoreRejected.Inc()
			ex.reply(400, "underscore_header_name")
			return
		}
		p.underscoreDropped.Inc()
		r.DropUnderscoreNames()
	}
	d.view.buf, d.view.req = head, r
	routed := ex.route(&d.view, r.Host.Bytes(head), d.origDst)
	d.view.buf = nil
	if !routed {
		return
	}
	var extra []byte
	if d.inbound && d.io.tls != nil {
		// mTLS inbound: authorize the verified peer, and tell the app who
		// it is. A peer's own x-forwarded-client-cert is never trusted.
		if !ex.authorize(d.io.tls.peerID, r.Method.Bytes(head), r.Path.Bytes(head)) {
			return
		}
		r.Drop(head, "x-forwarded-client-cert")
		extra = d.xfcc
	}
	ex.head = http1.AppendRequestHead(ex.head[:0], head, r, d.clientIP, extra)
	d.state = dsBody
	ex.attempt(false)
}

// forwardBody moves buffered request-body bytes to the upstream. It reports
// whether the loop in onTraffic should continue.
func (d *downConn) forwardBody() bool {
	ex := &d.ex
	if _, ok := ex.requestBacklog(); !ok {
		// Still connecting: the body waits in gnet's buffer, bounded by
		// pausing reads (updateReads).
		return false
	}
	if ex.reqDone {
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
	if ex.tunnel {
		n = len(buf) // no framing: everything until either side closes
	} else if d.bodyChunked {
		var err error
		var done bool
		n, done, err = d.bodyScan.Scan(buf)
		if err != nil {
			// The upstream has seen part of a body it can never finish.
			ex.reqDone = false
			reason := "bad_chunk"
			if e, ok := err.(*http1.Error); ok {
				reason = e.Reason
			}
			ex.reply(400, reason)
			return false
		}
		ex.reqDone = done
	} else {
		n = len(buf)
		if int64(n) > d.bodyLeft {
			n = int(d.bodyLeft)
		}
		d.bodyLeft -= int64(n)
		ex.reqDone = d.bodyLeft == 0
	}
	if !ex.sendRequest(buf[:n]) || d.closed {
		return false
	}
	d.io.discard(n)
	if out, _ := ex.requestBacklog(); out > d.l.p.flow.high {
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
	if ex.reqDone && d.state == dsBody {
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

// --- the downstream interface: the exchange's response, in HTTP/1.1 ------

func (d *downConn) localReply(ex *exchange, status int, reason string) {
	if d.closed {
		return
	}
	if !ex.reqDone {
		// The unread request body would be taken for the next request.
		d.closeAfter = true
	}
	d.out = http1.AppendLocalReply(d.out[:0], status, reason, d.closeAfter)
	d.headPending = false
	if !d.write(d.out) {
		return
	}
	d.endExchange()
	d.resume()
}

func (d *downConn) interim(ex *exchange, h *respHead) bool {
	d.out = http1.AppendResponseHead(d.out[:0], h.raw, h.resp, false, false, nil)
	return d.write(d.out)
}

func (d *downConn) responseHead(ex *exchange, h *respHead) {
	if h.untilClose || d.l.p.draining.Load() || !ex.reqDone {
		// A body delimited by close can only end with the connection; a
		// draining proxy closes it anyway; and an upstream that answered
		// before the request body ended (an early 413, say) leaves the
		// rest of that body unsynchronisable.
		d.closeAfter = true
	}
	d.out = http1.AppendResponseHead(d.out[:0], h.raw, h.resp, d.closeAfter, d.keepAlive10 && !d.closeAfter, nil)
	d.headPending = true
}

// coalesceMax bounds how much body is copied behind a pending head to save
// a write: copying 16 KiB costs far less than a loopback syscall.
const coalesceMax = 16 << 10

func (d *downConn) responseBody(ex *exchange, p []byte) bool {
	if !d.headPending {
		return d.write(p)
	}
	d.headPending = false
	if len(p) <= coalesceMax {
		l := d.l
		l.coalesce = append(append(l.coalesce[:0], d.out...), p...)
		return d.write(l.coalesce)
	}
	return d.write(d.out) && d.write(p)
}

func (d *downConn) flush(ex *exchange) bool {
	if d.headPending {
		d.headPending = false
		return d.write(d.out)
	}
	return !d.closed
}

func (d *downConn) responseEnd(ex *exchange) {
	if !d.flush(ex) {
		return
	}
	d.endExchange()
	d.resume()
}

// cut closes the connection: a client on HTTP/1.1 learns that a response
// is incomplete only from the close before its end.
func (d *downConn) cut(ex *exchange) { d.closeConn() }

func (d *downConn) pumpRequest(ex *exchange) { d.onTraffic() }

// trailers: an HTTP/1.1 client gets none (a chunked trailer section would
// need each field re-validated as HTTP/1.1, and HTTP/1.1 clients that read
// trailers are rare); the response still ends normally.
func (d *downConn) trailers(ex *exchange, f *http2.Fields) {}

// framesHTTP1: the client speaks HTTP/1.1, so an HTTP/1.1 upstream's body
// framing (chunks) passes through verbatim.
func (d *downConn) framesHTTP1() bool { return true }

func (d *downConn) resumeRequest(ex *exchange) {
	if !d.closed {
		d.resumeReads()
	}
}

func (d *downConn) backlog() int { return d.io.outbound() }

// endExchange returns the connection to reading heads, or closes it.
func (d *downConn) endExchange() {
	d.ex.up = nil
	d.ex.releaseEndpoint()
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

// checkTimeouts enforces the header-read and keep-alive idle timeouts, and
// the exchange's own timeouts while one is in progress. It reports pending
// when the connection has a timeout shorter than the idle ones running (a
// head started, an exchange in progress, a close being flushed): the sweep
// clock must then keep its fast tick (sweepclock.go).
func (d *downConn) checkTimeouts(now int64, o *Options) (pending bool) {
	if d.h2 != nil && d.state != dsClosing {
		return d.h2.checkTimeouts(now, o)
	}
	switch d.state {
	case dsHead:
		pending = d.headStart != 0
		switch {
		case d.headStart != 0 && o.HeaderReadTimeout > 0 && now-d.headStart > int64(o.HeaderReadTimeout):
			d.beginExchange()
			d.ex.reqDone = false
			d.ex.reply(408, "header_read_timeout")
		case d.headStart == 0 && (d.l.p.draining.Load() ||
			(o.IdleTimeout > 0 && now-d.lastActive > int64(o.IdleTimeout))):
			d.closeConn()
		}
	case dsBody, dsWait:
		d.ex.checkTimeouts(now, o, d.clientStalledBody())
		pending = true
	case dsClosing:
		if d.io.outbound() == 0 || (o.IdleTimeout > 0 && now-d.lastActive > int64(o.IdleTimeout)) {
			d.closeConn()
		}
		pending = true
	}
	return pending
}

// clientStalledBody reports whether an idle exchange waits on the client:
// its request body is unfinished while the upstream has taken every byte
// forwarded so far. Otherwise the upstream is the one not moving (not
// connected, not reading the body, or not answering).
func (d *downConn) clientStalledBody() bool {
	n, ok := d.ex.requestBacklog()
	return d.state == dsBody && !d.ex.reqDone && ok && n == 0
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
	if d.h2 != nil {
		d.h2.closed()
	} else {
		d.ex.downstreamGone()
	}
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
	if st.NegotiatedProtocol == "h2" {
		d.detected = true
		d.startH2()
	}
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
