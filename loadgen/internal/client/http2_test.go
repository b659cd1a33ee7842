package client

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// h2cServer is net/http's server with HTTP/1 and h2c (prior knowledge).
func h2cServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	s := httptest.NewUnstartedServer(h)
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetHTTP1(true)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	conns := countConns(s)
	s.Start()
	t.Cleanup(s.Close)
	return s, conns
}

func TestH2C(t *testing.T) {
	s, conns := h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("request over %s", r.Proto)
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Write(make([]byte, 100<<10)) // several DATA frames
	}))
	c := mustNew(t, Options{URL: mustURL(t, s.URL+"/x"), HTTP2: true, Method: "POST", Body: []byte("abc")})
	for i := 0; i < 20; i++ {
		if st, err := c.Do(); err != nil || st != 200 {
			t.Fatalf("Do = %d, %v", st, err)
		}
	}
	if conns.Load() != 1 || c.Reconnects() != 0 {
		t.Errorf("%d connections, %d reconnects; want 1, 0", conns.Load(), c.Reconnects())
	}
}

// concurrencyHandler tracks the most requests in flight at once; requests
// wait (up to a second) until target requests have been in flight at once.
type concurrencyHandler struct {
	target   int64
	inflight atomic.Int64
	max      atomic.Int64
	total    atomic.Int64
}

func (h *concurrencyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		http.Error(w, "not h2", http.StatusHTTPVersionNotSupported)
		return
	}
	n := h.inflight.Add(1)
	defer h.inflight.Add(-1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if n <= m || h.max.CompareAndSwap(m, n) {
			break
		}
	}
	deadline := time.Now().Add(time.Second)
	for h.max.Load() < h.target && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	w.Write([]byte("ok"))
}

func TestH2TLSConcurrentStreams(t *testing.T) {
	tests := []struct {
		name                string
		streams, goroutines int
		wantMax             int64
	}{
		{"4 streams 4 callers", 4, 4, 4},
		{"2 streams 4 callers", 2, 4, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &concurrencyHandler{target: tt.wantMax}
			s := httptest.NewUnstartedServer(h)
			s.EnableHTTP2 = true
			conns := countConns(s)
			s.StartTLS()
			defer s.Close()

			c := mustNew(t, Options{URL: mustURL(t, s.URL), HTTP2: true, Streams: tt.streams, Method: "POST",
				Body: []byte("body"), Headers: http.Header{"X-Test": {"1", "2"}, "Host": {"h2.test"}},
				TLS: &tls.Config{InsecureSkipVerify: true}})
			const perCaller = 5
			var wg sync.WaitGroup
			for g := 0; g < tt.goroutines; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < perCaller; i++ {
						if st, err := c.Do(); err != nil || st != 200 {
							t.Errorf("Do = %d, %v", st, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if got := h.max.Load(); got != tt.wantMax {
				t.Errorf("at most %d requests in flight, want %d", got, tt.wantMax)
			}
			if got := h.total.Load(); got != int64(tt.goroutines*perCaller) {
				t.Errorf("server got %d requests, want %d", got, tt.goroutines*perCaller)
			}
			if conns.Load() != 1 || c.Reconnects() != 0 {
				t.Errorf("%d connections, %d reconnects; want 1, 0", conns.Load(), c.Reconnects())
			}
		})
	}
}

// TestH2GoAway: a server with keep-alives off sends GOAWAY once a
// connection is idle. Requests move to a new connection without errors.
func TestH2GoAway(t *testing.T) {
	for _, streams := range []int{1, 4} {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("ok"))
		}))
		s.Config.Protocols = new(http.Protocols)
		s.Config.Protocols.SetUnencryptedHTTP2(true)
		s.Config.SetKeepAlivesEnabled(false)
		conns := countConns(s)
		s.Start()

		c := mustNew(t, Options{URL: mustURL(t, s.URL), HTTP2: true, Streams: streams})
		var wg sync.WaitGroup
		for g := 0; g < streams; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					if st, err := c.Do(); err != nil || st != 200 {
						t.Errorf("streams=%d: Do = %d, %v", streams, st, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if conns.Load() < 2 || c.Reconnects() != uint64(conns.Load()-1) {
			t.Errorf("streams=%d: %d connections, %d reconnects; want several, one fewer", streams, conns.Load(), c.Reconnects())
		}
		s.Close()
	}
}

