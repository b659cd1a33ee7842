package http2

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
	xhttp2 "golang.org/x/net/http2"
)

// echoHandler is the server side of the network tests: it answers each
// request with 200 (431 for a head over the limit), headers naming the
// method and path, the request body echoed as it arrives (credit returned
// only for bytes written back: a slow reader of the response closes the
// request's window), and the request's trailers echoed as response
// trailers.
type echoHandler struct {
	c *Conn
	recorder
}

type echoStream struct {
	pending  []byte
	end      bool
	trailers [][2]string
}

func (h *echoHandler) OnHeaders(s *Stream, f *Fields, end bool) {
	es, _ := s.UserData.(*echoStream)
	if es == nil {
		es = &echoStream{}
		s.UserData = es
		h.c.StartHeaders(s)
		if s.Head.TooLarge {
			h.c.AddHeader([]byte(":status"), []byte("431"), false)
			h.c.EndHeaders(true)
			return
		}
		h.c.AddHeader([]byte(":status"), []byte("200"), false)
		h.c.AddHeader([]byte("x-echo-method"), f.Bytes(s.Head.Method), false)
		h.c.AddHeader([]byte("x-echo-path"), f.Bytes(s.Head.Path), false)
		h.c.EndHeaders(false)
	} else {
		for i := s.Head.NPseudo; i < len(f.List); i++ {
			es.trailers = append(es.trailers, [2]string{string(f.Name(i)), string(f.Value(i))})
		}
	}
	es.end = end
	h.pump(s, es)
}

func (h *echoHandler) OnData(s *Stream, p []byte, end bool) {
	es := s.UserData.(*echoStream)
	es.pending = append(es.pending, p...)
	es.end = end
	h.pump(s, es)
}

func (h *echoHandler) OnWritable(s *Stream) { h.pump(s, s.UserData.(*echoStream)) }

func (h *echoHandler) pump(s *Stream, es *echoStream) {
	if len(es.pending) == 0 && !es.end {
		return
	}
	withTrailers := len(es.trailers) > 0
	n := h.c.WriteData(s, es.pending, es.end && !withTrailers)
	h.c.Consumed(s, n)
	es.pending = append(es.pending[:0], es.pending[n:]...)
	if len(es.pending) == 0 && es.end && withTrailers {
		h.c.StartHeaders(s)
		for _, kv := range es.trailers {
			h.c.AddHeader([]byte(kv[0]), []byte(kv[1]), false)
		}
		h.c.EndHeaders(true)
		es.trailers = nil
	}
}

// serveEcho serves h2c (prior knowledge) with echoHandler on a loopback
// port until the test ends.
func serveEcho(t testing.TB, s Settings, l Limits) (addr string, handlers func() []*echoHandler) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var hs []*echoHandler
	var loops []*loop
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			h := &echoHandler{c: new(Conn)}
			h.c.Init(Server, s, l, h)
			mu.Lock()
			hs = append(hs, h)
			loops = append(loops, startLoop(nc, h.c))
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, l := range loops {
			l.nc.Close()
			<-l.done
		}
	})
	return ln.Addr().String(), func() []*echoHandler {
		mu.Lock()
		defer mu.Unlock()
		return append([]*echoHandler(nil), hs...)
	}
}

