package http2

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	xhttp2 "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// --- a Handler that records -------------------------------------------------

type resetEvent struct {
	id     uint32
	code   ErrCode
	byPeer bool
}

type headEvent struct {
	id       uint32
	fields   [][2]string
	head     Head
	end      bool
	tooLarge bool
}

// recorder records every event; hooks let a test answer from inside them.
type recorder struct {
	violations [numViolations]atomic.Int64
	resets     []resetEvent
	heads      []headEvent
	data       map[uint32][]byte
	goaways    []ErrCode
	writable   int

	onHeaders func(s *Stream, f *Fields, end bool)
	onData    func(s *Stream, p []byte, end bool)
}

func (r *recorder) OnHeaders(s *Stream, f *Fields, end bool) {
	ev := headEvent{id: s.ID, head: s.Head, end: end, tooLarge: s.Head.TooLarge}
	for i := range f.List {
		ev.fields = append(ev.fields, [2]string{string(f.Name(i)), string(f.Value(i))})
	}
	r.heads = append(r.heads, ev)
	if r.onHeaders != nil {
		r.onHeaders(s, f, end)
	}
}

func (r *recorder) OnData(s *Stream, p []byte, end bool) {
	if r.data == nil {
		r.data = map[uint32][]byte{}
	}
	r.data[s.ID] = append(r.data[s.ID], p...)
	if r.onData != nil {
		r.onData(s, p, end)
	}
}

func (r *recorder) OnReset(s *Stream, code ErrCode, byPeer bool) {
	r.resets = append(r.resets, resetEvent{s.ID, code, byPeer})
}
func (r *recorder) OnWritable(s *Stream)               { r.writable++ }
func (r *recorder) OnGoAway(last uint32, code ErrCode) { r.goaways = append(r.goaways, code) }
func (r *recorder) OnViolation(v Violation)            { r.violations[v].Add(1) }
func (r *recorder) count(v Violation) int64            { return r.violations[v].Load() }
func (r *recorder) total() (n int64) {
	for i := range r.violations {
		n += r.violations[i].Load()
	}
	return n
}

// --- a raw peer writing frames with x/net's Framer ---------------------------

// outFrame is a frame our Conn queued, as x/net's Framer reads it.
type outFrame struct {
	typ      xhttp2.FrameType
	flags    xhttp2.Flags
	streamID uint32
	code     ErrCode // RST_STREAM, GOAWAY
	last     uint32  // GOAWAY
	data     []byte  // DATA payload, PING data, header block fragment
	inc      uint32  // WINDOW_UPDATE
}

// rawPeer drives one Conn with frames written by x/net's Framer, fed
// straight into Feed (no network).
type rawPeer struct {
	t    testing.TB
	c    *Conn
	h    *recorder
	in   bytes.Buffer // bytes for Feed
	fr   *xhttp2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	dec  *hpack.Decoder // decodes our HEADERS
	err  error          // first Feed error
}

func newRawPeer(t testing.TB, role Role, s Settings, l Limits) *rawPeer {
	t.Helper()
	p := &rawPeer{t: t, c: new(Conn), h: &recorder{}}
	p.fr = xhttp2.NewFramer(&p.in, nil)
	p.fr.AllowIllegalWrites = true
	p.enc = hpack.NewEncoder(&p.hbuf)
	p.dec = hpack.NewDecoder(4096, nil)
	p.c.Init(role, s, l, p.h)
	if role == Server {
		p.in.WriteString(ClientPreface)
	}
	if err := p.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	p.feed()
	// Our preface: SETTINGS (+ WINDOW_UPDATE); ACK it so our settings are
	// in force, as a real peer would.
	p.frames()
	p.fr.WriteSettingsAck()
	p.feed()
	p.frames()
	return p
}

// feed hands everything written so far to Feed; it keeps the first error.
func (p *rawPeer) feed() error {
	p.t.Helper()
	n, err := p.c.Feed(p.in.Bytes())
	p.in.Next(n)
	if err != nil && p.err == nil {
		p.err = err
	}
	return err
}

