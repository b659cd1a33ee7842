package machine

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestEnvironment(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "fake")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n[ \"$1\" = -version ] && echo 'fake v1.2.3'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := Environment(context.Background(), map[string]string{"fake": prog, "missing": filepath.Join(dir, "nope")})
	if env.Cores != runtime.NumCPU() || env.GoVersion != runtime.Version() || env.Kernel == "" {
		t.Fatalf("environment %+v", env)
	}
	if env.Versions["fake"] != "fake v1.2.3" {
		t.Fatalf("versions %v: want fake's -version output", env.Versions)
	}
	if _, ok := env.Versions["missing"]; ok {
		t.Fatal("a program that cannot run got a version")
	}
}
