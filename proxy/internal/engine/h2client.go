package engine

import (
	"strconv"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/http1"
	"github.com/meshbench/meshbench/proxy/internal/http2"
)

// HTTP/2 to endpoints. A backend whose port says HTTP/2 (appProtocol
// kubernetes.io/h2c, grpc, http2, or Istio's grpc-/http2- port names:
// route.Backend.Protocol) is spoken to in h2c with prior knowledge. One
// connection per endpoint and loop carries many exchanges at once, each on
// its own stream (h2UpStream, the exchange's upstream); a connection that
// reached the endpoint's SETTINGS_MAX_CONCURRENT_STREAMS makes the next
// attempt dial another.
//
// The exchange describes its request in HTTP/1.1 terms (ex.head and a body
// framed as that head says) whatever the client spoke, so the stream parses
// that head again and sends it as HEADERS (:method, :scheme, :authority from
// Host, :path; hop-by-hop fields dropped, "te: trailers" kept for gRPC), and
// decodes chunked request bodies into DATA. The response head comes back
// as an HTTP/1.1 head built from the HEADERS (chunked when it has no
// content-length), so the downstream codecs and policies see one kind of
// response; trailers go to the downstream as they are (gRPC's grpc-status).
//
// Flow control: response DATA is credited to the endpoint only while the
// client takes what it is sent (the stream's backlog at or below the
// high-water mark), so a slow client closes the endpoint's window; request
// bytes beyond the endpoint's windows wait in the stream, and the client is
// not read while they exceed the high-water mark.

const (
	protoHTTP1 uint8 = iota
	protoH2C
)

// h2Client is the HTTP/2 codec state of an upstream connection (upConn.h2).
type h2Client struct {
	u *upConn
	// tentative: a mesh hop offering h2 by ALPN whose handshake has not
	// said yet whether the peer agreed (meshhop.go).
	tentative bool
	conn      http2.Conn
	waiting   []*h2UpStream // attempts queued before the connection was ready
	live      *h2UpStream   // streams attached to the connection (lprev/lnext)
	streams   int           // streams with an exchange
	idle      int64         // monotime the last stream ended
}

// h2UpStream is one exchange's stream on an h2Client.
type h2UpStream struct {
	ex   *exchange
	c    *h2Client
	s    *http2.Stream
	next *h2UpStream // the loop's free list

	lprev, lnext *h2UpStream // h2Client.live

	started    bool  // HEADERS sent
	reqChunked bool  // the request body is chunked in ex.head: decode it
	reqLeft    int64 // content-length bytes still to come
	reqDone    bool  // END_STREAM sent
	scan       http1.ChunkedScanner
	pending    []byte // request payload the endpoint's windows did not take yet
	pendingEnd bool   // END_STREAM goes with the last pending byte

	headDone    bool
	respChunked bool // the HTTP/1.1 head given to the exchange says chunked
	status      int
	owed        int // response DATA bytes not yet credited to the endpoint
	resp        http1.Response
	rh          respHead
	headBuf     []byte
}

// attachH2 attaches ex to a stream on an HTTP/2 connection to ep, opening
// one if none on this loop has room.
func (l *loop) attachH2(ex *exchange, ep *balance.Endpoint, key poolKey) {
	u := l.h2ups[key]
	if u == nil || u.closed || u.h2.full() {
		u = l.dial(ep, key, nil)
		u.h2 = &h2Client{u: u}
		l.h2ups[key] = u
	}
	st := l.getH2UpStream()
	st.ex, st.c = ex, u.h2
	ex.up = st
	u.h2.streams++
	st.lnext = u.h2.live
	if st.lnext != nil {
		st.lnext.lprev = st
	}
	u.h2.live = st
	if u.connected {
		st.begin()
		return
	}
	u.h2.waiting = append(u.h2.waiting, st)
}

// full reports whether the connection cannot take another stream now.
func (c *h2Client) full() bool {
	return c.u.connected && (c.conn.Done() || c.streams >= c.conn.PeerMaxStreams())
}

// ready runs when the connection is open: the preface goes out and the
// queued attempts start.
func (c *h2Client) ready() {
	u := c.u
	u.connected = true
	c.conn.Init(http2.Client, http2.DefaultSettings(), http2.DefaultLimits(), c)
	c.idle = monotime()
	waiting := c.waiting
	c.waiting = c.waiting[:0]
	for _, st := range waiting {
		if st.ex != nil {
			st.begin()
		}
	}
	c.flush()
}

