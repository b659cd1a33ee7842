package engine

import (
	"bytes"
	"strconv"

	"github.com/meshbench/meshbench/proxy/internal/http2"
	"github.com/meshbench/meshbench/proxy/internal/metrics"
)

// HTTP/2 on the listeners (RFC 9113). A client connection becomes HTTP/2
// when it opens with the connection preface (h2c with prior knowledge) or
// negotiates "h2" by ALPN on the mTLS inbound listener. Its frames go
// through the http2 codec; each request stream is an h2Stream, which owns an
// exchange and is that exchange's downstream (exchange.go), so routing,
// timeouts, endpoint choice and outcome are the HTTP/1.1 path's, unchanged.
// Endpoints are spoken to in HTTP/1.1: the request head is translated
// (pseudo-headers to the request line and Host, cookies joined, a body of
// unknown length chunked), the response head back (hop-by-hop fields and
// chunk framing dropped).
//
// Flow control: request DATA is credited back to the client (WINDOW_UPDATE)
// only once the upstream connection has taken it, so a slow upstream closes
// the client's stream window; response bytes the client's windows do not
// take wait in the stream, and the upstream is not read while a stream holds
// more than the high-water mark (flow.go), as for HTTP/1.1.

// h2Server is the HTTP/2 codec state of one client connection.
type h2Server struct {
	d       *downConn
	conn    http2.Conn
	streams h2List // streams with an exchange in progress or a response to drain
	closing bool   // GOAWAY sent or a connection error: close once flushed
}

// h2Stream is one request stream and its exchange.
type h2Stream struct {
	ex         exchange
	srv        *h2Server
	s          *http2.Stream
	prev, next *h2Stream

	view h2ReqView

	reqBuf     []byte   // request DATA the upstream could not take yet (within the stream window)
	owed       int      // request bytes the upstream took but the client was not credited for
	reqEnd     bool     // END_STREAM received
	reqChunked bool     // the upstream request is chunked (no content-length)
	wsKey      [24]byte // Sec-WebSocket-Key of an extended CONNECT's handshake (tunnel.go)

	respBuf []byte // response bytes the client's windows did not take yet
	// trailerBuf holds the response's trailer fields ("name\x00value\x00"
	// pairs) until respBuf has drained: they must follow the last DATA.
	trailerBuf  []byte
	hasTrailers bool
	respEnd     bool // the response is complete: END_STREAM once respBuf drains
	endSent     bool // END_STREAM went out
	finished    bool // the exchange is over; the stream only drains
}

// h2List is a list of streams.
type h2List struct{ head *h2Stream }

func (ls *h2List) push(st *h2Stream) {
	st.prev, st.next = nil, ls.head
	if ls.head != nil {
		ls.head.prev = st
	}
	ls.head = st
}

func (ls *h2List) remove(st *h2Stream) {
	if st.prev != nil {
		st.prev.next = st.next
	} else if ls.head == st {
		ls.head = st.next
	}
	if st.next != nil {
		st.next.prev = st.prev
	}
	st.prev, st.next = nil, nil
}

// clientPreface is what an HTTP/2 client sends first (RFC 9113 3.4).
var clientPreface = []byte(http2.ClientPreface)

// startH2 makes d an HTTP/2 connection.
func (d *downConn) startH2() {
	srv := &h2Server{d: d}
	d.h2 = srv
	p := d.l.p
	s := http2.DefaultSettings()
	s.MaxHeaderListSize = uint32(p.opts.MaxHeaderBytes)
	s.EnableConnectProtocol = true // WebSocket over HTTP/2 (tunnel.go)
	lim := http2.DefaultLimits()
	lim.MaxPending = p.opts.MaxBufferedBytes / 4
	srv.conn.Init(http2.Server, s, lim, srv)
	p.h2Conns.Inc()
	srv.flush()
}

// isH2Preface reports whether buf starts with the client preface (all of
// it: complete), or with a prefix of it (wait: more may make it one).
func isH2Preface(buf []byte) (complete, wait bool) {
	if len(buf) >= len(clientPreface) {
		return bytes.Equal(buf[:len(clientPreface)], clientPreface), false
	}
	return false, bytes.Equal(buf, clientPreface[:len(buf)])
}

