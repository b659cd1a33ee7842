package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestHandshakeMutual(t *testing.T) {
	ca := newCA(t, "ca")
	server := load(t, ca.issue(t, serverID), bundle(ca))
	client := load(t, ca.issue(t, clientID), bundle(ca))
	srv := startServer(t, server.ServerConfig(), 5*time.Second)

	for _, expected := range []string{serverID, ""} {
		cr, sr := srv.exchange(t, client.ClientConfig(expected))
		if cr.err != nil || sr.err != nil {
			t.Fatalf("expected %q: client: %v; server: %v", expected, cr.err, sr.err)
		}
		if got := PeerID(&sr.state); got != clientID {
			t.Errorf("server sees peer %q, want %q", got, clientID)
		}
		if got := PeerID(&cr.state); got != serverID {
			t.Errorf("client sees peer %q, want %q", got, serverID)
		}
		for _, st := range []tls.ConnectionState{cr.state, sr.state} {
			if st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "http/1.1" {
				t.Errorf("version %x, ALPN %q; want TLS 1.3, http/1.1", st.Version, st.NegotiatedProtocol)
			}
		}
	}
	if got := PeerID(nil); got != "" {
		t.Errorf("PeerID(nil) = %q", got)
	}
}

// TestHandshakeRefusedByServer runs real handshakes that the inbound
// listener must refuse, and checks how the server classifies each.
func TestHandshakeRefusedByServer(t *testing.T) {
	ca := newCA(t, "ca")
	otherCA := newCA(t, "other")
	server := load(t, ca.issue(t, serverID), bundle(ca))
	srv := startServer(t, server.ServerConfig(), 5*time.Second)
	past := time.Now().Add(-2 * time.Hour)
	future := time.Now().Add(time.Hour)

	// A proxy with an identity from a CA the server does not trust (it
	// trusts the server's CA, so only the server refuses).
	foreign := load(t, otherCA.issue(t, clientID), bundle(otherCA, ca))

	cases := []struct {
		name   string
		client *tls.Config
		want   string
	}{
		{"no client certificate", rawClient(), ReasonNoClientCert},
		{"client certificate from another CA", foreign.ClientConfig(serverID), ReasonUnknownCA},
		{"expired client certificate", rawClient(ca.issue(t, clientID, validity(past, past.Add(time.Hour))).tlsCert()), ReasonExpired},
		{"client certificate not yet valid", rawClient(ca.issue(t, clientID, validity(future, future.Add(time.Hour))).tlsCert()), ReasonExpired},
		{"client in another trust domain", rawClient(ca.issue(t, "spiffe://other.org/ns/default/sa/client").tlsCert()), ReasonUntrustedDomain},
		{"client certificate without URI SAN", rawClient(ca.issue(t, clientID, uris()).tlsCert()), ReasonNoSPIFFEID},
		{"client certificate with two URI SANs", rawClient(ca.issue(t, clientID, uris(clientID, serverID)).tlsCert()), ReasonNoSPIFFEID},
		{"client certificate for servers only", rawClient(ca.issue(t, clientID, extKeyUsage(x509.ExtKeyUsageServerAuth)).tlsCert()), ReasonUnknownCA},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cr, sr := srv.exchange(t, c.client)
			if sr.err == nil {
				t.Fatalf("server accepted the client (peer %q)", PeerID(&sr.state))
			}
			if got := Classify(sr.err); got != c.want {
				t.Errorf("server error %v classified %q, want %q", sr.err, got, c.want)
			}
			if _, ok := errors.AsType[*PeerError](sr.err); !ok {
				t.Errorf("server error %v is not a *PeerError", sr.err)
			}
			// A TLS 1.3 client learns of the refusal after its handshake, as
			// crypto/tls's generic bad_certificate alert.
			if cr.err == nil {
				t.Fatal("client read succeeded")
			}
			if got := Classify(cr.err); got != ReasonProtocol {
				t.Errorf("client error %v classified %q, want %q", cr.err, got, ReasonProtocol)
			}
		})
	}
}

