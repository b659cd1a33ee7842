package echo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
	"github.com/valyala/fasthttp"
)

func start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newClient returns a client with its own connection pool, so tests do not
// share keep-alive connections through http.DefaultTransport.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// hiddenReader hides the concrete type of a reader from net/http so that it
// does not know the length and sends the body chunked.
type hiddenReader struct{ io.Reader }

func TestEcho(t *testing.T) {
	oneMiB := Body(1 << 20)
	tests := []struct {
		name        string
		opts        Options
		method      string
		target      string // path and query
		body        io.Reader
		header      http.Header
		wantStatus  int
		wantBody    []byte // nil: do not check
		wantPattern int    // > 0: the body must be Body(wantPattern), checked while streaming
		wantContain []string
		wantChunked bool
		wantName    string // default: the server's address
	}{
		{name: "default empty body", target: "/", wantStatus: 200, wantBody: []byte{}},
		{name: "options size", opts: Options{Size: 1024}, target: "/", wantStatus: 200, wantBody: Body(1024)},
		{name: "options size beyond prebuilt", opts: Options{Size: 100_000}, target: "/any/path", wantStatus: 200, wantBody: Body(100_000)},
		{name: "options name", opts: Options{Name: "backend-a"}, target: "/", wantStatus: 200, wantName: "backend-a"},
		{name: "size", target: "/?size=10", wantStatus: 200, wantBody: Body(10)},
		{name: "size zero overrides option", opts: Options{Size: 1024}, target: "/?size=0", wantStatus: 200, wantBody: []byte{}},
		{name: "size streamed beyond prebuilt", target: "/?size=1000003", wantStatus: 200, wantPattern: 1000003},
		{name: "size max", target: "/?size=" + strconv.Itoa(MaxSize), wantStatus: 200, wantPattern: MaxSize},
		{name: "size too big", target: "/?size=" + strconv.Itoa(MaxSize+1), wantStatus: 400, wantContain: []string{"bad size"}},
		{name: "size not a number", target: "/?size=abc", wantStatus: 400, wantContain: []string{"bad size"}},
		{name: "size negative", target: "/?size=-1", wantStatus: 400},
		{name: "status", target: "/?status=503&size=5", wantStatus: 503, wantBody: Body(5)},
		{name: "status 204 has no body", target: "/?status=204&size=5", wantStatus: 204, wantBody: []byte{}},
		{name: "status out of range", target: "/?status=99", wantStatus: 400, wantContain: []string{"bad status"}},
		{name: "delay", target: "/?delay=1ms", wantStatus: 200},
		{name: "delay invalid", target: "/?delay=soon", wantStatus: 400, wantContain: []string{"bad delay"}},
		{name: "delay negative", target: "/?delay=-1s", wantStatus: 400},
		{name: "echo invalid", target: "/?echo=trailers", wantStatus: 400, wantContain: []string{"bad echo"}},
		{name: "chunked invalid", target: "/?chunked=yes", wantStatus: 400, wantContain: []string{"bad chunked"}},
		{
			name: "echo headers", method: "GET", target: "/?echo=headers",
			header:     http.Header{"X-Forwarded-For": {"10.1.2.3"}, "X-Multi": {"a", "b"}},
			wantStatus: 200,
			wantContain: []string{
				"X-Forwarded-For: 10.1.2.3\n", "X-Multi: a\n", "X-Multi: b\n",
				"User-Agent: Go-http-client/1.1\n", "Host: 127.0.0.1:",
			},
		},
		{
			name: "echo headers shows hop-by-hop headers", target: "/?echo=headers",
			header:      http.Header{"Connection": {"keep-alive, X-Hop"}, "X-Hop": {"1"}, "Keep-Alive": {"timeout=5"}},
			wantStatus:  200,
			wantContain: []string{"Connection: keep-alive, X-Hop\n", "X-Hop: 1\n", "Keep-Alive: timeout=5\n"},
		},
		{
			name: "echo headers of chunked upload", method: "POST", target: "/?echo=headers",
			body:        hiddenReader{strings.NewReader("hello")},
			wantStatus:  200,
			wantContain: []string{"Transfer-Encoding: chunked\n"},
		},
		{name: "echo empty body", method: "POST", target: "/?echo=body", body: strings.NewReader(""), wantStatus: 200, wantBody: []byte{}},
		{name: "echo 1 KiB body", method: "POST", target: "/?echo=body", body: bytes.NewReader(Body(1024)), wantStatus: 200, wantBody: Body(1024)},
		{name: "echo 1 MiB body", method: "PUT", target: "/?echo=body", body: bytes.NewReader(oneMiB), wantStatus: 200, wantBody: oneMiB},
		{name: "echo chunked upload", method: "POST", target: "/?echo=body", body: hiddenReader{bytes.NewReader(oneMiB)}, wantStatus: 200, wantBody: oneMiB},
		{name: "echo body ignores size", method: "POST", target: "/?echo=body&size=100", body: strings.NewReader("xyz"), wantStatus: 200, wantBody: []byte("xyz")},
		{name: "chunked", target: "/?chunked=1&size=1000", wantStatus: 200, wantBody: Body(1000), wantChunked: true},
		{name: "chunked empty", target: "/?chunked=1&size=0", wantStatus: 200, wantBody: []byte{}, wantChunked: true},
		{name: "chunked large", target: "/?chunked=true&size=1000003", wantStatus: 200, wantPattern: 1000003, wantChunked: true},
		{name: "chunked with option size", opts: Options{Size: 200_000}, target: "/?chunked=1", wantStatus: 200, wantBody: Body(200_000), wantChunked: true},
		{name: "chunked echo body", method: "POST", target: "/?echo=body&chunked=1", body: bytes.NewReader(oneMiB), wantStatus: 200, wantBody: oneMiB, wantChunked: true},
		{name: "chunked echo headers", target: "/?echo=headers&chunked=1", header: http.Header{"X-A": {"b"}}, wantStatus: 200, wantContain: []string{"X-A: b\n"}, wantChunked: true},
		{name: "chunked off", target: "/?chunked=0&size=3", wantStatus: 200, wantBody: Body(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, tt.opts)
			method := cmpOr(tt.method, "GET")
			req, err := http.NewRequest(method, "http://"+s.Addr()+tt.target, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			resp, err := newClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body []byte
			if tt.wantPattern > 0 {
				// Large bodies are verified in passing: buffering 64 MiB and
				// building the expected copy is slow under -race.
				pw := &patternWriter{mismatch: -1}
				n, err := io.CopyBuffer(pw, resp.Body, make([]byte, 256<<10))
				if err != nil {
					t.Fatal(err)
				}
				if n != int64(tt.wantPattern) || pw.mismatch >= 0 {
					t.Errorf("body: got %d bytes, first mismatch at %d; want Body(%d)", n, pw.mismatch, tt.wantPattern)
				}
				body = make([]byte, n) // for the length checks below
			} else if body, err = io.ReadAll(resp.Body); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %.200q)", resp.StatusCode, tt.wantStatus, body)
			}
			if got, want := resp.Header.Get(NameHeader), cmpOr(tt.wantName, s.Addr()); got != want {
				t.Errorf("%s = %q, want %q", NameHeader, got, want)
			}
			if tt.wantBody != nil && !bytes.Equal(body, tt.wantBody) {
				t.Errorf("body: got %d bytes %.80q, want %d bytes %.80q", len(body), body, len(tt.wantBody), tt.wantBody)
			}
			for _, sub := range tt.wantContain {
				if !bytes.Contains(body, []byte(sub)) {
					t.Errorf("body lacks %q:\n%s", sub, body)
				}
			}
			chunked := len(resp.TransferEncoding) == 1 && resp.TransferEncoding[0] == "chunked"
			if chunked != tt.wantChunked {
				t.Errorf("chunked = %v (Transfer-Encoding %q, Content-Length %d), want %v",
					chunked, resp.TransferEncoding, resp.ContentLength, tt.wantChunked)
			}
			if !chunked && resp.StatusCode != 204 && resp.ContentLength != int64(len(body)) {
				t.Errorf("Content-Length = %d, body has %d bytes", resp.ContentLength, len(body))
			}
			if got := s.Requests(); got != 1 {
				t.Errorf("Requests() = %d, want 1", got)
			}
		})
	}
}

