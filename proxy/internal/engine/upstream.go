package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/http1"
	"github.com/meshbench/meshbench/proxy/internal/identity"
)

// upConn is one connection from the proxy to an endpoint. It lives on the
// loop of the downstream connection that opened it and serves one exchange
// at a time; between exchanges it waits in the loop's pool for its endpoint.
type upConn struct {
	prev, next *upConn
	list       *upList // the pool or loop.ups list it is on, nil if none

	l         *loop
	io        stream // io.c is nil until the dial completes; io.tls set for mTLS
	ep        *balance.Endpoint
	down      *downConn // the exchange it serves; nil while idle
	connected bool
	closed    bool
	tlsConfig *tls.Config // non-nil: originate mTLS (an outbound mesh hop)
	gone      bool        // the socket closed while the handshake ran; its outcome decides
	key       poolKey
	reused    bool // taken from the pool: may have been closed by the peer meanwhile
	idleSince int64

	resp     http1.Response
	headDone bool
	noReuse  bool
	received bool // any response byte arrived for the current exchange
	// headPending: the response head is in down.out but not yet written, so
	// it can go out in one write with the first body bytes (one syscall per
	// small response instead of two).
	headPending bool
	kind        http1.BodyKind
	left        int64
	scan        http1.ChunkedScanner
}

// dial opens a new connection to ep off the loop (connect is blocking in
// the net package) and enrolls it on this loop, so the exchange never
// crosses goroutines. The outcome arrives on the loop: OnOpen on success,
// onDialFailed otherwise.
func (l *loop) dial(ep *balance.Endpoint, key poolKey, tlsConfig *tls.Config) *upConn {
	u := &upConn{l: l, ep: ep, key: key, tlsConfig: tlsConfig}
	l.p.upstreamConns.Add(1)
	timeout := l.p.opts.ConnectTimeout
	go func() {
		fail := func(err error) {
			_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				u.onConnectFailed(dialFailure(err))
				return nil
			}))
		}
		conn, err := net.DialTimeout("tcp", ep.Addr, timeout)
		if err != nil {
			fail(err)
			return
		}
		ch, err := l.el.Enroll(gnet.NewContext(context.Background(), u), conn)
		if err != nil {
			_ = conn.Close()
			fail(err)
			return
		}
		if res := <-ch; res.Err != nil {
			fail(res.Err)
		}
	}()
	return u
}

// onOpen runs on the loop once the dialed connection is registered.
func (u *upConn) onOpen(c gnet.Conn) gnet.Action {
	u.io.c = c
	if u.closed {
		c.SetContext(nil)
		return gnet.Close
	}
	if u.tlsConfig != nil {
		// A mesh hop: mTLS first, off the loop; ready() follows on success.
		cfg := u.tlsConfig
		u.io.tls = newTLSSession(c, func(nc net.Conn) *tls.Conn { return tls.Client(nc, cfg) }, u.l.p.opts.MaxHeaderBytes)
		u.io.tls.startHandshake(u.l.el, u.l.p.opts.HandshakeTimeout, u.onHandshake)
		return gnet.None
	}
	u.ready()
	return gnet.None
}

// onHandshake runs on the loop when the client handshake has finished.
func (u *upConn) onHandshake(err error) {
	if u.closed {
		return // given up meanwhile; closeConn closed the socket
	}
	p := u.l.p
	if err != nil {
		p.tlsFailure(false, identity.Classify(err)).Inc()
		c := u.io.c
		u.onConnectFailed("upstream_tls_failed")
		if !u.gone {
			c.SetContext(nil)
			_ = c.Close()
		}
		return
	}
	if u.gone {
		u.onPeerClosed() // the server hung up right after the handshake
		return
	}
	u.io.tls.handshakeDone()
	p.tlsHandshakes(false, u.io.tls.resumed).Inc()
	// Reads pause when a server sends more than a handshake's worth before
	// the handshake finished (feedHandshake); those bytes are buffered.
	paused := u.resumeReads()
	u.ready()
	if paused && !u.closed && u.io.buffered() > 0 {
		u.onTraffic()
	}
}

// ready runs once the connection can carry requests.
func (u *upConn) ready() {
	u.connected = true
	if u.down == nil {
		// Its request went away while connecting; keep the connection warm.
		if u.list != nil {
			u.list.remove(u)
		}
		u.l.release(u)
		return
	}
	u.begin()
}

// begin sends the attached request's head and whatever body is buffered.
func (u *upConn) begin() {
	d := u.down
	u.resp.Reset()
	u.headDone, u.noReuse, u.received, u.headPending = false, false, false, false
	u.scan.Reset()
	if !u.write(d.head) {
		return
	}
	d.lastActive = monotime()
	d.onTraffic() // forwards any buffered body; no-op if already on the stack
}