func h2cClient() *http.Client {
	return &http.Client{Transport: &xhttp2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}, Timeout: 60 * time.Second}
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestXNetTransport: x/net's HTTP/2 client against a server Conn: many
// concurrent streams on one connection, bodies larger than both windows
// (so flow control must work both ways), trailers both ways, bodiless
// requests.
func TestXNetTransport(t *testing.T) {
	addr, handlers := serveEcho(t, Settings{}, Limits{})
	client := h2cClient()
	defer client.CloseIdleConnections()

	do := func(method string, body []byte, trailer string) error {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, "http://"+addr+"/p?x=1", rd)
		if err != nil {
			return err
		}
		if trailer != "" {
			req.Trailer = http.Header{"X-Trailer": {trailer}}
			req.ContentLength = -1
		}
		res, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("%s %d bytes: %w", method, len(body), err)
		}
		defer res.Body.Close()
		got, err := io.ReadAll(res.Body)
		if err != nil {
			return fmt.Errorf("%s %d bytes: reading: %w", method, len(body), err)
		}
		switch {
		case res.StatusCode != 200 || res.ProtoMajor != 2:
			return fmt.Errorf("status %d, proto %s", res.StatusCode, res.Proto)
		case res.Header.Get("x-echo-method") != method || res.Header.Get("x-echo-path") != "/p?x=1":
			return fmt.Errorf("echo headers %v", res.Header)
		case !bytes.Equal(got, body) && !(len(got) == 0 && len(body) == 0):
			return fmt.Errorf("%d bytes echoed as %d bytes (or different)", len(body), len(got))
		case trailer != "" && res.Trailer.Get("X-Trailer") != trailer:
			return fmt.Errorf("trailer echoed as %v", res.Trailer)
		}
		return nil
	}

	// Larger than the stream (256 KiB) and connection (1 MiB) windows.
	if err := do("POST", randomBytes(t, 3<<20+17), ""); err != nil {
		t.Fatal(err)
	}
	if err := do("POST", randomBytes(t, 100<<10), "t-value"); err != nil {
		t.Fatal(err)
	}
	if err := do("GET", nil, ""); err != nil {
		t.Fatal(err)
	}

	// 200 requests, 40 at a time, on the one connection x/net keeps.
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	sem := make(chan struct{}, 40)
	for i := range 200 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var err error
			switch i % 4 {
			case 0:
				err = do("GET", nil, "")
			case 1:
				err = do("POST", randomBytes(t, i*997), "")
			case 2:
				err = do("PUT", randomBytes(t, 300<<10+i), "")
			default:
				err = do("POST", randomBytes(t, i), fmt.Sprint("tr", i))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	hs := handlers()
	if len(hs) != 1 {
		t.Errorf("x/net used %d connections, want 1", len(hs))
	}
	for _, h := range hs {
		if n := h.total(); n != 0 {
			t.Errorf("a well-behaved client caused %d violations: %v", n, &h.violations)
		}
	}
}

// TestCurlAndNghttp: real HTTP/2 clients from Debian's packages against a
// server Conn: curl (prior knowledge, upload and download), nghttp
// (with a body larger than the windows) and h2load (many streams).
func TestCurlAndNghttp(t *testing.T) {
	addr, _ := serveEcho(t, Settings{}, Limits{})
	dir := t.TempDir()
	body := randomBytes(t, 2<<20+5)
	in := filepath.Join(dir, "in")
	if err := os.WriteFile(in, body, 0o644); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%x", sha256.Sum256(body))

	curl := testenv.NeedProgram(t, "curl", "curl")
	out, err := exec.Command(curl, "-sS", "--http2-prior-knowledge", "--data-binary", "@"+in, "-o", filepath.Join(dir, "curl.out"),
		"-w", "%{http_version} %{http_code}", "http://"+addr+"/up").CombinedOutput()
	if err != nil || string(out) != "2 200" {
		t.Fatalf("curl: %v %q", err, out)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "curl.out")); fmt.Sprintf("%x", sha256.Sum256(got)) != want {
		t.Errorf("curl got %d bytes back, not the %d sent", len(got), len(body))
	}

	nghttp := testenv.NeedProgram(t, "nghttp", "nghttp2-client")
	out, err = exec.Command(nghttp, "-d", in, "--window-bits=16", "--connection-window-bits=16", "-t", "30", "http://"+addr+"/ng").Output()
	if err != nil {
		t.Fatalf("nghttp: %v", err)
	}
	if fmt.Sprintf("%x", sha256.Sum256(out)) != want {
		t.Errorf("nghttp got %d bytes back, not the %d sent", len(out), len(body))
	}

	h2load := testenv.NeedProgram(t, "h2load", "nghttp2-client")
	out, err = exec.Command(h2load, "-n", "400", "-c", "2", "-m", "20", "-d", in, "http://"+addr+"/").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "400 succeeded, 0 failed, 0 errored") {
		t.Errorf("h2load: %v\n%s", err, out)
	}
}

// --- client role -------------------------------------------------------------

type clientReq struct {
	method, path string
	body         []byte // to send
	trailer      string
	sent         int

	status   int
	header   map[string]string
	got      bytes.Buffer
	trailers map[string]string
	reset    ErrCode
	wasReset bool
	done     chan struct{}
}

// clientHandler is the engine side of a client Conn in the tests: it
// uploads each request's body as windows allow and collects responses.
type clientHandler struct {
	c *Conn
	recorder
}

func (h *clientHandler) start(r *clientReq) error {
	s, err := h.c.NewStream()
	if err != nil {
		return err
	}
	s.UserData = r
	h.c.StartHeaders(s)
	for _, kv := range [][2]string{{":method", r.method}, {":scheme", "http"}, {":authority", "test"}, {":path", r.path}} {
		h.c.AddHeader([]byte(kv[0]), []byte(kv[1]), false)
	}
	if r.trailer != "" {
		h.c.AddHeader([]byte("Trailer"), []byte("X-Trailer"), false) // upper case on purpose: AddHeader lowers it
	}
	h.c.AddHeader([]byte("authorization"), []byte("secret"), true)
	h.c.EndHeaders(len(r.body) == 0 && r.trailer == "")
	h.pump(s)
	return nil
}

