package sidecar

// HTTP/2 attacks a proxy must survive, end to end: each test sends the
// attack's bytes to the outbound listener over TCP, checks the proxy's
// answer on the wire and the violation metric that counts it, that the
// attack cost bounded work or memory, and that well-behaved clients (HTTP/2
// and HTTP/1.1) are served afterwards. The codec's own tests
// (proxy/internal/http2) cover each bound frame by frame; these prove the
// engine wires them: the limits it passes, the answers it sends, what it
// releases.

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2frames builds what a raw HTTP/2 client sends into one buffer, so an
// attack is a byte string written in one go.
type h2frames struct {
	buf bytes.Buffer
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

// newH2Frames starts with the client preface and a SETTINGS frame.
func newH2Frames(settings ...http2.Setting) *h2frames {
	f := &h2frames{}
	f.fr = http2.NewFramer(&f.buf, nil)
	f.fr.AllowIllegalWrites = true // the attacks are illegal on purpose
	f.enc = hpack.NewEncoder(&f.hb)
	f.buf.WriteString(http2.ClientPreface)
	_ = f.fr.WriteSettings(settings...)
	return f
}

// block HPACK-encodes name, value pairs (with this connection's encoder:
// blocks must be sent in the order they are made).
func (f *h2frames) block(fields ...string) []byte {
	f.hb.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		_ = f.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(f.hb.Bytes())
}

// request encodes a request head for host and path, plus extra fields.
func (f *h2frames) request(method, host, path string, extra ...string) []byte {
	return f.block(append([]string{":method", method, ":scheme", "http", ":authority", host, ":path", path}, extra...)...)
}

// headers sends block on stream id as HEADERS plus CONTINUATIONs of at
// most 16 KiB (the proxy's SETTINGS_MAX_FRAME_SIZE).
func (f *h2frames) headers(id uint32, block []byte, end bool) {
	const max = 16 << 10
	first := block[:min(len(block), max)]
	rest := block[len(first):]
	_ = f.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: end, EndHeaders: len(rest) == 0})
	for len(rest) > 0 {
		k := min(len(rest), max)
		_ = f.fr.WriteContinuation(id, k == len(rest), rest[:k])
		rest = rest[k:]
	}
}

// get sends a GET without a body on stream id.
func (f *h2frames) get(id uint32, host, path string) {
	f.headers(id, f.request("GET", host, path), true)
}

// take returns the bytes built so far and starts a new batch.
func (f *h2frames) take() []byte {
	b := bytes.Clone(f.buf.Bytes())
	f.buf.Reset()
	return b
}

// h2seen is what the proxy sent a raw client.
type h2seen struct {
	goAway     bool
	goAwayCode http2.ErrCode
	lastID     uint32
	rst        map[uint32]http2.ErrCode
	status     map[uint32]string
	data       map[uint32]int
	ended      map[uint32]bool // END_STREAM received
	pings      int             // PING ACKs
	err        error           // the read error that ended reading, if any
}

func (s *h2seen) String() string {
	return fmt.Sprintf("goaway %v (%v, last stream %d), %d RST_STREAM %v, statuses %v, %d PING ACKs, read error %v",
		s.goAway, s.goAwayCode, s.lastID, len(s.rst), shortMap(s.rst), shortMap(s.status), s.pings, s.err)
}

