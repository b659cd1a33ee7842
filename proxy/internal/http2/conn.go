package http2

import (
	"encoding/binary"
	"errors"
	"sync"
)

// Role says which end of the connection a Conn is.
type Role uint8

const (
	Server Role = iota // downstream: the peer sends requests
	Client             // upstream: we send requests
)

func (r Role) String() string {
	if r == Client {
		return "client"
	}
	return "server"
}

// Handler receives a Conn's events. Every call happens inside a Conn
// method (Feed mostly; Flushed for OnWritable; Close for OnReset) on the
// engine's goroutine. A handler may call the Conn's engine-facing methods
// (StartHeaders, WriteData, Reset, ...) from inside any callback.
type Handler interface {
	// OnHeaders: server role, a request head (s is new) or its trailers;
	// client role, a 1xx or final response head, or trailers. f and
	// s.Head are valid only during the call (the engine copies what it
	// keeps). Server role: s.Head.TooLarge means the head exceeded our
	// MAX_HEADER_LIST_SIZE; f is then empty and the engine answers 431.
	OnHeaders(s *Stream, f *Fields, endStream bool)
	// OnData: p is valid only during the call. Flow-control credit goes
	// back to the peer only when the engine calls Conn.Consumed: a slow
	// consumer closes the window.
	OnData(s *Stream, p []byte, endStream bool)
	// OnReset: s ended abnormally: RST_STREAM from the peer (byPeer), a
	// stream error we sent (malformed headers, content-length, flow
	// control, a GOAWAY that excludes it), or the connection ending. s is
	// recycled after the call returns. Not called for the engine's own
	// Reset, nor for streams the engine never saw (a malformed request
	// head is refused before OnHeaders). A client stream whose response
	// completed may still get OnReset(NO_ERROR, true): the server wants no
	// more of the request body (RFC 9113 §8.1).
	OnReset(s *Stream, code ErrCode, byPeer bool)
	// OnWritable: WriteData on s took less than offered, and the peer's
	// windows or our output room have opened since: offer the rest.
	OnWritable(s *Stream)
	// OnGoAway: the peer sent GOAWAY. Client role: streams above
	// lastStreamID were not processed and got OnReset(REFUSED_STREAM,
	// true) first (safe to retry elsewhere); no new stream may start.
	OnGoAway(lastStreamID uint32, code ErrCode)
	// OnViolation: the peer misbehaved (the engine counts these).
	OnViolation(v Violation)
}

// Conn is one HTTP/2 connection's codec: bytes in (Feed), events out
// (Handler), frames out (Pending). It does no I/O and starts no
// goroutine; the engine drives it from its event loop, one goroutine per
// Conn at a time. The zero value is ready for Init; a Conn may be reused
// with Init (its buffers and stream free list are kept).
type Conn struct {
	role Role
	h    Handler
	our  Settings // what we advertised
	lim  Limits

	// The peer's settings as far as they matter for what we send.
	peerMaxFrame      uint32
	peerInitialWindow int64
	peerMaxStreams    uint32

	// recvInitial is the stream receive window in force: before the
	// peer ACKs our SETTINGS it may still use the protocol default, so the
	// larger of the two until then.
	recvInitial     int64
	settingsUnacked int

	dec    Decoder
	enc    Encoder
	fields Fields

	out           []byte  // frames for the peer (Pending)
	outBox        *[]byte // out's box from outPool, nil while out is not pooled
	backlog       int     // bytes the engine's socket still holds (Flushed)
	queuedControl int     // control replies queued since the socket was last drained

	// Header block being encoded (StartHeaders..EndHeaders).
	hbuf  []byte
	hs    *Stream
	hskip bool
	lname []byte

	// Header block being received across CONTINUATION frames.
	block       []byte
	contSID     uint32 // its stream; 0 when no block is open
	contEnd     bool   // the HEADERS had END_STREAM
	contSelfDep bool
	contN       int // CONTINUATIONs so far

	sendWin     int64 // connection window the peer gives us
	recvWin     int64 // connection window we give the peer
	connUnacked int64 // consumed connection credit not yet announced

	streams     []*Stream // active streams
	free        *Stream
	last        *Stream // lookup cache
	peerActive  int
	localActive int

	lastPeerID uint32 // highest stream id the peer opened (GOAWAY's last stream id)
	nextID     uint32 // client: the next stream id we use

	// Streams we reset recently: frames the peer sent before it saw our
	// RST_STREAM are ignored rather than treated as frames on a closed
	// stream (RFC 9113 §5.1 "closed").
	recentReset [16]uint32
	recentIdx   int

	gotPreface  bool // server: the client preface was read
	gotSettings bool // the peer's first frame (SETTINGS) was read

	goAwaySent     bool
	goAwayRecv     bool
	peerGoAwayLast uint32

	closedStreams   uint64 // peer streams closed (rapid-reset ratio)
	prematureResets uint64 // ... of which the peer reset before our response completed
	empty           int    // consecutive empty frames

	err    *ConnError
	inFeed bool
}

const noViolation Violation = 255

