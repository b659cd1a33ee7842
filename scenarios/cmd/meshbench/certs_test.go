package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runCLI runs meshbench in-process with args and returns its exit code and
// output.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestCertsUsageErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string // after "certs -out DIR" unless noOut
		noOut      bool
		wantStderr []string
	}{
		{"no -out", []string{"-identities", "default/web"}, true, []string{"-out is required"}},
		{"empty -out", []string{"-out", "", "-identities", "default/web"}, true, []string{"-out is required"}},
		{"no -identities", nil, false, []string{"-identities is required"}},
		{"empty -identities", []string{"-identities", ""}, false, []string{"-identities is required"}},
		{"identity without slash", []string{"-identities", "web"}, false, []string{"-identities:", `"web"`, "namespace/serviceaccount"}},
		{"upper-case identity", []string{"-identities", "default/Web"}, false, []string{"-identities:", `service account "Web" is not a DNS label`}},
		{"long identity", []string{"-identities", "default/" + strings.Repeat("x", 64)}, false, []string{"-identities:", "at most 63"}},
		{"trailing comma", []string{"-identities", "default/web,"}, false, []string{"-identities:", `identity ""`}},
		{"duplicate identity", []string{"-identities", "default/web", "-identities", "default/web"}, false, []string{"-identities:", "listed twice"}},
		{"colliding identities", []string{"-identities", "a-b/c,a/b-c"}, false, []string{"-identities:", "a-b-c.crt"}},
		{"bad trust domain", []string{"-identities", "default/web", "-trust-domain", "Cluster.Local"}, false, []string{"-trust-domain:", "not a valid SPIFFE trust domain"}},
		{"trust domain as URI", []string{"-identities", "default/web", "-trust-domain", "spiffe://cluster.local"}, false, []string{"-trust-domain:", "bare trust domain"}},
		{"empty trust domain", []string{"-identities", "default/web", "-trust-domain", ""}, false, []string{"-trust-domain:", "must not be empty"}},
		{"zero validity", []string{"-identities", "default/web", "-validity", "0s"}, false, []string{"-validity:", "positive"}},
		{"negative validity", []string{"-identities", "default/web", "-validity", "-1h"}, false, []string{"-validity:", "positive"}},
		{"validity over 10 years", []string{"-identities", "default/web", "-validity", "87601h"}, false, []string{"-validity:", "at most 87600h0m0s (10 years)"}},
		{"unparsable validity", []string{"-identities", "default/web", "-validity", "30d"}, false, []string{`invalid value "30d" for flag -validity`}},
		{"unknown flag", []string{"-identities", "default/web", "-bogus"}, false, []string{"flag provided but not defined: -bogus"}},
		{"extra argument", []string{"-identities", "default/web", "extra"}, false, []string{`unexpected argument "extra"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			args := []string{"certs"}
			if !tt.noOut {
				args = append(args, "-out", dir)
			}
			code, stdout, stderr := runCLI(append(args, tt.args...)...)
			if code != 2 {
				t.Errorf("exit code %d, want 2\nstderr: %s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			for _, want := range append(tt.wantStderr, "Usage: meshbench certs") {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a usage error touched -out: %v", err)
			}
		})
	}
}

func TestCertsHelp(t *testing.T) {
	code, _, stderr := runCLI("certs", "-h")
	if code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	for _, want := range []string{"-out", "-identities", "-trust-domain", "-validity", "-new-ca", "cluster.local", "24h0m0s"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("help lacks %q:\n%s", want, stderr)
		}
	}
}

// wroteLine matches the line printed per file written.
var wroteLine = regexp.MustCompile(`^wrote (\S+) \((spiffe://\S+), expires (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\)$`)

// parseWrote parses stdout's "wrote" lines into path -> SPIFFE ID and
// checks each expiry is within a few seconds of want.
func parseWrote(t *testing.T, stdout string, want time.Time) map[string]string {
	t.Helper()
	got := map[string]string{}
	for line := range strings.Lines(stdout) {
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, "kept ") {
			continue
		}
		m := wroteLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("unexpected output line %q", line)
			continue
		}
		got[m[1]] = m[2]
		exp, _ := time.Parse(time.RFC3339, m[3])
		if d := exp.Sub(want); d < -5*time.Second || d > 5*time.Second {
			t.Errorf("%s expires %v, want about %v", m[1], exp, want)
		}
	}
	return got
}

func TestCertsWrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	start := time.Now()
	code, stdout, stderr := runCLI("certs", "-out", dir, "-trust-domain", "mesh.test", "-validity", "2h",
		"-identities", "default/web, shop/api", "-identities", "shop/db")
	if code != 0 {
		t.Fatalf("exit code %d\nstderr: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr %q, want nothing", stderr)
	}
	got := parseWrote(t, stdout, start.Add(2*time.Hour))
	want := map[string]string{
		"ca.key":          "spiffe://mesh.test",
		"ca.crt":          "spiffe://mesh.test",
		"default-web.key": "spiffe://mesh.test/ns/default/sa/web",
		"default-web.crt": "spiffe://mesh.test/ns/default/sa/web",
		"shop-api.key":    "spiffe://mesh.test/ns/shop/sa/api",
		"shop-api.crt":    "spiffe://mesh.test/ns/shop/sa/api",
		"shop-db.key":     "spiffe://mesh.test/ns/shop/sa/db",
		"shop-db.crt":     "spiffe://mesh.test/ns/shop/sa/db",
	}
	if len(got) != len(want) {
		t.Errorf("printed %d files, want %d:\n%s", len(got), len(want), stdout)
	}
	for name, id := range want {
		path := filepath.Join(dir, name)
		if got[path] != id {
			t.Errorf("printed %s as %q, want %q", path, got[path], id)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Error(err)
			continue
		}
		wantMode := fs.FileMode(0o644)
		if strings.HasSuffix(name, ".key") {
			wantMode = 0o600
		}
		if fi.Mode().Perm() != wantMode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), wantMode)
		}
	}
	checkSVID(t, dir, "shop-db.crt", "spiffe://mesh.test/ns/shop/sa/db")

	// Re-run: the CA is kept and said so.
	caBefore, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	code, stdout, stderr = runCLI("certs", "-out", dir, "-trust-domain", "mesh.test", "-validity", "1h", "-identities", "default/web")
	if code != 0 {
		t.Fatalf("re-run: exit code %d\nstderr: %s", code, stderr)
	}
	wantOut := "kept " + filepath.Join(dir, "ca.crt") + " (existing CA; -new-ca replaces it)\n"
	if !strings.HasPrefix(stdout, wantOut) {
		t.Errorf("re-run stdout %q, want it to start with %q", stdout, wantOut)
	}
	if got := parseWrote(t, stdout, time.Now().Add(time.Hour)); len(got) != 2 {
		t.Errorf("re-run printed %d files, want 2:\n%s", len(got), stdout)
	}
	if caAfter, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); !bytes.Equal(caAfter, caBefore) {
		t.Error("re-run replaced ca.crt")
	}
	checkSVID(t, dir, "default-web.crt", "spiffe://mesh.test/ns/default/sa/web")

	// -new-ca replaces it.
	code, stdout, stderr = runCLI("certs", "-out", dir, "-trust-domain", "mesh.test", "-new-ca", "-identities", "default/web")
	if code != 0 {
		t.Fatalf("-new-ca: exit code %d\nstderr: %s", code, stderr)
	}
	if got := parseWrote(t, stdout, time.Now().Add(24*time.Hour)); got[filepath.Join(dir, "ca.crt")] == "" || len(got) != 4 {
		t.Errorf("-new-ca printed:\n%s\nwant ca.key, ca.crt and default-web's files", stdout)
	}
	if caAfter, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); bytes.Equal(caAfter, caBefore) {
		t.Error("-new-ca kept ca.crt")
	}
	checkSVID(t, dir, "default-web.crt", "spiffe://mesh.test/ns/default/sa/web")
}