// write sends p upstream and reports whether the connection survived.
func (u *upConn) write(p []byte) bool {
	if u.closed || u.io.c == nil {
		return false
	}
	u.io.write(p) // a failed write closes the conn synchronously (OnClose)
	return !u.closed
}

// onTraffic forwards the response to the client as it arrives.
func (u *upConn) onTraffic() {
	d := u.down
	if d == nil {
		if u.io.tls != nil && len(u.io.peek()) == 0 && u.io.failed() == nil {
			return // a TLS 1.3 session ticket after the handshake: no data
		}
		// Bytes on an idle connection belong to no request: the stream is
		// out of sync, drop the connection.
		u.closeConn()
		return
	}
	o := &u.l.p.opts
	for !u.closed && u.down == d {
		buf := u.io.peek()
		if len(buf) == 0 {
			u.flushHead(d)
			if u.io.failed() != nil {
				// close_notify or a bad record: the connection is over.
				c := u.io.c
				u.onPeerClosed()
				c.SetContext(nil)
				_ = c.Close()
			}
			return
		}
		if d.io.outbound() > u.l.p.flow.high {
			// The client reads slower than the upstream sends: leave the
			// rest in the kernel until it catches up (flow.go).
			u.pauseReads()
			return
		}
		u.received = true
		d.lastActive = monotime()
		if !u.headDone {
			n, err := http1.ParseResponse(buf, o.MaxHeaderBytes, &u.resp)
			if err != nil {
				u.failExchange(502, "bad_response")
				return
			}
			if n == 0 {
				if len(buf) > o.MaxHeaderBytes {
					u.failExchange(502, "response_header_too_large")
				}
				return
			}
			if !u.onHead(buf[:n]) {
				return
			}
			continue
		}
		var n int
		done := false
		switch u.kind {
		case http1.BodyLength:
			n = len(buf)
			if int64(n) > u.left {
				n = int(u.left)
			}
			u.left -= int64(n)
			done = u.left == 0
		case http1.BodyChunked:
			var err error
			n, done, err = u.scan.Scan(buf)
			if err != nil {
				// Part of the response is out: all we can do is cut it.
				u.l.p.upstreamProtocolErrors.Inc()
				d.endpointFailed()
				d.cutResponse(u.l.p.cut.badBody)
				return
			}
		default: // BodyUntilClose: everything until the upstream closes
			n = len(buf)
		}
		if !u.writeBody(buf[:n]) || u.closed {
			return
		}
		u.io.discard(n)
		if done {
			u.finish()
			return
		}
		if d.io.outbound() > o.MaxBufferedBytes {
			// Only one oversized write gets here: reads pause at the
			// high-water mark at the top of the loop.
			u.l.p.bufferOverflow.Inc()
			d.closeConn()
			return
		}
	}
}

// onHead handles a complete response head. It reports whether to continue.
func (u *upConn) onHead(head []byte) bool {
	d := u.down
	status := u.resp.Status
	if status >= 100 && status < 200 {
		if status == 101 {
			if d.websocket && u.resp.WebSocket {
				return u.switchToWebSocket(head)
			}
			// Only a WebSocket handshake forwards Upgrade: any other
			// 101 is a protocol violation by the upstream.
			u.failExchange(502, "unexpected_upgrade")
			return false
		}
		// Interim response (100 Continue, 103 Early Hints): pass it on and
		// wait for the final one.
		d.out = http1.AppendResponseHead(d.out[:0], head, &u.resp, false, false, nil)
		if !d.write(d.out) || u.closed {
			return false
		}
		u.io.discard(len(head))
		u.resp.Reset()
		return true
	}
	u.kind, u.left = u.resp.Framing(d.isHEAD)
	if u.kind == http1.BodyUntilClose {
		d.closeAfter, u.noReuse = true, true
	}
	if !u.resp.KeepAlive {
		u.noReuse = true
	}
	if u.l.p.draining.Load() {
		d.closeAfter = true
	}
	if !d.bodyDone {
		// The upstream answered before the request body ended (an early
		// 413, say): the rest of the body cannot be resynchronised.
		d.closeAfter = true
	}
	d.out = http1.AppendResponseHead(d.out[:0], head, &u.resp, d.closeAfter, d.keepAlive10 && !d.closeAfter, nil)
	u.headDone = true
	d.respStarted = true
	u.io.discard(len(head))
	if u.kind == http1.BodyNone || (u.kind == http1.BodyLength && u.left == 0) {
		if d.write(d.out) && !u.closed {
			u.finish()
		}
		return false
	}
	u.headPending = true
	return true
}

// coalesceMax bounds how much body is copied behind a pending head to save
// a write: copying 16 KiB costs far less than a loopback syscall.
const coalesceMax = 16 << 10

