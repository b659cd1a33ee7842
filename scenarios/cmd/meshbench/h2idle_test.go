package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// h2Server is an h2c (prior knowledge) server that knows, per connection
// in accept order, how many requests it served and how many delayed
// requests are waiting in its handler; a delayed request waits until its
// connection is released or closed.
type h2Server struct {
	addr string
	h2   *http2.Server
	ln   net.Listener

	mu      sync.Mutex
	conns   []net.Conn
	closed  []bool
	served  []int           // requests answered at once, per connection
	waiting []int           // delayed requests in the handler now, per connection
	release []chan struct{} // closed: the connection's delayed requests are answered
	delays  map[string]int  // ?delay= values seen
	fail    int             // status of the immediate answers (200 when 0)
}

func newH2Server(t *testing.T, maxStreams uint32, status int) *h2Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &h2Server{addr: ln.Addr().String(), h2: &http2.Server{MaxConcurrentStreams: maxStreams}, ln: ln,
		delays: map[string]int{}, fail: status}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			i := len(s.conns)
			s.conns = append(s.conns, c)
			s.closed = append(s.closed, false)
			s.served = append(s.served, 0)
			s.waiting = append(s.waiting, 0)
			s.release = append(s.release, make(chan struct{}))
			s.mu.Unlock()
			go func() {
				s.h2.ServeConn(c, &http2.ServeConnOpts{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					s.serve(i, w, r)
				})})
				c.Close()
				s.mu.Lock()
				s.closed[i] = true
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for i, c := range s.conns {
			c.Close()
			select {
			case <-s.release[i]:
			default:
				close(s.release[i])
			}
		}
		s.mu.Unlock()
	})
	return s
}

func (s *h2Server) serve(i int, w http.ResponseWriter, r *http.Request) {
	d := r.URL.Query().Get("delay")
	s.mu.Lock()
	if d == "" {
		s.served[i]++
		s.mu.Unlock()
		if s.fail != 0 {
			w.WriteHeader(s.fail)
		}
		w.Write(make([]byte, 1024))
		return
	}
	s.delays[d]++
	s.waiting[i]++
	release := s.release[i]
	s.mu.Unlock()
	select {
	case <-release:
	case <-r.Context().Done():
	}
	s.mu.Lock()
	s.waiting[i]--
	s.mu.Unlock()
	w.Write([]byte("late"))
}

// snapshot copies the per-connection counts.
func (s *h2Server) snapshot() (served, waiting []int, open int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.closed {
		if !c {
			open++
		}
	}
	return append([]int(nil), s.served...), append([]int(nil), s.waiting...), open
}

func sum(xs []int) (n int) {
	for _, x := range xs {
		n += x
	}
	return n
}