// Init readies c for a new connection and queues our connection preface:
// client role, the 24-byte preface; then our SETTINGS and, if
// s.ConnWindowSize is above 65535, a WINDOW_UPDATE on stream 0. Zero
// fields of s and l take the defaults (DefaultSettings, DefaultLimits).
// Our decoder accepts a dynamic table of max(s.HeaderTableSize, 4096): the
// peer may use 4096 until it has our SETTINGS, and a smaller table saves
// nothing worth the bookkeeping.
func (c *Conn) Init(role Role, s Settings, l Limits, h Handler) {
	s = s.normalize()
	// Keep what a reused Conn already allocated.
	c.releaseOut()
	out, hbuf, block, lname, fields, streams, free := c.out[:0], c.hbuf[:0], c.block[:0], c.lname[:0], c.fields, c.streams[:0], c.free
	for _, st := range c.streams {
		st.reset(c)
		st.next = free
		free = st
	}
	fields.Reset()
	*c = Conn{
		role: role, h: h, our: s, lim: l.normalize(s),
		out: out, hbuf: hbuf, block: block, lname: lname, fields: fields, streams: streams, free: free,
		peerMaxFrame:      minMaxFrameSize,
		peerInitialWindow: defaultWindow,
		peerMaxStreams:    100, // as x/net's client until the peer's SETTINGS say
		recvInitial:       max(int64(s.InitialWindowSize), defaultWindow),
		sendWin:           defaultWindow,
		recvWin:           int64(s.ConnWindowSize),
		nextID:            1,
	}
	c.grabOut()
	c.dec.Init(max(s.HeaderTableSize, 4096))
	c.enc.Init()
	if role == Client {
		c.out = append(c.out, ClientPreface...)
		c.gotPreface = true
	}
	c.out = appendSettings(c.out, role, s)
	c.settingsUnacked = 1
	if s.ConnWindowSize > defaultWindow {
		c.out = appendWindowUpdate(c.out, 0, s.ConnWindowSize-defaultWindow)
	}
}

// Feed processes every complete frame in p (server role: the 24-byte
// client preface first) and returns how many bytes it consumed; the bytes
// of an incomplete frame stay with the caller, who passes them again with
// more. Payloads handed to the Handler are sub-slices of p.
//
// A connection error queues GOAWAY (with the last stream id processed),
// resets every open stream (OnReset) and returns a *ConnError naming what
// was wrong; the engine then flushes Pending and closes. After that, Feed
// returns the same error.
func (c *Conn) Feed(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.grabOut()
	c.inFeed = true
	n := c.feed(p)
	c.inFeed = false
	if c.err != nil {
		c.resetAll(c.err.Code, false)
		return n, c.err
	}
	return n, nil
}

func (c *Conn) feed(p []byte) int {
	n := 0
	if !c.gotPreface {
		k := len(ClientPreface)
		if len(p) < k {
			if string(p) != ClientPreface[:len(p)] {
				c.fail(ErrCodeProtocol, ViolationProtocol, "bad client preface")
			}
			return 0
		}
		if string(p[:k]) != ClientPreface {
			c.fail(ErrCodeProtocol, ViolationProtocol, "bad client preface")
			return 0
		}
		c.gotPreface = true
		n = k
	}
	for c.err == nil && len(p)-n >= frameHeaderLen {
		fh := parseFrameHeader(p[n:])
		if fh.length > c.our.MaxFrameSize {
			// Fail on the header: waiting for the payload would make the
			// caller buffer up to 16 MiB.
			c.fail(ErrCodeFrameSize, ViolationFrameSize, "frame larger than our MAX_FRAME_SIZE")
			break
		}
		end := n + frameHeaderLen + int(fh.length)
		if end > len(p) {
			break
		}
		payload := p[n+frameHeaderLen : end]
		n = end
		c.frame(fh, payload)
	}
	return n
}

func (c *Conn) frame(fh frameHeader, p []byte) {
	if !c.gotSettings {
		// RFC 9113 §3.4: the peer's preface ends with a SETTINGS frame.
		if fh.typ != FrameSettings || fh.flags&flagAck != 0 {
			c.fail(ErrCodeProtocol, ViolationProtocol, "first frame is not SETTINGS")
			return
		}
		c.gotSettings = true
	}
	if c.contSID != 0 && (fh.typ != FrameContinuation || fh.streamID != c.contSID) {
		// §6.10: a header block is contiguous.
		c.fail(ErrCodeProtocol, ViolationProtocol, "header block interrupted by another frame")
		return
	}
	switch fh.typ {
	case FrameData:
		c.onData(fh, p)
	case FrameHeaders:
		c.onHeaders(fh, p)
	case FramePriority:
		c.onPriority(fh, p)
	case FrameRSTStream:
		c.onRSTStream(fh, p)
	case FrameSettings:
		c.onSettings(fh, p)
	case FramePushPromise:
		// We never enable push (client role sends ENABLE_PUSH=0), and a
		// server never receives PUSH_PROMISE (§8.4).
		c.fail(ErrCodeProtocol, ViolationProtocol, "PUSH_PROMISE with push disabled")
	case FramePing:
		c.onPing(fh, p)
	case FrameGoAway:
		c.onGoAway(fh, p)
	case FrameWindowUpdate:
		c.onWindowUpdate(fh, p)
	case FrameContinuation:
		c.onContinuation(fh, p)
	default:
		// §4.1: unknown frame types are ignored.
	}
}

// --- incoming frames -------------------------------------------------------

func (c *Conn) onData(fh frameHeader, p []byte) {
	if fh.streamID == 0 {
		c.fail(ErrCodeProtocol, ViolationStreamID, "DATA on stream 0")
		return
	}
	total := int64(len(p))
	data := p
	if fh.flags&flagPadded != 0 {
		var ok bool
		if data, ok = stripPadding(p); !ok {
			c.fail(ErrCodeProtocol, ViolationProtocol, "DATA padding exceeds the payload")
			return
		}
	}
	end := fh.flags&flagEndStream != 0
	// The whole frame counts against flow control, padding included (§6.1).
	if total > c.recvWin {
		c.fail(ErrCodeFlowControl, ViolationFlowControl, "DATA beyond the connection window")
		return
	}
	c.recvWin -= total
	if !c.countEmpty(len(data) == 0 && !end) {
		return
	}
	s := c.lookup(fh.streamID)
	if s == nil {
		c.returnConn(total)
		switch {
		case c.isIdle(fh.streamID):
			c.fail(ErrCodeProtocol, ViolationStreamID, "DATA on an idle stream")
		case c.wasReset(fh.streamID):
		default:
			c.streamError(nil, fh.streamID, ErrCodeStreamClosed, ViolationStreamClosed)
		}
		return
	}
	if s.recvDone {
		c.returnConn(total)
		c.streamError(s, s.ID, ErrCodeStreamClosed, ViolationStreamClosed)
		return
	}
	if !s.gotHead {
		// Client role: DATA before the final response head (§8.1).
		c.returnConn(total)
		c.streamError(s, s.ID, ErrCodeProtocol, ViolationMalformed)
		return
	}
	if total > s.recvWin {
		c.returnConn(total)
		c.streamError(s, s.ID, ErrCodeFlowControl, ViolationFlowControl)
		return
	}
	s.recvWin -= total
	s.received += int64(len(data))
	if s.contentLength >= 0 && (s.received > s.contentLength || end && s.received != s.contentLength) {
		// §8.1.1: a body that does not match content-length is malformed.
		c.returnConn(total)
		c.streamError(s, s.ID, ErrCodeProtocol, ViolationContentLength)
		return
	}
	if pad := total - int64(len(data)); pad > 0 {
		// Padding is nobody's to consume: credit it back at once.
		s.unconsumed += pad
		c.Consumed(s, int(pad))
	}
	s.unconsumed += int64(len(data))
	if end {
		s.recvDone = true
	}
	s.inCall++
	c.h.OnData(s, data, end)
	c.leave(s)
}

