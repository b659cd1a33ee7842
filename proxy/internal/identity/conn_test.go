package identity

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Handshakes in tests run over loopback TCP: real sockets, and a real
// "ip:port" RemoteAddr, which is what keys the client session cache.

type serverResult struct {
	state tls.ConnectionState
	err   error
}

type clientResult struct {
	state tls.ConnectionState
	err   error
}

type testServer struct {
	addr    string
	results chan serverResult // one per accepted connection, in order
}

// startServer accepts TLS connections with cfg until the test ends. Each
// connection reports its handshake outcome; a successful one then sends one
// byte and waits for the client to close.
func startServer(t testing.TB, cfg *tls.Config, timeout time.Duration) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: ln.Addr().String(), results: make(chan serverResult, 4096)}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c, cfg, timeout) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return s
}

func (s *testServer) serve(c net.Conn, cfg *tls.Config, timeout time.Duration) {
	defer c.Close()
	tc := tls.Server(c, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	s.results <- serverResult{tc.ConnectionState(), err}
	if err != nil {
		return
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := tc.Write([]byte{'x'}); err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, tc)
}

// dial makes one connection to addr with cfg and reads the server's byte.
//
// That read is what makes resumption testable. A TLS 1.3 server sends its
// session tickets after the handshake (with client authentication, after it
// has verified the client), and the client only processes them inside a
// Read; Handshake returns before they arrive. The server writes its byte
// after the tickets, so once the byte is read the ticket is in the cache.
// The same read also surfaces a server's refusal of our certificate, which a
// TLS 1.3 client learns only after its own handshake has completed.
func dial(t testing.TB, addr string, cfg *tls.Config) clientResult {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(c, cfg)
	if err := tc.Handshake(); err != nil {
		return clientResult{tc.ConnectionState(), err}
	}
	var b [1]byte
	_, err = io.ReadFull(tc, b[:])
	return clientResult{tc.ConnectionState(), err}
}

// next returns the outcome of the server's next connection.
func (s *testServer) next(t testing.TB) serverResult {
	t.Helper()
	select {
	case r := <-s.results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the server saw no connection")
		return serverResult{}
	}
}

// exchange dials s with cfg and returns both sides' outcomes.
func (s *testServer) exchange(t testing.TB, cfg *tls.Config) (clientResult, serverResult) {
	t.Helper()
	cr := dial(t, s.addr, cfg)
	return cr, s.next(t)
}

// rawClient is a client built by hand, not by a Source: it presents cert
// (or none) whatever the server asks for and trusts any server, to show what
// a server refuses.
func rawClient(cert ...tls.Certificate) *tls.Config {
	present := &tls.Certificate{}
	if len(cert) > 0 {
		present = &cert[0]
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return present, nil
		},
	}
}

// peerSerial is the serial number of the certificate the peer presented.
func peerSerial(st tls.ConnectionState) string {
	if len(st.PeerCertificates) == 0 {
		return ""
	}
	return st.PeerCertificates[0].SerialNumber.String()
}