func shortMap[V any](m map[uint32]V) string {
	s := fmt.Sprint(m)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// h2peer is one raw client connection to the proxy.
type h2peer struct {
	c    net.Conn
	fr   *http2.Framer
	seen h2seen
}

func dialH2Peer(t *testing.T, c net.Conn) *h2peer {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	p := &h2peer{c: c, fr: http2.NewFramer(nil, bufio.NewReaderSize(c, 64<<10))}
	p.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	p.fr.MaxHeaderListSize = 1 << 20
	p.seen = h2seen{rst: map[uint32]http2.ErrCode{}, status: map[uint32]string{}, data: map[uint32]int{}, ended: map[uint32]bool{}}
	return p
}

func dialPlain(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// send writes b from a goroutine (the proxy may stop reading, or close,
// before it is all written) and returns the write's outcome.
func (p *h2peer) send(b []byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := p.c.Write(b)
		done <- err
	}()
	return done
}

// h2ReadLimit bounds every wait for the proxy's answer: long enough on a
// loaded machine to tell "never" from "late".
const h2ReadLimit = 60 * time.Second

// read reads frames until until(seen) holds, the connection ends or
// h2ReadLimit passes, and reports whether until held.
func (p *h2peer) read(until func(s *h2seen) bool) bool {
	_ = p.c.SetReadDeadline(time.Now().Add(h2ReadLimit))
	s := &p.seen
	for !until(s) {
		f, err := p.fr.ReadFrame()
		if err != nil {
			s.err = err
			return until(s)
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			s.goAway, s.goAwayCode, s.lastID = true, f.ErrCode, f.LastStreamID
		case *http2.RSTStreamFrame:
			s.rst[f.StreamID] = f.ErrCode
		case *http2.MetaHeadersFrame:
			if v := f.PseudoValue("status"); v != "" && v[0] != '1' {
				s.status[f.StreamID] = v
			}
			if f.StreamEnded() {
				s.ended[f.StreamID] = true
			}
		case *http2.DataFrame:
			s.data[f.StreamID] += len(f.Data())
			if f.StreamEnded() {
				s.ended[f.StreamID] = true
			}
		case *http2.PingFrame:
			if f.IsAck() {
				s.pings++
			}
		}
	}
	return true
}

func gotGoAway(s *h2seen) bool { return s.goAway }

// expectGoAway reads until the proxy's GOAWAY and checks its code.
func (p *h2peer) expectGoAway(t *testing.T, code http2.ErrCode) {
	t.Helper()
	if !p.read(gotGoAway) {
		t.Fatalf("no GOAWAY: %v", &p.seen)
	}
	if p.seen.goAwayCode != code {
		t.Fatalf("GOAWAY %v, want %v: %v", p.seen.goAwayCode, code, &p.seen)
	}
}

// counter reads a counter's value from the admin listener (0 when the
// series does not exist yet).
func counter(t *testing.T, s *started, name string, labels ...string) int64 {
	t.Helper()
	v, _ := metricLine(s.metricsText(t), name, labels...)
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

func violations(t *testing.T, s *started, kind string) int64 {
	t.Helper()
	return counter(t, s, "meshproxy_http2_violations_total", `kind="`+kind+`"`)
}

// attackProxy starts a sidecar with the echo Service "svc-a" that
// wellBehaved uses, plus extra services and Proxy spec YAML.
func attackProxy(t *testing.T, extraProxy string, more ...svc) *started {
	t.Helper()
	up := startEcho(t, "a", 100)
	return startSidecar(t, &mesh{
		extraProxy: extraProxy,
		services:   append([]svc{{name: "svc-a", ports: []string{portOf(t, up.Addr())}}}, more...),
	})
}

// wellBehaved checks that the proxy still serves a normal HTTP/2 client
// (a new connection) and an HTTP/1.1 client.
func wellBehaved(t *testing.T, s *started) {
	t.Helper()
	c := h2cClient(s.out)
	defer c.CloseIdleConnections()
	resp, body := h2Get(t, c, "http://svc-a/?size=1000", nil)
	if resp.StatusCode != 200 || len(body) != 1000 {
		t.Fatalf("after the attack, HTTP/2: status %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = s.do(t, "GET", "svc-a", "/?size=1000", nil, nil)
	if resp.StatusCode != 200 || len(body) != 1000 {
		t.Fatalf("after the attack, HTTP/1.1: status %d, %d bytes", resp.StatusCode, len(body))
	}
}

// TestH2AttackRapidReset (CVE-2023-44487): a client opens streams and
// resets each at once. Each costs the proxy an upstream request, so the
// connection must end after a bounded number: half of the 500 streams the
// rule counts over, i.e. GOAWAY ENHANCE_YOUR_CALM at the 250th reset.
func TestH2AttackRapidReset(t *testing.T) {
	up := startEcho(t, "rr", 100)
	s := attackProxy(t, "", svc{name: "svc-rr", ports: []string{portOf(t, up.Addr())}})
	const streams, bound = 2000, 250
	f := newH2Frames()
	for i := uint32(0); i < streams; i++ {
		id := 2*i + 1
		f.get(id, "svc-rr", "/?size=100")
		_ = f.fr.WriteRSTStream(id, http2.ErrCodeCancel)
	}
	before := violations(t, s, "rapid_reset")
	resetsBefore := counter(t, s, "meshproxy_http2_client_resets_total")
	p := dialH2Peer(t, dialPlain(t, s.out))
	p.send(f.take())
	p.expectGoAway(t, http2.ErrCodeEnhanceYourCalm)
	// The GOAWAY names the last stream processed: streams after the bound
	// never started an exchange.
	if p.seen.lastID == 0 || p.seen.lastID > 2*bound-1 {
		t.Errorf("GOAWAY last stream %d: the proxy processed streams past the %dth (id %d)", p.seen.lastID, bound, 2*bound-1)
	}
	if got := violations(t, s, "rapid_reset") - before; got != 1 {
		t.Errorf("rapid_reset violations rose by %d, want 1", got)
	}
	if got := counter(t, s, "meshproxy_http2_client_resets_total") - resetsBefore; got < bound-1 || got > bound {
		t.Errorf("client resets rose by %d, want %d", got, bound)
	}
	// The work the attack cost: at most one upstream request per stream
	// the proxy processed.
	if n := up.Requests(); n > bound {
		t.Errorf("the endpoint served %d requests for %d reset streams, want at most %d", n, streams, bound)
	}
	wellBehaved(t, s)
}

// TestH2AttackContinuationFlood (CVE-2024-27316): a header block that
// never ends, in many small CONTINUATION frames or a few large ones, is
// cut off at the bound (16 frames, or twice maxHeaderBytes) with GOAWAY
// ENHANCE_YOUR_CALM, without the proxy buffering the rest.
func TestH2AttackContinuationFlood(t *testing.T) {
	s := attackProxy(t, "  limits: {maxHeaderBytes: 16384}\n")
	for _, tc := range []struct {
		name   string
		frames int
		size   int
	}{
		{"tiny frames", 100_000, 1},
		{"large frames", 1000, 16 << 10}, // 16 MB of header block
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newH2Frames()
			head := f.request("GET", "svc-a", "/")
			_ = f.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: head})
			frag := bytes.Repeat([]byte{0x40}, tc.size)
			for i := 0; i < tc.frames; i++ {
				_ = f.fr.WriteContinuation(1, false, frag)
			}
			attack := f.take()
			before := violations(t, s, "continuation_flood")
			heap := heapWatch()
			p := dialH2Peer(t, dialPlain(t, s.out))
			p.send(attack)
			p.expectGoAway(t, http2.ErrCodeEnhanceYourCalm)
			if peak := heap(); peak > heapBound {
				t.Errorf("live heap grew by %d MiB during a %d MB header block (bound %d MiB)", peak>>20, len(attack)>>20, heapBound>>20)
			}
			if got := violations(t, s, "continuation_flood") - before; got != 1 {
				t.Errorf("continuation_flood violations rose by %d, want 1", got)
			}
			wellBehaved(t, s)
		})
	}
}

