package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	ca := newCA(t, "ca")
	leaf := ca.issue(t, serverID)
	s := load(t, leaf, bundle(ca))
	if s.ID() != serverID || s.TrustDomain() != "cluster.local" {
		t.Errorf("ID %q, trust domain %q", s.ID(), s.TrustDomain())
	}
	if !s.NotAfter().Equal(leaf.cert.NotAfter) {
		t.Errorf("NotAfter %v, want %v", s.NotAfter(), leaf.cert.NotAfter)
	}
	if s.Reloads() != 0 {
		t.Errorf("Reloads %d after Load", s.Reloads())
	}
	if s.ServerConfig() != s.ServerConfig() || s.ClientConfig("") != s.ClientConfig("") ||
		s.ClientConfig("") == s.ClientConfig(clientID) {
		t.Error("configs are not built once per expected ID")
	}
	if s.ClientConfig("").ClientSessionCache != s.ClientConfig(clientID).ClientSessionCache {
		t.Error("client configs do not share one session cache")
	}
}

// TestLoadKeyFormats loads keys of every supported type and encoding, some
// behind an intermediate CA, and uses each in a real handshake.
func TestLoadKeyFormats(t *testing.T) {
	root := newCA(t, "root")
	inter := root.intermediate(t, "intermediate")
	server := load(t, root.issue(t, serverID), bundle(root))
	srv := startServer(t, server.ServerConfig(), 5*time.Second)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecKey := newKey(t)
	ecParams := "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"

	pemOf := func(typ string, der []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	pkcs8 := func(k crypto.Signer) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		return pemOf("PRIVATE KEY", der, err)
	}
	sec1 := func(k crypto.Signer) []byte {
		der, err := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
		return pemOf("EC PRIVATE KEY", der, err)
	}
	pkcs1 := pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), nil)

	cases := []struct {
		name   string
		issuer *testCA
		key    crypto.Signer
		keyPEM []byte
	}{
		{"ECDSA PKCS#8", root, ecKey, pkcs8(ecKey)},
		{"ECDSA SEC 1 after EC PARAMETERS", root, ecKey, append([]byte(ecParams), sec1(ecKey)...)},
		{"RSA PKCS#1", root, rsaKey, pkcs1},
		{"RSA PKCS#8 via intermediate", inter, rsaKey, pkcs8(rsaKey)},
		{"Ed25519 PKCS#8", root, edKey, pkcs8(edKey)},
		{"ECDSA SEC 1 via intermediate", inter, ecKey, sec1(ecKey)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			leaf := c.issuer.issueKey(t, c.key, clientID)
			p := writeIdentity(t, t.TempDir(), leaf.certPEM, c.keyPEM, bundle(root))
			s, err := Load(p.cert, p.key, p.ca)
			if err != nil {
				t.Fatal(err)
			}
			cr, sr := srv.exchange(t, s.ClientConfig(serverID))
			if cr.err != nil || sr.err != nil {
				t.Fatalf("client: %v; server: %v", cr.err, sr.err)
			}
			if got := PeerID(&sr.state); got != clientID {
				t.Errorf("server sees %q, want %q", got, clientID)
			}
			if got := PeerID(&cr.state); got != serverID {
				t.Errorf("client sees %q, want %q", got, serverID)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	ca := newCA(t, "ca")
	otherCA := newCA(t, "other")
	inter := ca.intermediate(t, "intermediate")
	good := ca.issue(t, serverID)
	viaInter := inter.issue(t, serverID)
	truncate := func(b []byte) []byte { return b[:len(b)/2] }
	asCA := func(c *x509.Certificate) {
		c.IsCA, c.KeyUsage = true, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature
	}

	cases := []struct {
		name          string
		leaf          *testLeaf // cert and key (default: good), then overridden by:
		cert, key, ca []byte
		missing       string // "cert", "key" or "ca": that file is not written
		field, want   string // the *FileError's Field and a part of its message
	}{
		{name: "missing cert file", missing: "cert", field: "certFile", want: "no such file"},
		{name: "missing key file", missing: "key", field: "keyFile", want: "no such file"},
		{name: "missing CA file", missing: "ca", field: "caFile", want: "no such file"},
		{name: "key does not match", key: ca.issue(t, serverID).keyPEM, field: "keyFile",
			want: "the private key does not match the certificate in identity.certFile"},
		{name: "no URI SAN", leaf: ca.issue(t, serverID, uris()), field: "certFile",
			want: "no spiffe:// URI SAN"},
		{name: "two URI SANs", leaf: ca.issue(t, serverID, uris(serverID, clientID)), field: "certFile",
			want: "2 URI SANs"},
		{name: "bad SPIFFE ID", leaf: ca.issue(t, serverID, uris("spiffe://Cluster.local/ns/a/sa/b")),
			field: "certFile", want: `invalid SPIFFE ID "spiffe://Cluster.local/ns/a/sa/b": the trust domain must be lower-case`},
		{name: "trust domain ID", leaf: ca.issue(t, serverID, uris("spiffe://cluster.local")),
			field: "certFile", want: "not a workload"},
		{name: "not signed by the CA", leaf: otherCA.issue(t, serverID), field: "certFile",
			want: "does not chain to a CA in identity.caFile"},
		{name: "intermediate missing from the chain", cert: viaInter.certPEM[:len(pemCert(viaInter.cert.Raw))],
			key: viaInter.keyPEM, field: "certFile", want: "does not chain"},
		{name: "expired", leaf: ca.issue(t, serverID, validity(time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))),
			field: "certFile", want: "expired at"},
		{name: "not yet valid", leaf: ca.issue(t, serverID, validity(time.Now().Add(time.Hour), time.Now().Add(2*time.Hour))),
			field: "certFile", want: "not valid until"},
		{name: "serverAuth only", leaf: ca.issue(t, serverID, extKeyUsage(x509.ExtKeyUsageServerAuth)),
			field: "certFile", want: "does not allow clientAuth"},
		{name: "a CA certificate with a SPIFFE ID", leaf: ca.issue(t, serverID, asCA), field: "certFile", want: "is a CA"},
		{name: "garbage cert", cert: []byte("not PEM at all\n"), field: "certFile", want: "no PEM CERTIFICATE block"},
		{name: "garbage key", key: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
			field: "keyFile", want: "PRIVATE KEY block"},
		{name: "no key", key: good.certPEM, field: "keyFile", want: "no PEM private key block"},
		{name: "encrypted key", key: []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"),
			field: "keyFile", want: "encrypted"},
		{name: "garbage CA", ca: []byte("garbage"), field: "caFile", want: "no PEM CERTIFICATE block"},
		{name: "half-written key", key: truncate(good.keyPEM), field: "keyFile", want: "truncated or malformed"},
		{name: "half-written CA bundle", ca: append(bundle(ca), truncate(otherCA.certPEM)...), field: "caFile",
			want: "1 of 2 PEM blocks are truncated or malformed"},
		{name: "half-written chain", cert: append(pemCert(viaInter.cert.Raw), truncate(inter.certPEM)...),
			key: viaInter.keyPEM, field: "certFile", want: "truncated or malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			leaf := good
			if c.leaf != nil {
				leaf = c.leaf
			}
			cert, key, caPEM := leaf.certPEM, leaf.keyPEM, bundle(ca)
			if c.cert != nil {
				cert = c.cert
			}
			if c.key != nil {
				key = c.key
			}
			if c.ca != nil {
				caPEM = c.ca
			}
			p := writeIdentity(t, t.TempDir(), cert, key, caPEM)
			files := map[string]string{"certFile": p.cert, "keyFile": p.key, "caFile": p.ca}
			if c.missing != "" {
				path := map[string]string{"cert": p.cert, "key": p.key, "ca": p.ca}[c.missing]
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Load(p.cert, p.key, p.ca)
			if err == nil {
				t.Fatalf("Load succeeded (ID %s)", s.ID())
			}
			fe, ok := errors.AsType[*FileError](err)
			if !ok {
				t.Fatalf("error %v is not a *FileError", err)
			}
			prefix := "identity." + c.field + " " + files[c.field] + ": "
			if fe.Field != c.field || fe.Path != files[c.field] || !strings.HasPrefix(err.Error(), prefix) ||
				!strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\nwant it to start with %q and contain %q", err, prefix, c.want)
			}
		})
	}
}

// TestLoadErrorMessage pins the exact form of the messages operators see.
func TestLoadErrorMessage(t *testing.T) {
	ca := newCA(t, "ca")
	leaf := ca.issue(t, serverID, uris())
	dir := t.TempDir()
	p := writeIdentity(t, dir, leaf.certPEM, leaf.keyPEM, bundle(ca))
	_, err := Load(p.cert, p.key, p.ca)
	want := "identity.certFile " + filepath.Join(dir, "cert.pem") + ": no spiffe:// URI SAN"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}