// writeBody sends body bytes to the client, behind the response head when
// that is still pending. It reports whether both connections survived.
func (u *upConn) writeBody(p []byte) bool {
	d := u.down
	if !u.headPending {
		return d.write(p)
	}
	u.headPending = false
	if len(p) <= coalesceMax {
		l := u.l
		l.coalesce = append(append(l.coalesce[:0], d.out...), p...)
		return d.write(l.coalesce)
	}
	return d.write(d.out) && d.write(p)
}

// flushHead writes a pending response head (in d.out) on its own.
func (u *upConn) flushHead(d *downConn) {
	if u.headPending {
		u.headPending = false
		d.write(d.out)
	}
}

// finish completes the exchange: record it, pool or close the connection,
// and let the client connection move on to its next request.
func (u *upConn) finish() {
	d := u.down
	d.series.Observe(u.resp.Status, time.Duration(monotime()-d.start))
	d.endpointAnswered(u.resp.Status)
	u.down, d.up = nil, nil
	reusable := !u.noReuse && d.bodyDone && u.io.buffered() == 0 && !u.l.p.draining.Load()
	if u.list != nil {
		u.list.remove(u)
	}
	if reusable {
		u.l.release(u)
	} else {
		u.closeConn()
	}
	d.endExchange()
	d.resume()
}

// failExchange answers the client with a local error when no response byte
// has reached it yet, and cuts the connection otherwise.
func (u *upConn) failExchange(status int, reason string) {
	d := u.down
	u.l.p.upstreamProtocolErrors.Inc()
	u.closeConn()
	if d == nil {
		return
	}
	d.up = nil
	d.endpointFailed()
	if d.respStarted {
		d.cutResponse(u.l.p.cut.upstreamError)
		return
	}
	d.localReply(status, reason)
	d.resume()
}

// dialFailure names why a connection could not be opened.
func dialFailure(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "connect_timeout"
	}
	return "upstream_connect_failed"
}

// onConnectFailed runs on the loop when the connection could not be opened
// (or its mTLS handshake failed); reason is the local reply's reason.
func (u *upConn) onConnectFailed(reason string) {
	if u.closed {
		return
	}
	u.markClosed()
	u.ep.ReportConnectFailure(time.Now())
	u.l.p.connectErrors(u.ep.Addr).Inc()
	d := u.down
	if d == nil {
		return
	}
	u.down, d.up = nil, nil
	d.releaseEndpoint() // the connect failure is reported above
	// Nothing was sent, so trying another endpoint once is always safe.
	if d.attempts < 2 && len(d.backend.Endpoints) > 1 {
		d.connectUpstream(false)
		return
	}
	d.localReply(503, reason)
	d.resume()
}

// onPeerClosed runs when the upstream closed the connection (or a write to
// it failed).
func (u *upConn) onPeerClosed() {
	if u.closed {
		return
	}
	u.markClosed()
	d := u.down
	if d == nil {
		return // an idle pooled connection timed out on the upstream's side
	}
	u.down, d.up = nil, nil
	switch {
	case d.tunnel:
		d.tunnelClosed()
		d.endExchange() // closeAfter is set: the client conn closes once flushed
	case u.headDone && u.kind == http1.BodyUntilClose:
		// The close is the end of the body.
		u.flushHead(d)
		if d.closed {
			return
		}
		d.series.Observe(u.resp.Status, time.Duration(monotime()-d.start))
		d.endpointAnswered(u.resp.Status)
		d.endExchange() // closeAfter is set: the client conn closes too
	case u.headDone:
		// Truncated response: the client must see the cut, and the
		// endpoint gets no credit for it.
		u.l.p.upstreamProtocolErrors.Inc()
		d.endpointFailed()
		d.cutResponse(u.l.p.cut.upstreamClosed)
	case u.reused && !u.received && d.bodyless && d.attempts < 2:
		// A pooled connection the upstream closed just as we reused it (the
		// keep-alive race). The request never reached the application
		// (bodiless and no byte came back), so retrying on a new connection
		// is what every HTTP client does here.
		d.releaseEndpoint() // a stale pooled connection, not the endpoint's fault
		d.connectUpstream(true)
	default:
		d.endpointFailed()
		d.localReply(502, "upstream_reset")
		d.resume()
	}
}

// closeConn closes the upstream connection on the proxy's initiative. It
// does not touch the downstream side: callers deal with it.
func (u *upConn) closeConn() {
	if u.closed {
		return
	}
	u.markClosed()
	if u.io.tls != nil {
		u.io.tls.closeNotify()
	}
	if u.io.c != nil {
		u.io.c.SetContext(nil)
		_ = u.io.c.Close() // asynchronous: u.io.c stays valid for the rest of this callback
	}
}

func (u *upConn) markClosed() {
	u.closed = true
	if u.list != nil {
		u.list.remove(u)
	}
	u.l.p.upstreamConns.Add(-1)
}
