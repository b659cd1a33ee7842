package client

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// seen is what a net/http handler saw of one request.
type seen struct {
	method, uri, host, proto string
	header                   http.Header
	body                     []byte
	contentLength            int64
	te                       []string
}

func TestRequestArrivesAsBuilt(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	tests := []struct {
		name     string
		path     string
		method   string
		headers  http.Header
		body     []byte
		wantHost string // "" = the server's address
		wantUA   string
		wantCL   int64
	}{
		{name: "GET default", path: "/", wantUA: "meshload"},
		{name: "GET path query headers", path: "/a/b%20c?x=1&y=two",
			headers: http.Header{"X-One": {"1"}, "X-Multi": {"a", "b"}, "Accept": {"*/*"}}, wantUA: "meshload"},
		{name: "POST body", path: "/post", method: "POST", body: []byte(`{"k":"v"}`),
			headers: http.Header{"Content-Type": {"application/json"}}, wantUA: "meshload", wantCL: 9},
		{name: "PUT empty body", path: "/put", method: "PUT", wantUA: "meshload"},
		{name: "Host override", path: "/h", headers: http.Header{"Host": {"example.test:8443"}},
			wantHost: "example.test:8443", wantUA: "meshload"},
		{name: "User-Agent override", path: "/", headers: http.Header{"User-Agent": {"other/1"}}, wantUA: "other/1"},
		{name: "1 MiB request body", path: "/big", method: "POST", body: big, wantUA: "meshload", wantCL: 1 << 20},
	}
	for _, h2 := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if h2 {
				name = "h2c/" + name
			}
			t.Run(name, func(t *testing.T) {
				var s *httptest.Server
				ch := make(chan seen, 16)
				handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					ch <- seen{r.Method, r.RequestURI, r.Host, r.Proto, r.Header.Clone(), body, r.ContentLength, r.TransferEncoding}
					w.WriteHeader(http.StatusCreated)
				})
				s = httptest.NewUnstartedServer(handler)
				s.Config.Protocols = new(http.Protocols)
				s.Config.Protocols.SetHTTP1(true)
				s.Config.Protocols.SetUnencryptedHTTP2(true)
				s.Start()
				defer s.Close()

				c := mustNew(t, Options{URL: mustURL(t, s.URL+tt.path), Method: tt.method, Headers: tt.headers, Body: tt.body, HTTP2: h2})
				for i := 0; i < 2; i++ {
					st, err := c.Do()
					if err != nil || st != http.StatusCreated {
						t.Fatalf("Do = %d, %v", st, err)
					}
					got := <-ch
					wantMethod := tt.method
					if wantMethod == "" {
						wantMethod = "GET"
					}
					wantProto := "HTTP/1.1"
					if h2 {
						wantProto = "HTTP/2.0"
					}
					wantHost := tt.wantHost
					if wantHost == "" {
						wantHost = s.Listener.Addr().String()
					}
					if got.method != wantMethod || got.uri != tt.path || got.host != wantHost || got.proto != wantProto {
						t.Errorf("got %s %s Host %s %s, want %s %s Host %s %s",
							got.method, got.uri, got.host, got.proto, wantMethod, tt.path, wantHost, wantProto)
					}
					if ua := got.header.Get("User-Agent"); ua != tt.wantUA {
						t.Errorf("User-Agent %q, want %q", ua, tt.wantUA)
					}
					for k, vv := range tt.headers {
						if k == "Host" || k == "User-Agent" {
							continue
						}
						if g := got.header.Values(k); strings.Join(g, "|") != strings.Join(vv, "|") {
							t.Errorf("header %s = %q, want %q", k, g, vv)
						}
					}
					if !bytes.Equal(got.body, tt.body) || got.contentLength != tt.wantCL || len(got.te) != 0 {
						t.Errorf("body %d bytes (Content-Length %d, TE %q), want %d bytes (Content-Length %d)",
							len(got.body), got.contentLength, got.te, len(tt.body), tt.wantCL)
					}
					if got.header.Get("Accept-Encoding") != "" && tt.headers.Get("Accept-Encoding") == "" {
						t.Errorf("unasked Accept-Encoding %q", got.header.Get("Accept-Encoding"))
					}
				}
			})
		}
	}
}