// onTraffic feeds the buffered bytes to the codec.
func (srv *h2Server) onTraffic() {
	d := srv.d
	for !d.closed && !srv.closing {
		buf := d.io.peek()
		if len(buf) == 0 {
			if d.io.failed() != nil {
				d.closeConn()
			}
			return
		}
		n, err := srv.conn.Feed(buf)
		if d.closed {
			return
		}
		d.io.discard(n)
		d.lastActive = monotime()
		if err != nil {
			srv.closing = true
		}
		srv.flush()
		if n == 0 {
			// An incomplete frame waits for more bytes. After a partial
			// take the loop peeks again rather than waiting for the
			// socket: over TLS the rest may already be decrypted and held
			// back only because the plaintext buffer was full, and no
			// socket event would announce it.
			break
		}
	}
	if srv.closing {
		srv.dropInput()
	}
}

// dropInput reads and drops what the client of a closing connection still
// sends. The connection's last frames (GOAWAY) may wait for a client that
// does not read them: kept, its bytes would grow the input buffer without
// bound until then (a PING flood goes on after its GOAWAY), and bytes left
// unread at close make the kernel reset the connection, which can destroy
// the GOAWAY still in flight.
func (srv *h2Server) dropInput() {
	d := srv.d
	for !d.closed {
		buf := d.io.peek()
		if len(buf) == 0 {
			if d.io.failed() != nil {
				d.closeConn()
			}
			return
		}
		d.io.discard(len(buf))
	}
}

// flush writes the frames the codec queued and ends the connection once the
// codec says it is over.
func (srv *h2Server) flush() {
	d := srv.d
	for i := 0; i < 4 && !d.closed; i++ {
		out := srv.conn.Pending()
		if len(out) == 0 {
			break
		}
		if !d.write(out) {
			return
		}
		srv.conn.Flushed(d.io.outbound()) // may wake blocked streams, which queue more
	}
	if !d.closed && (srv.closing || srv.conn.Done()) {
		srv.closing = true
		d.state = dsClosing
		if d.io.outbound() == 0 {
			d.closeConn()
		}
	}
}

// onWritable runs when the client took queued bytes.
func (srv *h2Server) onWritable() {
	srv.conn.Flushed(srv.d.io.outbound())
	srv.flush()
	// An upstream paused because the connection's socket was backed up
	// (backlog counts it) is not a flow-blocked stream: the codec will not
	// wake it, so it is resumed here once its backlog is low again.
	low := srv.d.l.p.flow.low
	for st := srv.streams.head; st != nil && !srv.d.closed; {
		next := st.next
		if !st.finished && st.backlog() <= low {
			st.ex.resumeResponse()
		}
		st = next
	}
}

// closed runs when the client connection is gone: every stream ends.
func (srv *h2Server) closed() {
	srv.conn.Close() // OnReset for each open stream
	for st := srv.streams.head; st != nil; {
		next := st.next
		srv.release(st)
		st = next
	}
}

// checkTimeouts enforces each exchange's timeouts, the connection's idle
// timeout and draining (GOAWAY, in-flight streams finish). It reports
// pending while any stream is open (see downConn.checkTimeouts).
func (srv *h2Server) checkTimeouts(now int64, o *Options) (pending bool) {
	d := srv.d
	pending = srv.streams.head != nil
	for st := srv.streams.head; st != nil; {
		next := st.next
		if !st.finished {
			st.ex.checkTimeouts(now, o, st.clientStalledBody())
		}
		st = next
	}
	if d.closed {
		return pending
	}
	idle := srv.streams.head == nil && o.IdleTimeout > 0 && now-d.lastActive > int64(o.IdleTimeout)
	if d.l.p.draining.Load() || idle {
		srv.conn.GoAway(http2.ErrCodeNoError)
		srv.flush()
	}
	return pending
}

// --- http2.Handler ---------------------------------------------------------

func (srv *h2Server) OnHeaders(s *http2.Stream, f *http2.Fields, endStream bool) {
	if st, ok := s.UserData.(*h2Stream); ok {
		// Trailers of a request: an HTTP/1.1 upstream gets none (its
		// chunked trailer section would need them re-validated as HTTP/1.1
		// fields, and no HTTP/1.1 application reads them); they end the body.
		if endStream {
			st.requestData(nil, true)
		}
		return
	}
	st := srv.d.l.getH2Stream()
	st.srv, st.s = srv, s
	s.UserData = st
	srv.streams.push(st)
	st.start(f, &s.Head, endStream)
	srv.flush()
}

func (srv *h2Server) OnData(s *http2.Stream, p []byte, endStream bool) {
	st, ok := s.UserData.(*h2Stream)
	if !ok {
		srv.conn.Consumed(s, len(p)) // a stream the proxy already answered
		return
	}
	st.requestData(p, endStream)
}

func (srv *h2Server) OnReset(s *http2.Stream, code http2.ErrCode, byPeer bool) {
	st, ok := s.UserData.(*h2Stream)
	if !ok {
		return
	}
	st.s = nil // the codec recycles it after this call
	s.UserData = nil
	if byPeer {
		srv.d.l.p.h2ResetsByClient.Inc()
	}
	srv.release(st)
}

func (srv *h2Server) OnWritable(s *http2.Stream) {
	if st, ok := s.UserData.(*h2Stream); ok {
		st.drainResponse()
	}
}

func (srv *h2Server) OnGoAway(lastStreamID uint32, code http2.ErrCode) {}

func (srv *h2Server) OnViolation(v http2.Violation) {
	srv.d.l.p.h2Violation(v).Inc()
}

// release ends st: whatever its exchange still holds is let go, and st goes
// back to the loop's pool.
func (srv *h2Server) release(st *h2Stream) {
	if !st.finished {
		st.finished = true
		st.ex.downstreamGone()
	}
	srv.streams.remove(st)
	if st.s != nil {
		st.s.UserData = nil
		st.s = nil
	}
	srv.d.l.putH2Stream(st)
}

// --- a request stream --------------------------------------------------------

// start runs the exchange pipeline for a request head.
func (st *h2Stream) start(f *http2.Fields, h *http2.Head, endStream bool) {
	srv := st.srv
	d := srv.d
	ex := &st.ex
	now := monotime()
	ex.inbound = d.inbound
	ex.reset(d.l.p.table.Load(), now)
	ex.reqDone, ex.bodyless = endStream, endStream
	st.reqEnd = endStream
	if h.TooLarge {
		ex.reply(431, "request_header_too_large")
		return
	}
	st.view.init(f, h)
	if string(f.Bytes(h.Method)) == "CONNECT" {
		// Only RFC 8441's WebSocket handshake: a proxy that tunnels
		// arbitrary TCP for its clients is not a sidecar's job.
		if h.Has&http2.PseudoProtocol == 0 || !equalFoldLower(f.Bytes(h.Protocol), "websocket") {
			ex.reply(501, "connect_unsupported")
			return
		}
		st.view.websocket = true
		ex.websocket = true
		ex.reqDone, ex.bodyless = true, true // DATA waits for the 101 (pumpRequest)
	}
	method := st.view.Method()
	ex.isHEAD = string(method) == "HEAD"
	if st.view.underscores > 0 && d.l.p.opts.HeadersWithUnderscores != UnderscoreAllow {
		if d.l.p.opts.HeadersWithUnderscores == UnderscoreReject {
			d.l.p.underscoreRejected.Inc()
			ex.reply(400, "underscore_header_name")
			return
		}
		d.l.p.underscoreDropped.Inc()
	}
	if ct, ok := st.view.Header("content-type"); ok && isGRPCContentType(ct) {
		ex.grpc = true
	}
	if !ex.route(&st.view, st.view.authority(), d.origDst) {
		return
	}
	if ex.grpc {
		if v, ok := st.view.Header("grpc-timeout"); ok {
			if t, ok := parseGRPCTimeout(v); ok && (ex.deadline == 0 || ex.start+int64(t) < ex.deadline) {
				ex.deadline = ex.start + int64(t)
			}
		}
	}
	var extra []byte
	if d.inbound && d.io.tls != nil {
		if !ex.authorize(d.io.tls.peerID, method, st.view.Path()) {
			return
		}
		extra = d.xfcc
	}
	var wsKey []byte
	if ex.websocket {
		ex.newWebSocketKey(&st.wsKey)
		wsKey = st.wsKey[:]
	}
	var reason string
	ex.head, st.reqChunked, reason = st.view.appendUpstreamHead(ex.head[:0], d.clientIP, extra, wsKey,
		d.l.p.opts.HeadersWithUnderscores != UnderscoreAllow, d.inbound && d.io.tls != nil, endStream)
	if reason != "" {
		ex.reply(400, reason)
		return
	}
	ex.attempt(false)
}