// TestHandshakeRefusedByClient checks the outbound side's verification of
// servers.
func TestHandshakeRefusedByClient(t *testing.T) {
	ca := newCA(t, "ca")
	otherCA := newCA(t, "other")
	client := load(t, ca.issue(t, clientID), bundle(ca, otherCA))

	cases := []struct {
		name     string
		server   *Source
		expected string
		want     string
	}{
		{"server is not the expected ID", load(t, ca.issue(t, serverID), bundle(ca)),
			"spiffe://cluster.local/ns/default/sa/other", ReasonIdentityMismatch},
		{"server in another trust domain", load(t, ca.issue(t, "spiffe://other.org/ns/default/sa/server"), bundle(ca)),
			"", ReasonUntrustedDomain},
		{"server from an unknown CA", loadOwnCA(t, newCA(t, "unknown"), serverID), serverID, ReasonUnknownCA},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := startServer(t, c.server.ServerConfig(), 5*time.Second)
			cr, sr := srv.exchange(t, client.ClientConfig(c.expected))
			if cr.err == nil {
				t.Fatalf("client accepted server %q", PeerID(&cr.state))
			}
			if got := Classify(cr.err); got != c.want {
				t.Errorf("client error %v classified %q, want %q", cr.err, got, c.want)
			}
			if sr.err == nil {
				t.Error("server handshake succeeded")
			}
		})
	}
}

func TestHandshakeNotTLS(t *testing.T) {
	ca := newCA(t, "ca")
	server := load(t, ca.issue(t, serverID), bundle(ca))
	srv := startServer(t, server.ServerConfig(), 5*time.Second)
	c, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	sr := srv.next(t)
	if got := Classify(sr.err); got != ReasonNotTLS {
		t.Errorf("server error %v classified %q, want %q", sr.err, got, ReasonNotTLS)
	}
}

func TestHandshakeTimeoutAndEOF(t *testing.T) {
	ca := newCA(t, "ca")
	server := load(t, ca.issue(t, serverID), bundle(ca))
	srv := startServer(t, server.ServerConfig(), 100*time.Millisecond)

	silent, err := net.Dial("tcp", srv.addr) // connects, says nothing
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if sr := srv.next(t); Classify(sr.err) != ReasonTimeout {
		t.Errorf("silent client: server error %v classified %q, want %q", sr.err, Classify(sr.err), ReasonTimeout)
	}

	gone, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	gone.Close()
	if sr := srv.next(t); Classify(sr.err) != ReasonEOF {
		t.Errorf("client that went away: server error %v classified %q, want %q", sr.err, Classify(sr.err), ReasonEOF)
	}
}

// TestClassifyPeerAlerts checks the labels for alerts from a peer that uses
// crypto/tls's standard client verification, which names its reason.
func TestClassifyPeerAlerts(t *testing.T) {
	ca := newCA(t, "ca")
	otherCA := newCA(t, "other")
	serverLeaf := ca.issue(t, serverID)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	past := time.Now().Add(-2 * time.Hour)

	cases := []struct {
		name       string
		clientAuth tls.ClientAuthType
		client     *tls.Config
		want       string
	}{
		{"certificate_required", tls.RequireAndVerifyClientCert, rawClient(), ReasonNoClientCert},
		{"unknown_ca", tls.RequireAndVerifyClientCert, rawClient(otherCA.issue(t, clientID).tlsCert()), ReasonUnknownCA},
		{"certificate_expired", tls.RequireAndVerifyClientCert,
			rawClient(ca.issue(t, clientID, validity(past, past.Add(time.Hour))).tlsCert()), ReasonExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			std := &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{serverLeaf.tlsCert()},
				ClientAuth:   c.clientAuth,
				ClientCAs:    pool,
			}
			srv := startServer(t, std, 5*time.Second)
			cr, sr := srv.exchange(t, c.client)
			if got := Classify(cr.err); got != c.want {
				t.Errorf("client error %v classified %q, want %q", cr.err, got, c.want)
			}
			// crypto/tls reports a missing certificate with a plain error.
			if got := Classify(sr.err); got != c.want && c.want != ReasonNoClientCert {
				t.Errorf("server error %v classified %q, want %q", sr.err, got, c.want)
			}
		})
	}
}

func TestClassifyErrors(t *testing.T) {
	peer := &PeerError{Reason: ReasonUntrustedDomain, Msg: "x"}
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{peer, ReasonUntrustedDomain},
		{&net.OpError{Op: "read", Err: peer}, ReasonUntrustedDomain},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, ReasonNotTLS},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, ReasonTimeout},
		{fmt.Errorf("handshake: %w", context.DeadlineExceeded), ReasonTimeout},
		{errTimeout{}, ReasonTimeout},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, ReasonEOF},
		{io.ErrUnexpectedEOF, ReasonEOF},
		{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, ReasonUnknownCA},
		{&tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Reason: x509.Expired}}, ReasonExpired},
		{errors.New("tls: handshake failure"), ReasonProtocol},
	}
	for _, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	for _, r := range Reasons {
		if r == "" {
			t.Error("empty reason")
		}
	}
}

type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }
