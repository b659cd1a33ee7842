package http2

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/meshbench/meshbench/internal/testenv"
)

// A server Conn and a client Conn wired back to back in memory, with
// engine-like handlers that keep nothing allocated per request: the full
// request/response exchange of the proxy's two codecs.

var (
	hMethod    = []byte(":method")
	hScheme    = []byte(":scheme")
	hPath      = []byte(":path")
	hAuthority = []byte(":authority")
	hStatus    = []byte(":status")
	hCT        = []byte("content-type")
	hUA        = []byte("user-agent")
	hAuth      = []byte("authorization")
	vPOST      = []byte("POST")
	vHTTP      = []byte("http")
	vHost      = []byte("svc.ns.svc.cluster.local")
	v200       = []byte("200")
	vText      = []byte("text/plain")
	vUA        = []byte("meshload/1")
	vSecret    = []byte("Bearer abcdef")
	paths      = [][]byte{[]byte("/a"), []byte("/b/c"), []byte("/api/v1/items?id=7"), []byte("/")}
)

type pairServer struct {
	c    *Conn
	resp []byte
}

func (h *pairServer) OnHeaders(s *Stream, f *Fields, end bool) {
	if end {
		h.respond(s)
	}
}

func (h *pairServer) OnData(s *Stream, p []byte, end bool) {
	h.c.Consumed(s, len(p))
	if end {
		h.respond(s)
	}
}

func (h *pairServer) respond(s *Stream) {
	h.c.StartHeaders(s)
	h.c.AddHeader(hStatus, v200, false)
	h.c.AddHeader(hCT, vText, false)
	h.c.EndHeaders(false)
	h.c.WriteData(s, h.resp, true)
}

func (h *pairServer) OnReset(*Stream, ErrCode, bool) {}
func (h *pairServer) OnWritable(*Stream)             {}
func (h *pairServer) OnGoAway(uint32, ErrCode)       {}
func (h *pairServer) OnViolation(Violation)          { panic("violation between our own codecs") }

type pairClient struct {
	c    *Conn
	got  int
	done bool
}

func (h *pairClient) OnHeaders(s *Stream, f *Fields, end bool) { h.done = h.done || end }
func (h *pairClient) OnData(s *Stream, p []byte, end bool) {
	h.got += len(p)
	h.c.Consumed(s, len(p))
	h.done = h.done || end
}
func (h *pairClient) OnReset(*Stream, ErrCode, bool) { panic("reset between our own codecs") }
func (h *pairClient) OnWritable(*Stream)             {}
func (h *pairClient) OnGoAway(uint32, ErrCode)       {}
func (h *pairClient) OnViolation(Violation)          { panic("violation between our own codecs") }

type pair struct {
	srv          pairServer
	cli          pairClient
	sc, cc       Conn
	toSrv, toCli []byte
	req          []byte
	n            int
}

func newPair(tb testing.TB, reqSize, respSize int) *pair {
	p := &pair{req: make([]byte, reqSize)}
	p.srv = pairServer{c: &p.sc, resp: make([]byte, respSize)}
	p.cli = pairClient{c: &p.cc}
	p.sc.Init(Server, Settings{}, Limits{}, &p.srv)
	p.cc.Init(Client, Settings{}, Limits{}, &p.cli)
	p.shuttle(tb)
	return p
}

// shuttle moves bytes both ways until neither side has anything to say.
func (p *pair) shuttle(tb testing.TB) {
	for {
		moved := false
		if out := p.cc.Pending(); len(out) > 0 {
			p.toSrv = append(p.toSrv, out...)
			p.cc.Flushed(0)
			n, err := p.sc.Feed(p.toSrv)
			if err != nil {
				tb.Fatal(err)
			}
			p.toSrv = append(p.toSrv[:0], p.toSrv[n:]...)
			moved = true
		}
		if out := p.sc.Pending(); len(out) > 0 {
			p.toCli = append(p.toCli, out...)
			p.sc.Flushed(0)
			n, err := p.cc.Feed(p.toCli)
			if err != nil {
				tb.Fatal(err)
			}
			p.toCli = append(p.toCli[:0], p.toCli[n:]...)
			moved = true
		}
		if !moved {
			return
		}
	}
}

