package certs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCA puts a CA valid from notBefore to notAfter into dir.
func writeCA(t *testing.T, dir string, notBefore, notAfter time.Time) *CA {
	t.Helper()
	ca, err := newCA("cluster.local", notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(filepath.Join(dir, CAKeyFile), ca.KeyPEM, keyMode); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(filepath.Join(dir, CACertFile), ca.CertPEM, certMode); err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestGenerateClampsToCA checks that leaves issued under a kept CA that
// expires before the requested validity expire with the CA.
func TestGenerateClampsToCA(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC().Truncate(time.Second)
	ca := writeCA(t, dir, now.Add(-time.Hour), now.Add(time.Hour))
	written, err := Generate(Options{Dir: dir, Validity: 24 * time.Hour, Identities: []string{"default/web"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 2 {
		t.Fatalf("wrote %+v, want the identity's two files", written)
	}
	for _, w := range written {
		if !w.NotAfter.Equal(ca.Cert.NotAfter) {
			t.Errorf("%s expires %v, want the CA's %v", w.Path, w.NotAfter, ca.Cert.NotAfter)
		}
	}
}

func TestGenerateExpiredCA(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	writeCA(t, dir, now.Add(-2*time.Hour), now.Add(-time.Hour))
	_, err := Generate(Options{Dir: dir, Identities: []string{"default/web"}})
	if !errors.Is(err, ErrUnusableCA) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("error %v, want ErrUnusableCA saying it expired", err)
	}
	if _, err := Generate(Options{Dir: dir, Identities: []string{"default/web"}, NewCA: true}); err != nil {
		t.Fatal(err)
	}
}

// TestWriteFileAtomic checks that a replaced file gets the new mode and
// content and that no temporary file is left, even when the rename fails.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.crt")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "new" {
		t.Errorf("content %q", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	// Renaming over a non-empty directory fails.
	blocked := filepath.Join(dir, "blocked.crt")
	if err := os.MkdirAll(filepath.Join(blocked, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(blocked, []byte("x"), 0o644); err == nil {
		t.Error("write over a directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want 2 (a temporary file left behind?)", len(entries))
	}
}
