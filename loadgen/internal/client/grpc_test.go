package client

import (
	"crypto/tls"
	"net"
	"net/http"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/meshbench/meshbench/loadgen/internal/result"
	"github.com/meshbench/meshbench/scenarios/echo"
)

var grpcMsg = append([]byte{0x0a, 0x03}, "abc"...)

// TestGRPCDo: unary calls over h2c return the gRPC status code: OK, or
// the status the server chose; metadata comes from the headers; a call to
// a method the server lacks is UNIMPLEMENTED; a refused connection is
// UNAVAILABLE; after Close, Do fails.
func TestGRPCDo(t *testing.T) {
	s, err := echo.Start(echo.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	url := "http://" + s.Addr() + "/"
	ok := mustNew(t, Options{URL: mustURL(t, url), GRPC: true, GRPCMethod: echo.GRPCUnary, Body: grpcMsg})
	for range 3 {
		if st, err := ok.Do(); err != nil || st != int(codes.OK) {
			t.Fatalf("Do = %d, %v; want 0 (OK)", st, err)
		}
	}
	if got := s.Requests(); got != 3 {
		t.Errorf("server saw %d calls, want 3", got)
	}
	failing := mustNew(t, Options{URL: mustURL(t, url), GRPC: true, GRPCMethod: echo.GRPCUnary, Body: grpcMsg,
		Headers: http.Header{"Echo-Grpc-Status": {"14"}}})
	if st, err := failing.Do(); err != nil || st != int(codes.Unavailable) {
		t.Errorf("chosen status: Do = %d, %v; want 14", st, err)
	}
	missing := mustNew(t, Options{URL: mustURL(t, url), GRPC: true, GRPCMethod: "/meshbench.echo.v1.Echo/Nope", Body: grpcMsg})
	if st, err := missing.Do(); err != nil || st != int(codes.Unimplemented) {
		t.Errorf("unknown method: Do = %d, %v; want 12", st, err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String() + "/"
	ln.Close()
	refused := mustNew(t, Options{URL: mustURL(t, dead), GRPC: true, GRPCMethod: echo.GRPCUnary, Body: grpcMsg})
	if st, err := refused.Do(); err != nil || st != int(codes.Unavailable) {
		t.Errorf("refused: Do = %d, %v; want 14", st, err)
	}
	_ = ok.Close()
	_, err = ok.Do()
	wantKind(t, err, result.ErrConnect)

	if _, err := New(Options{URL: mustURL(t, url), GRPC: true, GRPCMethod: "Unary"}); err == nil {
		t.Error("a method without /Service/ was accepted")
	}
}

// TestGRPCMTLS: gRPC over TLS with a client certificate; without one the
// server's handshake refuses and the call is UNAVAILABLE.
func TestGRPCMTLS(t *testing.T) {
	p := getPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := echo.NewGRPCServer(nil, grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
	})))
	go g.Serve(ln) //nolint:errcheck // ends with Stop
	t.Cleanup(g.Stop)
	url := "https://" + ln.Addr().String() + "/"
	c := mustNew(t, Options{URL: mustURL(t, url), GRPC: true, GRPCMethod: echo.GRPCUnary, Body: grpcMsg,
		TLS: &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}}})
	if st, err := c.Do(); err != nil || st != int(codes.OK) {
		t.Fatalf("mTLS: Do = %d, %v; want 0", st, err)
	}
	noCert := mustNew(t, Options{URL: mustURL(t, url), GRPC: true, GRPCMethod: echo.GRPCUnary, Body: grpcMsg,
		TLS: &tls.Config{RootCAs: p.pool}})
	if st, err := noCert.Do(); err != nil || st != int(codes.Unavailable) {
		t.Errorf("no client certificate: Do = %d, %v; want 14", st, err)
	}
}