// requestData takes request body bytes from the client.
func (st *h2Stream) requestData(p []byte, end bool) {
	if st.finished {
		if st.s != nil {
			st.srv.conn.Consumed(st.s, len(p))
		}
		return
	}
	st.reqBuf = append(st.reqBuf, p...)
	if end {
		st.reqEnd = true
	}
	st.pumpRequest(&st.ex)
}

// clientStalledBody: the client owes body bytes and the upstream has taken
// all it was given.
func (st *h2Stream) clientStalledBody() bool {
	n, ok := st.ex.requestBacklog()
	return !st.reqEnd && !st.ex.reqDone && ok && n == 0 && len(st.reqBuf) == 0
}

// --- the downstream interface ------------------------------------------------

func (st *h2Stream) localReply(ex *exchange, status int, reason string) {
	srv := st.srv
	if st.s == nil || st.finished {
		return
	}
	c := &srv.conn
	if ex.grpc {
		st.grpcError(grpcForLocalReply(status, reason), reason)
		return
	}
	c.StartHeaders(st.s)
	st.addStatus(status)
	c.AddHeader([]byte("content-type"), []byte("text/plain"), false)
	l := st.srv.d.l
	l.scratchNum = strconv.AppendInt(l.scratchNum[:0], int64(len(reason)+1), 10)
	c.AddHeader([]byte("content-length"), l.scratchNum, false)
	c.AddHeader([]byte("x-meshproxy-error"), []byte(reason), false)
	c.EndHeaders(false)
	l.scratchBody = append(append(l.scratchBody[:0], reason...), '\n')
	st.respBuf = append(st.respBuf[:0], l.scratchBody...)
	st.respEnd = true
	st.finished = true
	ex.up = nil
	ex.releaseEndpoint()
	st.drainResponse()
}

func (st *h2Stream) interim(ex *exchange, h *respHead) bool {
	if st.s == nil {
		return false
	}
	st.writeHead(h, false)
	st.srv.flush()
	return st.s != nil
}

func (st *h2Stream) responseHead(ex *exchange, h *respHead) {
	if st.s == nil {
		return
	}
	st.writeHead(h, h.bodyless)
	if h.bodyless {
		st.endSent = true
	}
}

func (st *h2Stream) responseBody(ex *exchange, p []byte) bool {
	if st.s == nil {
		return false
	}
	if len(p) > 0 {
		st.respBuf = append(st.respBuf, p...)
	}
	st.drainResponse()
	return st.s != nil && !st.srv.d.closed
}

func (st *h2Stream) flush(ex *exchange) bool {
	st.srv.flush()
	return st.s != nil && !st.srv.d.closed
}

func (st *h2Stream) responseEnd(ex *exchange) {
	st.finished = true
	st.respEnd = true
	st.drainResponse()
}

// cut resets the stream: an HTTP/2 client sees an incomplete response as
// RST_STREAM, and the connection's other streams go on.
func (st *h2Stream) cut(ex *exchange) {
	srv := st.srv
	if st.s != nil {
		srv.conn.Reset(st.s, http2.ErrCodeInternal)
		st.s = nil
	}
	srv.release(st)
	srv.flush()
}

// startTunnel answers a WebSocket extended CONNECT whose upstream agreed
// (RFC 8441 5): 200 without END_STREAM, with the 101's end-to-end fields
// (Sec-WebSocket-Protocol, -Extensions) but not its accept value, which
// belongs to the handshake the proxy made; DATA the client sent early goes
// up now, and from then on DATA carries the tunnel both ways.
func (st *h2Stream) startTunnel(ex *exchange, h *respHead) bool {
	if st.s == nil {
		return false
	}
	c := &st.srv.conn
	c.StartHeaders(st.s)
	st.addStatus(200)
	st.addEndToEnd(h, "sec-websocket-accept")
	c.EndHeaders(false)
	ex.reqDone = false
	st.pumpRequest(ex)
	st.srv.flush()
	return st.s != nil && !st.srv.d.closed
}