// TestRequestBytes checks the exact bytes of an HTTP/1.1 request.
func TestRequestBytes(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"GET", Options{Headers: http.Header{"X-B": {"2"}, "X-A": {"1", "1b"}}},
			"GET /p?q=1 HTTP/1.1\r\nHost: HOST\r\nUser-Agent: meshload\r\nX-A: 1\r\nX-A: 1b\r\nX-B: 2\r\n\r\n"},
		{"POST", Options{Method: "POST", Body: []byte("hello"), Headers: http.Header{"Host": {"h.test"}, "Content-Type": {"text/plain"}}},
			"POST /p?q=1 HTTP/1.1\r\nHost: h.test\r\nUser-Agent: meshload\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"},
		{"POST empty", Options{Method: "POST"},
			"POST /p?q=1 HTTP/1.1\r\nHost: HOST\r\nUser-Agent: meshload\r\nContent-Length: 0\r\n\r\n"},
		{"DELETE", Options{Method: "DELETE", Headers: http.Header{"Connection": {"close"}}},
			"DELETE /p?q=1 HTTP/1.1\r\nHost: HOST\r\nUser-Agent: meshload\r\nConnection: close\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 1)
			s := newRawServer(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				var head bytes.Buffer
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					head.WriteString(line)
					if line == "\r\n" {
						break
					}
				}
				req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head.Bytes())))
				if err != nil {
					return
				}
				body := make([]byte, req.ContentLength)
				io.ReadFull(br, body)
				got <- head.String() + string(body)
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
			})
			o := tt.o
			o.URL = mustURL(t, "http://"+s.ln.Addr().String()+"/p?q=1")
			c := mustNew(t, o)
			if st, err := c.Do(); err != nil || st != 200 {
				t.Fatalf("Do = %d, %v", st, err)
			}
			want := strings.Replace(tt.want, "HOST", s.ln.Addr().String(), 1)
			if g := <-got; g != want {
				t.Errorf("request\n%q\nwant\n%q", g, want)
			}
		})
	}
}

