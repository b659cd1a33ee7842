package http2

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	xhttp2 "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// wantConnError checks that the peer's frames ended the connection with
// code, reported v, and left GOAWAY as the last frame queued.
func wantConnError(t *testing.T, p *rawPeer, code ErrCode, v Violation) {
	t.Helper()
	var ce *ConnError
	if !errors.As(p.err, &ce) || ce.Code != code {
		t.Fatalf("Feed error %v, want a connection error %v", p.err, code)
	}
	if n := p.h.count(v); n == 0 {
		t.Errorf("violation %v not reported (counts %v)", v, &p.h.violations)
	}
	fs := p.frames()
	if len(fs) == 0 || fs[len(fs)-1].typ != xhttp2.FrameGoAway || fs[len(fs)-1].code != code {
		t.Errorf("last frame queued is not GOAWAY %v: %+v", code, fs)
	}
	if !p.c.Done() {
		t.Error("Done is false after a connection error")
	}
}

func TestFrameErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(p *rawPeer)
		code  ErrCode
		v     Violation
	}{
		{"frame over MAX_FRAME_SIZE", func(p *rawPeer) { p.fr.WriteRawFrame(xhttp2.FrameData, 0, 1, make([]byte, 16385)) }, ErrCodeFrameSize, ViolationFrameSize},
		{"PING of 7 bytes", func(p *rawPeer) { p.fr.WriteRawFrame(xhttp2.FramePing, 0, 0, make([]byte, 7)) }, ErrCodeFrameSize, ViolationFrameSize},
		{"PING on a stream", func(p *rawPeer) { p.fr.WriteRawFrame(xhttp2.FramePing, 0, 1, make([]byte, 8)) }, ErrCodeProtocol, ViolationStreamID},
		{"SETTINGS not a multiple of 6", func(p *rawPeer) { p.fr.WriteRawFrame(xhttp2.FrameSettings, 0, 0, make([]byte, 7)) }, ErrCodeFrameSize, ViolationFrameSize},
		{"SETTINGS ACK with payload", func(p *rawPeer) { p.fr.WriteRawFrame(xhttp2.FrameSettings, 1, 0, make([]byte, 6)) }, ErrCodeFrameSize, ViolationFrameSize},
		{"unsolicited SETTINGS ACK", func(p *rawPeer) { p.fr.WriteSettingsAck() }, ErrCodeProtocol, ViolationProtocol},
		{"SETTINGS_ENABLE_PUSH 2", func(p *rawPeer) { p.fr.WriteSettings(xhttp2.Setting{ID: 2, Val: 2}) }, ErrCodeProtocol, ViolationProtocol},
		{"SETTINGS_MAX_FRAME_SIZE too small", func(p *rawPeer) { p.fr.WriteSettings(xhttp2.Setting{ID: 5, Val: 100}) }, ErrCodeProtocol, ViolationProtocol},
		{"SETTINGS_INITIAL_WINDOW_SIZE 2^31", func(p *rawPeer) { p.fr.WriteSettings(xhttp2.Setting{ID: 4, Val: 1 << 31}) }, ErrCodeFlowControl, ViolationWindowOverflow},
		{"RST_STREAM of 3 bytes", func(p *rawPeer) { p.fr.WriteRawFrame(xhttp2.FrameRSTStream, 0, 1, make([]byte, 3)) }, ErrCodeFrameSize, ViolationFrameSize},
		{"RST_STREAM on an idle stream", func(p *rawPeer) { p.fr.WriteRSTStream(5, xhttp2.ErrCodeCancel) }, ErrCodeProtocol, ViolationStreamID},
		{"WINDOW_UPDATE of 0 on the connection", func(p *rawPeer) { p.fr.WriteWindowUpdate(0, 0) }, ErrCodeProtocol, ViolationProtocol},
		{"WINDOW_UPDATE on an idle stream", func(p *rawPeer) { p.fr.WriteWindowUpdate(7, 1) }, ErrCodeProtocol, ViolationStreamID},
		{"DATA on stream 0", func(p *rawPeer) { p.fr.WriteRawFrame(xhttp2.FrameData, 0, 0, []byte("x")) }, ErrCodeProtocol, ViolationStreamID},
		{"DATA on an idle stream", func(p *rawPeer) { p.data(3, false, []byte("x")) }, ErrCodeProtocol, ViolationStreamID},
		{"DATA padding too long", func(p *rawPeer) {
			p.request(1, false)
			p.fr.WriteRawFrame(xhttp2.FrameData, 0x8, 1, []byte{5, 'a'})
		}, ErrCodeProtocol, ViolationProtocol},
		{"PUSH_PROMISE", func(p *rawPeer) { p.fr.WriteRawFrame(xhttp2.FramePushPromise, 4, 1, make([]byte, 4)) }, ErrCodeProtocol, ViolationProtocol},
		{"CONTINUATION without HEADERS", func(p *rawPeer) { p.fr.WriteContinuation(1, true, []byte{0x82}) }, ErrCodeProtocol, ViolationProtocol},
		{"CONTINUATION on another stream", func(p *rawPeer) {
			p.fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: p.block(":method", "GET")})
			p.fr.WriteContinuation(3, true, p.block(":path", "/"))
		}, ErrCodeProtocol, ViolationProtocol},
		{"DATA inside a header block", func(p *rawPeer) {
			p.fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: p.block(":method", "GET")})
			p.data(1, false, []byte("x"))
		}, ErrCodeProtocol, ViolationProtocol},
		{"HPACK garbage", func(p *rawPeer) {
			p.fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EndHeaders: true})
		}, ErrCodeCompression, ViolationCompression},
		{"GOAWAY of 4 bytes", func(p *rawPeer) { p.fr.WriteRawFrame(xhttp2.FrameGoAway, 0, 0, make([]byte, 4)) }, ErrCodeFrameSize, ViolationFrameSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newRawPeer(t, Server, Settings{}, Limits{})
			tc.write(p)
			p.feed()
			wantConnError(t, p, tc.code, tc.v)
		})
	}
}