// trailers keeps the response's trailer fields until the body has drained.
func (st *h2Stream) trailers(ex *exchange, f *http2.Fields) {
	b := st.trailerBuf[:0]
	for i := range f.List {
		b = append(append(b, f.Name(i)...), 0)
		b = append(append(b, f.Value(i)...), 0)
	}
	st.trailerBuf, st.hasTrailers = b, true
}

// writeTrailers sends the kept trailer fields as the stream's last HEADERS.
func (st *h2Stream) writeTrailers() {
	c := &st.srv.conn
	c.StartHeaders(st.s)
	b := st.trailerBuf
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		name := b[:i]
		b = b[i+1:]
		j := bytes.IndexByte(b, 0)
		c.AddHeader(name, b[:j], false)
		b = b[j+1:]
	}
	c.EndHeaders(true)
}

// framesHTTP1: DATA frames carry the payload; chunk framing is dropped.
func (st *h2Stream) framesHTTP1() bool { return false }

// pumpRequest forwards buffered request bytes the upstream can take and
// credits the client for what it took.
func (st *h2Stream) pumpRequest(ex *exchange) {
	n, ok := ex.requestBacklog()
	if !ok || st.finished || (ex.websocket && !ex.tunnel) {
		return // a WebSocket's bytes wait for the upstream's 101
	}
	high := st.srv.d.l.p.flow.high
	if len(st.reqBuf) > 0 && n <= high {
		if !st.sendBody(st.reqBuf) {
			return
		}
		st.owed += len(st.reqBuf)
		st.reqBuf = st.reqBuf[:0]
	}
	if st.reqEnd && len(st.reqBuf) == 0 && !ex.reqDone {
		if st.reqChunked && !ex.sendRequest(lastChunk) {
			return
		}
		ex.reqDone = true
	}
	st.credit()
}

// credit returns to the client the window of bytes the upstream has taken,
// unless the upstream is still behind (then resumeRequest does it later).
func (st *h2Stream) credit() {
	if st.owed == 0 || st.s == nil {
		return
	}
	if n, ok := st.ex.requestBacklog(); ok && n > st.srv.d.l.p.flow.high {
		return
	}
	st.srv.conn.Consumed(st.s, st.owed)
	st.owed = 0
	st.srv.flush()
}

func (st *h2Stream) resumeRequest(ex *exchange) { st.pumpRequest(ex) }

func (st *h2Stream) backlog() int { return len(st.respBuf) + st.srv.d.io.outbound() }

var lastChunk = []byte("0\r\n\r\n")

// sendBody writes request body bytes upstream, chunk-framed when the
// upstream request is chunked.
func (st *h2Stream) sendBody(p []byte) bool {
	if !st.reqChunked {
		return st.ex.sendRequest(p)
	}
	l := st.srv.d.l
	b := strconv.AppendInt(l.scratchChunk[:0], int64(len(p)), 16)
	b = append(b, "\r\n"...)
	b = append(b, p...)
	b = append(b, "\r\n"...)
	l.scratchChunk = b
	return st.ex.sendRequest(b)
}

// drainResponse hands the client as much of the response as its windows
// take, ends the stream when the response is complete, and lets the
// upstream be read again once the stream's backlog is low.
func (st *h2Stream) drainResponse() {
	srv := st.srv
	if st.s == nil {
		return
	}
	if len(st.respBuf) > 0 || (st.respEnd && !st.endSent) {
		n := srv.conn.WriteData(st.s, st.respBuf, st.respEnd && !st.hasTrailers)
		st.respBuf = st.respBuf[:copy(st.respBuf, st.respBuf[n:])]
		if st.respEnd && len(st.respBuf) == 0 {
			if st.hasTrailers {
				st.writeTrailers()
			}
			st.endSent = true
		}
	}
	if st.endSent && st.finished {
		if !st.reqEnd && st.s != nil {
			// The response is complete; the rest of the request body is
			// not wanted (RFC 9113 8.1).
			srv.conn.Reset(st.s, http2.ErrCodeNoError)
			st.s = nil
		}
		srv.flush()
		srv.release(st)
		return
	}
	srv.flush()
	if !st.finished && len(st.respBuf) <= srv.d.l.p.flow.low {
		st.ex.resumeResponse()
	}
}

