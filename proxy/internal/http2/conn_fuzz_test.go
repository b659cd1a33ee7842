package http2

import (
	"bytes"
	"errors"
	"io"
	"testing"

	xhttp2 "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fuzzEngine answers like an engine would, so the fuzzers reach the send
// paths too: a response head and body to each request (server role), a
// request body pumped as windows allow (client role), credit returned for
// what arrives, now and then a reset.
type fuzzEngine struct {
	c     *Conn
	body  []byte
	calls int
}

func (e *fuzzEngine) OnHeaders(s *Stream, f *Fields, end bool) {
	e.calls++
	if e.c.Role() == Server && s.UserData == nil {
		s.UserData = e
		if e.calls%7 == 3 {
			e.c.Reset(s, ErrCodeCancel)
			return
		}
		e.c.StartHeaders(s)
		status := []byte("200")
		if s.Head.TooLarge {
			status = []byte("431")
		}
		e.c.AddHeader([]byte(":status"), status, false)
		e.c.AddHeader([]byte("x-n"), f.Bytes(s.Head.Path), e.calls%2 == 0)
		e.c.EndHeaders(s.Head.TooLarge)
		e.c.WriteData(s, e.body, end)
	}
}

func (e *fuzzEngine) OnData(s *Stream, p []byte, end bool) {
	e.calls++
	e.c.Consumed(s, len(p))
	if end && e.c.Role() == Server {
		e.c.WriteData(s, e.body[:len(e.body)/2], true)
	}
}

func (e *fuzzEngine) OnReset(s *Stream, code ErrCode, byPeer bool) {}
func (e *fuzzEngine) OnWritable(s *Stream)                         { e.c.WriteData(s, e.body, true) }
func (e *fuzzEngine) OnGoAway(last uint32, code ErrCode)           {}
func (e *fuzzEngine) OnViolation(v Violation) {
	if v >= numViolations {
		panic("unknown violation")
	}
}

var fuzzSettings = Settings{MaxConcurrentStreams: 4, MaxHeaderListSize: 4096, InitialWindowSize: 65535, ConnWindowSize: 100000}

var fuzzLimits = Limits{MaxPending: 32 << 10, MaxQueuedControl: 50, RapidResetMinStreams: 20, MaxContinuations: 4}

// maxGoAway is the most a connection error adds beyond MaxPending.
const maxGoAway = frameHeaderLen + 8 + 128

// checkConn asserts what must hold after every Feed, whatever the input.
func checkConn(t *testing.T, c *Conn, n, fed int, err error) {
	t.Helper()
	if n < 0 || n > fed {
		t.Fatalf("Feed consumed %d of %d bytes", n, fed)
	}
	if len(c.Pending()) > fuzzLimits.MaxPending+maxGoAway {
		t.Fatalf("Pending %d bytes, limit %d", len(c.Pending()), fuzzLimits.MaxPending)
	}
	if c.role == Server && c.peerActive > int(fuzzSettings.MaxConcurrentStreams) {
		t.Fatalf("%d peer streams open, limit %d", c.peerActive, fuzzSettings.MaxConcurrentStreams)
	}
	if c.recvWin < 0 || c.recvWin > maxWindow || c.sendWin > maxWindow {
		t.Fatalf("connection windows recv %d send %d", c.recvWin, c.sendWin)
	}
	for _, s := range c.streams {
		if s.recvWin < 0 || s.sendWin > maxWindow || !s.active || s.zombie || s.inCall != 0 {
			t.Fatalf("stream %d: recv window %d, send window %d, active %v, zombie %v, in call %d", s.ID, s.recvWin, s.sendWin, s.active, s.zombie, s.inCall)
		}
	}
	if err != nil {
		var ce *ConnError
		if !errors.As(err, &ce) {
			t.Fatalf("Feed error %v is not a *ConnError", err)
		}
		if !c.Done() || c.ActiveStreams() != 0 {
			t.Fatalf("after %v: done %v, %d streams", err, c.Done(), c.ActiveStreams())
		}
	}
	// Whatever we queued is well-formed HTTP/2 to x/net's reader.
	out := c.Pending()
	if c.role == Client {
		out = bytes.TrimPrefix(out, []byte(ClientPreface))
	}
	fr := xhttp2.NewFramer(nil, bytes.NewReader(out))
	fr.SetMaxReadFrameSize(1<<24 - 1)
	for {
		_, ferr := fr.ReadFrame()
		if errors.Is(ferr, io.EOF) {
			break
		}
		if ferr != nil {
			t.Fatalf("our output does not parse: %v", ferr)
		}
	}
}

// fuzzRun feeds data to c in chunks whose sizes come from the input,
// flushing with a backlog the input chooses, checking after each step.
func fuzzRun(t *testing.T, c *Conn, data []byte) {
	chunk, backlog := 1<<20, 0
	if len(data) >= 2 {
		if data[0] < 128 {
			chunk = int(data[0]) + 1
		}
		backlog = int(data[1]) * 128
		data = data[2:]
	}
	var buf []byte
	for len(data) > 0 && c.err == nil {
		k := min(chunk, len(data))
		buf = append(buf, data[:k]...)
		data = data[k:]
		n, err := c.Feed(buf)
		checkConn(t, c, n, len(buf), err)
		buf = buf[n:]
		c.Flushed(backlog)
	}
	c.Close()
	if c.ActiveStreams() != 0 || !c.Done() {
		t.Fatalf("after Close: %d streams, done %v", c.ActiveStreams(), c.Done())
	}
}

// FuzzServerConn: random frames after a valid client preface and
// SETTINGS: no panic, Pending bounded, invariants hold.
func FuzzServerConn(f *testing.F) {
	for _, seed := range fuzzSeeds(Server) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e := &fuzzEngine{c: new(Conn), body: make([]byte, 40000)}
		e.c.Init(Server, fuzzSettings, fuzzLimits, e)
		var pre bytes.Buffer
		pre.WriteString(ClientPreface)
		xhttp2.NewFramer(&pre, nil).WriteSettings()
		if n, err := e.c.Feed(pre.Bytes()); err != nil || n != pre.Len() {
			t.Fatalf("preface: %d %v", n, err)
		}
		e.c.Flushed(0)
		fuzzRun(t, e.c, data)
	})
}