// onTraffic feeds what the endpoint sent to the codec.
func (c *h2Client) onTraffic() {
	u := c.u
	for !u.closed {
		buf := u.io.peek()
		if len(buf) == 0 {
			if u.io.failed() != nil {
				u.closeConn()
				c.closed()
			}
			return
		}
		n, err := c.conn.Feed(buf)
		if u.closed {
			return
		}
		u.io.discard(n)
		c.flush()
		if err != nil {
			u.l.p.upstreamProtocolErrors.Inc()
			u.closeConn()
			c.closed()
			return
		}
		if n == 0 {
			// An incomplete frame waits for more bytes; after a partial
			// take, peek again (TLS may hold decrypted bytes that no
			// socket event will announce: h2Server.onTraffic).
			return
		}
	}
}

// flush writes what the codec queued.
func (c *h2Client) flush() {
	u := c.u
	for i := 0; i < 4 && !u.closed; i++ {
		out := c.conn.Pending()
		if len(out) == 0 {
			break
		}
		if !u.write(out) {
			return
		}
		c.conn.Flushed(u.io.outbound())
	}
	if !u.closed && c.conn.Done() {
		u.closeConn()
		c.closed()
	}
}

func (c *h2Client) onWritable() {
	c.conn.Flushed(c.u.io.outbound())
	c.flush()
	// A client paused because the connection's socket was backed up
	// (requestBacklog counts it) is not a flow-blocked stream: the codec
	// will not wake it, so it is resumed here once the backlog is low.
	low := c.u.l.p.flow.low
	for st := c.live; st != nil && !c.u.closed; {
		next := st.lnext
		if ex := st.ex; ex != nil && st.started {
			if n, _ := st.requestBacklog(); n <= low {
				ex.upstreamWritable()
			}
		}
		st = next
	}
}

// closed ends every stream of a connection that is gone (closeConn or the
// peer); the exchanges are told by OnReset.
func (c *h2Client) closed() {
	u := c.u
	if u.l.h2ups[u.key] == u {
		delete(u.l.h2ups, u.key)
	}
	if !c.u.connected {
		// The dial failed: onConnectFailed tells the waiting exchanges.
		return
	}
	c.conn.Close()
}

// connectFailed tells the attempts waiting on a connection that never
// opened.
func (c *h2Client) connectFailed(reason string) {
	u := c.u
	if u.l.h2ups[u.key] == u {
		delete(u.l.h2ups, u.key)
	}
	waiting := c.waiting
	c.waiting = nil
	for _, st := range waiting {
		if ex := st.ex; ex != nil {
			st.detach()
			ex.connectFailed(reason)
		}
	}
}

// --- http2.Handler -----------------------------------------------------------

func (c *h2Client) OnHeaders(s *http2.Stream, f *http2.Fields, endStream bool) {
	st, ok := s.UserData.(*h2UpStream)
	if !ok || st.ex == nil {
		return
	}
	st.onHeaders(f, &s.Head, endStream)
	c.flush()
}

func (c *h2Client) OnData(s *http2.Stream, p []byte, endStream bool) {
	st, ok := s.UserData.(*h2UpStream)
	if !ok || st.ex == nil {
		c.conn.Consumed(s, len(p))
		return
	}
	st.onData(p, endStream)
	c.flush()
}

func (c *h2Client) OnReset(s *http2.Stream, code http2.ErrCode, byPeer bool) {
	st, ok := s.UserData.(*h2UpStream)
	if !ok {
		return
	}
	st.s = nil
	s.UserData = nil
	ex := st.ex
	if ex == nil {
		st.release()
		return
	}
	headDone := st.headDone
	st.detach()
	switch {
	case headDone:
		ex.responseCut(c.u.l.p.cut.upstreamClosed)
	case code == http2.ErrCodeRefusedStream && byPeer:
		// Not processed by the endpoint (RFC 9113 8.7): safe to retry.
		ex.upstreamReset(true)
	default:
		ex.upstreamReset(false)
	}
}

func (c *h2Client) OnWritable(s *http2.Stream) {
	if st, ok := s.UserData.(*h2UpStream); ok && st.ex != nil {
		st.drainRequest()
		c.flush()
		if ex := st.ex; ex != nil && len(st.pending) <= c.u.l.p.flow.low {
			ex.upstreamWritable() // the client may be read again
		}
	}
}

func (c *h2Client) OnGoAway(lastStreamID uint32, code http2.ErrCode) {
	u := c.u
	if u.l.h2ups[u.key] == u {
		delete(u.l.h2ups, u.key) // no new stream goes on it
	}
}

func (c *h2Client) OnViolation(v http2.Violation) {
	c.u.l.p.h2UpstreamViolation(v).Inc()
}

// --- a stream ------------------------------------------------------------------