// patternWriter checks that what is written to it is a prefix of Body(∞).
// Create it with mismatch -1.
type patternWriter struct {
	off      int
	mismatch int // offset of the first wrong byte, or -1
}

func (w *patternWriter) Write(p []byte) (int, error) {
	r := patternReader{body: sharedBody(), off: w.off, left: len(p)}
	for i := 0; i < len(p); {
		want := r.next(len(p) - i)
		if got := p[i : i+len(want)]; w.mismatch < 0 && !bytes.Equal(got, want) {
			j := 0
			for got[j] == want[j] {
				j++
			}
			w.mismatch = w.off + i + j
		}
		i += len(want)
	}
	w.off += len(p)
	return len(p), nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestDelay(t *testing.T) {
	for _, tt := range []struct {
		name   string
		opts   Options
		target string
		min    time.Duration
	}{
		{"query", Options{}, "/?delay=150ms", 150 * time.Millisecond},
		{"option", Options{Delay: 150 * time.Millisecond}, "/", 150 * time.Millisecond},
		{"query overrides option", Options{Delay: time.Hour}, "/?delay=0s", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, tt.opts)
			begin := time.Now()
			resp, err := newClient(t).Get("http://" + s.Addr() + tt.target)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			elapsed := time.Since(begin)
			if elapsed < tt.min || (tt.min == 0 && elapsed > 5*time.Second) {
				t.Errorf("took %v, want at least %v", elapsed, tt.min)
			}
		})
	}
}