func TestResponseFraming(t *testing.T) {
	longValue := strings.Repeat("v", 30<<10)
	tests := []struct {
		name       string
		method     string
		resp       string
		status     int
		srvCloses  bool // the server closes after each response
		cliCloses  bool // the client must close after each response
		noSlowMode bool
	}{
		{name: "Content-Length", resp: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", status: 200},
		{name: "Content-Length 0", resp: "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", status: 201},
		{name: "no reason phrase", resp: "HTTP/1.1 404\r\nContent-Length: 2\r\n\r\nno", status: 404},
		{name: "empty reason phrase", resp: "HTTP/1.1 503 \r\nContent-Length: 2\r\n\r\nno", status: 503},
		{name: "chunked", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", status: 200},
		{name: "chunked extensions and trailers",
			resp:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;name=value\r\nhello\r\nA ; x\r\n0123456789\r\n0\r\nX-Sum: 42\r\nX-Other: y\r\n\r\n",
			status: 200},
		{name: "gzip, chunked", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", status: 200},
		{name: "HEAD with Content-Length", method: "HEAD", resp: "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", status: 200},
		{name: "HEAD with chunked", method: "HEAD", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", status: 200},
		{name: "204", resp: "HTTP/1.1 204 No Content\r\n\r\n", status: 204},
		{name: "304 with Content-Length", resp: "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: \"x\"\r\n\r\n", status: 304},
		{name: "100 Continue", resp: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200},
		{name: "103 Early Hints", resp: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", status: 404},
		{name: "bare LF", resp: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", status: 200},
		{name: "case and whitespace", resp: "HTTP/1.1 200 OK\r\ncontent-LENGTH:  3 \r\nconnection: Keep-Alive\r\n\r\nabc", status: 200},
		{name: "repeated equal Content-Length", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", status: 200},
		{name: "30 KiB header", resp: "HTTP/1.1 200 OK\r\nX-Long: " + longValue + "\r\nContent-Length: 2\r\n\r\nok", status: 200, noSlowMode: true},
		{name: "HTTP/1.0 keep-alive", resp: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", status: 200},
		{name: "HTTP/1.0 close", resp: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, srvCloses: true, cliCloses: true},
		{name: "HTTP/1.0 close-delimited", resp: "HTTP/1.0 200 OK\r\n\r\nto the end", status: 200, srvCloses: true, cliCloses: true},
		{name: "Connection: close", resp: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", status: 200, srvCloses: true, cliCloses: true},
		{name: "Connection: close kept open by server", resp: "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok", status: 200, cliCloses: true},
		{name: "close-delimited", resp: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the server closes", status: 200, srvCloses: true, cliCloses: true},
		{name: "Transfer-Encoding and Content-Length", resp: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", status: 200, cliCloses: true},
		{name: "extra bytes after response", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokJUNK", status: 200, cliCloses: true, noSlowMode: true},
	}
	const n = 3
	for _, tt := range tests {
		for _, chunk := range []int{0, 1} {
			if chunk > 0 && tt.noSlowMode {
				continue
			}
			name := tt.name
			if chunk > 0 {
				name += "/byte-by-byte"
			}
			t.Run(name, func(t *testing.T) {
				s := newRawServer(t, serveResponses(tt.resp, chunk, tt.srvCloses))
				c := mustNew(t, Options{URL: s.url(), Method: tt.method, Timeout: 5 * time.Second})
				for i := 0; i < n; i++ {
					st, err := c.Do()
					if err != nil || st != tt.status {
						t.Fatalf("Do #%d = %d, %v; want %d", i, st, err, tt.status)
					}
				}
				wantConns, wantReconnects := int64(1), uint64(0)
				if tt.cliCloses {
					wantConns, wantReconnects = n, n-1
				}
				if got := c.Reconnects(); got != wantReconnects {
					t.Errorf("Reconnects = %d, want %d", got, wantReconnects)
				}
				if got := s.conns.Load(); got != wantConns {
					t.Errorf("server saw %d connections, want %d", got, wantConns)
				}
			})
		}
	}
}

func TestLargeResponseBody(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1<<20)
	for _, mode := range []string{"Content-Length", "chunked", "close-delimited"} {
		t.Run(mode, func(t *testing.T) {
			var handler http.HandlerFunc = func(w http.ResponseWriter, r *http.Request) {
				switch mode {
				case "Content-Length":
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				case "close-delimited":
					w.Header().Set("Connection", "close")
				}
				for b := body; len(b) > 0; { // in several writes and flushes
					n := min(len(b), 100_000)
					w.Write(b[:n])
					w.(http.Flusher).Flush()
					b = b[n:]
				}
			}
			s, conns := startCounting(handler)
			defer s.Close()
			c := mustNew(t, Options{URL: mustURL(t, s.URL)})
			for i := 0; i < 3; i++ {
				if st, err := c.Do(); err != nil || st != 200 {
					t.Fatalf("Do = %d, %v", st, err)
				}
			}
			want := int64(1)
			if mode == "close-delimited" {
				want = 3
			}
			if conns.Load() != want {
				t.Errorf("%d connections, want %d", conns.Load(), want)
			}
		})
	}
}

func TestKeepAliveReuse(t *testing.T) {
	s, conns := startCounting(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) }))
	defer s.Close()
	c := mustNew(t, Options{URL: mustURL(t, s.URL)})
	for i := 0; i < 100; i++ {
		if st, err := c.Do(); err != nil || st != 200 {
			t.Fatalf("Do #%d = %d, %v", i, st, err)
		}
	}
	if conns.Load() != 1 || c.Reconnects() != 0 {
		t.Errorf("%d connections, %d reconnects; want 1, 0", conns.Load(), c.Reconnects())
	}
}

func TestServerClosesEachResponse(t *testing.T) {
	s, conns := startCounting(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte("bye"))
	}))
	defer s.Close()
	c := mustNew(t, Options{URL: mustURL(t, s.URL)})
	for i := 0; i < 10; i++ {
		if st, err := c.Do(); err != nil || st != 200 {
			t.Fatalf("Do #%d = %d, %v", i, st, err)
		}
	}
	if conns.Load() != 10 || c.Reconnects() != 9 {
		t.Errorf("%d connections, %d reconnects; want 10, 9", conns.Load(), c.Reconnects())
	}
}

func TestRefused(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		for _, scheme := range []string{"http", "https"} {
			c := mustNew(t, Options{URL: mustURL(t, scheme+"://"+freeAddr(t)+"/"), HTTP2: h2, Timeout: 2 * time.Second})
			for i := 0; i < 2; i++ {
				_, err := c.Do()
				wantKind(t, err, result.ErrConnect)
			}
			if c.Reconnects() != 0 {
				t.Errorf("Reconnects = %d after failed connects, want 0", c.Reconnects())
			}
		}
	}
}

func TestTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	s := newRawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) }) // reads, never answers
	c := mustNew(t, Options{URL: s.url(), Timeout: timeout})
	for i := 0; i < 2; i++ {
		start := time.Now()
		_, err := c.Do()
		took := time.Since(start)
		wantKind(t, err, result.ErrTimeout)
		if took < timeout || took > timeout+time.Second {
			t.Errorf("timed out after %v, want %v", took, timeout)
		}
	}
	if s.conns.Load() != 2 || c.Reconnects() != 1 {
		t.Errorf("%d connections, %d reconnects; want 2, 1", s.conns.Load(), c.Reconnects())
	}
}

