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

// upConn is one connection from the proxy to an endpoint and its HTTP/1.1
// client codec. It lives on the loop of the downstream connection that
// opened it and serves one exchange at a time; between exchanges it waits
// in the loop's pool for its endpoint. It reports the response to its
// exchange (exchange.go) and never touches the client connection.
type upConn struct {
	prev, next *upConn
	list       *upList // the pool or loop.ups list it is on, nil if none

	l         *loop
	io        stream // io.c is nil until the dial completes; io.tls set for mTLS
	ep        *balance.Endpoint
	ex        *exchange // the exchange it serves; nil while idle
	connected bool
	closed    bool
	tlsConfig *tls.Config // non-nil: originate mTLS (an outbound mesh hop)
	gone      bool        // the socket closed while the handshake ran; its outcome decides
	key       poolKey
	reused    bool // taken from the pool: may have been closed by the peer meanwhile
	idleSince int64

	h2 *h2Client // set: the connection speaks HTTP/2 and multiplexes (h2client.go)

	resp     http1.Response
	rh       respHead // what the exchange is handed (a field: passed through an interface, a local would escape)
	headDone bool
	noReuse  bool
	received bool // any response byte arrived for the current exchange
	kind     http1.BodyKind
	decode   bool // hand the exchange chunk payloads, not chunked bytes (framesHTTP1)
	left     int64
	scan     http1.ChunkedScanner
}

// dial opens a new connection to ep off the loop (connect is blocking in
// the net package) and enrolls it on this loop, so the exchange never
// crosses goroutines. The outcome arrives on the loop: OnOpen on success,
// onDialFailed otherwise.
func (l *loop) dial(ep *balance.Endpoint, key poolKey, tlsConfig *tls.Config) *upConn {
	u := &upConn{l: l, ep: ep, key: key, tlsConfig: tlsConfig}
	l.p.upstreamConns.Add(1)
	l.p.wakeSweeps()
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
	if c := u.h2; c != nil && c.tentative {
		c.negotiated(u.io.tls.conn.ConnectionState().NegotiatedProtocol == "h2")
	}
	u.ready()
	if paused && !u.closed && u.io.buffered() > 0 {
		u.onTraffic()
	}
}

// ready runs once the connection can carry requests.
func (u *upConn) ready() {
	if u.h2 != nil {
		u.h2.ready()
		return
	}
	u.connected = true
	if u.ex == nil {
		// Its request went away while connecting; keep the connection warm.
		if u.list != nil {
			u.list.remove(u)
		}
		u.l.release(u)
		return
	}
	u.begin()
}

// attach makes u serve ex, starting at once if it is connected.
func (u *upConn) attach(ex *exchange) {
	ex.up, u.ex = u, ex
	if u.list == nil {
		u.l.ups.pushFront(u)
	}
	if u.io.c != nil && u.connected {
		u.begin()
	}
}

// begin sends the exchange's request head; its body follows from the
// downstream codec (exchange.upstreamReady).
func (u *upConn) begin() {
	ex := u.ex
	u.resp.Reset()
	u.headDone, u.noReuse, u.received = false, false, false
	u.scan.Reset()
	if !u.write(ex.head) {
		return
	}
	ex.upstreamReady()
}

// write sends p upstream and reports whether the connection survived.
func (u *upConn) write(p []byte) bool {
	if u.closed || u.io.c == nil {
		return false
	}
	u.io.write(p) // a failed write closes the conn synchronously (OnClose)
	return !u.closed
}

// The upstream interface (exchange.go).

func (u *upConn) requestBacklog() (int, bool) {
	if !u.connected {
		return 0, false
	}
	return u.io.outbound(), true
}

func (u *upConn) sendRequest(p []byte) bool { return u.write(p) }

func (u *upConn) resumeResponse() {
	if u.resumeReads() {
		u.onTraffic()
	}
}

func (u *upConn) abandon() {
	u.ex = nil
	u.closeConn()
}

