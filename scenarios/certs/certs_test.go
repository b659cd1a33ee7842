package certs_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/scenarios/certs"
)

// readCert parses the single certificate in a PEM file and fails if the file
// holds anything else.
func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, rest := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("%s: want exactly one CERTIFICATE PEM block", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

// readKey parses a PKCS#8 "PRIVATE KEY" PEM file holding a P-256 key.
func readKey(t *testing.T, path string) *ecdsa.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, rest := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("%s: want exactly one PRIVATE KEY (PKCS#8) PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		t.Fatalf("%s: key is %T, want ECDSA P-256", path, k)
	}
	return ec
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

// near reports whether got is within a few seconds of want, allowing for the
// test's own run time and the certificates' one-second resolution.
func near(got, want time.Time) bool {
	d := got.Sub(want)
	return d > -5*time.Second && d < 5*time.Second
}

func TestGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "certs")
	const validity = 48 * time.Hour
	start := time.Now()
	written, err := certs.Generate(certs.Options{
		Dir:         dir,
		TrustDomain: "mesh.example_1",
		Validity:    validity,
		Identities:  []string{"default/web", "shop/api-v2"},
	})
	if err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		t.Fatalf("Dir not created: %v", err)
	}
	// MkdirAll honours the umask; the directory must be no more open than 0755.
	if perm := fi.Mode().Perm(); perm&^0o755 != 0 || perm&0o700 != 0o700 {
		t.Errorf("Dir mode %v, want 0755 (less any umask bits)", perm)
	}

	type want struct{ name, id string }
	wants := []want{
		{"ca.key", "spiffe://mesh.example_1"},
		{"ca.crt", "spiffe://mesh.example_1"},
		{"default-web.key", "spiffe://mesh.example_1/ns/default/sa/web"},
		{"default-web.crt", "spiffe://mesh.example_1/ns/default/sa/web"},
		{"shop-api-v2.key", "spiffe://mesh.example_1/ns/shop/sa/api-v2"},
		{"shop-api-v2.crt", "spiffe://mesh.example_1/ns/shop/sa/api-v2"},
	}
	if len(written) != len(wants) {
		t.Fatalf("Generate wrote %d files, want %d: %+v", len(written), len(wants), written)
	}
	for i, w := range wants {
		got := written[i]
		if got.Path != filepath.Join(dir, w.name) || got.SPIFFEID != w.id {
			t.Errorf("written[%d] = %+v, want %s for %s", i, got, w.name, w.id)
		}
		if !near(got.NotAfter, start.Add(validity)) {
			t.Errorf("%s: NotAfter %v, want about %v", w.name, got.NotAfter, start.Add(validity))
		}
		if strings.HasSuffix(w.name, ".key") {
			checkMode(t, got.Path, 0o600)
			readKey(t, got.Path)
		} else {
			checkMode(t, got.Path, 0o644)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(wants) {
		t.Errorf("Dir has %d entries, want %d (temporary files left behind?)", len(entries), len(wants))
	}

	ca := readCert(t, filepath.Join(dir, "ca.crt"))
	switch {
	case !ca.BasicConstraintsValid || !ca.IsCA:
		t.Error("ca.crt is not a CA")
	case ca.MaxPathLen != 0 || !ca.MaxPathLenZero:
		t.Errorf("ca.crt path length %d (zero %v), want 0", ca.MaxPathLen, ca.MaxPathLenZero)
	case ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign:
		t.Errorf("ca.crt key usage %v, want CertSign|CRLSign", ca.KeyUsage)
	case ca.Subject.CommonName != "meshbench CA mesh.example_1":
		t.Errorf("ca.crt subject %q", ca.Subject)
	case !near(ca.NotBefore, start.Add(-time.Minute)) || !near(ca.NotAfter, start.Add(validity)):
		t.Errorf("ca.crt valid %v..%v, want from a minute ago for %v", ca.NotBefore, ca.NotAfter, validity)
	case ca.PublicKeyAlgorithm != x509.ECDSA || ca.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256():
		t.Errorf("ca.crt key is %v, want ECDSA P-256", ca.PublicKeyAlgorithm)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("ca.crt is not self-signed: %v", err)
	}
	if !readKey(t, filepath.Join(dir, "ca.key")).PublicKey.Equal(ca.PublicKey) {
		t.Error("ca.key does not match ca.crt")
	}

	pool := loadPool(t, filepath.Join(dir, "ca.crt"))
	for _, w := range wants[2:] {
		if !strings.HasSuffix(w.name, ".crt") {
			continue
		}
		leaf := readCert(t, filepath.Join(dir, w.name))
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("%s does not verify for %v: %v", w.name, usage, err)
			}
		}
		if len(leaf.URIs) != 1 || leaf.URIs[0].String() != w.id {
			t.Errorf("%s URI SANs %v, want exactly [%s]", w.name, leaf.URIs, w.id)
		}
		if len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses) != 0 {
			t.Errorf("%s has other SANs: %v %v %v", w.name, leaf.DNSNames, leaf.IPAddresses, leaf.EmailAddresses)
		}
		if leaf.IsCA || leaf.KeyUsage != x509.KeyUsageDigitalSignature {
			t.Errorf("%s: IsCA %v, key usage %v; want a leaf for DigitalSignature", w.name, leaf.IsCA, leaf.KeyUsage)
		}
		if n := leaf.SerialNumber.BitLen(); n > 128 || n < 64 {
			t.Errorf("%s: serial of %d bits, want a random 128-bit one", w.name, n)
		}
		if !near(leaf.NotBefore, start.Add(-time.Minute)) {
			t.Errorf("%s: NotBefore %v, want a minute before %v", w.name, leaf.NotBefore, start)
		}
		base := strings.TrimSuffix(w.name, ".crt")
		if !readKey(t, filepath.Join(dir, base+".key")).PublicKey.Equal(leaf.PublicKey) {
			t.Errorf("%s.key does not match %s", base, w.name)
		}
	}
}