// TestH2IdleHoldsStreams drives the script's protocol: warm-up, a line,
// "ready", a line, "streams", stdin closed. The server must see one request
// per held connection, then -streams delayed requests on each, all waiting
// at once; "open C waiting W" must leave out a connection the server closed
// and streams it answered.
func TestH2IdleHoldsStreams(t *testing.T) {
	srv := newH2Server(t, 0, 0)
	const conns, streams, warm = 4, 5, 3
	stdinR, stdinW := io.Pipe()
	var stdout syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- holdH2Idle(context.Background(), h2IdleOptions{
			addr: srv.addr, host: "echo", path: "/", conns: conns, streams: streams, warm: warm,
			delay: time.Minute, timeout: 10 * time.Second,
		}, stdinR, &stdout)
	}()

	waitFor(t, `"warm"`, func() bool { return stdout.String() == "warm\n" })
	if served, _, open := srv.snapshot(); sum(served) != warm || open != 1 {
		t.Fatalf("after warm-up: %v requests on %d connections, want %d on 1", served, open, warm)
	}
	fmt.Fprintln(stdinW, "go")
	waitFor(t, `"ready"`, func() bool { return strings.Contains(stdout.String(), "ready") })
	if got, want := stdout.String(), fmt.Sprintf("warm\nready %d\n", conns); got != want {
		t.Fatalf("stdout %q, want %q", got, want)
	}
	served, waiting, open := srv.snapshot()
	if want := []int{warm, 1, 1, 1, 1}; fmt.Sprint(served) != fmt.Sprint(want) || sum(waiting) != 0 || open != conns+1 {
		t.Fatalf("at ready: requests per connection %v, %d waiting, %d open; want %v, none waiting, %d open",
			served, sum(waiting), open, want, conns+1)
	}
	time.Sleep(50 * time.Millisecond) // nothing more may happen before the second line
	if _, waiting, _ := srv.snapshot(); sum(waiting) != 0 {
		t.Fatalf("%d streams opened before the line asking for them", sum(waiting))
	}

	fmt.Fprintln(stdinW, "go")
	waitFor(t, `"streams"`, func() bool { return strings.Contains(stdout.String(), "streams") })
	if got, want := stdout.String(), fmt.Sprintf("warm\nready %d\nstreams %d\n", conns, conns*streams); got != want {
		t.Fatalf("stdout %q, want %q", got, want)
	}
	// Every stream is open at the server at once, -streams on each held
	// connection, none on the warm-up one.
	waitFor(t, "every stream at the server", func() bool { _, w, _ := srv.snapshot(); return sum(w) == conns*streams })
	if _, waiting, _ := srv.snapshot(); fmt.Sprint(waiting) != fmt.Sprint([]int{0, streams, streams, streams, streams}) {
		t.Fatalf("waiting streams per connection %v, want %d on each held one", waiting, streams)
	}
	srv.mu.Lock()
	delays := fmt.Sprint(srv.delays)
	srv.mu.Unlock()
	if want := fmt.Sprintf("map[1m0s:%d]", conns*streams); delays != want {
		t.Errorf("?delay= values %s, want %s", delays, want)
	}

	// The server closes the first held connection and answers the
	// streams of the second: neither may count as held.
	srv.mu.Lock()
	srv.conns[1].Close()
	close(srv.release[2])
	srv.mu.Unlock()
	waitFor(t, "the answers", func() bool { _, w, _ := srv.snapshot(); return w[1] == 0 && w[2] == 0 })
	time.Sleep(200 * time.Millisecond) // let the frames and the FIN land on loopback
	stdinW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("holdH2Idle did not return after stdin closed")
	}
	want := fmt.Sprintf("warm\nready %d\nstreams %d\nopen %d waiting %d\n", conns, conns*streams, conns-1, (conns-2)*streams)
	if got := stdout.String(); got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	waitFor(t, "the client to close its connections", func() bool { _, _, open := srv.snapshot(); return open == 0 })
}

// TestH2IdleErrors: what cannot be held as asked fails the run, named,
// instead of being counted.
func TestH2IdleErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name       string
		addr       string
		conns      int
		streams    int
		want, fail string // error, and a stdout line that must not have been printed
	}{
		{"status other than 200", newH2Server(t, 0, 503).addr, 3, 1, "connection 1 of 3: stream 1: status 503, want 200", "ready"},
		{"more streams than the server admits", newH2Server(t, 3, 0).addr, 2, 4,
			"connection 1: -streams 4 exceeds the proxy's SETTINGS_MAX_CONCURRENT_STREAMS 3", "streams"},
		{"nothing listening", refused, 3, 1, "connection 1 of 3:", "ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout syncBuffer
			err := holdH2Idle(context.Background(), h2IdleOptions{addr: tt.addr, host: "echo", path: "/",
				conns: tt.conns, streams: tt.streams, delay: time.Minute, timeout: 10 * time.Second},
				strings.NewReader("go\n"), &stdout)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(stdout.String(), tt.fail) {
				t.Errorf("stdout %q: %s after a failure", stdout.String(), tt.fail)
			}
		})
	}
}

func TestRunH2IdleUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no -addr", []string{"h2idle"}, "-addr is required"},
		{"no connections", []string{"h2idle", "-addr", "127.0.0.1:1", "-conns", "0"}, "-conns 0: want at least 1"},
		{"negative streams", []string{"h2idle", "-addr", "127.0.0.1:1", "-streams", "-1"}, "-streams -1: want 0 or more"},
		{"negative warm-up", []string{"h2idle", "-addr", "127.0.0.1:1", "-warm", "-1"}, "-warm -1: want 0 or more"},
		{"zero delay", []string{"h2idle", "-addr", "127.0.0.1:1", "-delay", "0s"}, "-delay 0s: want a positive duration"},
		{"zero timeout", []string{"h2idle", "-addr", "127.0.0.1:1", "-timeout", "0s"}, "-timeout 0s: want a positive duration"},
		{"relative path", []string{"h2idle", "-addr", "127.0.0.1:1", "-path", "x"}, `-path "x": want an absolute path`},
		{"extra argument", []string{"h2idle", "-addr", "127.0.0.1:1", "x"}, `unexpected argument "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tt.want) || !strings.Contains(stderr.String(), "Usage: meshbench h2idle") {
				t.Errorf("stderr lacks %q and the usage:\n%s", tt.want, stderr.String())
			}
		})
	}
}