// TestH2AttackHeaderList: a request head over maxHeaderBytes (the proxy's
// SETTINGS_MAX_HEADER_LIST_SIZE), and an HPACK bomb — one 4 KB field in the
// dynamic table referenced 10,000 times by one byte each, 40 MB decoded
// from 10 KB — are answered 431 on their stream; the connection and its
// HPACK state survive, and the bombs cost bounded memory.
func TestH2AttackHeaderList(t *testing.T) {
	s := attackProxy(t, "  limits: {maxHeaderBytes: 16384}\n")
	before := violations(t, s, "header_list_too_large")
	f := newH2Frames()
	// 20 KB of one field: under the block bound (twice the list limit),
	// over the list limit.
	f.headers(1, f.request("GET", "svc-a", "/", "x-big", strings.Repeat("b", 20000)), true)
	const bombs = 100
	bomb := strings.Repeat("x", 4000)
	for i := uint32(0); i < bombs; i++ {
		fields := []string{}
		for j := 0; j < 10_000; j++ {
			fields = append(fields, "x-bomb", bomb)
		}
		f.headers(3+2*i, f.request("GET", "svc-a", "/", fields...), true)
	}
	last := uint32(3 + 2*bombs)
	f.get(last, "svc-a", "/?size=777")
	attack := f.take()
	if len(attack) > 2<<20 {
		t.Fatalf("the bombs take %d bytes: not a bomb", len(attack))
	}

	heap := heapWatch()
	p := dialH2Peer(t, dialPlain(t, s.out))
	p.send(attack)
	if !p.read(func(s *h2seen) bool { return s.ended[last] || s.goAway }) {
		t.Fatalf("no answer to the request after the bombs: %v", &p.seen)
	}
	if peak := heap(); peak > heapBound {
		t.Errorf("live heap grew by %d MiB for %d HPACK bombs (bound %d MiB)", peak>>20, bombs, heapBound>>20)
	}
	if p.seen.goAway {
		t.Fatalf("the connection ended: %v", &p.seen)
	}
	for id := uint32(1); id < last; id += 2 {
		if p.seen.status[id] != "431" {
			t.Fatalf("stream %d: status %q, want 431: %v", id, p.seen.status[id], &p.seen)
		}
	}
	// The request after the bombs decodes (the HPACK tables stayed in
	// step) and is served on the same connection.
	if p.seen.status[last] != "200" || p.seen.data[last] != 777 {
		t.Fatalf("request after the bombs: status %q, %d bytes: %v", p.seen.status[last], p.seen.data[last], &p.seen)
	}
	if got := violations(t, s, "header_list_too_large") - before; got != bombs+1 {
		t.Errorf("header_list_too_large violations rose by %d, want %d", got, bombs+1)
	}
	wellBehaved(t, s)
}

