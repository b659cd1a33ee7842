package identity

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Real certificates, made in memory with x509.CreateCertificate: every test
// in this package runs the same crypto as production.

const (
	serverID = "spiffe://cluster.local/ns/default/sa/server"
	clientID = "spiffe://cluster.local/ns/default/sa/client"
)

type testCA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	// chainPEM is what a leaf file appends after the leaf: this CA and the
	// intermediates above it, for an intermediate; nothing for a root.
	chainPEM []byte
}

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func caTemplate(t testing.TB, name string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          newSerial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

// newCA makes a self-signed root CA with an ECDSA P-256 key.
func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := caTemplate(t, name)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, certPEM: pemCert(der)}
}

// intermediate makes a CA signed by ca.
func (ca *testCA) intermediate(t testing.TB, name string) *testCA {
	t.Helper()
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, caTemplate(t, name), ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := pemCert(der)
	return &testCA{cert: cert, key: key, certPEM: p, chainPEM: append(append([]byte(nil), p...), ca.chainPEM...)}
}

type testLeaf struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte // the leaf, then the issuing CA's chain
	keyPEM  []byte // PKCS#8
}

// tlsCert is the leaf as a tls.Certificate, for clients built by hand.
func (l *testLeaf) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{l.cert.Raw}, PrivateKey: l.key, Leaf: l.cert}
}

type leafOpt func(*x509.Certificate)

// uris replaces the leaf's URI SANs (by default, the one SPIFFE ID).
func uris(us ...string) leafOpt {
	return func(c *x509.Certificate) {
		c.URIs = nil
		for _, s := range us {
			u, err := url.Parse(s)
			if err != nil {
				panic(err)
			}
			c.URIs = append(c.URIs, u)
		}
	}
}

func validity(notBefore, notAfter time.Time) leafOpt {
	return func(c *x509.Certificate) { c.NotBefore, c.NotAfter = notBefore, notAfter }
}

func extKeyUsage(u ...x509.ExtKeyUsage) leafOpt {
	return func(c *x509.Certificate) { c.ExtKeyUsage = u }
}

// issue makes a workload certificate for id with a new ECDSA P-256 key.
func (ca *testCA) issue(t testing.TB, id string, opts ...leafOpt) *testLeaf {
	t.Helper()
	return ca.issueKey(t, newKey(t), id, opts...)
}

func (ca *testCA) issueKey(t testing.TB, key crypto.Signer, id string, opts ...leafOpt) *testLeaf {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(t),
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	uris(id)(tmpl)
	for _, o := range opts {
		o(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &testLeaf{
		cert:    cert,
		key:     key,
		certPEM: append(pemCert(der), ca.chainPEM...),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// bundle is a CA file trusting cas.
func bundle(cas ...*testCA) []byte {
	var b bytes.Buffer
	for _, ca := range cas {
		b.Write(ca.certPEM)
	}
	return b.Bytes()
}

type paths struct{ cert, key, ca string }

// writeIdentity writes an identity's three files into dir.
func writeIdentity(t testing.TB, dir string, certPEM, keyPEM, caPEM []byte) paths {
	t.Helper()
	p := paths{filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")}
	for _, f := range []struct {
		path string
		data []byte
	}{{p.cert, certPEM}, {p.key, keyPEM}, {p.ca, caPEM}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// replaceFile swaps in new content atomically, as careful writers do.
func replaceFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// load writes leaf and the CA bundle to a temporary directory and loads them.
func load(t testing.TB, leaf *testLeaf, caPEM []byte) *Source {
	t.Helper()
	p := writeIdentity(t, t.TempDir(), leaf.certPEM, leaf.keyPEM, caPEM)
	s, err := Load(p.cert, p.key, p.ca)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// loadOwnCA loads an identity for id issued by, and trusting only, ca.
func loadOwnCA(t testing.TB, ca *testCA, id string) *Source {
	t.Helper()
	return load(t, ca.issue(t, id), bundle(ca))
}