func TestGenerateReusesCA(t *testing.T) {
	dir := t.TempDir()
	caPath := filepath.Join(dir, "ca.crt")
	if _, err := certs.Generate(certs.Options{Dir: dir, Identities: []string{"default/web"}}); err != nil {
		t.Fatal(err)
	}
	caBefore, _ := os.ReadFile(caPath)
	leafBefore, _ := os.ReadFile(filepath.Join(dir, "default-web.crt"))

	// Re-run, adding an identity: the CA stays, the leaf is reissued.
	written, err := certs.Generate(certs.Options{Dir: dir, Identities: []string{"default/web", "default/api"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range written {
		if strings.HasPrefix(filepath.Base(w.Path), "ca.") {
			t.Errorf("re-run wrote %s", w.Path)
		}
	}
	if len(written) != 4 {
		t.Errorf("re-run wrote %d files, want 4", len(written))
	}
	if caAfter, _ := os.ReadFile(caPath); !bytes.Equal(caAfter, caBefore) {
		t.Error("re-run replaced ca.crt")
	}
	if leafAfter, _ := os.ReadFile(filepath.Join(dir, "default-web.crt")); bytes.Equal(leafAfter, leafBefore) {
		t.Error("re-run did not reissue default-web.crt")
	}
	pool := loadPool(t, caPath)
	for _, name := range []string{"default-web.crt", "default-api.crt"} {
		if _, err := readCert(t, filepath.Join(dir, name)).Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s does not verify against the kept CA: %v", name, err)
		}
	}

	// NewCA replaces it, and the leaves are signed by the new one.
	written, err = certs.Generate(certs.Options{Dir: dir, Identities: []string{"default/web"}, NewCA: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 4 || written[1].Path != caPath {
		t.Errorf("NewCA wrote %+v, want ca.key, ca.crt and one identity", written)
	}
	if caAfter, _ := os.ReadFile(caPath); bytes.Equal(caAfter, caBefore) {
		t.Error("NewCA kept ca.crt")
	}
	pool = loadPool(t, caPath)
	if _, err := readCert(t, filepath.Join(dir, "default-web.crt")).Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("default-web.crt does not verify against the new CA: %v", err)
	}

	// No identities: the CA alone, kept.
	if written, err := certs.Generate(certs.Options{Dir: dir}); err != nil || len(written) != 0 {
		t.Errorf("Generate with no identities = %+v, %v; want nothing written", written, err)
	}
}

// TestGenerateUnusableCA checks that a CA Generate cannot use is reported,
// never silently replaced, and that NewCA replaces it.
func TestGenerateUnusableCA(t *testing.T) {
	other, err := certs.NewCA("cluster.local", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	leafCert, leafKey, err := other.Issue("spiffe://cluster.local/ns/a/sa/b", now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		crt, key      []byte // nil: file absent
		wantInMessage string
	}{
		{"cert only", other.CertPEM, nil, "ca.key does not"},
		{"key only", nil, other.KeyPEM, "ca.crt does not"},
		{"garbage cert", []byte("not PEM"), other.KeyPEM, "no CERTIFICATE"},
		{"garbage key", other.CertPEM, []byte("not PEM"), "no PRIVATE KEY"},
		{"mismatched key", other.CertPEM, leafKey, "does not match"},
		{"leaf as CA", leafCert, leafKey, "not a CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range map[string][]byte{"ca.crt": tt.crt, "ca.key": tt.key} {
				if data != nil {
					if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			written, err := certs.Generate(certs.Options{Dir: dir, Identities: []string{"default/web"}})
			if !errors.Is(err, certs.ErrUnusableCA) || !strings.Contains(err.Error(), tt.wantInMessage) {
				t.Errorf("error %v, want ErrUnusableCA mentioning %q", err, tt.wantInMessage)
			}
			if len(written) != 0 {
				t.Errorf("wrote %+v despite the error", written)
			}
			if _, err := certs.Generate(certs.Options{Dir: dir, Identities: []string{"default/web"}, NewCA: true}); err != nil {
				t.Errorf("NewCA: %v", err)
			}
		})
	}
}

func TestGenerateOptionErrors(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		name      string
		opts      certs.Options
		wantField string
		wantMsg   string
	}{
		{"no dir", certs.Options{}, "Dir", "required"},
		{"upper-case trust domain", certs.Options{TrustDomain: "Cluster.local"}, "TrustDomain", "lower-case"},
		{"trust domain as URI", certs.Options{TrustDomain: "spiffe://cluster.local"}, "TrustDomain", "bare trust domain"},
		{"trust domain with port", certs.Options{TrustDomain: "cluster.local:443"}, "TrustDomain", "not a valid SPIFFE trust domain"},
		{"trust domain too long", certs.Options{TrustDomain: strings.Repeat("a", 256)}, "TrustDomain", "at most 255"},
		{"negative validity", certs.Options{Validity: -time.Hour}, "Validity", "positive"},
		{"validity over 10 years", certs.Options{Validity: certs.MaxValidity + time.Second}, "Validity", "at most"},
		{"identity without slash", certs.Options{Identities: []string{"web"}}, "Identities", "namespace/serviceaccount"},
		{"identity with two slashes", certs.Options{Identities: []string{"a/b/c"}}, "Identities", "namespace/serviceaccount"},
		{"empty identity", certs.Options{Identities: []string{""}}, "Identities", "namespace/serviceaccount"},
		{"empty namespace", certs.Options{Identities: []string{"/web"}}, "Identities", "namespace is empty"},
		{"empty service account", certs.Options{Identities: []string{"default/"}}, "Identities", "service account is empty"},
		{"upper-case namespace", certs.Options{Identities: []string{"Default/web"}}, "Identities", `namespace "Default" is not a DNS label`},
		{"dotted service account", certs.Options{Identities: []string{"default/web.v1"}}, "Identities", "not a DNS label"},
		{"traversal", certs.Options{Identities: []string{"../web"}}, "Identities", "not a DNS label"},
		{"leading dash", certs.Options{Identities: []string{"default/-web"}}, "Identities", "not a DNS label"},
		{"trailing dash", certs.Options{Identities: []string{"default-/web"}}, "Identities", "not a DNS label"},
		{"label too long", certs.Options{Identities: []string{"default/" + long}}, "Identities", "at most 63"},
		{"duplicate", certs.Options{Identities: []string{"default/web", "default/web"}}, "Identities", "listed twice"},
		{"file name collision", certs.Options{Identities: []string{"a-b/c", "a/b-c"}}, "Identities", "a-b-c.crt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if tt.opts.Dir == "" && tt.wantField != "Dir" {
				tt.opts.Dir = dir
			}
			_, err := certs.Generate(tt.opts)
			var oe *certs.OptionError
			if !errors.As(err, &oe) || oe.Field != tt.wantField || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %v, want an OptionError for %s mentioning %q", err, tt.wantField, tt.wantMsg)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("invalid options touched the disk: %v", err)
			}
		})
	}
	// The largest valid label is fine.
	if _, err := certs.Generate(certs.Options{Dir: t.TempDir(), Identities: []string{long[1:] + "/" + long[1:]}, Validity: certs.MaxValidity}); err != nil {
		t.Errorf("63-character labels and 10-year validity: %v", err)
	}
}