// TestH2AttackControlFlood (CVE-2019-9512, CVE-2019-9515): a client floods
// PING or SETTINGS and does not read the replies. The proxy ends the
// connection with GOAWAY ENHANCE_YOUR_CALM once 10,000 replies are queued
// unread, and holds neither the replies nor what the client keeps sending
// after the GOAWAY.
func TestH2AttackControlFlood(t *testing.T) {
	s := attackProxy(t, "")
	// Enough flood that holding it would show in the heap (smaller under
	// the race detector, which is ten times slower; make test also runs
	// this without it).
	total := floodScale(64 << 20)
	for _, tc := range []struct {
		name  string
		frame func(f *h2frames, i int)
	}{
		{"PING", func(f *h2frames, i int) { _ = f.fr.WritePing(false, [8]byte{byte(i)}) }},
		{"SETTINGS", func(f *h2frames, i int) { _ = f.fr.WriteSettings() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newH2Frames()
			hello := f.take()
			for i := 0; f.buf.Len() < 256<<10; i++ {
				tc.frame(f, i)
			}
			chunk := f.take()
			before := violations(t, s, "control_flood") + violations(t, s, "pending_overflow")
			c := smallWindowDialer(s.out, nil)(t)
			p := dialH2Peer(t, c)
			heap := heapWatch()
			var written atomic.Int64
			count := total / len(chunk)
			sent := make(chan error, 1)
			go func() {
				if _, err := c.Write(hello); err != nil {
					sent <- err
					return
				}
				for i := 0; i < count; i++ {
					if _, err := c.Write(chunk); err != nil {
						sent <- err
						return
					}
					written.Add(1)
				}
				sent <- nil
			}()
			// Not reading, until the client has sent everything or the
			// proxy stopped reading it.
			holdUnread(&written, count, time.Minute)
			peak := heap()
			t.Logf("live heap grew by at most %.1f MiB while %d MB were sent", float64(peak)/(1<<20), written.Load()*int64(len(chunk))>>20)
			_ = c.SetWriteDeadline(time.Now()) // unblock the writer if the proxy paused it
			<-sent
			if peak > heapBound {
				t.Errorf("live heap grew by %d MiB while the client flooded %d MB without reading (bound %d MiB)",
					peak>>20, written.Load()*int64(len(chunk))>>20, heapBound>>20)
			}
			p.expectGoAway(t, http2.ErrCodeEnhanceYourCalm)
			if got := violations(t, s, "control_flood") + violations(t, s, "pending_overflow") - before; got != 1 {
				t.Errorf("control_flood + pending_overflow violations rose by %d, want 1", got)
			}
			wellBehaved(t, s)
		})
	}
}

