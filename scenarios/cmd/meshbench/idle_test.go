package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// connServer is an HTTP server that counts requests and knows its open
// connections in the order they were accepted.
type connServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests int
	accepted []net.Conn
	closed   map[net.Conn]bool
}

func newConnServer(t *testing.T, h http.HandlerFunc) *connServer {
	t.Helper()
	s := &connServer{closed: map[net.Conn]bool{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		s.mu.Unlock()
		h(w, r)
	}))
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch st {
		case http.StateNew:
			s.accepted = append(s.accepted, c)
		case http.StateClosed, http.StateHijacked:
			s.closed[c] = true
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// counts returns the requests served and the connections open now.
func (s *connServer) counts() (requests, open int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, len(s.accepted) - len(s.closed)
}

// waitFor polls until cond holds; the deadline only tells "never" from "late".
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ok1KiB(w http.ResponseWriter, _ *http.Request) { w.Write(make([]byte, 1024)) }

// TestIdleHoldsConnections drives the script's protocol: warm-up, baseline
// line, go, ready, stdin closed; the server must see every connection open
// while "ready" stands, and "open N" must count the ones it closed meanwhile.
func TestIdleHoldsConnections(t *testing.T) {
	srv := newConnServer(t, ok1KiB)
	const conns, warm = 30, 3
	stdinR, stdinW := io.Pipe()
	var stdout syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- holdIdle(context.Background(), idleOptions{
			addr: srv.Listener.Addr().String(), host: "echo", path: "/", conns: conns, warm: warm, timeout: 10 * time.Second,
		}, stdinR, &stdout)
	}()

	waitFor(t, `"warm"`, func() bool { return stdout.String() == "warm\n" })
	if req, open := srv.counts(); req != warm || open != 1 {
		t.Fatalf("after warm-up: %d requests on %d connections, want %d on 1", req, open, warm)
	}
	time.Sleep(50 * time.Millisecond) // nothing more may happen before the go line
	if req, open := srv.counts(); req != warm || open != 1 {
		t.Fatalf("before the go line: %d requests on %d connections, want %d on 1", req, open, warm)
	}
	fmt.Fprintln(stdinW, "go")
	waitFor(t, `"ready"`, func() bool { return strings.Contains(stdout.String(), "ready") })
	if got, want := stdout.String(), fmt.Sprintf("warm\nready %d\n", conns); got != want {
		t.Fatalf("stdout %q, want %q", got, want)
	}
	if req, open := srv.counts(); req != warm+conns || open != conns+1 {
		t.Fatalf("at ready: %d requests on %d open connections, want %d on %d (one request each, all held)",
			req, open, warm+conns, conns+1)
	}

	// The server closes four held connections (not the warm one): the
	// client must count them as closed.
	srv.mu.Lock()
	victims := append([]net.Conn(nil), srv.accepted[1:5]...)
	srv.mu.Unlock()
	for _, c := range victims {
		c.Close()
	}
	time.Sleep(200 * time.Millisecond) // let the FINs land on loopback
	stdinW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("holdIdle did not return after stdin closed")
	}
	if got, want := stdout.String(), fmt.Sprintf("warm\nready %d\nopen %d\n", conns, conns-len(victims)); got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	waitFor(t, "the client to close its connections", func() bool { _, open := srv.counts(); return open == 0 })
}

// TestIdleNoWarmUp: -warm 0 opens the connections at once, with no "warm"
// line to wait for.
func TestIdleNoWarmUp(t *testing.T) {
	srv := newConnServer(t, ok1KiB)
	stdinR, stdinW := io.Pipe()
	var stdout syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- holdIdle(context.Background(), idleOptions{
			addr: srv.Listener.Addr().String(), host: "echo", path: "/", conns: 5, timeout: 10 * time.Second,
		}, stdinR, &stdout)
	}()
	waitFor(t, `"ready"`, func() bool { return strings.Contains(stdout.String(), "ready") })
	stdinW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := stdout.String(); got != "ready 5\nopen 5\n" {
		t.Errorf("stdout %q, want ready 5, open 5", got)
	}
}

// TestIdleStopsAtWarm: stdin closed instead of the go line opens nothing more.
func TestIdleStopsAtWarm(t *testing.T) {
	srv := newConnServer(t, ok1KiB)
	stdinR, stdinW := io.Pipe()
	var stdout syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- holdIdle(context.Background(), idleOptions{
			addr: srv.Listener.Addr().String(), host: "echo", path: "/", conns: 5, warm: 1, timeout: 10 * time.Second,
		}, stdinR, &stdout)
	}()
	waitFor(t, `"warm"`, func() bool { return stdout.String() == "warm\n" })
	stdinW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if req, _ := srv.counts(); req != 1 || stdout.String() != "warm\n" {
		t.Errorf("%d requests, stdout %q; want 1 and only warm", req, stdout.String())
	}
}

// TestIdleErrors: a connection that cannot be held idle fails the run,
// named, instead of being counted.
func TestIdleErrors(t *testing.T) {
	unavailable := newConnServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	closing := newConnServer(t, func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("Connection", "close") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, addr string
		conns      int
		want       string
	}{
		{"status other than 200", unavailable.Listener.Addr().String(), 3, "connection 1 of 3: status 503, want 200"},
		{"connection closed after the response", closing.Listener.Addr().String(), 3, "closes the connection after the response"},
		{"nothing listening", refused, 3, "connection 1 of 3:"},
	}
	if lim.Cur < 1<<30 { // not unlimited
		tests = append(tests, struct {
			name, addr string
			conns      int
			want       string
		}{"more connections than descriptors", refused, int(lim.Cur), "RLIMIT_NOFILE"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout syncBuffer
			err := holdIdle(context.Background(), idleOptions{addr: tt.addr, host: "echo", path: "/", conns: tt.conns, timeout: 10 * time.Second},
				strings.NewReader(""), &stdout)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(stdout.String(), "ready") {
				t.Errorf("stdout %q: ready after a failure", stdout.String())
			}
		})
	}
}

func TestRunIdleUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no -addr", []string{"idle"}, "-addr is required"},
		{"no connections", []string{"idle", "-addr", "127.0.0.1:1", "-conns", "0"}, "-conns 0: want at least 1"},
		{"negative warm-up", []string{"idle", "-addr", "127.0.0.1:1", "-warm", "-1"}, "-warm -1: want 0 or more"},
		{"zero timeout", []string{"idle", "-addr", "127.0.0.1:1", "-timeout", "0s"}, "-timeout 0s: want a positive duration"},
		{"extra argument", []string{"idle", "-addr", "127.0.0.1:1", "x"}, `unexpected argument "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tt.want) || !strings.Contains(stderr.String(), "Usage: meshbench idle") {
				t.Errorf("stderr lacks %q and the usage:\n%s", tt.want, stderr.String())
			}
		})
	}
}