// begin opens the stream and sends the request head translated from
// ex.head.
func (st *h2UpStream) begin() {
	c, ex := st.c, st.ex
	l := c.u.l
	s, err := c.conn.NewStream()
	if err != nil {
		// The endpoint's stream limit or its GOAWAY: another connection.
		st.detach()
		ex.releaseEndpoint()
		ex.attempts--
		ex.attempt(false)
		return
	}
	st.s = s
	s.UserData = st
	r := &l.req
	n, perr := http1.ParseRequest(ex.head, len(ex.head)+1, r)
	if perr != nil || n != len(ex.head) {
		// The proxy wrote ex.head itself: this cannot happen.
		st.detach()
		ex.reply(500, "bad_translation")
		return
	}
	head := ex.head
	c.conn.StartHeaders(s)
	c.conn.AddHeader([]byte(":method"), r.Method.Bytes(head), false)
	c.conn.AddHeader([]byte(":scheme"), []byte("http"), false)
	c.conn.AddHeader([]byte(":authority"), r.Host.Bytes(head), false)
	c.conn.AddHeader([]byte(":path"), r.Target.Bytes(head), false)
	for i := 0; i < r.NumHeaders; i++ {
		h := &r.Headers[i]
		name, value := h.Name.Bytes(head), h.Value.Bytes(head)
		if equalFoldLower(name, "te") {
			if string(value) == "trailers" {
				c.conn.AddHeader(name, value, false)
			}
			continue
		}
		if equalFoldLower(name, "host") || http1.IsHopByHop(name) {
			continue
		}
		c.conn.AddHeader(name, value, false)
	}
	left, chunked := r.BodyLength()
	st.reqChunked, st.reqLeft = chunked, left
	st.reqDone = !chunked && left == 0
	c.conn.EndHeaders(st.reqDone)
	st.started = true
	c.flush()
	if u := c.u; u.closed || st.ex != ex {
		return
	}
	ex.upstreamReady()
}

// The upstream interface.

func (st *h2UpStream) requestBacklog() (int, bool) {
	if !st.started {
		return 0, false
	}
	return len(st.pending) + st.c.u.io.outbound(), true
}

// sendRequest takes request body bytes framed as ex.head says and sends
// their payload as DATA.
func (st *h2UpStream) sendRequest(p []byte) bool {
	c := st.c
	if st.s == nil || c.u.closed {
		return false
	}
	if st.reqChunked {
		for len(p) > 0 {
			n, data, done, err := st.scan.Decode(p)
			if err != nil {
				return false // the downstream codec validated the framing already
			}
			st.queue(data, done)
			p = p[n:]
			if done {
				break
			}
		}
	} else {
		n := int64(len(p))
		if n > st.reqLeft {
			n = st.reqLeft
		}
		st.reqLeft -= n
		st.queue(p[:n], st.reqLeft == 0)
	}
	st.drainRequest()
	c.flush()
	return !c.u.closed && st.s != nil
}

func (st *h2UpStream) queue(p []byte, end bool) {
	st.pending = append(st.pending, p...)
	if end {
		st.pendingEnd = true
	}
}

// drainRequest hands the codec as much pending request payload as the
// endpoint's windows take.
func (st *h2UpStream) drainRequest() {
	if st.s == nil || st.reqDone {
		return
	}
	if len(st.pending) == 0 && !st.pendingEnd {
		return
	}
	n := st.c.conn.WriteData(st.s, st.pending, st.pendingEnd)
	st.pending = st.pending[:copy(st.pending, st.pending[n:])]
	if st.pendingEnd && len(st.pending) == 0 {
		st.reqDone = true
	}
}

func (st *h2UpStream) resumeResponse() {
	if st.owed > 0 && st.s != nil {
		st.c.conn.Consumed(st.s, st.owed)
		st.owed = 0
		st.c.flush()
	}
}

func (st *h2UpStream) abandon() {
	c := st.c
	if st.s != nil {
		c.conn.Reset(st.s, http2.ErrCodeCancel)
		st.s = nil
	}
	st.ex = nil
	st.release()
	c.flush()
}

// detach ends the stream's part in its exchange (the exchange is told by
// the caller).
func (st *h2UpStream) detach() {
	if st.ex != nil {
		st.ex.up = nil
		st.ex = nil
	}
	if st.s != nil {
		st.s.UserData = nil
		if !st.s.Closed() {
			st.c.conn.Reset(st.s, http2.ErrCodeCancel)
		}
		st.s = nil
	}
	st.release()
}