func (c *Conn) onHeaders(fh frameHeader, p []byte) {
	if fh.streamID == 0 {
		c.fail(ErrCodeProtocol, ViolationStreamID, "HEADERS on stream 0")
		return
	}
	frag := p
	if fh.flags&flagPadded != 0 {
		var ok bool
		if frag, ok = stripPadding(p); !ok {
			c.fail(ErrCodeProtocol, ViolationProtocol, "HEADERS padding exceeds the payload")
			return
		}
	}
	selfDep := false
	if fh.flags&flagPriority != 0 {
		if len(frag) < 5 {
			c.fail(ErrCodeFrameSize, ViolationFrameSize, "HEADERS too short for its priority")
			return
		}
		// Priority signals are ignored (RFC 9113 §5.3.2), but a stream
		// depending on itself is still an error (§5.3.1).
		selfDep = binary.BigEndian.Uint32(frag)&0x7fffffff == fh.streamID
		frag = frag[5:]
	}
	end := fh.flags&flagEndStream != 0
	if !c.countEmpty(len(frag) == 0 && !end) {
		return
	}
	if uint32(len(frag)) > c.lim.MaxHeaderBlock {
		c.fail(ErrCodeEnhanceYourCalm, ViolationContinuationFlood, "header block larger than the limit")
		return
	}
	if fh.flags&flagEndHeaders == 0 {
		c.block = append(c.block[:0], frag...)
		c.contSID, c.contEnd, c.contSelfDep, c.contN = fh.streamID, end, selfDep, 0
		return
	}
	c.headerBlock(fh.streamID, frag, end, selfDep)
}

func (c *Conn) onContinuation(fh frameHeader, p []byte) {
	if c.contSID == 0 {
		c.fail(ErrCodeProtocol, ViolationProtocol, "CONTINUATION without HEADERS")
		return
	}
	// CVE-2024-27316: bound both the frames and the bytes of one block;
	// tiny or empty CONTINUATIONs would otherwise cost CPU forever.
	c.contN++
	if c.contN > c.lim.MaxContinuations {
		c.fail(ErrCodeEnhanceYourCalm, ViolationContinuationFlood, "too many CONTINUATION frames")
		return
	}
	if uint64(len(c.block))+uint64(len(p)) > uint64(c.lim.MaxHeaderBlock) {
		c.fail(ErrCodeEnhanceYourCalm, ViolationContinuationFlood, "header block larger than the limit")
		return
	}
	endHeaders := fh.flags&flagEndHeaders != 0
	if !c.countEmpty(len(p) == 0 && !endHeaders) {
		return
	}
	c.block = append(c.block, p...)
	if !endHeaders {
		return
	}
	sid := c.contSID
	c.contSID = 0
	c.headerBlock(sid, c.block, c.contEnd, c.contSelfDep)
	if cap(c.block) > 16<<10 {
		// Large blocks are rare: do not keep their memory per connection.
		c.block = nil
	}
}

// headerBlock decodes a complete header block (HPACK state must follow
// every block, even one for a stream we ignore) and hands it on by role.
func (c *Conn) headerBlock(sid uint32, block []byte, end, selfDep bool) {
	c.fields.Reset()
	tooLarge := false
	if err := c.dec.Decode(block, &c.fields, c.our.MaxHeaderListSize); err != nil {
		if !errors.Is(err, ErrListTooLarge) {
			c.fail(ErrCodeCompression, ViolationCompression, "header block does not decode (HPACK)")
			return
		}
		tooLarge = true
	}
	if c.role == Server {
		c.serverHeaders(sid, end, selfDep, tooLarge)
	} else {
		c.clientHeaders(sid, end, selfDep, tooLarge)
	}
}

func (c *Conn) serverHeaders(sid uint32, end, selfDep, tooLarge bool) {
	if s := c.lookup(sid); s != nil {
		c.trailers(s, end, selfDep, tooLarge)
		return
	}
	if sid%2 == 0 {
		c.fail(ErrCodeProtocol, ViolationStreamID, "HEADERS on a server-initiated stream id")
		return
	}
	if sid <= c.lastPeerID {
		if c.wasReset(sid) {
			return // trailers sent before the peer saw our RST_STREAM
		}
		// §5.1.1: a new stream's id must be above every id the peer
		// used; an unexpected id is a PROTOCOL_ERROR (as x/net and
		// nghttp2 answer a decreasing id).
		c.fail(ErrCodeProtocol, ViolationStreamID, "HEADERS on a stream id not above the last one")
		return
	}
	c.lastPeerID = sid // ids below are now closed, even unused ones (§5.1.1)
	if c.goAwaySent {
		return // §6.8: streams above our GOAWAY's last id are ignored
	}
	if selfDep {
		c.streamError(nil, sid, ErrCodeProtocol, ViolationProtocol)
		return
	}
	if c.peerActive >= int(c.our.MaxConcurrentStreams) {
		c.h.OnViolation(ViolationRefusedStream)
		c.rst(sid, ErrCodeRefusedStream)
		return
	}
	var h Head
	if tooLarge {
		c.h.OnViolation(ViolationHeaderListTooLarge)
		c.fields.Reset()
		h = Head{ContentLength: -1, TooLarge: true}
	} else if !checkFields(&c.fields, kindRequest, c.our.EnableConnectProtocol, &h) {
		c.streamError(nil, sid, ErrCodeProtocol, ViolationMalformed)
		return
	}
	if end && h.ContentLength > 0 {
		c.streamError(nil, sid, ErrCodeProtocol, ViolationContentLength)
		return
	}
	s := c.newStream()
	s.ID = sid
	s.gotHead = true
	s.contentLength = h.ContentLength
	s.recvDone = end
	s.Head = h
	c.peerActive++
	c.callHeaders(s, end)
}

