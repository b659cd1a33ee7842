package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGOMAXPROCSPolicy runs the binary: eventLoops N gives N+1 Ps (a spare
// one, so the runtime does not take the P of a loop asleep in epoll_wait),
// a GOMAXPROCS in the environment wins, and eventLoops 0 leaves the
// runtime's default. The value is read from the startup log line.
func TestGOMAXPROCSPolicy(t *testing.T) {
	bin := buildBinary(t)
	for _, tc := range []struct {
		name  string
		loops int
		env   string
		want  string
	}{
		{"one loop", 1, "", "gomaxprocs=2"},
		{"three loops", 3, "", "gomaxprocs=4"},
		{"environment wins", 1, "1", "gomaxprocs=1"},
		{"default loops", 0, "5", "gomaxprocs=5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fmt.Sprintf(`apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: p}
spec:
  admin: {address: %s}
  outbound: {address: %s}
  eventLoops: %d
`, freeAddr(t), freeAddr(t), tc.loops)
			file := filepath.Join(t.TempDir(), "mesh.yaml")
			if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "-config", file)
			cmd.Env = os.Environ()
			for i, kv := range cmd.Env {
				if strings.HasPrefix(kv, "GOMAXPROCS=") {
					cmd.Env[i] = "MESHPROXY_TEST_UNSET=1"
				}
			}
			if tc.env != "" {
				cmd.Env = append(cmd.Env, "GOMAXPROCS="+tc.env)
			}
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			lines := make(chan string, 1)
			go func() {
				buf := make([]byte, 64<<10)
				var all strings.Builder
				for {
					n, err := stderr.Read(buf)
					all.Write(buf[:n])
					_, after, started := strings.Cut(all.String(), "meshproxy started")
					if (started && strings.Contains(after, "\n")) || err != nil {
						lines <- all.String()
						return
					}
				}
			}()
			select {
			case got := <-lines:
				if !strings.Contains(got, tc.want) {
					t.Fatalf("startup log does not say %s:\n%s", tc.want, got)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no startup log line in 30 s")
			}
		})
	}
}