// release returns the stream to the loop's pool.
func (st *h2UpStream) release() {
	c := st.c
	if c == nil {
		return
	}
	c.streams--
	c.idle = monotime()
	c.unlink(st)
	u := c.u
	if c.streams == 0 && u.l.h2ups[u.key] != u && !u.closed {
		u.closeConn() // replaced by a newer connection: nothing left on it
	}
	u.l.putH2UpStream(st)
}

// onHeaders handles a response head or trailers.
func (st *h2UpStream) onHeaders(f *http2.Fields, h *http2.Head, end bool) {
	ex := st.ex
	if st.headDone {
		// Trailers: the downstream gets them as they are.
		ex.responseTrailers(f)
		if end {
			st.finish()
		}
		return
	}
	// The HTTP/1.1 head the exchange and the downstream codecs read.
	b := append(st.headBuf[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(h.Status), 10)
	b = append(b, " \r\n"...)
	for i := h.NPseudo; i < len(f.List); i++ {
		name := f.Name(i)
		if !http1.ValidFieldName(name) {
			continue // cannot be written in HTTP/1.1; an HTTP/2 client loses it too
		}
		b = http1.AppendField(b, name, f.Value(i))
	}
	bodyless := end || ex.isHEAD || h.Status == 204 || h.Status == 304 || h.Status < 200
	st.respChunked = !bodyless && h.ContentLength < 0
	if st.respChunked {
		b = append(b, "transfer-encoding: chunked\r\n"...)
	}
	b = append(b, "\r\n"...)
	st.headBuf = b
	st.resp.Reset()
	n, err := http1.ParseResponse(b, len(b)+1, &st.resp)
	if err != nil || n != len(b) {
		st.detach()
		ex.upstreamBroke(502, "bad_response")
		return
	}
	st.rh = respHead{raw: b, resp: &st.resp, bodyless: bodyless}
	if ex.grpc && end {
		ex.grpcStatus = grpcStatusOf(f) // a trailers-only response
	}
	if h.Status < 200 {
		ex.responseInterim(&st.rh)
		return
	}
	st.status = h.Status
	st.headDone = true
	ex.responseHead(&st.rh)
	if bodyless && end {
		if ex.responseBody(nil) && st.ex != nil {
			st.finish()
		}
	}
}

// onData passes response payload on, framed for an HTTP/1.1 client when the
// head given to it says chunked.
func (st *h2UpStream) onData(p []byte, end bool) {
	ex := st.ex
	ex.touch()
	c := st.c
	if len(p) > 0 {
		out := p
		if st.respChunked && ex.down.framesHTTP1() {
			l := c.u.l
			b := strconv.AppendInt(l.scratchUpChunk[:0], int64(len(p)), 16)
			b = append(b, "\r\n"...)
			b = append(b, p...)
			b = append(b, "\r\n"...)
			l.scratchUpChunk = b
			out = b
		}
		if !ex.responseBody(out) || st.ex == nil {
			return
		}
		if ex.responseBacklog() > c.u.l.p.flow.high {
			st.owed += len(p) // credited once the client drains (resumeResponse)
		} else if st.s != nil {
			c.conn.Consumed(st.s, len(p))
		}
	}
	if end {
		st.finish()
	}
}

// finish completes the exchange after the response's END_STREAM.
func (st *h2UpStream) finish() {
	ex := st.ex
	if st.respChunked && ex.down.framesHTTP1() {
		if !ex.responseBody(lastChunk) || st.ex == nil {
			return
		}
	}
	status := st.status
	st.ex = nil
	ex.up = nil
	if st.s != nil {
		st.s.UserData = nil
		st.s = nil
	}
	st.release()
	ex.responseDone(status)
}

// unlink takes st off c.live.
func (c *h2Client) unlink(st *h2UpStream) {
	if st.lprev != nil {
		st.lprev.lnext = st.lnext
	} else if c.live == st {
		c.live = st.lnext
	}
	if st.lnext != nil {
		st.lnext.lprev = st.lprev
	}
	st.lprev, st.lnext = nil, nil
}

// --- the loop's stream pool ---------------------------------------------------

func (l *loop) getH2UpStream() *h2UpStream {
	st := l.h2upFree
	if st == nil {
		return &h2UpStream{}
	}
	l.h2upFree = st.next
	st.next = nil
	return st
}

func (l *loop) putH2UpStream(st *h2UpStream) {
	st.ex, st.c, st.s = nil, nil, nil
	st.started, st.reqChunked, st.reqLeft, st.reqDone = false, false, 0, false
	st.scan.Reset()
	if cap(st.pending) > maxPooledBuf {
		st.pending = nil
	}
	st.pending, st.pendingEnd = st.pending[:0], false
	st.headDone, st.respChunked, st.status, st.owed = false, false, 0, 0
	st.next = l.h2upFree
	l.h2upFree = st
}