// TestHead checks that HEAD gets the headers a GET would (Content-Length,
// chunked framing) and no body, and that the connection stays usable: a
// server that wrote a body after HEAD would corrupt the next response.
func TestHead(t *testing.T) {
	s := start(t, Options{Size: 1024})
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	targets := []struct {
		method, target string
		wantLen        int64 // -1: chunked
		wantBody       []byte
	}{
		{"HEAD", "/", 1024, nil},
		{"HEAD", "/?size=100000", 100000, nil},
		{"HEAD", "/?chunked=1&size=100", -1, nil},
		{"GET", "/?size=7", 7, Body(7)},
		{"HEAD", "/?status=404", 1024, nil},
		{"GET", "/", 1024, Body(1024)},
	}
	// Pipeline all requests, then read the responses in order.
	var reqs bytes.Buffer
	for _, tt := range targets {
		fmt.Fprintf(&reqs, "%s %s HTTP/1.1\r\nHost: test\r\n\r\n", tt.method, tt.target)
	}
	if _, err := conn.Write(reqs.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, tt := range targets {
		req, _ := http.NewRequest(tt.method, "http://test"+tt.target, nil)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.target, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.target, err)
		}
		if resp.ContentLength != tt.wantLen {
			t.Errorf("%s %s: Content-Length %d, want %d", tt.method, tt.target, resp.ContentLength, tt.wantLen)
		}
		if tt.wantBody == nil && len(body) != 0 || tt.wantBody != nil && !bytes.Equal(body, tt.wantBody) {
			t.Errorf("%s %s: body %q, want %q", tt.method, tt.target, body, tt.wantBody)
		}
	}
	if got := s.Requests(); got != uint64(len(targets)) {
		t.Errorf("Requests() = %d, want %d", got, len(targets))
	}
}

