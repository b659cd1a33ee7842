package identity

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
)

// TestOpenSSLIdentities loads identities made by openssl, in the key
// encodings its different commands write, issued by an intermediate CA whose
// certificate follows the leaf in the certificate file, and runs mutual-TLS
// handshakes between them.
func TestOpenSSLIdentities(t *testing.T) {
	testenv.NeedProgram(t, "openssl", "openssl")
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
	}
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
		"-keyout", "root.key", "-out", "root.crt", "-days", "1", "-subj", "/CN=root",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-noenc",
		"-keyout", "int.key", "-out", "int.csr", "-subj", "/CN=intermediate")
	write("int.ext", "basicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = critical, keyCertSign, cRLSign\n")
	run("x509", "-req", "-in", "int.csr", "-CA", "root.crt", "-CAkey", "root.key", "-days", "1",
		"-extfile", "int.ext", "-out", "int.crt")

	identities := []struct {
		name, id string
		genkey   []string // writes <name>.key
	}{
		// EC PARAMETERS block, then SEC 1 "EC PRIVATE KEY".
		{"ec", "spiffe://cluster.local/ns/default/sa/ec", []string{"ecparam", "-name", "prime256v1", "-genkey", "-out", "ec.key"}},
		// PKCS#1 "RSA PRIVATE KEY".
		{"rsa", "spiffe://cluster.local/ns/default/sa/rsa", []string{"genrsa", "-traditional", "-out", "rsa.key", "2048"}},
		// PKCS#8 "PRIVATE KEY".
		{"ed", "spiffe://cluster.local/ns/default/sa/ed", []string{"genpkey", "-algorithm", "ed25519", "-out", "ed.key"}},
	}
	var sources []*Source
	for _, id := range identities {
		run(id.genkey...)
		run("req", "-new", "-key", id.name+".key", "-out", id.name+".csr", "-subj", "/O=example")
		write(id.name+".ext", "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n"+
			"extendedKeyUsage = serverAuth, clientAuth\nsubjectAltName = URI:"+id.id+"\n")
		run("x509", "-req", "-in", id.name+".csr", "-CA", "int.crt", "-CAkey", "int.key", "-days", "1",
			"-extfile", id.name+".ext", "-out", id.name+".crt")
		write(id.name+".chain", string(read(id.name+".crt"))+string(read("int.crt")))
		s, err := Load(filepath.Join(dir, id.name+".chain"), filepath.Join(dir, id.name+".key"), filepath.Join(dir, "root.crt"))
		if err != nil {
			t.Fatalf("%s: %v", id.name, err)
		}
		if s.ID() != id.id {
			t.Errorf("%s: ID %q, want %q", id.name, s.ID(), id.id)
		}
		sources = append(sources, s)
	}

	for _, server := range sources {
		srv := startServer(t, server.ServerConfig(), 5*time.Second)
		for _, client := range sources {
			cr, sr := srv.exchange(t, client.ClientConfig(server.ID()))
			if cr.err != nil || sr.err != nil {
				t.Errorf("%s → %s: client %v, server %v", client.ID(), server.ID(), cr.err, sr.err)
				continue
			}
			if PeerID(&sr.state) != client.ID() || PeerID(&cr.state) != server.ID() {
				t.Errorf("%s → %s: peers %q and %q", client.ID(), server.ID(), PeerID(&sr.state), PeerID(&cr.state))
			}
		}
	}
}