// TestPrefaceAndFirstFrame: a server needs the client preface, then
// SETTINGS; bytes may arrive one at a time.
func TestPrefaceAndFirstFrame(t *testing.T) {
	c := new(Conn)
	h := &recorder{}
	c.Init(Server, Settings{}, Limits{}, h)
	var in bytes.Buffer
	in.WriteString(ClientPreface)
	fr := xhttp2.NewFramer(&in, nil)
	fr.WriteSettings(xhttp2.Setting{ID: 4, Val: 1000})
	fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	b := in.Bytes()
	var buf []byte
	for i := range b { // one byte at a time
		buf = append(buf, b[i])
		n, err := c.Feed(buf)
		if err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
		buf = buf[n:]
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left unconsumed", len(buf))
	}
	if !bytes.Contains(c.Pending(), []byte{0, 0, 8, 6, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Error("no PING ACK with the PING's data")
	}

	for _, bad := range []string{"GET / HTTP/1.1\r\n", ClientPreface + "\x00\x00\x00\x06\x00\x00\x00\x00\x00"} {
		c.Init(Server, Settings{}, Limits{}, h)
		if _, err := c.Feed([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestUnknownFramesAndPriorityIgnored(t *testing.T) {
	p := newRawPeer(t, Server, Settings{}, Limits{})
	p.fr.WriteRawFrame(0xfa, 0xff, 0, []byte("extension"))
	p.fr.WritePriority(9, xhttp2.PriorityParam{StreamDep: 1, Weight: 3})
	p.request(1, true)
	p.fr.WriteRawFrame(0xfa, 0, 1, nil)
	if err := p.feed(); err != nil {
		t.Fatal(err)
	}
	if len(p.h.heads) != 1 || p.h.total() != 0 {
		t.Errorf("heads %d, violations %d", len(p.h.heads), p.h.total())
	}
	// A stream depending on itself is a stream error.
	p.request(3, false)
	p.fr.WritePriority(3, xhttp2.PriorityParam{StreamDep: 3})
	p.feed()
	if code, ok := rstOf(p.frames(), 3); !ok || code != ErrCodeProtocol {
		t.Errorf("self-dependent PRIORITY: RST %v %v", code, ok)
	}
}

// TestStreamStates: §5.1 transitions seen from the server side.
func TestStreamStates(t *testing.T) {
	p := newRawPeer(t, Server, Settings{}, Limits{})
	var streams []*Stream
	p.h.onHeaders = func(s *Stream, f *Fields, end bool) { streams = append(streams, s) }
	p.request(1, true) // half-closed (remote) at once
	p.feed()
	if p.c.ActiveStreams() != 1 {
		t.Fatalf("active %d", p.c.ActiveStreams())
	}
	// DATA after END_STREAM: stream error STREAM_CLOSED.
	p.data(1, false, []byte("late"))
	p.feed()
	if code, ok := rstOf(p.frames(), 1); !ok || code != ErrCodeStreamClosed {
		t.Errorf("DATA on half-closed (remote): RST %v %v", code, ok)
	}
	if len(p.h.resets) != 1 || p.h.resets[0].code != ErrCodeStreamClosed || p.h.resets[0].byPeer {
		t.Errorf("resets %+v", p.h.resets)
	}
	// Frames the peer sent before it saw our RST are ignored.
	p.data(1, true, []byte("in flight"))
	p.fr.WriteWindowUpdate(1, 10)
	p.feed()
	if fs := p.frames(); len(fs) != 0 || p.err != nil {
		t.Errorf("frames after our RST: %+v %v", fs, p.err)
	}

	// Response completes before the request: RST_STREAM(NO_ERROR) (§8.1).
	p.request(3, false)
	p.feed()
	s := streams[len(streams)-1]
	p.c.StartHeaders(s)
	p.c.AddHeader([]byte(":status"), []byte("200"), false)
	p.c.EndHeaders(true)
	fs := p.frames()
	if code, ok := rstOf(fs, 3); !ok || code != ErrCodeNoError {
		t.Errorf("early response: RST %v %v in %+v", code, ok, fs)
	}
	if p.c.ActiveStreams() != 0 {
		t.Errorf("active %d after both ends", p.c.ActiveStreams())
	}

	// Stream ids only go up: a HEADERS on a lower id, closed or never
	// used, is a connection error of type PROTOCOL_ERROR (§5.1.1).
	p.request(7, true)
	p.feed()
	p.request(5, true)
	p.feed()
	wantConnError(t, p, ErrCodeProtocol, ViolationStreamID)
}

// TestStreamIDMisuse: even stream ids from a client, decreasing ids.
func TestStreamIDMisuse(t *testing.T) {
	p := newRawPeer(t, Server, Settings{}, Limits{})
	p.request(2, true)
	p.feed()
	wantConnError(t, p, ErrCodeProtocol, ViolationStreamID)

	// Client role: HEADERS on a stream we never opened.
	p = newRawPeer(t, Client, Settings{}, Limits{})
	p.headers(1, true, ":status", "200")
	p.feed()
	wantConnError(t, p, ErrCodeProtocol, ViolationStreamID)
}

// TestRefusedStreams: streams beyond our MAX_CONCURRENT_STREAMS.
func TestRefusedStreams(t *testing.T) {
	p := newRawPeer(t, Server, Settings{MaxConcurrentStreams: 2}, Limits{})
	p.request(1, false)
	p.request(3, false)
	p.request(5, false)
	p.feed()
	if code, ok := rstOf(p.frames(), 5); !ok || code != ErrCodeRefusedStream {
		t.Errorf("third stream: RST %v %v", code, ok)
	}
	if p.h.count(ViolationRefusedStream) != 1 || len(p.h.heads) != 2 {
		t.Errorf("refused %d, heads %d", p.h.count(ViolationRefusedStream), len(p.h.heads))
	}
	// A closed stream makes room.
	p.fr.WriteRSTStream(1, xhttp2.ErrCodeCancel)
	p.request(7, false)
	p.feed()
	if len(p.h.heads) != 3 || p.err != nil {
		t.Errorf("after a reset: heads %d, err %v", len(p.h.heads), p.err)
	}
}

// TestFlowControlEnforced: a peer sending beyond our windows.
func TestFlowControlEnforced(t *testing.T) {
	// Stream window: a stream error.
	p := newRawPeer(t, Server, Settings{InitialWindowSize: 70000}, Limits{})
	p.request(1, false)
	for range 4 {
		p.data(1, false, make([]byte, 16384)) // 65536
	}
	p.feed()
	if fs := p.frames(); p.err != nil || len(p.h.resets) != 0 {
		t.Fatalf("within the window: %v %+v", p.err, fs)
	}
	p.data(1, false, make([]byte, 4465)) // 70001
	p.feed()
	if code, ok := rstOf(p.frames(), 1); !ok || code != ErrCodeFlowControl || p.h.count(ViolationFlowControl) != 1 {
		t.Errorf("over the stream window: RST %v %v", code, ok)
	}

	// Connection window: a connection error.
	p = newRawPeer(t, Server, Settings{InitialWindowSize: 1 << 20, ConnWindowSize: 100000}, Limits{})
	p.request(1, false)
	for range 6 {
		p.data(1, false, make([]byte, 16384)) // 98304
	}
	p.data(1, false, make([]byte, 1697))
	p.feed()
	wantConnError(t, p, ErrCodeFlowControl, ViolationFlowControl)
}

// TestFlowControlCredit: credit returns only when the engine consumes,
// batched, and padding is credited at once.
func TestFlowControlCredit(t *testing.T) {
	p := newRawPeer(t, Server, Settings{InitialWindowSize: 65536, ConnWindowSize: 1 << 20}, Limits{})
	var st *Stream
	p.h.onHeaders = func(s *Stream, f *Fields, end bool) { st = s }
	p.request(1, false)
	p.data(1, false, make([]byte, 15000))
	p.data(1, false, make([]byte, 15000))
	p.feed()
	if fs := p.frames(); len(fs) != 0 {
		t.Fatalf("credit before Consumed: %+v", fs)
	}
	p.c.Consumed(st, 30000) // below half the stream window: nothing yet
	if fs := p.frames(); len(fs) != 0 {
		t.Fatalf("unbatched: %+v", fs)
	}
	p.data(1, false, make([]byte, 10000))
	p.feed()
	p.c.Consumed(st, 10000)
	fs := p.frames()
	if len(fs) != 1 || fs[0].typ != xhttp2.FrameWindowUpdate || fs[0].streamID != 1 || fs[0].inc != 40000 {
		t.Errorf("stream WINDOW_UPDATE: %+v", fs)
	}
	// Consumed beyond what was delivered is capped.
	p.c.Consumed(st, 1<<20)
	if fs := p.frames(); len(fs) != 0 {
		t.Errorf("credit for bytes never received: %+v", fs)
	}
	// Padding (and its length octet): credited without Consumed.
	owed := p.c.connUnacked
	p.fr.WriteDataPadded(1, false, []byte("abc"), make([]byte, 200))
	p.feed()
	if p.c.connUnacked-owed != 201 || st.unconsumed != 3 {
		t.Errorf("padding credit: conn owed %d, stream unconsumed %d", p.c.connUnacked, st.unconsumed)
	}
}

// TestSendWindows: WriteData honours both peer windows, OnWritable follows
// WINDOW_UPDATE, and INITIAL_WINDOW_SIZE changes move open streams.
func TestSendWindows(t *testing.T) {
	p := newRawPeer(t, Server, Settings{}, Limits{})
	var st *Stream
	p.h.onHeaders = func(s *Stream, f *Fields, end bool) { st = s }
	p.request(1, true)
	p.feed()
	p.c.StartHeaders(st)
	p.c.AddHeader([]byte(":status"), []byte("200"), false)
	p.c.EndHeaders(false)
	body := make([]byte, 100000)
	n := p.c.WriteData(st, body, true)
	if n != 65535 {
		t.Fatalf("WriteData took %d, want the default window 65535", n)
	}
	fs := p.frames()
	sum := 0
	for _, f := range fs {
		if f.typ == xhttp2.FrameData {
			if len(f.data) > 16384 {
				t.Errorf("DATA of %d bytes over the peer's MAX_FRAME_SIZE", len(f.data))
			}
			sum += len(f.data)
		}
	}
	if sum != 65535 {
		t.Errorf("%d DATA bytes queued", sum)
	}
	// Stream window opens, connection window still closed: no OnWritable.
	p.fr.WriteWindowUpdate(1, 50000)
	p.feed()
	if p.h.writable != 0 {
		t.Error("OnWritable with the connection window closed")
	}
	// A larger INITIAL_WINDOW_SIZE adds to the stream window too.
	p.fr.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingInitialWindowSize, Val: 65535 + 1000})
	p.fr.WriteWindowUpdate(0, 100000)
	p.feed()
	if p.h.writable != 1 || st.sendWin != 51000 {
		t.Errorf("writable %d, stream window %d (want 1, 51000)", p.h.writable, st.sendWin)
	}
	if n := p.c.WriteData(st, body[65535:], true); n != 34465 {
		t.Errorf("rest: %d", n)
	}
	if p.c.ActiveStreams() != 0 {
		t.Error("stream not closed after END_STREAM both ways")
	}
	// Overflowing windows.
	p.request(3, false)
	p.fr.WriteWindowUpdate(3, 1<<31-1)
	p.feed()
	if code, ok := rstOf(p.frames(), 3); !ok || code != ErrCodeFlowControl || p.h.count(ViolationWindowOverflow) != 1 {
		t.Errorf("stream window overflow: RST %v %v", code, ok)
	}
	p.fr.WriteWindowUpdate(0, 1<<31-1)
	p.feed()
	wantConnError(t, p, ErrCodeFlowControl, ViolationWindowOverflow)
}

// TestContentLength: §8.1.1, checked on overflow and at END_STREAM.
func TestContentLength(t *testing.T) {
	for _, tc := range []struct {
		name string
		cl   string
		data []string // last one ends the stream
		ok   bool
	}{
		{"exact", "5", []string{"ab", "cde"}, true},
		{"more", "5", []string{"abc", "def"}, false},
		{"fewer", "5", []string{"abcd"}, false},
		{"none", "", []string{"abcdefg"}, true},
		{"zero", "0", []string{""}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newRawPeer(t, Server, Settings{}, Limits{})
			var extra []string
			if tc.cl != "" {
				extra = []string{"content-length", tc.cl}
			}
			p.request(1, false, extra...)
			for i, d := range tc.data {
				p.data(1, i == len(tc.data)-1, []byte(d))
			}
			p.feed()
			code, reset := rstOf(p.frames(), 1)
			if tc.ok == reset || p.err != nil {
				t.Errorf("reset %v (%v), err %v; want ok %v", reset, code, p.err, tc.ok)
			}
			if !tc.ok && (code != ErrCodeProtocol || p.h.count(ViolationContentLength) != 1 || len(p.h.resets) != 1) {
				t.Errorf("code %v, violations %d, OnReset %d", code, p.h.count(ViolationContentLength), len(p.h.resets))
			}
		})
	}
	// Head with END_STREAM and a non-zero content-length.
	p := newRawPeer(t, Server, Settings{}, Limits{})
	p.request(1, true, "content-length", "3")
	p.feed()
	if _, ok := rstOf(p.frames(), 1); !ok || len(p.h.heads) != 0 {
		t.Error("GET with content-length 3 and END_STREAM accepted")
	}
}

// TestMalformedThroughConn: a malformed request head is refused before the
// engine sees it; malformed trailers reset a stream the engine knows.
func TestMalformedThroughConn(t *testing.T) {
	p := newRawPeer(t, Server, Settings{}, Limits{})
	p.request(1, true, "connection", "close")
	p.feed()
	if code, ok := rstOf(p.frames(), 1); !ok || code != ErrCodeProtocol || len(p.h.heads) != 0 || p.h.count(ViolationMalformed) != 1 {
		t.Errorf("connection header: RST %v %v, heads %d", code, ok, len(p.h.heads))
	}
	p.request(3, false)
	p.headers(3, true, ":path", "/x") // pseudo-header in trailers
	p.feed()
	if code, ok := rstOf(p.frames(), 3); !ok || code != ErrCodeProtocol || len(p.h.resets) != 1 {
		t.Errorf("pseudo in trailers: RST %v %v, resets %+v", code, ok, p.h.resets)
	}
	p.request(5, false)
	p.headers(5, false, "x-t", "1") // trailers without END_STREAM
	p.feed()
	if _, ok := rstOf(p.frames(), 5); !ok {
		t.Error("trailers without END_STREAM accepted")
	}
	if p.err != nil {
		t.Error(p.err)
	}
}

func TestTrailersAndExtendedConnect(t *testing.T) {
	p := newRawPeer(t, Server, Settings{EnableConnectProtocol: true}, Limits{})
	p.headers(1, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/chat", ":authority", "a")
	p.headers(3, false, ":method", "POST", ":scheme", "http", ":path", "/", "te", "trailers")
	p.data(3, false, []byte("body"))
	p.headers(3, true, "grpc-status", "0")
	p.feed()
	if p.err != nil || len(p.h.heads) != 3 {
		t.Fatalf("err %v heads %+v", p.err, p.h.heads)
	}
	h := p.h.heads[0].head
	if h.Has&PseudoProtocol == 0 || h.NPseudo != 5 {
		t.Errorf("extended CONNECT head %+v", h)
	}
	if tr := p.h.heads[2]; !tr.end || len(tr.fields) != 1 || tr.fields[0] != [2]string{"grpc-status", "0"} {
		t.Errorf("trailers %+v", tr)
	}
	// Without the setting, :protocol is malformed.
	p = newRawPeer(t, Server, Settings{}, Limits{})
	p.headers(1, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/chat", ":authority", "a")
	p.feed()
	if len(p.h.heads) != 0 {
		t.Error(":protocol accepted without SETTINGS_ENABLE_CONNECT_PROTOCOL")
	}
}

// TestClientResponses: 1xx then final, HEAD's content-length, GOAWAY
// refusing the streams above its last id.
func TestClientResponses(t *testing.T) {
	p := newRawPeer(t, Client, Settings{}, Limits{})
	open := func(method string, end bool) *Stream {
		s, err := p.c.NewStream()
		if err != nil {
			t.Fatal(err)
		}
		p.c.StartHeaders(s)
		for _, kv := range [][2]string{{":method", method}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}} {
			p.c.AddHeader([]byte(kv[0]), []byte(kv[1]), false)
		}
		p.c.EndHeaders(end)
		return s
	}
	s1 := open("GET", true)
	s3 := open("HEAD", true)
	s5 := open("POST", false)
	if s1.ID != 1 || s3.ID != 3 || s5.ID != 5 {
		t.Fatalf("ids %d %d %d", s1.ID, s3.ID, s5.ID)
	}
	fs := p.frames()
	for _, f := range fs {
		if f.typ == xhttp2.FrameHeaders {
			p.dec.DecodeFull(f.data)
		}
	}
	p.headers(1, false, ":status", "103", "link", "</a>")
	p.headers(1, false, ":status", "200", "content-length", "2")
	p.data(1, true, []byte("ok"))
	p.headers(3, true, ":status", "200", "content-length", "1000") // HEAD: no body
	p.feed()
	if p.err != nil || len(p.h.heads) != 3 || p.h.heads[0].head.Status != 103 || p.h.heads[1].head.Status != 200 || string(p.h.data[1]) != "ok" {
		t.Fatalf("err %v heads %+v", p.err, p.h.heads)
	}
	if len(p.h.resets) != 0 {
		t.Errorf("resets %+v", p.h.resets)
	}
	// DATA before the final head is malformed.
	s7 := open("GET", true)
	p.frames()
	p.data(s7.ID, true, []byte("x"))
	p.feed()
	if code, ok := rstOf(p.frames(), 7); !ok || code != ErrCodeProtocol {
		t.Errorf("DATA before the response head: RST %v %v", code, ok)
	}
	// GOAWAY(last=3): stream 5 was not processed: REFUSED_STREAM, retryable.
	p.fr.WriteGoAway(3, xhttp2.ErrCodeNo, nil)
	p.feed()
	if len(p.h.resets) != 2 || p.h.resets[1] != (resetEvent{5, ErrCodeRefusedStream, true}) {
		t.Errorf("resets after GOAWAY: %+v", p.h.resets)
	}
	if _, err := p.c.NewStream(); !errors.Is(err, ErrGoingAway) {
		t.Errorf("NewStream after GOAWAY: %v", err)
	}
	if !p.c.Done() {
		t.Error("not Done after GOAWAY with no stream left")
	}
}

// TestStreamLimitAndGracefulGoAway: NewStream stops at the peer's
// MAX_CONCURRENT_STREAMS; our graceful GOAWAY lets open streams finish.
func TestStreamLimitAndGracefulGoAway(t *testing.T) {
	p := newRawPeer(t, Client, Settings{}, Limits{})
	p.fr.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingMaxConcurrentStreams, Val: 1})
	p.feed()
	if _, err := p.c.NewStream(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.c.NewStream(); !errors.Is(err, ErrStreamLimit) {
		t.Errorf("second stream: %v", err)
	}

	p = newRawPeer(t, Server, Settings{}, Limits{})
	var st *Stream
	p.h.onHeaders = func(s *Stream, f *Fields, end bool) { st = s }
	p.request(1, true)
	p.feed()
	p.c.GoAway(ErrCodeNoError)
	p.request(3, true) // after our GOAWAY: ignored
	p.feed()
	g := goAwayOf(t, p.frames())
	if g.last != 1 || g.code != ErrCodeNoError || len(p.h.heads) != 1 || p.c.Done() {
		t.Fatalf("GOAWAY %+v, heads %d, done %v", g, len(p.h.heads), p.c.Done())
	}
	p.c.StartHeaders(st)
	p.c.AddHeader([]byte(":status"), []byte("204"), false)
	p.c.EndHeaders(true)
	if !p.c.Done() {
		t.Error("not Done once the last stream finished")
	}
}

// --- attacks -------------------------------------------------------------------

// TestRapidReset (CVE-2023-44487): streams opened and reset at once close
// the connection once their share crosses the threshold; streams that got
// their response do not count.
func TestRapidReset(t *testing.T) {
	l := Limits{RapidResetMinStreams: 100, RapidResetPercent: 50}
	p := newRawPeer(t, Server, Settings{}, l)
	var sid uint32 = 1
	for i := 0; i < 49; i++ {
		p.request(sid, false)
		p.fr.WriteRSTStream(sid, xhttp2.ErrCodeCancel)
		sid += 2
	}
	if p.feed(); p.err != nil {
		t.Fatalf("49 resets of 100: %v", p.err)
	}
	p.frames()
	p.request(sid, false)
	p.fr.WriteRSTStream(sid, xhttp2.ErrCodeCancel)
	p.feed()
	wantConnError(t, p, ErrCodeEnhanceYourCalm, ViolationRapidReset)
	if g := p.h.count(ViolationRapidReset); g != 1 {
		t.Errorf("rapid reset reported %d times", g)
	}

	// Resets after the response completed are not premature: a client
	// that cancels after reading is fine however often it does.
	p = newRawPeer(t, Server, Settings{}, l)
	p.h.onHeaders = func(s *Stream, f *Fields, end bool) {
		p.c.StartHeaders(s)
		p.c.AddHeader([]byte(":status"), []byte("200"), false)
		p.c.EndHeaders(true) // answers before the request ends: our RST NO_ERROR
	}
	sid = 1
	for i := 0; i < 300; i++ {
		p.request(sid, false)
		p.fr.WriteRSTStream(sid, xhttp2.ErrCodeCancel)
		sid += 2
	}
	p.feed()
	p.frames()
	if p.err != nil || p.h.count(ViolationRapidReset) != 0 {
		t.Errorf("completed streams counted as rapid resets: %v", p.err)
	}
}

// TestContinuationFlood (CVE-2024-27316): many small CONTINUATIONs, and a
// block over the byte bound.
func TestContinuationFlood(t *testing.T) {
	p := newRawPeer(t, Server, Settings{}, Limits{})
	p.fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: p.block(":method", "GET")})
	for range 100 {
		p.fr.WriteContinuation(1, false, []byte{0x82}) // one byte each: :method GET
	}
	p.feed()
	wantConnError(t, p, ErrCodeEnhanceYourCalm, ViolationContinuationFlood)
	if len(p.in.Bytes()) == 0 {
		t.Error("the whole flood was read: the frame bound did not stop it")
	}

	p = newRawPeer(t, Server, Settings{MaxHeaderListSize: 8192}, Limits{})
	p.fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: p.block(":method", "GET")})
	for range 3 {
		p.fr.WriteContinuation(1, false, bytes.Repeat([]byte{0x82}, 8000))
	}
	p.feed()
	wantConnError(t, p, ErrCodeEnhanceYourCalm, ViolationContinuationFlood)

	// A legitimate block in several CONTINUATIONs is fine.
	p = newRawPeer(t, Server, Settings{}, Limits{})
	blk := p.block(":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a", "x-long", strings.Repeat("v", 20000))
	p.fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:10000], EndStream: true})
	p.fr.WriteContinuation(1, false, blk[10000:16000])
	p.fr.WriteContinuation(1, true, blk[16000:])
	p.feed()
	if p.err != nil || len(p.h.heads) != 1 || len(p.h.heads[0].fields[4][1]) != 20000 {
		t.Errorf("split block: %v, heads %d", p.err, len(p.h.heads))
	}
}