func TestParseIdentity(t *testing.T) {
	for _, s := range []string{"default/web", "kube-system/coredns", "a/b", "0/9", "a-1/b-2"} {
		ns, sa, err := certs.ParseIdentity(s)
		if err != nil || ns+"/"+sa != s {
			t.Errorf("ParseIdentity(%q) = %q, %q, %v", s, ns, sa, err)
		}
	}
	for _, s := range []string{"", "/", "web", "a/b/c", "A/b", "a/B", "a_b/c", "a/b c", "a./b", " a/b", "ä/b"} {
		if _, _, err := certs.ParseIdentity(s); err == nil {
			t.Errorf("ParseIdentity(%q) succeeded", s)
		}
	}
}

func TestNewCAErrors(t *testing.T) {
	for _, tt := range []struct {
		td       string
		validity time.Duration
	}{
		{"", time.Hour},
		{"Upper", time.Hour},
		{"cluster.local", 0},
		{"cluster.local", -time.Second},
		{"cluster.local", certs.MaxValidity + 1},
	} {
		if _, err := certs.NewCA(tt.td, tt.validity); err == nil {
			t.Errorf("NewCA(%q, %v) succeeded", tt.td, tt.validity)
		}
	}
}

func TestIssue(t *testing.T) {
	ca, err := certs.NewCA("cluster.local", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Times are taken as given, even outside the CA's validity, so tests can
	// make expired certificates on purpose.
	notBefore := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	notAfter := notBefore.Add(time.Hour)
	certPEM, keyPEM, err := ca.Issue("spiffe://cluster.local/ns/default/sa/old", notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.NotBefore.Equal(notBefore) || !leaf.NotAfter.Equal(notAfter) {
		t.Errorf("validity %v..%v, want %v..%v", leaf.NotBefore, leaf.NotAfter, notBefore, notAfter)
	}
	if err := leaf.CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("not signed by the CA: %v", err)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("key PEM %q, want PRIVATE KEY", keyPEM)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool}); err == nil {
		t.Error("an expired certificate verified")
	}

	for _, id := range []string{
		"",
		"spiffe://cluster.local",
		"spiffe://cluster.local/",
		"spiffe://cluster.local/a//b",
		"spiffe://cluster.local/a/../b",
		"spiffe://cluster.local/a/./b",
		"spiffe://cluster.local/a%20b",
		"spiffe://cluster.local/a?b",
		"spiffe://Cluster.local/a",
		"spiffe://cluster.local:8443/a",
		"spiffe://user@cluster.local/a",
		"SPIFFE://cluster.local/a",
		"https://cluster.local/a",
		"spiffe:///a",
		"spiffe://cluster.local/" + strings.Repeat("a", 2048),
	} {
		if _, _, err := ca.Issue(id, notBefore, notAfter); err == nil {
			t.Errorf("Issue(%q) succeeded", id)
		}
	}
	if _, _, err := ca.Issue("spiffe://cluster.local/a", notAfter, notBefore); err == nil {
		t.Error("Issue with notAfter before notBefore succeeded")
	}
}

func TestParseCA(t *testing.T) {
	ca, err := certs.NewCA("cluster.local", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := certs.ParseCA(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(ca.Cert) {
		t.Error("ParseCA returned another certificate")
	}
	other, _ := certs.NewCA("cluster.local", time.Hour)
	if _, err := certs.ParseCA(ca.CertPEM, other.KeyPEM); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("mismatched key: %v", err)
	}
}