func (c *Conn) clientHeaders(sid uint32, end, selfDep, tooLarge bool) {
	s := c.lookup(sid)
	if s == nil {
		if sid%2 == 1 && sid < c.nextID {
			if !c.wasReset(sid) {
				c.fail(ErrCodeStreamClosed, ViolationStreamClosed, "HEADERS on a closed stream")
			}
			return
		}
		c.fail(ErrCodeProtocol, ViolationStreamID, "HEADERS on a stream we did not open")
		return
	}
	if s.gotHead {
		c.trailers(s, end, selfDep, tooLarge)
		return
	}
	var h Head
	switch {
	case tooLarge:
		c.streamError(s, s.ID, ErrCodeProtocol, ViolationHeaderListTooLarge)
		return
	case selfDep || !checkFields(&c.fields, kindResponse, false, &h):
		c.streamError(s, s.ID, ErrCodeProtocol, ViolationMalformed)
		return
	}
	if h.Status < 200 {
		// Informational: more heads follow; one with END_STREAM is
		// malformed (§8.1).
		if end {
			c.streamError(s, s.ID, ErrCodeProtocol, ViolationMalformed)
			return
		}
		s.Head = h
		c.callHeaders(s, false)
		return
	}
	s.gotHead = true
	s.contentLength = h.ContentLength
	if s.headReq || h.Status == 204 || h.Status == 304 {
		// content-length describes a body that is not sent (RFC 9110 §8.6).
		s.contentLength = -1
	}
	if end && s.contentLength > 0 {
		c.streamError(s, s.ID, ErrCodeProtocol, ViolationContentLength)
		return
	}
	s.recvDone = end
	s.Head = h
	c.callHeaders(s, end)
}

// trailers handles a header block on a stream whose head was received.
func (c *Conn) trailers(s *Stream, end, selfDep, tooLarge bool) {
	var h Head
	switch {
	case s.recvDone:
		c.streamError(s, s.ID, ErrCodeStreamClosed, ViolationStreamClosed)
	case tooLarge:
		c.streamError(s, s.ID, ErrCodeProtocol, ViolationHeaderListTooLarge)
	case !end || selfDep || !checkFields(&c.fields, kindTrailers, false, &h):
		// Trailers end the stream and carry no pseudo-header (§8.1).
		c.streamError(s, s.ID, ErrCodeProtocol, ViolationMalformed)
	case s.contentLength >= 0 && s.received != s.contentLength:
		c.streamError(s, s.ID, ErrCodeProtocol, ViolationContentLength)
	default:
		s.recvDone = true
		s.Head = h
		c.callHeaders(s, true)
	}
}

func (c *Conn) onPriority(fh frameHeader, p []byte) {
	if fh.streamID == 0 {
		c.fail(ErrCodeProtocol, ViolationStreamID, "PRIORITY on stream 0")
		return
	}
	v := ViolationFrameSize
	code := ErrCodeFrameSize
	if len(p) == 5 {
		if binary.BigEndian.Uint32(p)&0x7fffffff != fh.streamID {
			return // ignored (§5.3.2)
		}
		v, code = ViolationProtocol, ErrCodeProtocol
	}
	// A stream error (§6.3); on a stream that is not open there is
	// nothing to reset (RST_STREAM on an idle stream is itself an error).
	if s := c.lookup(fh.streamID); s != nil {
		c.streamError(s, s.ID, code, v)
	} else {
		c.h.OnViolation(v)
	}
}

func (c *Conn) onRSTStream(fh frameHeader, p []byte) {
	if len(p) != 4 {
		c.fail(ErrCodeFrameSize, ViolationFrameSize, "RST_STREAM length is not 4")
		return
	}
	if fh.streamID == 0 {
		c.fail(ErrCodeProtocol, ViolationStreamID, "RST_STREAM on stream 0")
		return
	}
	s := c.lookup(fh.streamID)
	if s == nil {
		if c.isIdle(fh.streamID) {
			c.fail(ErrCodeProtocol, ViolationStreamID, "RST_STREAM on an idle stream")
		}
		return
	}
	// CVE-2023-44487: a reset before our response completed cost us the
	// request's work for nothing.
	premature := c.role == Server && !s.sendDone
	c.kill(s, ErrCode(binary.BigEndian.Uint32(p)), true)
	if premature {
		c.prematureResets++
		c.checkRapidReset()
	}
}

// checkRapidReset ends the connection when the share of peer streams it
// reset prematurely reaches Limits.RapidResetPercent, counted over at
// least RapidResetMinStreams streams (Envoy's premature-reset rule: before
// that many streams closed, the count is compared with the minimum, so an
// attacker gets at most percent × minimum resets).
func (c *Conn) checkRapidReset() {
	base := c.closedStreams
	if m := uint64(c.lim.RapidResetMinStreams); base < m {
		base = m
	}
	if c.prematureResets*100 >= uint64(c.lim.RapidResetPercent)*base {
		c.fail(ErrCodeEnhanceYourCalm, ViolationRapidReset, "too many streams reset before their response")
	}
}