// TestKeepAlive checks that sequential requests from one client reuse one
// connection: a benchmark upstream that closed connections would measure
// connection setup instead of the proxy.
func TestKeepAlive(t *testing.T) {
	s := start(t, Options{Size: 100})
	client := newClient(t)
	var conns sync.Map
	for i := range 20 {
		var reused bool
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			reused = info.Reused
			conns.Store(info.Conn.LocalAddr().String(), true)
		}}
		target := "/"
		switch i % 4 {
		case 1:
			target = "/?chunked=1"
		case 2:
			target = "/?size=100000"
		case 3:
			target = "/?status=500"
		}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+s.Addr()+target, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if i > 0 && !reused {
			t.Errorf("request %d (%s) did not reuse the connection", i, target)
		}
		if resp.Close {
			t.Errorf("request %d (%s): server asked to close the connection", i, target)
		}
	}
	n := 0
	conns.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Errorf("used %d connections, want 1", n)
	}
}

func TestRequestsAndStats(t *testing.T) {
	s := start(t, Options{Name: "stats"})
	client := newClient(t)
	get := func(target string) *http.Response {
		t.Helper()
		resp, err := client.Get("http://" + s.Addr() + target)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	stats := func() uint64 {
		t.Helper()
		resp := get("/stats")
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("/stats Content-Type = %q", ct)
		}
		if name := resp.Header.Get(NameHeader); name != "stats" {
			t.Errorf("/stats %s = %q", NameHeader, name)
		}
		var v struct{ Requests *uint64 }
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Requests == nil {
			t.Fatalf("/stats: %v %+v", err, v)
		}
		return *v.Requests
	}
	if n := stats(); n != 0 {
		t.Errorf("stats before any request = %d", n)
	}
	for i := range 5 {
		io.Copy(io.Discard, get("/?size="+strconv.Itoa(i)).Body)
	}
	get("/?status=abc") // errors are answered, so counted
	if n := stats(); n != 6 {
		t.Errorf("stats = %d, want 6", n)
	}
	if n := s.Requests(); n != 6 {
		t.Errorf("Requests() = %d, want 6 (/stats must not count)", n)
	}
}