func (p *pair) exchange(tb testing.TB) {
	s, err := p.cc.NewStream()
	if err != nil {
		tb.Fatal(err)
	}
	p.cc.StartHeaders(s)
	p.cc.AddHeader(hMethod, vPOST, false)
	p.cc.AddHeader(hScheme, vHTTP, false)
	p.cc.AddHeader(hAuthority, vHost, false)
	p.cc.AddHeader(hPath, paths[p.n%len(paths)], false)
	p.cc.AddHeader(hUA, vUA, false)
	p.cc.AddHeader(hAuth, vSecret, true)
	p.cc.EndHeaders(false)
	p.cc.WriteData(s, p.req, true)
	p.n++
	p.cli.done, p.cli.got = false, 0
	p.shuttle(tb)
	if !p.cli.done || p.cli.got != len(p.srv.resp) || p.sc.ActiveStreams() != 0 || p.cc.ActiveStreams() != 0 {
		tb.Fatalf("exchange %d: done %v, %d bytes, active %d/%d", p.n, p.cli.done, p.cli.got, p.sc.ActiveStreams(), p.cc.ActiveStreams())
	}
}

// TestExchangeAlloc: a full request/response exchange through a client
// Conn and a server Conn (HPACK both ways, DATA both ways, window updates
// as they fall due) allocates nothing once warm.
func TestExchangeAlloc(t *testing.T) {
	testenv.SkipUnderRace(t)
	for _, size := range []int{0, 1000, 40000} {
		p := newPair(t, size, size)
		for range 20 {
			p.exchange(t) // warm: dynamic tables, buffers, free lists
		}
		if a := testing.AllocsPerRun(200, func() { p.exchange(t) }); a != 0 {
			t.Errorf("%d-byte bodies: %.1f allocations per exchange, want 0", size, a)
		}
	}
}

// TestAttackAlloc: refusing, resetting and answering floods allocates
// nothing either (a hostile peer cannot make us allocate per frame).
func TestAttackAlloc(t *testing.T) {
	testenv.SkipUnderRace(t)
	p := newPair(t, 0, 10)
	var sid uint32 = 1
	frames := make([]byte, 0, 256)
	a := testing.AllocsPerRun(200, func() {
		frames = frames[:0]
		frames = appendPing(frames, false, make([]byte, 8))
		// HEADERS :method GET, :scheme http, :path /, then RST_STREAM.
		frames = appendFrameHeader(frames, 3, FrameHeaders, flagEndHeaders, sid)
		frames = append(frames, 0x82, 0x86, 0x84)
		frames = appendRSTStream(frames, sid, ErrCodeCancel)
		sid += 2
		if _, err := p.sc.Feed(frames); err != nil {
			t.Fatal(err)
		}
		p.sc.Flushed(0)
	})
	if a != 0 {
		t.Errorf("%.1f allocations per PING + HEADERS + RST_STREAM", a)
	}
}

// BenchmarkExchange: one request/response exchange (1 KiB each way)
// through a client and a server Conn back to back.
func BenchmarkExchange(b *testing.B) {
	p := newPair(b, 1024, 1024)
	p.exchange(b)
	b.ReportAllocs()
	b.SetBytes(2048)
	b.ResetTimer()
	for b.Loop() {
		p.exchange(b)
	}
}

// TestIdleConnMemoryAlloc (named for make test's pass without -race) reports what an idle connection costs (after one
// exchange, buffers as traffic left them) and what a stream costs, and
// fails if an idle connection holds more than 16 KiB (a retained burst
// buffer would).
func TestIdleConnMemoryAlloc(t *testing.T) {
	testenv.SkipUnderRace(t)
	const n = 500
	srvs := make([]*Conn, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range srvs {
		p := newPair(t, 20000, 20000)
		p.exchange(t)
		srvs[i] = &p.sc
		p.cc = Conn{} // keep only the server side
		p.toSrv, p.toCli, p.req, p.srv.resp = nil, nil, nil, nil
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	c := srvs[0]
	t.Logf("idle server connection: %d bytes measured on the heap (Conn struct %d, output buffer cap %d, header scratch %d+%d, fields %d+%d×%d); a stream: %d bytes (kept on the free list)",
		per, unsafe.Sizeof(Conn{}), cap(c.out), cap(c.hbuf), cap(c.block), cap(c.fields.Buf), cap(c.fields.List), unsafe.Sizeof(Field{}), unsafe.Sizeof(Stream{}))
	if per > 16<<10 {
		t.Errorf("an idle connection costs %d bytes, want at most 16 KiB", per)
	}
	runtime.KeepAlive(srvs)
}
