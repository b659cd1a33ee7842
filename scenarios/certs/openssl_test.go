package certs_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
	"github.com/meshbench/meshbench/scenarios/certs"
)

// These tests run the recipe in OPENSSL.md, because users bring
// certificates made with openssl: whatever it produces from that recipe must
// work with what meshbench makes, in both directions. Keep the two in step.

// openssl runs the openssl command in dir and returns its standard output.
func openssl(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("openssl %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// opensslCA makes ca.crt and ca.key in dir (OPENSSL.md, step 1).
func opensslCA(t *testing.T, dir string) {
	t.Helper()
	openssl(t, dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
		"-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
		"-subj", "/CN=example CA cluster.local",
		"-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
		"-addext", "keyUsage=critical,keyCertSign,cRLSign")
}

// opensslLeaf makes <base>.crt and <base>.key in dir for id, signed by the
// CA in dir (OPENSSL.md, step 2).
func opensslLeaf(t *testing.T, dir, base, id string) {
	t.Helper()
	openssl(t, dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
		"-keyout", base+".key", "-out", base+".csr", "-subj", "/O=example")
	ext := "basicConstraints = critical, CA:FALSE\n" +
		"keyUsage = critical, digitalSignature\n" +
		"extendedKeyUsage = serverAuth, clientAuth\n" +
		"subjectAltName = URI:" + id + "\n"
	if err := os.WriteFile(filepath.Join(dir, base+".ext"), []byte(ext), 0o644); err != nil {
		t.Fatal(err)
	}
	openssl(t, dir, "x509", "-req", "-in", base+".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-days", "1",
		"-extfile", base+".ext", "-out", base+".crt")
}

func requireOpenSSL(t *testing.T) {
	t.Helper()
	testenv.NeedProgram(t, "openssl", "openssl")
}

// TestOpenSSLIdentities checks that certificates made with openssl carry
// the SPIFFE ID where Go sees it and authenticate each other with the same
// verification as meshbench's own.
func TestOpenSSLIdentities(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	opensslCA(t, dir)
	const osslID, ossl2ID = "spiffe://cluster.local/ns/default/sa/ossl", "spiffe://cluster.local/ns/default/sa/ossl2"
	opensslLeaf(t, dir, "default-ossl", osslID)
	opensslLeaf(t, dir, "default-ossl2", ossl2ID)

	pool := loadPool(t, filepath.Join(dir, "ca.crt"))
	for base, id := range map[string]string{"default-ossl": osslID, "default-ossl2": ossl2ID} {
		leaf := readCert(t, filepath.Join(dir, base+".crt"))
		if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id || len(leaf.DNSNames) != 0 {
			t.Errorf("%s: URI SANs %v, DNS SANs %v; want exactly [%s]", base, leaf.URIs, leaf.DNSNames, id)
		}
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("%s does not verify for %v: %v", base, usage, err)
			}
		}
	}
	checkMTLS(t, loadPair(t, dir, "default-ossl"), loadPair(t, dir, "default-ossl2"), pool, pool, osslID, ossl2ID)
}

// TestOpenSSLCAReused checks a user's openssl CA dropped into the output
// directory: Generate keeps it, signs under it, and the result talks to an
// openssl-made identity of the same CA.
func TestOpenSSLCAReused(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	opensslCA(t, dir)
	const osslID, webID = "spiffe://cluster.local/ns/default/sa/ossl", "spiffe://cluster.local/ns/default/sa/web"
	opensslLeaf(t, dir, "default-ossl", osslID)
	caBefore, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))

	written, err := certs.Generate(certs.Options{Dir: dir, Identities: []string{"default/web"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 2 {
		t.Errorf("wrote %+v, want only default-web's files", written)
	}
	if caAfter, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); !bytes.Equal(caAfter, caBefore) {
		t.Error("Generate replaced the openssl CA")
	}
	pool := loadPool(t, filepath.Join(dir, "ca.crt"))
	web, ossl := loadPair(t, dir, "default-web"), loadPair(t, dir, "default-ossl")
	checkMTLS(t, web, ossl, pool, pool, webID, osslID)
	checkMTLS(t, ossl, web, pool, pool, osslID, webID)

	// And in memory: ParseCA on the openssl files, then Issue.
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	ca, err := certs.ParseCA(caPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	const memID = "spiffe://cluster.local/ns/default/sa/mem"
	now := time.Now()
	certPEM, leafKeyPEM, err := ca.Issue(memID, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	mem, err := tls.X509KeyPair(certPEM, leafKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	checkMTLS(t, mem, ossl, pool, pool, memID, osslID)
}

// TestOpenSSLAcceptsGenerated checks the other direction: openssl reads
// meshbench's keys and accepts its certificates for TLS servers and clients.
func TestOpenSSLAcceptsGenerated(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	if _, err := certs.Generate(certs.Options{Dir: dir, Identities: []string{"default/web"}}); err != nil {
		t.Fatal(err)
	}
	for _, purpose := range []string{"sslserver", "sslclient"} {
		out := openssl(t, dir, "verify", "-CAfile", "ca.crt", "-purpose", purpose, "default-web.crt")
		if !strings.Contains(out, "default-web.crt: OK") {
			t.Errorf("openssl verify -purpose %s: %s", purpose, out)
		}
	}
	for _, key := range []string{"ca.key", "default-web.key"} {
		openssl(t, dir, "pkey", "-in", key, "-noout")
	}
	text := openssl(t, dir, "x509", "-in", "default-web.crt", "-noout", "-text")
	if !strings.Contains(text, "URI:spiffe://cluster.local/ns/default/sa/web") {
		t.Errorf("openssl does not show the URI SAN:\n%s", text)
	}
}
