package identity

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// The handshake benchmarks run both ends in this process over an in-memory
// connection, with no syscalls: ECDSA P-256 identities from Load, TLS 1.3,
// crypto/tls's default key exchange (X25519MLKEM768). ns/op is the wall time
// of one complete mutual-TLS handshake, client and server together; the two
// sides mostly take turns, so it is close to their CPU time added up, plus
// the goroutine hand-offs.
//
// Each iteration is one new connection: both handshakes, then the server
// writes one byte and the client reads it. The read is part of a real
// connection's start too: it is where the client receives the session
// ticket the server sends after its handshake.
//
// The connection is memPipe, not net.Pipe. net.Pipe is synchronous: a Write
// returns only when the other end has read all of it. On a resumed handshake
// a TLS 1.3 server writes its first flight and the new session ticket in one
// Write; the client reads up to the server's Finished and then blocks
// writing its own, while the server is still blocked on the ticket bytes
// nobody reads. Over net.Pipe every resumed handshake deadlocks (full ones
// happen to fit). Sockets buffer; memPipe buffers the same way, without
// syscalls.

func benchSources(b *testing.B) (server, client *Source) {
	ca := newCA(b, "ca")
	return loadOwnCA(b, ca, serverID), loadOwnCA(b, ca, clientID)
}

// BenchmarkHandshakeFull: every connection is a full handshake (the client
// has no session cache, so it offers no ticket; the server still issues
// one, as it does for every connection).
func BenchmarkHandshakeFull(b *testing.B) {
	server, client := benchSources(b)
	cfg := client.ClientConfig(serverID).Clone()
	cfg.ClientSessionCache = nil
	benchHandshakes(b, server.ServerConfig(), cfg, false)
}

// BenchmarkHandshakeResumed: every connection resumes, with the production
// client config and its shared session cache. VerifyConnection still runs on
// both sides (chain verification against the CA bundle, SPIFFE checks), as
// it does in production. The iteration fails if a handshake does not resume.
func BenchmarkHandshakeResumed(b *testing.B) {
	server, client := benchSources(b)
	cfg := client.ClientConfig(serverID)
	handshake(b, server.ServerConfig(), cfg, false) // leaves a ticket in the cache
	benchHandshakes(b, server.ServerConfig(), cfg, true)
}

func benchHandshakes(b *testing.B, serverCfg, clientCfg *tls.Config, resumed bool) {
	b.ReportAllocs()
	for b.Loop() {
		handshake(b, serverCfg, clientCfg, resumed)
	}
}

// handshake runs one connection over memPipe and checks that it did (or did
// not) resume on both sides.
func handshake(b *testing.B, serverCfg, clientCfg *tls.Config, resumed bool) {
	cc, sc := memPipe()
	defer cc.Close()
	defer sc.Close()
	done := make(chan error, 1)
	go func() {
		s := tls.Server(sc, serverCfg)
		err := s.Handshake()
		if err == nil && s.ConnectionState().DidResume != resumed {
			err = errors.New("server: unexpected DidResume")
		}
		if err == nil {
			_, err = s.Write([]byte{'x'})
		}
		done <- err
	}()
	c := tls.Client(cc, clientCfg)
	if err := c.Handshake(); err != nil {
		b.Fatal("client:", err)
	}
	if c.ConnectionState().DidResume != resumed {
		b.Fatalf("client: DidResume %v, want %v", !resumed, resumed)
	}
	var one [1]byte
	if _, err := io.ReadFull(c, one[:]); err != nil {
		b.Fatal("client read:", err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// memPipe returns the two ends of a buffered in-memory connection.
func memPipe() (net.Conn, net.Conn) {
	ab, ba := newPipeBuf(), newPipeBuf()
	return &memConn{r: ba, w: ab}, &memConn{r: ab, w: ba}
}

type pipeBuf struct {
	mu     sync.Mutex
	cond   sync.Cond
	data   []byte
	closed bool
}

func newPipeBuf() *pipeBuf {
	p := &pipeBuf{}
	p.cond.L = &p.mu
	return p
}

func (p *pipeBuf) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	p.data = append(p.data, b...)
	p.cond.Signal()
	return len(b), nil
}

func (p *pipeBuf) read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.data) == 0 && !p.closed {
		p.cond.Wait()
	}
	if len(p.data) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.data)
	p.data = p.data[n:]
	return n, nil
}

func (p *pipeBuf) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cond.Broadcast()
}

type memConn struct{ r, w *pipeBuf }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

func (c *memConn) Read(b []byte) (int, error)       { return c.r.read(b) }
func (c *memConn) Write(b []byte) (int, error)      { return c.w.write(b) }
func (c *memConn) Close() error                     { c.r.close(); c.w.close(); return nil }
func (c *memConn) LocalAddr() net.Addr              { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }
