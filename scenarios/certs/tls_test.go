package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/scenarios/certs"
)

// verifyPeer is how a mesh proxy authenticates the other end of a mutual TLS
// connection: it verifies the peer's chain against the trust bundle for the
// given usage and returns the peer's SPIFFE ID, the one URI SAN. It replaces
// crypto/tls's host name check, which SVIDs (no DNS names) cannot pass.
func verifyPeer(cs tls.ConnectionState, roots *x509.CertPool, usage x509.ExtKeyUsage) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", errors.New("peer sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	}); err != nil {
		return "", err
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].Scheme != "spiffe" {
		return "", fmt.Errorf("peer certificate has URI SANs %v, want exactly one spiffe:// ID", leaf.URIs)
	}
	return leaf.URIs[0].String(), nil
}

// mtls is the outcome of one mutual TLS handshake.
type mtls struct {
	serverSaw, clientSaw string // the peer's SPIFFE ID as each side verified it
	version              uint16
}

// handshake runs a TLS 1.3 mutual handshake on loopback between server and
// client, each verifying the other with verifyPeer against its own roots,
// and exchanges a few bytes so that a client certificate the server rejects
// (which TLS 1.3 reports after the client's handshake has returned) surfaces
// as an error too.
func handshake(t *testing.T, server, client tls.Certificate, serverRoots, clientRoots *x509.CertPool) (mtls, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)

	var res mtls
	serverErr := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer conn.Close()
		s := tls.Server(conn, &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{server},
			// crypto/tls verifies client chains without looking at names, so
			// the server side can use the built-in check; VerifyConnection
			// then applies the same SPIFFE check as the client.
			ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs:  serverRoots,
			VerifyConnection: func(cs tls.ConnectionState) (err error) {
				res.serverSaw, err = verifyPeer(cs, serverRoots, x509.ExtKeyUsageClientAuth)
				return err
			},
		})
		s.SetDeadline(deadline)
		if err := s.Handshake(); err != nil {
			serverErr <- fmt.Errorf("server: %w", err)
			return
		}
		_, err = s.Write([]byte("ok"))
		serverErr <- err
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := tls.Client(conn, &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{client},
		RootCAs:      clientRoots,
		// Not insecure: the built-in check would compare ServerName with DNS
		// SANs, which SVIDs do not have, so VerifyConnection verifies the
		// chain and the SPIFFE ID instead.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) (err error) {
			res.clientSaw, err = verifyPeer(cs, clientRoots, x509.ExtKeyUsageServerAuth)
			return err
		},
	})
	c.SetDeadline(deadline)
	var clientErr error
	if err := c.Handshake(); err != nil {
		clientErr = fmt.Errorf("client: %w", err)
	} else if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
		clientErr = fmt.Errorf("client read: %w", err)
	}
	res.version = c.ConnectionState().Version
	conn.Close() // unblocks a server still waiting for the client
	// Receive before reading res: the server goroutine writes serverSaw.
	err = errors.Join(clientErr, <-serverErr)
	return res, err
}

// loadPair loads dir/<base>.crt and dir/<base>.key.
func loadPair(t *testing.T, dir, base string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// loadPool loads a PEM trust bundle.
func loadPool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s: no certificates", path)
	}
	return pool
}

// checkMTLS runs handshake and requires it to succeed with each side seeing
// the other's expected ID.
func checkMTLS(t *testing.T, server, client tls.Certificate, serverRoots, clientRoots *x509.CertPool, serverID, clientID string) {
	t.Helper()
	res, err := handshake(t, server, client, serverRoots, clientRoots)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if res.version != tls.VersionTLS13 {
		t.Errorf("negotiated version %#x, want TLS 1.3", res.version)
	}
	if res.serverSaw != clientID {
		t.Errorf("server saw client %q, want %q", res.serverSaw, clientID)
	}
	if res.clientSaw != serverID {
		t.Errorf("client saw server %q, want %q", res.clientSaw, serverID)
	}
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Generate(certs.Options{Dir: dir, Identities: []string{"default/web", "shop/api"}}); err != nil {
		t.Fatal(err)
	}
	pool := loadPool(t, filepath.Join(dir, "ca.crt"))
	web, api := loadPair(t, dir, "default-web"), loadPair(t, dir, "shop-api")
	const webID, apiID = "spiffe://cluster.local/ns/default/sa/web", "spiffe://cluster.local/ns/shop/sa/api"
	checkMTLS(t, web, api, pool, pool, webID, apiID)
	checkMTLS(t, api, web, pool, pool, apiID, webID)
}

// TestMutualTLSForeignCA checks that the handshake really verifies: an
// identity from another CA is refused by either side.
func TestMutualTLSForeignCA(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	for _, d := range []string{dir, other} {
		if _, err := certs.Generate(certs.Options{Dir: d, Identities: []string{"default/web", "default/api"}}); err != nil {
			t.Fatal(err)
		}
	}
	pool := loadPool(t, filepath.Join(dir, "ca.crt"))
	web, api := loadPair(t, dir, "default-web"), loadPair(t, dir, "default-api")
	stranger := loadPair(t, other, "default-api")

	if _, err := handshake(t, web, stranger, pool, pool); err == nil || !strings.Contains(err.Error(), "server: ") {
		t.Errorf("server accepted a client certificate from another CA (%v)", err)
	} else {
		t.Logf("refused as expected: %v", err)
	}
	if _, err := handshake(t, stranger, api, pool, pool); err == nil || !strings.Contains(err.Error(), "client: ") {
		t.Errorf("client accepted a server certificate from another CA (%v)", err)
	} else {
		t.Logf("refused as expected: %v", err)
	}
}

// TestMutualTLSInMemory is the path tests elsewhere take: NewCA and Issue,
// no files.
func TestMutualTLSInMemory(t *testing.T) {
	ca, err := certs.NewCA("example.org", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	now := time.Now()
	pair := func(id string) tls.Certificate {
		certPEM, keyPEM, err := ca.Issue(id, now.Add(-time.Minute), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const a, b = "spiffe://example.org/ns/a/sa/x", "spiffe://example.org/billing/Payments_v2"
	checkMTLS(t, pair(a), pair(b), pool, pool, a, b)
}