// TestH2AttackZeroWindow: a client opens streams for large responses and
// never lets them flow (SETTINGS_INITIAL_WINDOW_SIZE 0, or windows it
// never replenishes with WINDOW_UPDATE). The proxy stops reading each
// upstream instead of buffering its response (bounded heap, upstream read
// pauses), and the idle timeout ends the stalled exchanges: each stream
// is reset and counted as a response cut by the idle timeout.
func TestH2AttackZeroWindow(t *testing.T) {
	app := startStreamApp(t)
	s := attackProxy(t, flowLimits+"  timeouts: {idle: 1s}\n", svc{name: "app", ports: []string{portOf(t, app)}})
	const streams = 16
	const size = 64 << 20 // per stream: what an unbounded proxy would hold
	for _, tc := range []struct {
		name     string
		settings []http2.Setting
	}{
		{"initial window 0", []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 0}}},
		{"no WINDOW_UPDATE", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newH2Frames(tc.settings...)
			for i := uint32(0); i < streams; i++ {
				f.get(2*i+1, "app", fmt.Sprintf("/download?n=%d&seed=%d", size, i+1))
			}
			pausesBefore := pauses(t, []*started{s}, "upstream")
			cutBefore := counter(t, s, "meshproxy_responses_truncated_total", `cause="idle_timeout"`)
			heap := heapWatch()
			p := dialH2Peer(t, dialPlain(t, s.out))
			p.send(f.take())
			// The proxy's answer: every response starts, none can finish,
			// and each stream is reset when its exchange has been idle for
			// timeouts.idle.
			if !p.read(func(s *h2seen) bool { return len(s.rst) == streams || s.goAway }) {
				t.Fatalf("stalled streams not reset: %v", &p.seen)
			}
			peak := heap()
			t.Logf("live heap grew by at most %.1f MiB", float64(peak)/(1<<20))
			if peak > heapBound {
				t.Errorf("live heap grew by %d MiB for %d stalled %d MiB responses (bound %d MiB)", peak>>20, streams, size>>20, heapBound>>20)
			}
			for id := uint32(1); id < 2*streams; id += 2 {
				if p.seen.status[id] != "200" || p.seen.ended[id] || p.seen.rst[id] != http2.ErrCodeInternal {
					t.Fatalf("stream %d: status %q, ended %v, RST_STREAM %v (want 200, cut by INTERNAL_ERROR): %v",
						id, p.seen.status[id], p.seen.ended[id], p.seen.rst[id], &p.seen)
				}
			}
			if got := pauses(t, []*started{s}, "upstream") - pausesBefore; got < streams {
				t.Errorf("upstream read pauses rose by %d, want at least %d (one per stalled response)", got, streams)
			}
			if got := counter(t, s, "meshproxy_responses_truncated_total", `cause="idle_timeout"`) - cutBefore; got != streams {
				t.Errorf("responses cut by the idle timeout rose by %d, want %d", got, streams)
			}
			// With no stream left, the idle connection is closed too.
			p.expectGoAway(t, http2.ErrCodeNo)
			wellBehaved(t, s)
		})
	}
}