// checkSVID verifies dir/name against dir/ca.crt for both TLS roles and
// checks its SPIFFE ID.
func checkSVID(t *testing.T, dir, name, id string) {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", name)
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("%s: %v", name, err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id {
		t.Errorf("%s: URI SANs %v, want [%s]", name, leaf.URIs, id)
	}
}

// TestCertsShortLivedCA checks the warning when a kept CA cuts the
// requested validity short.
func TestCertsShortLivedCA(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI("certs", "-out", dir, "-validity", "1h", "-identities", "default/web"); code != 0 {
		t.Fatalf("exit code %d\nstderr: %s", code, stderr)
	}
	code, stdout, stderr := runCLI("certs", "-out", dir, "-validity", "48h", "-identities", "default/web")
	if code != 0 {
		t.Fatalf("exit code %d\nstderr: %s", code, stderr)
	}
	if !strings.Contains(stderr, "warning: "+filepath.Join(dir, "ca.crt")+" expires before -validity 48h0m0s is up") {
		t.Errorf("stderr lacks the warning:\n%s", stderr)
	}
	parseWrote(t, stdout, time.Now().Add(time.Hour)) // the CA's expiry, not 48h
}

func TestCertsRuntimeErrors(t *testing.T) {
	t.Run("unusable CA", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runCLI("certs", "-out", dir, "-identities", "default/web")
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		if stdout != "" {
			t.Errorf("stdout %q, want nothing", stdout)
		}
		for _, want := range []string{"existing CA is unusable", "ca.key does not", "-new-ca replaces the CA"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
		if code, _, stderr := runCLI("certs", "-out", dir, "-identities", "default/web", "-new-ca"); code != 0 {
			t.Errorf("-new-ca: exit code %d\nstderr: %s", code, stderr)
		}
	})
	t.Run("-out is a file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI("certs", "-out", path, "-identities", "default/web")
		if code != 1 || !strings.Contains(stderr, "meshbench certs: ") {
			t.Errorf("exit code %d, want 1\nstderr: %s", code, stderr)
		}
	})
}