// TestH2TimeoutKeepsConnection: a timeout cancels only its stream.
func TestH2TimeoutKeepsConnection(t *testing.T) {
	var n atomic.Int64
	s, conns := h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done() // the first request never gets an answer
			return
		}
		w.Write([]byte("ok"))
	}))
	const timeout = 300 * time.Millisecond
	c := mustNew(t, Options{URL: mustURL(t, s.URL), HTTP2: true, Timeout: timeout})
	start := time.Now()
	_, err := c.Do()
	wantKind(t, err, result.ErrTimeout)
	if took := time.Since(start); took < timeout || took > timeout+time.Second {
		t.Errorf("timed out after %v, want %v", took, timeout)
	}
	if st, err := c.Do(); err != nil || st != 200 {
		t.Fatalf("Do = %d, %v", st, err)
	}
	if conns.Load() != 1 || c.Reconnects() != 0 {
		t.Errorf("%d connections, %d reconnects; want 1, 0", conns.Load(), c.Reconnects())
	}
}

// TestH2StreamReset: the server resets one stream (a handler that aborts
// mid-body); the connection stays.
func TestH2StreamReset(t *testing.T) {
	var n atomic.Int64
	s, conns := h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		w.Write([]byte("ok"))
	}))
	c := mustNew(t, Options{URL: mustURL(t, s.URL), HTTP2: true})
	_, err := c.Do()
	wantKind(t, err, result.ErrReset)
	if st, err := c.Do(); err != nil || st != 200 {
		t.Fatalf("Do = %d, %v", st, err)
	}
	if conns.Load() != 1 {
		t.Errorf("%d connections, want 1", conns.Load())
	}
}

// TestH2ConnectionLost: the server drops the TCP connection; the next Do
// reconnects.
func TestH2ConnectionLost(t *testing.T) {
	s, conns := h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	ok := mustNew(t, Options{URL: mustURL(t, s.URL), HTTP2: true})
	if st, err := ok.Do(); err != nil || st != 200 {
		t.Fatalf("Do = %d, %v", st, err)
	}
	s.CloseClientConnections()
	time.Sleep(50 * time.Millisecond)
	for i := 0; i < 3; i++ {
		if st, err := ok.Do(); err != nil || st != 200 {
			t.Fatalf("Do after the server dropped the connection = %d, %v", st, err)
		}
	}
	if conns.Load() != 2 || ok.Reconnects() != 1 {
		t.Errorf("%d connections, %d reconnects; want 2, 1", conns.Load(), ok.Reconnects())
	}
}

func TestH2NotSupported(t *testing.T) {
	t.Run("TLS server without h2", func(t *testing.T) {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		s.Config.ErrorLog = quietLog
		s.StartTLS()
		defer s.Close()
		c := mustNew(t, Options{URL: mustURL(t, s.URL), HTTP2: true, TLS: &tls.Config{InsecureSkipVerify: true}})
		_, err := c.Do()
		wantKind(t, err, result.ErrConnect)
	})
	t.Run("h2c against HTTP/1 only", func(t *testing.T) {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		defer s.Close()
		c := mustNew(t, Options{URL: mustURL(t, s.URL), HTTP2: true, Timeout: 3 * time.Second})
		_, err := c.Do()
		wantKind(t, err, result.ErrProtocol)
	})
	t.Run("h2c against HTTP/1 raw", func(t *testing.T) {
		rs := newRawServer(t, func(c net.Conn) {
			buf := make([]byte, 1024)
			c.Read(buf)
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		})
		c := mustNew(t, Options{URL: rs.url(), HTTP2: true, Timeout: 3 * time.Second})
		_, err := c.Do()
		wantKind(t, err, result.ErrProtocol)
	})
}

func TestH2Timeout(t *testing.T) {
	// A TCP server that accepts and never speaks: the h2 preface exchange
	// and the request never complete.
	rs := newRawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	const timeout = 300 * time.Millisecond
	c := mustNew(t, Options{URL: rs.url(), HTTP2: true, Timeout: timeout})
	start := time.Now()
	_, err := c.Do()
	wantKind(t, err, result.ErrTimeout)
	if took := time.Since(start); took > timeout+time.Second {
		t.Errorf("took %v with a %v timeout", took, timeout)
	}
}

// TestH2AcceptThenClose: a server that accepts and closes at once never
// gave a usable connection.
func TestH2AcceptThenClose(t *testing.T) {
	rs := newRawServer(t, func(c net.Conn) {})
	c := mustNew(t, Options{URL: rs.url(), HTTP2: true, Timeout: 3 * time.Second})
	for i := 0; i < 2; i++ {
		_, err := c.Do()
		wantKind(t, err, result.ErrConnect)
	}
}