// TestHeaderListTooLarge: an HPACK bomb (one large entry in the dynamic
// table, referenced again and again) decodes to far more than our
// MAX_HEADER_LIST_SIZE: the server engine sees TooLarge and answers 431;
// the HPACK state stays in sync for the next request.
func TestHeaderListTooLarge(t *testing.T) {
	p := newRawPeer(t, Server, Settings{MaxHeaderListSize: 16 << 10}, Limits{})
	p.h.onHeaders = func(s *Stream, f *Fields, end bool) {
		if s.Head.TooLarge {
			p.c.StartHeaders(s)
			p.c.AddHeader([]byte(":status"), []byte("431"), false)
			p.c.EndHeaders(true)
		}
	}
	p.hbuf.Reset()
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {"x-bomb", strings.Repeat("b", 3000)}} {
		p.enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	blk := append([]byte(nil), p.hbuf.Bytes()...)
	// x-bomb is dynamic entry 62 now: each 0xbe byte repeats 3 KiB.
	blk = append(blk, bytes.Repeat([]byte{0xbe}, 2000)...)
	p.fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: blk, EndHeaders: true})
	p.data(1, false, []byte("body the engine will not read"))
	p.feed()
	fs := p.frames()
	if len(p.h.heads) != 1 || !p.h.heads[0].tooLarge || len(p.h.heads[0].fields) != 0 || p.h.count(ViolationHeaderListTooLarge) != 1 {
		t.Fatalf("heads %+v", p.h.heads)
	}
	var status string
	for _, f := range fs {
		if f.typ == xhttp2.FrameHeaders && f.streamID == 1 {
			hf, _ := p.dec.DecodeFull(f.data)
			status = hf[0].Value
		}
	}
	if code, ok := rstOf(fs, 1); status != "431" || !ok || code != ErrCodeNoError {
		t.Errorf("answer %q, RST %v %v (want 431 then RST NO_ERROR)", status, code, ok)
	}
	// The next request uses the same dynamic table: still decodes right.
	p.request(3, true, "x-bomb", strings.Repeat("b", 3000))
	p.feed()
	if p.err != nil || len(p.h.heads) != 2 || p.h.heads[1].tooLarge {
		t.Errorf("next request: %v %+v", p.err, p.h.heads[1:])
	}
}