// FuzzClientConn: random frames from a "server" after its SETTINGS, with
// two requests of ours in flight.
func FuzzClientConn(f *testing.F) {
	for _, seed := range fuzzSeeds(Client) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e := &fuzzEngine{c: new(Conn), body: make([]byte, 40000)}
		e.c.Init(Client, fuzzSettings, fuzzLimits, e)
		var pre bytes.Buffer
		xhttp2.NewFramer(&pre, nil).WriteSettings()
		if n, err := e.c.Feed(pre.Bytes()); err != nil || n != pre.Len() {
			t.Fatalf("server preface: %d %v", n, err)
		}
		for i, method := range []string{"POST", "HEAD"} {
			s, err := e.c.NewStream()
			if err != nil {
				t.Fatal(err)
			}
			e.c.StartHeaders(s)
			for _, kv := range [][2]string{{":method", method}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}} {
				e.c.AddHeader([]byte(kv[0]), []byte(kv[1]), false)
			}
			e.c.EndHeaders(i == 1)
			if i == 0 {
				e.c.WriteData(s, e.body, true)
			}
		}
		e.c.Flushed(0)
		fuzzRun(t, e.c, data)
	})
}

// fuzzSeeds are frame sequences that reach the interesting states: valid
// exchanges, trailers, CONTINUATION, padding, resets, floods, settings
// changes. Each starts with the two control bytes fuzzRun reads.
func fuzzSeeds(role Role) [][]byte {
	type build func(fr *xhttp2.Framer, blk func(kv ...string) []byte)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	blk := func(kv ...string) []byte {
		hb.Reset()
		for i := 0; i+1 < len(kv); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return append([]byte(nil), hb.Bytes()...)
	}
	req := []string{":method", "POST", ":scheme", "http", ":path", "/x", ":authority", "a"}
	var builds []build
	if role == Server {
		builds = []build{
			func(fr *xhttp2.Framer, blk func(...string) []byte) {
				fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: blk(req...), EndHeaders: true})
				fr.WriteData(1, false, []byte("hello"))
				fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: blk("x-t", "1"), EndHeaders: true, EndStream: true})
				fr.WriteWindowUpdate(0, 1000)
				fr.WriteWindowUpdate(1, 1000)
			},
			func(fr *xhttp2.Framer, blk func(...string) []byte) {
				b := blk(append(req, "content-length", "3")...)
				fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 3, BlockFragment: b[:4], PadLength: 3})
				fr.WriteContinuation(3, true, b[4:])
				fr.WriteDataPadded(3, true, []byte("abc"), make([]byte, 10))
			},
			func(fr *xhttp2.Framer, blk func(...string) []byte) {
				for id := uint32(1); id < 60; id += 2 {
					fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: id, BlockFragment: blk(req...), EndHeaders: true})
					fr.WriteRSTStream(id, xhttp2.ErrCodeCancel)
				}
			},
			func(fr *xhttp2.Framer, blk func(...string) []byte) {
				for range 60 {
					fr.WritePing(false, [8]byte{1})
					fr.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingInitialWindowSize, Val: 1 << 20})
				}
				fr.WriteSettingsAck()
			},
			func(fr *xhttp2.Framer, blk func(...string) []byte) {
				fr.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingMaxFrameSize, Val: 20000}, xhttp2.Setting{ID: xhttp2.SettingHeaderTableSize, Val: 100})
				for id := uint32(1); id < 12; id += 2 {
					fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: id, BlockFragment: blk(req...), EndHeaders: true, EndStream: id%3 == 0})
				}
				fr.WriteGoAway(0, xhttp2.ErrCodeNo, []byte("bye"))
			},
		}
	} else {
		builds = []build{
			func(fr *xhttp2.Framer, blk func(...string) []byte) {
				fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: blk(":status", "100"), EndHeaders: true})
				fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: blk(":status", "200", "content-length", "4"), EndHeaders: true})
				fr.WriteData(1, true, []byte("done"))
				fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 3, BlockFragment: blk(":status", "200", "content-length", "99"), EndHeaders: true, EndStream: true})
			},
			func(fr *xhttp2.Framer, blk func(...string) []byte) {
				fr.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingInitialWindowSize, Val: 1 << 20})
				fr.WriteWindowUpdate(0, 1<<20)
				fr.WriteWindowUpdate(1, 1<<20)
				fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: blk(":status", "200"), EndHeaders: true})
				fr.WriteData(1, false, []byte("part"))
				fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: blk("grpc-status", "0"), EndHeaders: true, EndStream: true})
			},
			func(fr *xhttp2.Framer, blk func(...string) []byte) {
				fr.WriteRSTStream(1, xhttp2.ErrCodeRefusedStream)
				fr.WriteGoAway(1, xhttp2.ErrCodeNo, nil)
				fr.WritePing(false, [8]byte{})
			},
		}
	}
	var seeds [][]byte
	for i, b := range builds {
		var out bytes.Buffer
		out.Write([]byte{byte(i * 37), byte(i % 2)}) // chunk size, backlog
		b(xhttp2.NewFramer(&out, nil), blk)
		seeds = append(seeds, out.Bytes())
	}
	return seeds
}