func (c *Conn) onSettings(fh frameHeader, p []byte) {
	if fh.streamID != 0 {
		c.fail(ErrCodeProtocol, ViolationStreamID, "SETTINGS on a stream")
		return
	}
	if fh.flags&flagAck != 0 {
		if len(p) != 0 {
			c.fail(ErrCodeFrameSize, ViolationFrameSize, "SETTINGS ACK with a payload")
			return
		}
		if c.settingsUnacked == 0 {
			c.fail(ErrCodeProtocol, ViolationProtocol, "SETTINGS ACK without SETTINGS")
			return
		}
		c.settingsUnacked--
		// Our INITIAL_WINDOW_SIZE is now in force for every stream.
		if d := int64(c.our.InitialWindowSize) - c.recvInitial; d != 0 {
			c.recvInitial += d
			for _, s := range c.streams {
				s.recvWin += d
			}
		}
		return
	}
	if len(p)%6 != 0 {
		c.fail(ErrCodeFrameSize, ViolationFrameSize, "SETTINGS length is not a multiple of 6")
		return
	}
	opened := false
	for ; len(p) > 0; p = p[6:] {
		id := binary.BigEndian.Uint16(p)
		v := binary.BigEndian.Uint32(p[2:])
		switch id {
		case settingHeaderTableSize:
			c.enc.SetPeerTableSize(v)
		case settingEnablePush:
			if v > 1 || v == 1 && c.role == Client {
				c.fail(ErrCodeProtocol, ViolationProtocol, "bad SETTINGS_ENABLE_PUSH")
				return
			}
		case settingMaxConcurrentStreams:
			c.peerMaxStreams = v
		case settingInitialWindowSize:
			if v > maxWindow {
				c.fail(ErrCodeFlowControl, ViolationWindowOverflow, "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1")
				return
			}
			// §6.9.2: the change applies to every open stream's window.
			d := int64(v) - c.peerInitialWindow
			for _, s := range c.streams {
				if s.sendWin+d > maxWindow {
					c.fail(ErrCodeFlowControl, ViolationWindowOverflow, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window")
					return
				}
			}
			c.peerInitialWindow = int64(v)
			for _, s := range c.streams {
				s.sendWin += d
			}
			opened = opened || d > 0
		case settingMaxFrameSize:
			if v < minMaxFrameSize || v > maxMaxFrameSize {
				c.fail(ErrCodeProtocol, ViolationProtocol, "SETTINGS_MAX_FRAME_SIZE out of range")
				return
			}
			c.peerMaxFrame = v
		case settingEnableConnectProtocol:
			if v > 1 {
				c.fail(ErrCodeProtocol, ViolationProtocol, "bad SETTINGS_ENABLE_CONNECT_PROTOCOL")
				return
			}
		}
	}
	if !c.queueControl(frameHeaderLen) {
		return
	}
	c.out = appendFrameHeader(c.out, 0, FrameSettings, flagAck, 0)
	if opened {
		c.wakeBlocked()
	}
}

func (c *Conn) onPing(fh frameHeader, p []byte) {
	if len(p) != 8 {
		c.fail(ErrCodeFrameSize, ViolationFrameSize, "PING length is not 8")
		return
	}
	if fh.streamID != 0 {
		c.fail(ErrCodeProtocol, ViolationStreamID, "PING on a stream")
		return
	}
	if fh.flags&flagAck != 0 {
		return // we send no PING of our own
	}
	if c.queueControl(frameHeaderLen + 8) {
		c.out = appendPing(c.out, true, p)
	}
}

func (c *Conn) onGoAway(fh frameHeader, p []byte) {
	if fh.streamID != 0 {
		c.fail(ErrCodeProtocol, ViolationStreamID, "GOAWAY on a stream")
		return
	}
	if len(p) < 8 {
		c.fail(ErrCodeFrameSize, ViolationFrameSize, "GOAWAY shorter than 8")
		return
	}
	last := binary.BigEndian.Uint32(p) & 0x7fffffff
	code := ErrCode(binary.BigEndian.Uint32(p[4:]))
	if c.goAwayRecv && last > c.peerGoAwayLast {
		last = c.peerGoAwayLast // §6.8: it may only decrease
	}
	c.goAwayRecv, c.peerGoAwayLast = true, last
	if c.role == Client {
		// Streams above last were not processed: retryable (§6.8).
		for i := len(c.streams) - 1; i >= 0; i-- {
			if i >= len(c.streams) {
				continue
			}
			if s := c.streams[i]; s.ID == 0 || s.ID > last {
				c.kill(s, ErrCodeRefusedStream, true)
			}
		}
	}
	c.h.OnGoAway(last, code)
}

func (c *Conn) onWindowUpdate(fh frameHeader, p []byte) {
	if len(p) != 4 {
		c.fail(ErrCodeFrameSize, ViolationFrameSize, "WINDOW_UPDATE length is not 4")
		return
	}
	inc := int64(binary.BigEndian.Uint32(p) & 0x7fffffff)
	if fh.streamID == 0 {
		if inc == 0 {
			c.fail(ErrCodeProtocol, ViolationProtocol, "WINDOW_UPDATE with increment 0")
			return
		}
		if c.sendWin+inc > maxWindow {
			c.fail(ErrCodeFlowControl, ViolationWindowOverflow, "connection window above 2^31-1")
			return
		}
		c.sendWin += inc
		c.wakeBlocked()
		return
	}
	s := c.lookup(fh.streamID)
	if s == nil {
		if c.isIdle(fh.streamID) {
			c.fail(ErrCodeProtocol, ViolationStreamID, "WINDOW_UPDATE on an idle stream")
		}
		return
	}
	if inc == 0 {
		c.streamError(s, s.ID, ErrCodeProtocol, ViolationProtocol)
		return
	}
	if s.sendWin+inc > maxWindow {
		c.streamError(s, s.ID, ErrCodeFlowControl, ViolationWindowOverflow)
		return
	}
	s.sendWin += inc
	c.wake(s)
}

// countEmpty counts a frame without payload (empty is true) or resets the
// count; it returns false when the connection failed (CVE-2019-9518:
// empty frames cost CPU and carry nothing).
func (c *Conn) countEmpty(empty bool) bool {
	if !empty {
		c.empty = 0
		return true
	}
	c.empty++
	if c.empty > c.lim.MaxEmptyFrames {
		c.fail(ErrCodeEnhanceYourCalm, ViolationEmptyFrames, "too many consecutive empty frames")
		return false
	}
	return true
}

// --- engine-facing calls -----------------------------------------------------

// Pending returns the frames queued for the peer. The engine writes them
// all and then calls Flushed.
func (c *Conn) Pending() []byte { return c.out }

// Flushed tells c that the engine took everything Pending returned;
// backlog is what the engine's socket still holds unsent. Control replies
// are bounded while backlog is above zero (Limits.MaxQueuedControl), and
// Pending plus backlog by Limits.MaxPending. Streams whose WriteData was
// cut short get OnWritable when room opened; they may queue more, so the
// engine checks Pending again after Flushed.
func (c *Conn) Flushed(backlog int) {
	c.out = c.out[:0]
	if len(c.streams) == 0 {
		// An idle connection holds no output buffer (its bytes would
		// be most of an idle connection's cost); busy ones share them.
		c.releaseOut()
	}
	c.backlog = backlog
	if backlog == 0 {
		c.queuedControl = 0
	}
	c.wakeBlocked()
}

// NewStream starts a client stream. Its id is assigned when its headers
// go out (StartHeaders), so streams may send their heads in any order.
func (c *Conn) NewStream() (*Stream, error) {
	switch {
	case c.role != Client:
		return nil, ErrNotClient
	case c.err != nil:
		return nil, ErrClosed
	case c.goAwaySent || c.goAwayRecv || uint64(c.nextID)+2*uint64(c.localActive) > maxWindow:
		return nil, ErrGoingAway
	case c.localActive >= int(c.peerMaxStreams):
		return nil, ErrStreamLimit
	}
	s := c.newStream()
	s.local = true
	c.localActive++
	return s, nil
}

// StartHeaders begins a header block on s (then AddHeader..., EndHeaders).
// Client role: the first StartHeaders of a stream gives it its id.
func (c *Conn) StartHeaders(s *Stream) {
	c.hs = s
	c.hskip = c.err != nil || !s.active || s.sendDone
	c.grabOut()
	if c.hskip {
		// The block is never encoded, so the HPACK state stays in step
		// with what the peer sees.
		return
	}
	if s.ID == 0 {
		s.ID = c.nextID
		c.nextID += 2
	}
	c.hbuf = c.enc.BeginBlock(c.hbuf[:0])
}

// AddHeader adds one field to the block StartHeaders began. Upper-case
// letters in name are lowered (HTTP/2 field names are lower case, §8.2.1).
// sensitive fields are encoded "never indexed".
func (c *Conn) AddHeader(name, value []byte, sensitive bool) {
	if c.hskip || c.hs == nil {
		return
	}
	name = c.lower(name)
	if c.role == Client && string(name) == ":method" && string(value) == "HEAD" {
		c.hs.headReq = true
	}
	c.hbuf = c.enc.AppendField(c.hbuf, name, value, sensitive)
}

func (c *Conn) lower(name []byte) []byte {
	for i, b := range name {
		if 'A' <= b && b <= 'Z' {
			c.lname = append(c.lname[:0], name...)
			for j := i; j < len(c.lname); j++ {
				if b := c.lname[j]; 'A' <= b && b <= 'Z' {
					c.lname[j] = b + 'a' - 'A'
				}
			}
			return c.lname
		}
	}
	return name
}

// EndHeaders queues the block as HEADERS plus CONTINUATIONs, each at most
// the peer's MAX_FRAME_SIZE. endStream ends our side of the stream.
func (c *Conn) EndHeaders(endStream bool) {
	s := c.hs
	c.hs = nil
	if c.hskip || s == nil {
		return
	}
	block := c.hbuf
	max := int(c.peerMaxFrame)
	frames := 1
	if len(block) > max {
		frames += (len(block) - 1) / max
	}
	if !c.reserve(len(block) + frames*frameHeaderLen) {
		return
	}
	first := min(len(block), max)
	var fl uint8
	if endStream {
		fl |= flagEndStream
	}
	if first == len(block) {
		fl |= flagEndHeaders
	}
	c.out = appendFrameHeader(c.out, first, FrameHeaders, fl, s.ID)
	c.out = append(c.out, block[:first]...)
	for rest := block[first:]; len(rest) > 0; {
		k := min(len(rest), max)
		fl = 0
		if k == len(rest) {
			fl = flagEndHeaders
		}
		c.out = appendFrameHeader(c.out, k, FrameContinuation, fl, s.ID)
		c.out = append(c.out, rest[:k]...)
		rest = rest[k:]
	}
	s.sentHead = true
	if endStream {
		c.endSend(s)
	}
}

// WriteData queues up to len(p) bytes of s's body as DATA frames of at
// most the peer's MAX_FRAME_SIZE, within both of the peer's windows and
// three quarters of Limits.MaxPending (the rest stays for control frames
// and heads). It returns how many bytes it took; when fewer than len(p),
// OnWritable(s) follows once more can go. endStream ends our side once
// all of p is taken (p may be empty).
func (c *Conn) WriteData(s *Stream, p []byte, endStream bool) int {
	if c.err != nil || !s.active || s.sendDone || !s.sentHead || (len(p) == 0 && !endStream) {
		return 0
	}
	c.grabOut()
	n := 0
	for {
		rem := len(p) - n
		k := int64(min(rem, int(c.peerMaxFrame)))
		k = min(k, c.sendWin, s.sendWin)
		room := int64(c.dataRoom()) - frameHeaderLen
		k = max(min(k, room), 0)
		fin := endStream && int(k) == rem
		if k == 0 && !(fin && room >= 0) {
			break
		}
		var fl uint8
		if fin {
			fl = flagEndStream
		}
		c.out = appendFrameHeader(c.out, int(k), FrameData, fl, s.ID)
		c.out = append(c.out, p[n:n+int(k)]...)
		c.sendWin -= k
		s.sendWin -= k
		n += int(k)
		if fin {
			c.endSend(s)
			return n
		}
		if n == len(p) {
			return n
		}
	}
	s.blocked = true
	return n
}

// outPool holds output buffers of idle connections. Boxed (*[]byte) so
// Put and Get do not allocate.
var outPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// maxPooledOut: larger buffers (a burst of DATA) are left to the GC rather
// than kept in the pool for every connection.
const maxPooledOut = 256 << 10

// grabOut gives c an output buffer from the pool if it has none.
func (c *Conn) grabOut() {
	if c.out == nil {
		c.outBox = outPool.Get().(*[]byte)
		c.out = (*c.outBox)[:0]
	}
}

// releaseOut returns an empty output buffer to the pool.
func (c *Conn) releaseOut() {
	if len(c.out) > 0 || c.out == nil {
		return
	}
	box := c.outBox
	if box == nil {
		box = new([]byte)
	}
	if cap(c.out) <= maxPooledOut {
		*box = c.out[:0]
		outPool.Put(box)
	}
	c.out, c.outBox = nil, nil
}

// dataRoom is what DATA may still add to Pending.
func (c *Conn) dataRoom() int {
	return c.lim.MaxPending - c.lim.MaxPending/4 - len(c.out) - c.backlog
}

// Consumed returns n bytes of s's received DATA to the peer's windows
// (the engine passed them on). WINDOW_UPDATEs are batched: one for the
// connection when half its window is owed, one for the stream when half
// the stream window is.
func (c *Conn) Consumed(s *Stream, n int) {
	if !s.active || n <= 0 {
		return // a closed stream's credit went back when it closed
	}
	c.grabOut()
	k := min(int64(n), s.unconsumed)
	s.unconsumed -= k
	c.returnConn(k)
	if s.recvDone || c.err != nil {
		return // nothing more comes on it
	}
	s.unacked += k
	if s.unacked >= c.recvInitial/2 && c.reserve(frameHeaderLen+4) {
		c.out = appendWindowUpdate(c.out, s.ID, uint32(s.unacked))
		s.recvWin += s.unacked
		s.unacked = 0
	}
}

// returnConn credits n bytes to the connection receive window.
func (c *Conn) returnConn(n int64) {
	if n <= 0 || c.err != nil {
		return
	}
	c.connUnacked += n
	if c.connUnacked >= int64(c.our.ConnWindowSize)/2 && c.reserve(frameHeaderLen+4) {
		c.out = appendWindowUpdate(c.out, 0, uint32(c.connUnacked))
		c.recvWin += c.connUnacked
		c.connUnacked = 0
	}
}

// Reset ends s with RST_STREAM(code) and recycles it at once (no
// OnReset). A client stream whose head never went out just goes away.
func (c *Conn) Reset(s *Stream, code ErrCode) {
	if !s.active {
		return
	}
	if s.ID != 0 && c.err == nil {
		c.grabOut()
		c.rst(s.ID, code)
	}
	c.release(s)
}

// GoAway sends GOAWAY with the last stream id the peer opened. With
// NO_ERROR it is graceful: new streams are refused (the peer's are
// ignored, NewStream fails) and open ones finish; Done reports when none
// is left. With any other code the connection ends now: Done is true,
// and open streams get OnReset(code, false) at the end of the Feed in
// progress or from Close.
func (c *Conn) GoAway(code ErrCode) {
	if c.err != nil {
		return
	}
	c.grabOut()
	if code != ErrCodeNoError {
		c.fail(code, noViolation, "closed by the proxy")
		return
	}
	if c.goAwaySent {
		return
	}
	c.goAwaySent = true
	c.out = appendGoAway(c.out, c.lastPeerID, ErrCodeNoError, "")
}

// Close tells c that the connection is gone (socket closed or the engine
// gave up): every open stream gets OnReset — with the connection error's
// code and byPeer false after a connection error, else CANCEL and byPeer
// true (the peer or the network ended it).
func (c *Conn) Close() {
	code, byPeer := ErrCodeCancel, true
	if c.err != nil {
		code, byPeer = c.err.Code, false
	} else {
		c.err = &ConnError{Code: ErrCodeCancel, Reason: "connection closed"}
	}
	c.resetAll(code, byPeer)
}

// ActiveStreams is the number of open streams, both directions.
func (c *Conn) ActiveStreams() int { return len(c.streams) }

// Done reports that the connection should be closed once Pending is
// flushed: a connection error happened, or GOAWAY was sent or received
// and no stream is left.
func (c *Conn) Done() bool {
	return c.err != nil || (c.goAwaySent || c.goAwayRecv) && len(c.streams) == 0
}

// Err is the connection error, nil while the connection is healthy.
func (c *Conn) Err() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

// Role is c's role.
func (c *Conn) Role() Role { return c.role }

// --- internals ---------------------------------------------------------------

// fail is a connection error: GOAWAY queued (it may exceed MaxPending:
// it is the last frame), c.err set. Streams get OnReset at the end of the
// Feed in progress, or from Close when the error arose in an engine call
// (EndHeaders or Consumed overflowing MaxPending, GoAway): never inside
// the engine's own call.
func (c *Conn) fail(code ErrCode, v Violation, reason string) {
	if c.err != nil {
		return
	}
	if v != noViolation {
		c.h.OnViolation(v)
	}
	c.err = &ConnError{Code: code, Reason: reason}
	c.out = appendGoAway(c.out, c.lastPeerID, code, reason)
}

// reserve checks that n more bytes fit within Limits.MaxPending; if not,
// the peer is not reading what it makes us write: connection error.
func (c *Conn) reserve(n int) bool {
	if c.err != nil {
		return false
	}
	if len(c.out)+c.backlog+n > c.lim.MaxPending {
		c.fail(ErrCodeEnhanceYourCalm, ViolationPendingOverflow, "peer does not read its replies")
		return false
	}
	return true
}

// queueControl admits one control reply of n bytes: bounded in number
// while the socket has a backlog (as x/net's maxQueuedControlFrames), and
// in bytes by reserve.
func (c *Conn) queueControl(n int) bool {
	if c.err != nil {
		return false
	}
	c.queuedControl++
	if c.queuedControl > c.lim.MaxQueuedControl {
		c.fail(ErrCodeEnhanceYourCalm, ViolationControlFlood, "too many control frames queued unread")
		return false
	}
	return c.reserve(n)
}

// rst queues RST_STREAM and remembers the id, so frames already in flight
// on it are ignored.
func (c *Conn) rst(sid uint32, code ErrCode) {
	if !c.queueControl(frameHeaderLen + 4) {
		return
	}
	c.out = appendRSTStream(c.out, sid, code)
	c.recentReset[c.recentIdx] = sid
	c.recentIdx = (c.recentIdx + 1) % len(c.recentReset)
}

func (c *Conn) wasReset(sid uint32) bool {
	for _, id := range c.recentReset {
		if id == sid {
			return true
		}
	}
	return false
}

// streamError sends RST_STREAM(code) on sid and ends s (OnReset) if the
// engine knows it (§5.4.2).
func (c *Conn) streamError(s *Stream, sid uint32, code ErrCode, v Violation) {
	c.h.OnViolation(v)
	c.rst(sid, code)
	if s != nil && s.active {
		c.kill(s, code, false)
	}
}

// isIdle: sid names a stream that was never opened (§5.1): above the
// highest the peer opened (server role) or than our next (client role),
// or of the parity only pushes would use (push is disabled).
func (c *Conn) isIdle(sid uint32) bool {
	if sid%2 == 0 {
		return true
	}
	if c.role == Server {
		return sid > c.lastPeerID
	}
	return sid >= c.nextID
}

func (c *Conn) lookup(sid uint32) *Stream {
	if s := c.last; s != nil && s.ID == sid {
		return s
	}
	for _, s := range c.streams {
		if s.ID == sid {
			c.last = s
			return s
		}
	}
	return nil
}

func (c *Conn) newStream() *Stream {
	s := c.free
	if s != nil {
		c.free = s.next
		s.next = nil
	} else {
		s = &Stream{c: c}
		s.reset(c)
	}
	s.active = true
	s.recvWin = c.recvInitial
	s.sendWin = c.peerInitialWindow
	c.streams = append(c.streams, s)
	return s
}

func (s *Stream) reset(c *Conn) {
	*s = Stream{c: c, contentLength: -1}
}

// callHeaders calls OnHeaders, then closes s if both sides ended.
func (c *Conn) callHeaders(s *Stream, end bool) {
	s.inCall++
	c.h.OnHeaders(s, &c.fields, end)
	c.leave(s)
}

// leave ends a callback on s: a stream closed during it is recycled now;
// one whose two sides have ended closes.
func (c *Conn) leave(s *Stream) {
	s.inCall--
	if s.inCall > 0 {
		return
	}
	if s.zombie {
		c.recycle(s)
		return
	}
	if s.active && s.recvDone && s.sendDone {
		c.release(s)
	}
}

// endSend marks our side of s ended.
func (c *Conn) endSend(s *Stream) {
	s.sendDone = true
	s.blocked = false
	switch {
	case s.recvDone:
		c.release(s)
	case c.role == Server:
		// The response is complete before the request: tell the client
		// to stop sending (§8.1) and forget the stream.
		c.rst(s.ID, ErrCodeNoError)
		c.release(s)
	}
}

// kill ends s abnormally: OnReset, then recycling.
func (c *Conn) kill(s *Stream, code ErrCode, byPeer bool) {
	s.inCall++
	c.release(s)
	c.h.OnReset(s, code, byPeer)
	c.leave(s)
}

// release takes s out of the active streams, returns the connection
// credit its unconsumed DATA held, and recycles it (after the callback in
// progress on it, if any).
func (c *Conn) release(s *Stream) {
	if !s.active {
		return
	}
	s.active = false
	for i, x := range c.streams {
		if x == s {
			last := len(c.streams) - 1
			c.streams[i] = c.streams[last]
			c.streams[last] = nil
			c.streams = c.streams[:last]
			break
		}
	}
	if c.last == s {
		c.last = nil
	}
	if s.local {
		c.localActive--
	} else {
		c.peerActive--
		c.closedStreams++
	}
	if s.unconsumed > 0 {
		c.returnConn(s.unconsumed)
		s.unconsumed = 0
	}
	if s.inCall > 0 {
		s.zombie = true
		return
	}
	c.recycle(s)
}

func (c *Conn) recycle(s *Stream) {
	s.reset(c)
	s.next = c.free
	c.free = s
}

// resetAll ends every open stream (connection error or close).
func (c *Conn) resetAll(code ErrCode, byPeer bool) {
	for len(c.streams) > 0 {
		c.kill(c.streams[len(c.streams)-1], code, byPeer)
	}
}

// wakeBlocked calls OnWritable for every stream WriteData cut short that
// can now send. Backwards, so a stream closing in its callback (swapped
// out of c.streams) cannot make us skip one.
func (c *Conn) wakeBlocked() {
	for i := len(c.streams) - 1; i >= 0; i-- {
		if i < len(c.streams) {
			c.wake(c.streams[i])
		}
	}
}

func (c *Conn) wake(s *Stream) {
	if !s.blocked || c.err != nil || s.sendWin <= 0 || c.sendWin <= 0 || c.dataRoom() <= frameHeaderLen {
		return
	}
	s.blocked = false
	s.inCall++
	c.h.OnWritable(s)
	c.leave(s)
}