// TestH2AttackProtocolErrors: stream-id misuse and empty frames
// (CVE-2019-9518) end the connection with the GOAWAY code README's table
// names, counted by kind.
func TestH2AttackProtocolErrors(t *testing.T) {
	s := attackProxy(t, "")
	for _, tc := range []struct {
		name   string
		attack func(f *h2frames)
		code   http2.ErrCode
		kind   string
	}{
		{"even stream id", func(f *h2frames) { f.get(2, "svc-a", "/") }, http2.ErrCodeProtocol, "stream_id"},
		{"decreasing stream ids", func(f *h2frames) {
			f.get(5, "svc-a", "/")
			f.get(3, "svc-a", "/")
		}, http2.ErrCodeProtocol, "stream_id"},
		{"DATA on an idle stream", func(f *h2frames) { _ = f.fr.WriteData(7, true, []byte("x")) }, http2.ErrCodeProtocol, "stream_id"},
		{"RST_STREAM on an idle stream", func(f *h2frames) { _ = f.fr.WriteRSTStream(9, http2.ErrCodeCancel) }, http2.ErrCodeProtocol, "stream_id"},
		{"empty DATA frames", func(f *h2frames) {
			f.headers(1, f.request("POST", "svc-a", "/?echo=body"), false)
			for i := 0; i < 100; i++ {
				_ = f.fr.WriteData(1, false, nil)
			}
		}, http2.ErrCodeEnhanceYourCalm, "empty_frames"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newH2Frames()
			tc.attack(f)
			before := violations(t, s, tc.kind)
			p := dialH2Peer(t, dialPlain(t, s.out))
			p.send(f.take())
			p.expectGoAway(t, tc.code)
			if got := violations(t, s, tc.kind) - before; got != 1 {
				t.Errorf("%s violations rose by %d, want 1", tc.kind, got)
			}
			wellBehaved(t, s)
		})
	}
}

// hangApp is an endpoint that reads request heads and never answers.
func hangApp(t *testing.T) string {
	t.Helper()
	done := make(chan struct{})
	addr := rawUpstream(t, func(c net.Conn) {
		readHead(c)
		<-done
	})
	t.Cleanup(func() { close(done) })
	return addr
}

// TestH2AttackRefusedStreams: streams beyond SETTINGS_MAX_CONCURRENT_STREAMS
// (100) are refused with RST_STREAM REFUSED_STREAM; the connection stays,
// and serves again once streams close.
func TestH2AttackRefusedStreams(t *testing.T) {
	s := attackProxy(t, "", svc{name: "hang", ports: []string{portOf(t, hangApp(t))}})
	const max = 100
	f := newH2Frames()
	for i := uint32(0); i < max+5; i++ {
		f.get(2*i+1, "hang", "/")
	}
	before := violations(t, s, "refused_stream")
	p := dialH2Peer(t, dialPlain(t, s.out))
	p.send(f.take())
	if !p.read(func(s *h2seen) bool { return len(s.rst) == 5 || s.goAway }) || p.seen.goAway {
		t.Fatalf("want 5 streams refused and the connection kept: %v", &p.seen)
	}
	for i := uint32(max); i < max+5; i++ {
		if code, ok := p.seen.rst[2*i+1]; !ok || code != http2.ErrCodeRefusedStream {
			t.Fatalf("stream %d: RST_STREAM %v, want REFUSED_STREAM: %v", 2*i+1, code, &p.seen)
		}
	}
	if got := violations(t, s, "refused_stream") - before; got != 5 {
		t.Errorf("refused_stream violations rose by %d, want 5", got)
	}
	// The client gives up on its hung streams: the next one is served.
	for i := uint32(0); i < max; i++ {
		_ = f.fr.WriteRSTStream(2*i+1, http2.ErrCodeCancel)
	}
	next := uint32(2*(max+5) + 1)
	f.get(next, "svc-a", "/?size=555")
	p.send(f.take())
	if !p.read(func(s *h2seen) bool { return s.ended[next] || s.goAway }) || p.seen.status[next] != "200" || p.seen.data[next] != 555 {
		t.Fatalf("stream %d after the resets: %v", next, &p.seen)
	}
	wellBehaved(t, s)
}