// onTraffic forwards the response to the exchange as it arrives.
func (u *upConn) onTraffic() {
	if u.h2 != nil {
		u.h2.onTraffic()
		return
	}
	ex := u.ex
	if ex == nil {
		if u.io.tls != nil && len(u.io.peek()) == 0 && u.io.failed() == nil {
			return // a TLS 1.3 session ticket after the handshake: no data
		}
		// Bytes on an idle connection belong to no request: the stream is
		// out of sync, drop the connection.
		u.closeConn()
		return
	}
	o := &u.l.p.opts
	for !u.closed && u.ex == ex {
		buf := u.io.peek()
		if len(buf) == 0 {
			ex.responseFlush()
			if u.io.failed() != nil && !u.closed {
				// close_notify or a bad record: the connection is over.
				c := u.io.c
				u.onPeerClosed()
				c.SetContext(nil)
				_ = c.Close()
			}
			return
		}
		if ex.responseBacklog() > u.l.p.flow.high {
			// The client reads slower than the upstream sends: leave the
			// rest in the kernel until it catches up (flow.go).
			u.pauseReads()
			return
		}
		u.received = true
		ex.touch()
		if !u.headDone {
			n, err := http1.ParseResponse(buf, o.MaxHeaderBytes, &u.resp)
			if err != nil {
				u.fail(502, "bad_response")
				return
			}
			if n == 0 {
				if len(buf) > o.MaxHeaderBytes {
					u.fail(502, "response_header_too_large")
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
			if u.decode {
				if !u.decodeChunks(buf) {
					return
				}
				continue
			}
			var err error
			n, done, err = u.scan.Scan(buf)
			if err != nil {
				// Part of the response is out: all the exchange can do is
				// cut it.
				ex.responseCut(u.l.p.cut.badBody)
				return
			}
		default: // BodyUntilClose: everything until the upstream closes
			n = len(buf)
		}
		if !ex.responseBody(buf[:n]) || u.closed {
			return
		}
		u.io.discard(n)
		if done {
			u.finish()
			return
		}
		if ex.responseBacklog() > o.MaxBufferedBytes {
			// Only one oversized write gets here: reads pause at the
			// high-water mark at the top of the loop.
			ex.responseOverflow()
			return
		}
	}
}

// onHead handles a complete response head. It reports whether to continue.
func (u *upConn) onHead(head []byte) bool {
	ex := u.ex
	status := u.resp.Status
	if status >= 100 && status < 200 {
		if status == 101 {
			if ex.websocket && u.resp.WebSocket {
				if !ex.upgradeAccepted(&u.resp, head) {
					u.fail(502, "bad_websocket_accept")
					return false
				}
				return u.switchToWebSocket(head)
			}
			// Only a WebSocket handshake forwards Upgrade: any other
			// 101 is a protocol violation by the upstream.
			u.fail(502, "unexpected_upgrade")
			return false
		}
		// Interim response (100 Continue, 103 Early Hints): pass it on and
		// wait for the final one.
		u.rh = respHead{raw: head, resp: &u.resp}
		if !ex.responseInterim(&u.rh) || u.closed {
			return false
		}
		u.io.discard(len(head))
		u.resp.Reset()
		return true
	}
	u.kind, u.left = u.resp.Framing(ex.isHEAD)
	if u.kind == http1.BodyUntilClose || !u.resp.KeepAlive {
		u.noReuse = true
	}
	bodyless := u.kind == http1.BodyNone || (u.kind == http1.BodyLength && u.left == 0)
	u.decode = u.kind == http1.BodyChunked && !ex.down.framesHTTP1()
	u.rh = respHead{raw: head, resp: &u.resp, untilClose: u.kind == http1.BodyUntilClose, bodyless: bodyless}
	ex.responseHead(&u.rh)
	u.headDone = true
	u.io.discard(len(head))
	if bodyless {
		if ex.responseBody(nil) && !u.closed {
			u.finish()
		}
		return false
	}
	return true
}

// decodeChunks hands the exchange the chunk payloads in buf and consumes
// their framing. It reports whether the onTraffic loop should continue.
func (u *upConn) decodeChunks(buf []byte) bool {
	ex := u.ex
	for len(buf) > 0 {
		n, data, done, err := u.scan.Decode(buf)
		if err != nil {
			ex.responseCut(u.l.p.cut.badBody)
			return false
		}
		if len(data) > 0 && (!ex.responseBody(data) || u.closed) {
			return false
		}
		u.io.discard(n)
		buf = buf[n:]
		if done {
			u.finish()
			return false
		}
	}
	return true
}

// finish completes the exchange: pool or close the connection, then let
// the exchange record the response and move on.
func (u *upConn) finish() {
	ex := u.ex
	reusable := !u.noReuse && ex.reqDone && u.io.buffered() == 0 && !u.l.p.draining.Load()
	u.ex, ex.up = nil, nil
	if u.list != nil {
		u.list.remove(u)
	}
	if reusable {
		u.l.release(u)
	} else {
		u.closeConn()
	}
	ex.responseDone(u.resp.Status)
}

// fail closes the connection after the upstream violated the protocol and
// tells the exchange.
func (u *upConn) fail(status int, reason string) {
	ex := u.ex
	u.closeConn()
	u.ex, ex.up = nil, nil
	ex.upstreamBroke(status, reason)
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
	if u.h2 != nil {
		u.h2.connectFailed(reason)
		return
	}
	ex := u.ex
	if ex == nil {
		return
	}
	u.ex = nil
	ex.connectFailed(reason)
}

// onPeerClosed runs when the upstream closed the connection (or a write to
// it failed).
func (u *upConn) onPeerClosed() {
	if u.closed {
		return
	}
	u.markClosed()
	if u.h2 != nil {
		u.h2.closed()
		return
	}
	ex := u.ex
	if ex == nil {
		return // an idle pooled connection timed out on the upstream's side
	}
	u.ex, ex.up = nil, nil
	switch {
	case ex.tunnel:
		ex.tunnelClosedByUpstream()
	case u.headDone && u.kind == http1.BodyUntilClose:
		// The close is the end of the body.
		if ex.responseFlush() {
			ex.responseDone(u.resp.Status)
		}
	case u.headDone:
		// Truncated response: the client must see the cut, and the
		// endpoint gets no credit for it.
		ex.responseCut(u.l.p.cut.upstreamClosed)
	default:
		ex.upstreamReset(u.reused && !u.received)
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
