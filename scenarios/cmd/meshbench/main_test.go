package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/scenarios/echo"
)

// TestMain lets tests run the real main in a subprocess (the test binary
// re-executed with MESHBENCH_MAIN=1), to check signal handling and exit
// codes without a separate go build.
func TestMain(m *testing.M) {
	if os.Getenv("MESHBENCH_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{"no command", nil, 2, "", []string{"Usage: meshbench", "echo"}},
		{"unknown command", []string{"frobnicate"}, 2, "", []string{`unknown command "frobnicate"`, "  echo "}},
		{"version", []string{"-version"}, 0, "meshbench ", nil},
		{"help", []string{"help"}, 0, "echo", nil},
		{"help lists certs", []string{"help"}, 0, "  certs ", nil},
		{"-h", []string{"-h"}, 0, "", []string{"Usage: meshbench"}},
		{"bad global flag", []string{"-bogus"}, 2, "", []string{"flag provided but not defined: -bogus"}},
		{"echo bad flag", []string{"echo", "-bogus"}, 2, "", []string{"flag provided but not defined: -bogus", "Usage: meshbench echo"}},
		{"echo bad size", []string{"echo", "-size", "big"}, 2, "", []string{`invalid value "big" for flag -size`}},
		{"echo negative size", []string{"echo", "-size", "-1"}, 2, "", []string{"-size -1 out of range"}},
		{"echo huge size", []string{"echo", "-size", "999999999"}, 2, "", []string{"out of range"}},
		{"echo bad delay", []string{"echo", "-delay", "soon"}, 2, "", []string{`invalid value "soon" for flag -delay`}},
		{"echo negative delay", []string{"echo", "-delay", "-1s"}, 2, "", []string{"-delay -1s out of range"}},
		{"echo empty listen", []string{"echo", "-listen", ""}, 2, "", []string{"-listen must not be empty"}},
		{"echo bad profile", []string{"echo", "-profile", "heap"}, 2, "", []string{`unknown -profile "heap"`, "cpu"}},
		{"echo extra argument", []string{"echo", "extra"}, 2, "", []string{`unexpected argument "extra"`}},
		{"echo help", []string{"echo", "-h"}, 0, "", []string{"-listen", "-size", "-profile"}},
		{"echo listen fails", []string{"echo", "-listen", "256.0.0.1:0"}, 1, "", []string{"meshbench echo:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstderr: %s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tt.wantStdout)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestRunEchoInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"echo", "-listen", "127.0.0.1:0", "-name", "e1", "-size", "10"}, &stdout, &stderr)
	}()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; {
		if a, ok := strings.CutPrefix(stderr.String(), "echo listening on "); ok && strings.HasSuffix(a, "\n") {
			addr = strings.TrimSpace(a)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line; stderr: %q", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	checkEcho(t, addr, "e1", 10)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after cancel; stderr: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("echo did not stop after cancel")
	}
	if got := strings.Count(stderr.String(), "\n"); got != 1 {
		t.Errorf("stderr has %d lines, want exactly the listening line: %q", got, stderr.String())
	}
}

func checkEcho(t *testing.T, addr, name string, size int) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := resp.Header.Get(echo.NameHeader); got != name {
		t.Errorf("%s = %q, want %q", echo.NameHeader, got, name)
	}
	if !bytes.Equal(body, echo.Body(size)) {
		t.Errorf("body = %q, want %d pattern bytes", body, size)
	}
}

// TestEchoProcess runs the real binary entry point and stops it the way a
// harness does, with SIGTERM (and SIGINT, with a CPU profile to flush).
func TestEchoProcess(t *testing.T) {
	for _, tt := range []struct {
		name    string
		sig     syscall.Signal
		args    []string
		profile string // file that must exist afterwards
	}{
		{"SIGTERM", syscall.SIGTERM, nil, ""},
		{"SIGINT with cpu profile", syscall.SIGINT, []string{"-profile", "cpu"}, "cpu.pprof"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], append([]string{"echo", "-listen", "127.0.0.1:0"}, tt.args...)...)
			cmd.Env = append(os.Environ(), "MESHBENCH_MAIN=1")
			cmd.Dir = dir
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					if a, ok := strings.CutPrefix(sc.Text(), "echo listening on "); ok {
						lines <- a
					}
				}
				close(lines)
			}()
			var addr string
			select {
			case addr = <-lines:
			case <-time.After(20 * time.Second):
				t.Fatal("no listening line")
			}
			if addr == "" {
				t.Fatal("process exited without a listening line")
			}
			checkEcho(t, addr, addr, 1024) // CLI defaults: name = address, 1 KiB body
			cmd.Process.Signal(tt.sig)
			waitErr := make(chan error, 1)
			go func() { waitErr <- cmd.Wait() }()
			select {
			case err := <-waitErr:
				if err != nil {
					t.Errorf("exit after %v: %v", tt.sig, err)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("did not exit after %v", tt.sig)
			}
			if tt.profile != "" {
				if fi, err := os.Stat(filepath.Join(dir, tt.profile)); err != nil || fi.Size() == 0 {
					t.Errorf("profile %s not written: %v", tt.profile, err)
				}
			}
		})
	}
}