// TestH2ClientResetMidResponse: a client resets a stream while its response
// is flowing (RST_STREAM CANCEL). The proxy closes that upstream
// connection (mid-response, its state is unknown: it must not go back to
// the pool) and counts the reset; the next request on the same client
// connection gets a new upstream connection and a whole response.
func TestH2ClientResetMidResponse(t *testing.T) {
	var conns atomic.Int64
	ended := make(chan int64, 16)
	app := rawUpstream(t, func(c net.Conn) {
		n := conns.Add(1)
		defer func() { ended <- n }()
		br := bufio.NewReaderSize(c, 64<<10)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			size, _ := strconv.ParseInt(req.URL.Query().Get("n"), 10, 64)
			seed, _ := strconv.ParseUint(req.URL.Query().Get("seed"), 10, 64)
			if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size); err != nil {
				return
			}
			if _, err := stream(c, seed, size); err != nil {
				return
			}
		}
	})
	// An idle timeout far beyond the wait below: an upstream connection
	// left open must not be closed by it within the test.
	s := attackProxy(t, "  timeouts: {idle: 600s}\n", svc{name: "app", ports: []string{portOf(t, app)}})
	resetsBefore := counter(t, s, "meshproxy_http2_client_resets_total")

	f := newH2Frames()
	// A connection window that never runs out: what the reset stream was
	// sent must not hold back the next one.
	_ = f.fr.WriteWindowUpdate(0, 1<<30)
	f.get(1, "app", fmt.Sprintf("/download?n=%d&seed=1", 256<<20))
	p := dialH2Peer(t, dialPlain(t, s.out))
	p.send(f.take())
	if !p.read(func(s *h2seen) bool { return s.data[1] > 0 || s.goAway || len(s.rst) > 0 }) || p.seen.data[1] == 0 {
		t.Fatalf("the response did not start: %v", &p.seen)
	}
	_ = f.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	p.send(f.take())
	// The upstream connection of the reset stream ends (the app's write
	// fails once the proxy closed it).
	select {
	case n := <-ended:
		if n != 1 {
			t.Fatalf("upstream connection %d ended, want the first", n)
		}
	case <-time.After(h2ReadLimit):
		t.Fatal("the upstream connection of the reset stream is still open")
	}
	if got := counter(t, s, "meshproxy_http2_client_resets_total") - resetsBefore; got != 1 {
		t.Errorf("client resets rose by %d, want 1", got)
	}

	// The next request, on the same client connection, gets a whole
	// response over a new upstream connection.
	const n = 300 << 10
	f.get(3, "app", fmt.Sprintf("/download?n=%d&seed=2", n))
	p.send(f.take())
	body := new(bytes.Buffer)
	// Read its DATA ourselves to check the bytes, crediting the stream
	// window as they are consumed.
	_ = p.c.SetReadDeadline(time.Now().Add(h2ReadLimit))
	var status string
	for {
		fr, err := p.fr.ReadFrame()
		if err != nil {
			t.Fatalf("second request: %v (status %q, %d bytes)", err, status, body.Len())
		}
		if h, ok := fr.(*http2.MetaHeadersFrame); ok && h.StreamID == 3 {
			status = h.PseudoValue("status")
		}
		if r, ok := fr.(*http2.RSTStreamFrame); ok && r.StreamID == 3 {
			t.Fatalf("second request reset: %v", r.ErrCode)
		}
		if d, ok := fr.(*http2.DataFrame); ok && d.StreamID == 3 {
			body.Write(d.Data())
			if k := uint32(len(d.Data())); k > 0 {
				_ = f.fr.WriteWindowUpdate(3, k)
				if _, err := p.c.Write(f.take()); err != nil {
					t.Fatal(err)
				}
			}
			if d.StreamEnded() {
				break
			}
		}
	}
	want := new(bytes.Buffer)
	if _, err := stream(want, 2, int64(n)); err != nil {
		t.Fatal(err)
	}
	if status != "200" || !bytes.Equal(body.Bytes(), want.Bytes()) {
		t.Fatalf("second request: status %q, %d bytes (want 200 and the %d bytes the app sent)", status, body.Len(), n)
	}
	if c := conns.Load(); c != 2 {
		t.Errorf("the app saw %d connections, want 2 (the reset stream's was not reused)", c)
	}
	wellBehaved(t, s)
}
