package echo

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
)

// One port, three protocols. Every accepted connection is classified by its
// first bytes, read with MSG_PEEK so nothing is consumed: the HTTP/2
// connection preface ("PRI * HTTP/2.0...", RFC 9113 3.4) means h2c with prior
// knowledge, served by golang.org/x/net/http2, where a request whose
// content-type is application/grpc goes to the gRPC server and any other to
// the same echo as HTTP/1.1; anything else is HTTP/1.1 and goes, unwrapped,
// to fasthttp (wrapping would hide the *net.TCPConn fasthttp writes with
// writev, and the echo must never be the benchmark's bottleneck).

// h2Preface is what a prior-knowledge HTTP/2 client sends first; its first
// four bytes decide.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// mux owns the real listener and hands HTTP/1.1 connections to fasthttp
// through its Accept.
type mux struct {
	ln    net.Listener
	http1 chan net.Conn
	done  chan struct{} // closed when the accept loop has stopped
	serve func(net.Conn)

	accepted atomic.Uint64 // connections accepted, any protocol

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // being classified or served as h2
}

func newMux(ln net.Listener, serveH2 func(net.Conn)) *mux {
	m := &mux{ln: ln, http1: make(chan net.Conn), done: make(chan struct{}), serve: serveH2, conns: map[net.Conn]struct{}{}}
	go m.acceptLoop()
	return m
}

func (m *mux) acceptLoop() {
	defer close(m.done)
	for {
		c, err := m.ln.Accept()
		if err != nil {
			return
		}
		m.accepted.Add(1)
		if !m.track(c) {
			c.Close()
			return
		}
		go m.classify(c)
	}
}

// track records c for Close; false when the mux is closed.
func (m *mux) track(c net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.conns[c] = struct{}{}
	return true
}

func (m *mux) untrack(c net.Conn) {
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
}

// classify waits for c's first bytes and passes it on.
func (m *mux) classify(c net.Conn) {
	h2, err := isH2(c)
	if err != nil {
		m.untrack(c)
		c.Close()
		return
	}
	if h2 {
		m.serve(c)
		m.untrack(c)
		c.Close()
		return
	}
	m.untrack(c) // fasthttp tracks it from here (Server.connState)
	select {
	case m.http1 <- c:
	case <-m.done:
		c.Close()
	}
}

// isH2 peeks at c's first four bytes (without consuming them).
func isH2(c net.Conn) (bool, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return false, nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return false, err
	}
	var buf [4]byte
	var n int
	var perr error
	for {
		err = raw.Read(func(fd uintptr) bool {
			n, _, perr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK)
			return !errors.Is(perr, syscall.EAGAIN)
		})
		switch {
		case err != nil:
			return false, err
		case perr != nil:
			return false, perr
		case n == 0:
			return false, io.EOF
		case !strings.HasPrefix(h2Preface, string(buf[:n])):
			return false, nil // not a prefix of the preface: HTTP/1.1
		case n == len(buf):
			return true, nil
		}
		// A prefix of "PRI " so far: wait for more.
		time.Sleep(time.Millisecond)
	}
}

// Accept hands fasthttp the next HTTP/1.1 connection.
func (m *mux) Accept() (net.Conn, error) {
	select {
	case c := <-m.http1:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and closes the connections still being
// classified or served as h2.
func (m *mux) Close() error {
	err := m.ln.Close()
	m.mu.Lock()
	m.closed = true
	for c := range m.conns {
		c.Close()
	}
	m.mu.Unlock()
	return err
}

func (m *mux) Addr() net.Addr { return m.ln.Addr() }

// h2Server serves h2c connections: gRPC to the gRPC server, everything else
// to the echo.
func (s *Server) h2Server() func(net.Conn) {
	h2 := &http2.Server{MaxReadFrameSize: 1 << 20}
	g := s.grpcServer()
	s.grpc = g
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			g.ServeHTTP(w, r)
			return
		}
		s.serveHTTP(w, r)
	})
	base := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	return func(c net.Conn) {
		h2.ServeConn(c, &http2.ServeConnOpts{BaseConfig: base, Handler: handler})
	}
}

// serveHTTP is the echo for HTTP/2 requests: the same parameters and
// answers as over HTTP/1.1 (chunked does not apply: HTTP/2 frames every
// body).
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set(NameHeader, string(s.name))
	if r.URL.Path == "/stats" {
		h.Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"requests": `+strconv.FormatUint(s.requests.Load(), 10)+"}\n")
		return
	}
	s.requests.Add(1)
	var q peeker
	if r.URL.RawQuery != "" {
		q = urlQuery(r.URL.Query())
	}
	p, rerr := s.parseParams(q)
	if rerr == nil {
		rerr = s.wait(p.delay)
	}
	if rerr != nil {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(rerr.status)
		_, _ = io.WriteString(w, rerr.msg)
		return
	}
	switch p.echo {
	case "headers":
		var b bytes.Buffer
		_ = r.Header.Write(&b)
		w.WriteHeader(p.status)
		_, _ = w.Write(bytes.ReplaceAll(b.Bytes(), []byte("\r\n"), []byte("\n")))
	case "body":
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxSize+1))
		if err != nil || len(body) > MaxSize {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(p.status)
		_, _ = w.Write(body)
	default:
		h.Set("Content-Length", strconv.Itoa(p.size))
		w.WriteHeader(p.status)
		r := patternReader{body: s.body, left: p.size}
		for r.left > 0 {
			if _, err := w.Write(r.next(chunkSize)); err != nil || s.closing() {
				return
			}
		}
	}
}

// grpcServer is the gRPC side: see grpc.go.
func (s *Server) grpcServer() *grpc.Server { return NewGRPCServer(&s.requests) }