// TestControlFlood (CVE-2019-9512/9515): PING and SETTINGS floods from a
// peer that does not read the replies.
func TestControlFlood(t *testing.T) {
	for _, kind := range []string{"ping", "settings"} {
		t.Run(kind, func(t *testing.T) {
			l := Limits{MaxQueuedControl: 100}
			p := newRawPeer(t, Server, Settings{}, l)
			write := func(n int) {
				for range n {
					if kind == "ping" {
						p.fr.WritePing(false, [8]byte{})
					} else {
						p.fr.WriteSettings()
					}
				}
			}
			// A peer that reads its replies may ping as often as it likes.
			for range 5 {
				write(80)
				p.feed()
				p.frames() // Flushed(0): the socket took everything
			}
			if p.err != nil {
				t.Fatalf("reading peer: %v", p.err)
			}
			// Now the socket holds a backlog: replies pile up.
			p.c.Flushed(1000)
			write(101)
			p.feed()
			if len(p.c.Pending()) > DefaultLimits().MaxPending {
				t.Errorf("Pending %d bytes", len(p.c.Pending()))
			}
			wantConnError(t, p, ErrCodeEnhanceYourCalm, ViolationControlFlood)
		})
	}
}

// TestPendingBounded: output the peer does not read stays within
// MaxPending; WriteData takes only what fits and resumes after Flushed.
func TestPendingBounded(t *testing.T) {
	l := Limits{MaxPending: 64 << 10, MaxQueuedControl: 1 << 20}
	p := newRawPeer(t, Server, Settings{}, l)
	p.fr.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingInitialWindowSize, Val: 1 << 30})
	p.fr.WriteWindowUpdate(0, 1<<30)
	var st *Stream
	p.h.onHeaders = func(s *Stream, f *Fields, end bool) { st = s }
	p.request(1, true)
	p.feed()
	p.frames()
	p.c.StartHeaders(st)
	p.c.AddHeader([]byte(":status"), []byte("200"), false)
	p.c.EndHeaders(false)
	n := p.c.WriteData(st, make([]byte, 1<<20), true)
	if n == 0 || n > 48<<10 || len(p.c.Pending()) > l.MaxPending {
		t.Fatalf("WriteData took %d, pending %d", n, len(p.c.Pending()))
	}
	p.c.Flushed(48 << 10) // the socket holds all the room data may use
	if p.h.writable != 0 {
		t.Error("OnWritable with no room")
	}
	p.c.Flushed(0)
	if p.h.writable != 1 {
		t.Error("no OnWritable once the socket drained")
	}
	// Pings while the socket is full: the byte bound ends the connection.
	p.c.Flushed(l.MaxPending - 100)
	for range 20 {
		p.fr.WritePing(false, [8]byte{})
	}
	p.feed()
	if len(p.c.Pending()) > 100+9+8+64 {
		t.Errorf("Pending %d bytes beyond the room left", len(p.c.Pending()))
	}
	wantConnError(t, p, ErrCodeEnhanceYourCalm, ViolationPendingOverflow)
}

// TestEmptyFrames (CVE-2019-9518): consecutive empty DATA frames.
func TestEmptyFrames(t *testing.T) {
	p := newRawPeer(t, Server, Settings{}, Limits{MaxEmptyFrames: 3})
	p.request(1, false)
	for range 3 {
		p.data(1, false, nil)
		p.data(1, false, []byte("x")) // a payload resets the count
	}
	p.feed()
	if p.err != nil {
		t.Fatal(p.err)
	}
	for range 4 {
		p.data(1, false, nil)
	}
	p.feed()
	wantConnError(t, p, ErrCodeEnhanceYourCalm, ViolationEmptyFrames)
}

func TestErrCodeAndViolationNames(t *testing.T) {
	if ErrCodeHTTP11Required.String() != "HTTP_1_1_REQUIRED" || ErrCode(0x42).String() != "UNKNOWN_ERROR_0x42" {
		t.Error(ErrCodeHTTP11Required.String(), ErrCode(0x42).String())
	}
	seen := map[string]bool{}
	for v := Violation(0); v < numViolations; v++ {
		s := v.String()
		if s == "" || s == "unknown" || seen[s] || strings.ToLower(s) != s {
			t.Errorf("violation %d: label %q", v, s)
		}
		seen[s] = true
	}
}