// grpcError answers a gRPC call with a trailers-only response: HTTP 200,
// grpc-status code, grpc-message reason, END_STREAM.
func (st *h2Stream) grpcError(code int, reason string) {
	c := &st.srv.conn
	ex := &st.ex
	c.StartHeaders(st.s)
	st.addStatus(200)
	c.AddHeader([]byte("content-type"), []byte("application/grpc"), false)
	l := st.srv.d.l
	l.scratchNum = strconv.AppendInt(l.scratchNum[:0], int64(code), 10)
	c.AddHeader([]byte("grpc-status"), l.scratchNum, false)
	c.AddHeader([]byte("grpc-message"), []byte(reason), false)
	c.AddHeader([]byte("x-meshproxy-error"), []byte(reason), false)
	c.EndHeaders(true)
	st.endSent, st.respEnd, st.finished = true, true, true
	ex.up = nil
	ex.releaseEndpoint()
	st.drainResponse()
}

// writeHead queues a response head translated from HTTP/1.1.
func (st *h2Stream) writeHead(h *respHead, endStream bool) {
	c := &st.srv.conn
	r := h.resp
	c.StartHeaders(st.s)
	st.addStatus(r.Status)
	st.addEndToEnd(h, "")
	if r.ContentLength >= 0 && r.Status >= 200 {
		l := st.srv.d.l
		l.scratchNum = strconv.AppendInt(l.scratchNum[:0], r.ContentLength, 10)
		c.AddHeader([]byte("content-length"), l.scratchNum, false)
	}
	c.EndHeaders(endStream)
}

// addEndToEnd adds the HTTP/1.1 head's end-to-end fields to the HEADERS
// being built, except a field named except (lower case; "" for none).
func (st *h2Stream) addEndToEnd(h *respHead, except string) {
	c := &st.srv.conn
	r := h.resp
	for i := 0; i < r.NumHeaders; i++ {
		if !r.EndToEnd(i) {
			continue
		}
		f := &r.Headers[i]
		name := f.Name.Bytes(h.raw)
		if except != "" && equalFoldLower(name, except) {
			continue
		}
		c.AddHeader(name, f.Value.Bytes(h.raw), false)
	}
}

func (st *h2Stream) addStatus(status int) {
	l := st.srv.d.l
	l.scratchNum = strconv.AppendInt(l.scratchNum[:0], int64(status), 10)
	st.srv.conn.AddHeader([]byte(":status"), l.scratchNum, false)
}

// --- the loop's stream pool ---------------------------------------------------

// maxPooledBuf bounds the buffers a pooled stream keeps: a stream that once
// buffered a large body should not hold that memory while idle.
const maxPooledBuf = 16 << 10

func (l *loop) getH2Stream() *h2Stream {
	st := l.h2free
	if st == nil {
		st = &h2Stream{}
		st.ex.l = l
		st.ex.down = st
	} else {
		l.h2free = st.next
		st.next = nil
	}
	return st
}

func (l *loop) putH2Stream(st *h2Stream) {
	st.srv, st.s = nil, nil
	st.view = h2ReqView{}
	st.owed, st.reqEnd, st.reqChunked = 0, false, false
	st.respEnd, st.endSent, st.finished = false, false, false
	st.trailerBuf, st.hasTrailers = st.trailerBuf[:0], false
	if cap(st.reqBuf) > maxPooledBuf {
		st.reqBuf = nil
	}
	if cap(st.respBuf) > maxPooledBuf {
		st.respBuf = nil
	}
	st.reqBuf, st.respBuf = st.reqBuf[:0], st.respBuf[:0]
	st.next = l.h2free
	l.h2free = st
}

// h2Violation counts a protocol violation by an HTTP/2 peer, by kind.
func (p *Proxy) h2Violation(v http2.Violation) *metrics.Counter {
	return p.reg.Counter("meshproxy_http2_violations_total",
		"HTTP/2 protocol violations and attacks by clients, by kind (each answered as RFC 9113 says: stream reset or GOAWAY).",
		"kind", v.String())
}