func (h *clientHandler) pump(s *Stream) {
	r := s.UserData.(*clientReq)
	if r.sent < 0 {
		return // trailers sent: done
	}
	if r.sent < len(r.body) {
		r.sent += h.c.WriteData(s, r.body[r.sent:], r.trailer == "")
	}
	if r.sent == len(r.body) && r.trailer != "" {
		h.c.StartHeaders(s)
		h.c.AddHeader([]byte("x-trailer"), []byte(r.trailer), false)
		h.c.EndHeaders(true)
		r.sent = -1
	}
}

func (h *clientHandler) OnHeaders(s *Stream, f *Fields, end bool) {
	r := s.UserData.(*clientReq)
	m := map[string]string{}
	for i := s.Head.NPseudo; i < len(f.List); i++ {
		m[string(f.Name(i))] = string(f.Value(i))
	}
	if r.status == 0 {
		r.status, r.header = s.Head.Status, m
	} else {
		r.trailers = m
	}
	if end {
		close(r.done)
	}
}

func (h *clientHandler) OnData(s *Stream, p []byte, end bool) {
	r := s.UserData.(*clientReq)
	r.got.Write(p)
	h.c.Consumed(s, len(p))
	if end {
		close(r.done)
	}
}

func (h *clientHandler) OnReset(s *Stream, code ErrCode, byPeer bool) {
	r := s.UserData.(*clientReq)
	r.reset, r.wasReset = code, true
	select {
	case <-r.done:
	default:
		close(r.done)
	}
}

func (h *clientHandler) OnWritable(s *Stream) { h.pump(s) }

// TestClientAgainstXNetServer: a client Conn against x/net's HTTP/2 server
// (h2c over TCP): concurrent streams, uploads and downloads larger than
// both windows, request and response trailers, a sensitive header.
func TestClientAgainstXNetServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := &xhttp2.Server{}
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Echo-Trailer")
		w.Header().Set("x-auth", r.Header.Get("Authorization"))
		if _, err := io.Copy(w, r.Body); err != nil {
			t.Errorf("server reading the request: %v", err)
		}
		w.Header().Set("X-Echo-Trailer", r.Trailer.Get("X-Trailer"))
	})
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(nc, &xhttp2.ServeConnOpts{Handler: echo})
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	h := &clientHandler{c: new(Conn)}
	h.c.Init(Client, Settings{}, Limits{}, h)
	l := startLoop(nc, h.c)
	defer func() { nc.Close(); <-l.done }()

	reqs := []*clientReq{
		{method: "POST", path: "/big", body: randomBytes(t, 3<<20+3)},
		{method: "POST", path: "/trailers", body: randomBytes(t, 70<<10), trailer: "tv"},
		{method: "GET", path: "/get"},
	}
	for i := range 30 {
		reqs = append(reqs, &clientReq{method: "PUT", path: fmt.Sprint("/c", i), body: randomBytes(t, i*10007)})
	}
	for _, r := range reqs {
		r.done = make(chan struct{})
		var err error
		l.call(func() { err = h.start(r) })
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range reqs {
		select {
		case <-r.done:
		case <-time.After(60 * time.Second):
			t.Fatalf("%s %s: no response (loop error %v)", r.method, r.path, l.Err())
		}
	}
	l.call(func() {
		for _, r := range reqs {
			switch {
			case r.wasReset:
				t.Errorf("%s: reset %v", r.path, r.reset)
			case r.status != 200:
				t.Errorf("%s: status %d", r.path, r.status)
			case !bytes.Equal(r.got.Bytes(), r.body):
				t.Errorf("%s: %d bytes back for %d sent", r.path, r.got.Len(), len(r.body))
			case r.header["x-auth"] != "secret":
				t.Errorf("%s: sensitive header lost: %v", r.path, r.header)
			case r.trailers["x-echo-trailer"] != r.trailer:
				t.Errorf("%s: trailers %v, want x-echo-trailer %q", r.path, r.trailers, r.trailer)
			}
		}
		if n := h.total(); n != 0 {
			t.Errorf("x/net's server caused %d violations", n)
		}
		if n := h.c.ActiveStreams(); n != 0 {
			t.Errorf("%d streams still active after every response", n)
		}
	})
}