// TestTimeoutSlowBody: the deadline covers the whole response, not each read.
func TestTimeoutSlowBody(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := newRawServer(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"))
		for i := 0; i < 1000; i++ {
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	c := mustNew(t, Options{URL: s.url(), Timeout: timeout})
	start := time.Now()
	_, err := c.Do()
	wantKind(t, err, result.ErrTimeout)
	if took := time.Since(start); took > timeout+time.Second {
		t.Errorf("took %v with a %v timeout", took, timeout)
	}
}

// TestReset: a connection that breaks mid-response, or before any
// response byte on a reused connection, is a reset. Before any byte on a
// fresh connection it is a failed connect.
func TestReset(t *testing.T) {
	const okResp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	tests := []struct {
		name      string
		freshKind string // the kind on a fresh connection
		handle    func(c net.Conn, br *bufio.Reader)
	}{
		{"close before response", result.ErrConnect, func(c net.Conn, br *bufio.Reader) {}},
		{"RST before response", result.ErrConnect, func(c net.Conn, br *bufio.Reader) {
			c.(*net.TCPConn).SetLinger(0)
		}},
		{"close mid status line", result.ErrReset, func(c net.Conn, br *bufio.Reader) {
			c.Write([]byte("HTTP/1.1 20"))
		}},
		{"close mid headers", result.ErrReset, func(c net.Conn, br *bufio.Reader) {
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Len"))
		}},
		{"close mid Content-Length body", result.ErrReset, func(c net.Conn, br *bufio.Reader) {
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"))
		}},
		{"close mid chunked body", result.ErrReset, func(c net.Conn, br *bufio.Reader) {
			c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"))
		}},
		{"close mid trailers", result.ErrReset, func(c net.Conn, br *bufio.Reader) {
			c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n"))
		}},
		{"RST mid body", result.ErrReset, func(c net.Conn, br *bufio.Reader) {
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"))
			time.Sleep(20 * time.Millisecond)
			c.(*net.TCPConn).SetLinger(0)
		}},
	}
	for _, tt := range tests {
		for _, reused := range []bool{false, true} {
			name := tt.name + "/fresh"
			if reused {
				name = tt.name + "/reused"
			}
			t.Run(name, func(t *testing.T) {
				s := newRawServer(t, func(c net.Conn) {
					br := bufio.NewReader(c)
					if reused {
						if _, err := http.ReadRequest(br); err != nil {
							return
						}
						c.Write([]byte(okResp))
					}
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					tt.handle(c, br)
				})
				c := mustNew(t, Options{URL: s.url(), Timeout: 5 * time.Second})
				want := tt.freshKind
				if reused {
					want = result.ErrReset
				}
				for i := 0; i < 2; i++ {
					if reused {
						if st, err := c.Do(); err != nil || st != 200 {
							t.Fatalf("Do = %d, %v", st, err)
						}
					}
					_, err := c.Do()
					wantKind(t, err, want)
				}
				if s.conns.Load() != 2 || c.Reconnects() != 1 {
					t.Errorf("%d connections, %d reconnects; want 2, 1", s.conns.Load(), c.Reconnects())
				}
			})
		}
	}
}

// TestIdleCloseByServer pins down a server closing a kept-alive connection
// between requests without saying "Connection: close": the next request
// fails as reset (it may have reached the server: no retry), and the one
// after reconnects.
func TestIdleCloseByServer(t *testing.T) {
	s := newRawServer(t, serveResponses("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, true))
	c := mustNew(t, Options{URL: s.url()})
	if st, err := c.Do(); err != nil || st != 200 {
		t.Fatalf("Do = %d, %v", st, err)
	}
	time.Sleep(50 * time.Millisecond) // let the FIN arrive
	_, err := c.Do()
	wantKind(t, err, result.ErrReset)
	if st, err := c.Do(); err != nil || st != 200 {
		t.Fatalf("Do after reset = %d, %v", st, err)
	}
	if c.Reconnects() != 1 {
		t.Errorf("Reconnects = %d, want 1", c.Reconnects())
	}
}

func TestProtocolErrors(t *testing.T) {
	tests := []struct{ name, resp string }{
		{"not HTTP", "hello world\r\n\r\n"},
		{"garbage without line end", "garbage"},
		{"HTTP/2.0 status line", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{"lower-case version", "http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{"bad status code", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"},
		{"short status code", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n"},
		{"status 099", "HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n"},
		{"no space after code", "HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n"},
		{"header without colon", "HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n"},
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  continued\r\nContent-Length: 0\r\n\r\n"},
		{"bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n"},
		{"negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
		{"empty Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n"},
		{"conflicting Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
		{"huge chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n"},
		{"chunk data too long", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX\r\n0\r\n\r\n"},
		{"bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n"},
		{"101 Switching Protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"},
		{"status line over 64 KiB", "HTTP/1.1 200 " + strings.Repeat("x", 70<<10) + "\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRawServer(t, func(c net.Conn) {
				serveResponses(tt.resp, 0, false)(c)
			})
			c := mustNew(t, Options{URL: s.url(), Timeout: 5 * time.Second})
			for i := 0; i < 2; i++ {
				start := time.Now()
				_, err := c.Do()
				wantKind(t, err, result.ErrProtocol)
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("protocol error took %v", took)
				}
			}
			if s.conns.Load() != 2 || c.Reconnects() != 1 {
				t.Errorf("%d connections, %d reconnects; want 2, 1", s.conns.Load(), c.Reconnects())
			}
		})
	}
}

func TestCloseDuringDo(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run("h2="+strconv.FormatBool(h2), func(t *testing.T) {
			release := make(chan struct{})
			s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}))
			s.Config.Protocols = new(http.Protocols)
			s.Config.Protocols.SetHTTP1(true)
			s.Config.Protocols.SetUnencryptedHTTP2(true)
			s.Start()
			defer s.Close()
			defer close(release)
			c, err := New(Options{URL: mustURL(t, s.URL), HTTP2: h2, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := c.Do()
				done <- err
			}()
			time.Sleep(100 * time.Millisecond)
			c.Close()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Do succeeded after Close")
				}
			case <-time.After(3 * time.Second):
				t.Fatal("Do still blocked 3s after Close")
			}
			_, err = c.Do()
			wantKind(t, err, result.ErrConnect)
		})
	}
}

// TestConcurrentReconnectsAndClose runs Do against a server that closes
// every connection while another goroutine reads Reconnects and finally
// closes: for the race detector.
func TestConcurrentReconnectsAndClose(t *testing.T) {
	s := newRawServer(t, serveResponses("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 0, true))
	c, err := New(Options{URL: s.url()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			if _, err := c.Do(); err != nil {
				return
			}
		}
	}()
	for i := 0; i < 20; i++ {
		_ = c.Reconnects()
		time.Sleep(time.Millisecond)
	}
	c.Close()
	wg.Wait()
}