func TestConcurrentRequestCount(t *testing.T) {
	s := start(t, Options{Size: 10})
	client := newClient(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				resp, err := client.Get("http://" + s.Addr() + "/")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if n := s.Requests(); n != 400 {
		t.Errorf("Requests() = %d, want 400", n)
	}
}

// TestCloseInterruptsDelay checks that Close does not wait out a pending
// ?delay: the waiting client gets a 503 and Close returns promptly.
func TestCloseInterruptsDelay(t *testing.T) {
	s, err := Start(Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := newClient(t).Get("http://" + s.Addr() + "/?delay=1h")
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	for s.srv.GetOpenConnectionsCount() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the request reach the handler
	begin := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(begin); d > closeGrace {
		t.Errorf("Close took %v", d)
	}
	r := <-done
	if r.err == nil && r.status != http.StatusServiceUnavailable {
		t.Errorf("delayed request got %d, want 503", r.status)
	}
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Error("still accepting connections after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseIdleConnections checks that connections without a request in
// progress (a pre-dialled one that never sent a byte, a keep-alive one between
// requests) do not hold Close for the grace period.
func TestCloseIdleConnections(t *testing.T) {
	s, err := Start(Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	silent, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	resp, err := newClient(t).Get("http://" + s.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // the connection goes back to the pool, open
	time.Sleep(20 * time.Millisecond)
	begin := time.Now()
	s.Close()
	if d := time.Since(begin); d >= closeGrace {
		t.Errorf("Close took %v: it waited for idle connections", d)
	}
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Error("silent connection still open after Close")
	}
}

// TestCloseCutsStalledReader checks that a client that stops reading a large
// body cannot keep Close waiting forever.
func TestCloseCutsStalledReader(t *testing.T) {
	testenv.SkipShort(t, "waits out the close grace period")
	s, err := Start(Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /?size=%d HTTP/1.1\r\nHost: x\r\n\r\n", MaxSize)
	for s.Requests() == 0 {
		time.Sleep(time.Millisecond)
	}
	begin := time.Now()
	s.Close()
	if d := time.Since(begin); d > closeGrace+2*time.Second {
		t.Errorf("Close took %v", d)
	}
}

func TestStartErrors(t *testing.T) {
	for _, opts := range []Options{
		{Listen: "127.0.0.1:0", Size: -1},
		{Listen: "127.0.0.1:0", Size: MaxSize + 1},
		{Listen: "127.0.0.1:0", Delay: -time.Second},
		{Listen: "not an address"},
	} {
		if s, err := Start(opts); err == nil {
			s.Close()
			t.Errorf("Start(%+v) succeeded", opts)
		}
	}
	s := start(t, Options{})
	if _, err := Start(Options{Listen: s.Addr()}); err == nil {
		t.Error("Start on a port in use succeeded")
	}
}

func TestBodyPattern(t *testing.T) {
	b := Body(200)
	if !bytes.Equal(b[:64], []byte(line)) || !bytes.Equal(b[64:128], []byte(line)) {
		t.Errorf("Body does not repeat line: %q", b)
	}
	for _, size := range []int{0, 1, 63, 64, 65, 4095, 100_000, 1_000_003} {
		// Read, through a reader that hides WriteTo.
		got, err := io.ReadAll(io.LimitReader(&patternReader{body: sharedBody(), left: size}, int64(size)+10))
		if err != nil || !bytes.Equal(got, Body(size)) {
			t.Errorf("patternReader(%d).Read = %d bytes, %v", size, len(got), err)
		}
		// patternWriter, which the big-body tests rely on.
		pw := &patternWriter{mismatch: -1}
		for b := Body(size); len(b) > 0; b = b[min(len(b), 1000):] {
			pw.Write(b[:min(len(b), 1000)])
		}
		if pw.mismatch != -1 {
			t.Errorf("patternWriter(%d) reported a mismatch at %d", size, pw.mismatch)
		}
		// WriteTo.
		var buf bytes.Buffer
		n, err := (&patternReader{body: sharedBody(), left: size}).WriteTo(&buf)
		if err != nil || n != int64(size) || !bytes.Equal(buf.Bytes(), Body(size)) {
			t.Errorf("patternReader(%d).WriteTo = %d bytes, %v", size, n, err)
		}
	}
}

func TestPatternWriterDetectsMismatch(t *testing.T) {
	b := Body(100_000)
	b[70_001] ^= 1
	pw := &patternWriter{mismatch: -1}
	pw.Write(b[:50_000])
	pw.Write(b[50_000:])
	if pw.mismatch != 70_001 {
		t.Errorf("mismatch = %d, want 70001", pw.mismatch)
	}
}

// TestHandlerZeroAlloc pins the no-allocation promise of the default path,
// which is what keeps the echo server off the benchmark's critical path.
func TestHandlerZeroAlloc(t *testing.T) {
	testenv.SkipUnderRace(t) // sync.Pool drops items under -race
	s := start(t, Options{Size: 1024})
	var ctx fasthttp.RequestCtx
	for _, uri := range []string{"/", "/?size=100", "/?size=70000", "/?status=503", "/stats"} {
		allocs := testing.AllocsPerRun(100, func() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.SetRequestURI(uri)
			s.handle(&ctx)
		})
		if uri == "/?size=70000" {
			// Beyond the prebuilt body the pattern is streamed: one small reader.
			if allocs > 1 {
				t.Errorf("%s: %v allocs per request, want <= 1", uri, allocs)
			}
			continue
		}
		if allocs != 0 {
			t.Errorf("%s: %v allocs per request, want 0", uri, allocs)
		}
	}
}