// frames parses and drains what the Conn queued for the peer.
func (p *rawPeer) frames() []outFrame {
	p.t.Helper()
	out := p.c.Pending()
	fr := xhttp2.NewFramer(nil, bytes.NewReader(out))
	fr.SetMaxReadFrameSize(1<<24 - 1)
	var res []outFrame
	if p.c.Role() == Client && bytes.HasPrefix(out, []byte(ClientPreface)) {
		fr = xhttp2.NewFramer(nil, bytes.NewReader(out[len(ClientPreface):]))
		fr.SetMaxReadFrameSize(1<<24 - 1)
	}
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.t.Fatalf("our output does not parse: %v", err)
		}
		h := f.Header()
		o := outFrame{typ: h.Type, flags: h.Flags, streamID: h.StreamID}
		switch f := f.(type) {
		case *xhttp2.RSTStreamFrame:
			o.code = ErrCode(f.ErrCode)
		case *xhttp2.GoAwayFrame:
			o.code, o.last = ErrCode(f.ErrCode), f.LastStreamID
			o.data = append([]byte(nil), f.DebugData()...)
		case *xhttp2.DataFrame:
			o.data = append([]byte(nil), f.Data()...)
		case *xhttp2.PingFrame:
			o.data = append([]byte(nil), f.Data[:]...)
		case *xhttp2.HeadersFrame:
			o.data = append([]byte(nil), f.HeaderBlockFragment()...)
		case *xhttp2.ContinuationFrame:
			o.data = append([]byte(nil), f.HeaderBlockFragment()...)
		case *xhttp2.WindowUpdateFrame:
			o.inc = f.Increment
		}
		res = append(res, o)
	}
	p.c.Flushed(0)
	return res
}

// block encodes fields (name, value, name, value ...) with x/net's encoder.
func (p *rawPeer) block(kv ...string) []byte {
	p.hbuf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		p.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return append([]byte(nil), p.hbuf.Bytes()...)
}

func (p *rawPeer) headers(sid uint32, end bool, kv ...string) {
	p.t.Helper()
	if err := p.fr.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: sid, BlockFragment: p.block(kv...), EndStream: end, EndHeaders: true}); err != nil {
		p.t.Fatal(err)
	}
}

// request opens stream sid with a valid GET (or POST when end is false).
func (p *rawPeer) request(sid uint32, end bool, extra ...string) {
	method := "GET"
	if !end {
		method = "POST"
	}
	p.headers(sid, end, append([]string{":method", method, ":scheme", "http", ":path", "/", ":authority", "x"}, extra...)...)
}

func (p *rawPeer) data(sid uint32, end bool, b []byte) {
	p.t.Helper()
	if err := p.fr.WriteData(sid, end, b); err != nil {
		p.t.Fatal(err)
	}
}

// goAway returns the GOAWAY among fs, or fails the test.
func goAwayOf(t testing.TB, fs []outFrame) outFrame {
	t.Helper()
	for _, f := range fs {
		if f.typ == xhttp2.FrameGoAway {
			return f
		}
	}
	t.Fatalf("no GOAWAY among %d frames", len(fs))
	return outFrame{}
}

func rstOf(fs []outFrame, sid uint32) (ErrCode, bool) {
	for _, f := range fs {
		if f.typ == xhttp2.FrameRSTStream && f.streamID == sid {
			return f.code, true
		}
	}
	return 0, false
}

// --- a Conn over a net.Conn --------------------------------------------------

// loop runs a Conn over a net.Conn the way the engine will on an event
// loop: bytes read → Feed → write Pending → Flushed, all on one goroutine
// (a reader goroutine only hands over bytes). do runs engine-side calls on
// that goroutine.
type loop struct {
	nc   net.Conn
	c    *Conn
	in   chan []byte
	do   chan func()
	done chan struct{}
	mu   sync.Mutex
	err  error
}

func startLoop(nc net.Conn, c *Conn) *loop {
	l := &loop{nc: nc, c: c, in: make(chan []byte, 16), do: make(chan func(), 64), done: make(chan struct{})}
	go l.read()
	go l.run()
	return l
}

func (l *loop) read() {
	for {
		b := make([]byte, 32<<10)
		n, err := l.nc.Read(b)
		if n > 0 {
			select {
			case l.in <- b[:n]:
			case <-l.done:
				return
			}
		}
		if err != nil {
			close(l.in)
			return
		}
	}
}

func (l *loop) run() {
	defer close(l.done)
	defer l.nc.Close()
	var buf []byte
	if !l.flush() {
		return
	}
	for {
		select {
		case b, ok := <-l.in:
			if !ok {
				l.c.Close()
				return
			}
			buf = append(buf, b...)
			n, err := l.c.Feed(buf)
			buf = append(buf[:0], buf[n:]...)
			l.flush()
			if err != nil {
				l.mu.Lock()
				l.err = err
				l.mu.Unlock()
				return
			}
		case f := <-l.do:
			f()
			if !l.flush() {
				return
			}
		}
		if l.c.Done() {
			l.flush()
			l.c.Close()
			return
		}
	}
}

func (l *loop) flush() bool {
	for len(l.c.Pending()) > 0 {
		if _, err := l.nc.Write(l.c.Pending()); err != nil {
			l.c.Close()
			return false
		}
		l.c.Flushed(0)
	}
	return true
}

// call runs f on the loop's goroutine and waits for it.
func (l *loop) call(f func()) {
	ran := make(chan struct{})
	select {
	case l.do <- func() { f(); close(ran) }:
		select {
		case <-ran:
		case <-l.done:
		}
	case <-l.done:
	}
}

func (l *loop) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
