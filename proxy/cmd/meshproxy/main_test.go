package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
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

// These tests run the real binary: flags, exit codes and signals are its
// interface.

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "meshproxy-test")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var buildOnce = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "meshproxy")
	out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// buildBinary builds the command once per test run (with the race
// detector, so the signal paths are checked too).
func buildBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestFlagErrorsExitTwo(t *testing.T) {
	bin := buildBinary(t)
	cases := []struct {
		args []string
		want string
		code int
	}{
		{nil, "-config is required", 2},
		{[]string{"-config", "x.yaml", "-log-level", "loud"}, `-log-level "loud"`, 2},
		{[]string{"-config", "x.yaml", "-profile", "heap"}, `-profile "heap"`, 2},
		{[]string{"-nosuchflag"}, "flag provided but not defined", 2},
		{[]string{"-config", "/nonexistent/mesh.yaml"}, "no such file", 1},
	}
	for _, c := range cases {
		cmd := exec.Command(bin, c.args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("meshproxy %v: err %v, stderr %q; want exit %d mentioning %q", c.args, err, stderr.String(), c.code, c.want)
		}
	}
	out, err := exec.Command(bin, "-version").Output()
	if err != nil || !strings.HasPrefix(string(out), "meshproxy ") {
		t.Errorf("-version: %q %v", out, err)
	}
}

func TestBadConfigNamesTheField(t *testing.T) {
	bin := buildBinary(t)
	file := filepath.Join(t.TempDir(), "bad.yaml")
	cfg := "apiVersion: meshbench.dev/v1alpha1\nkind: Proxy\nmetadata: {name: p}\nspec:\n  outbound: {address: 127.0.0.1:15001}\n  outbund: {address: 127.0.0.1:15002}\n"
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-config", file)
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v", err)
	}
	for _, want := range []string{"bad.yaml", "document 1", "outbund"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("error %q does not mention %q", stderr.String(), want)
		}
	}
}

// TestSIGTERMDrains: an in-flight slow request completes, readiness turns
// off, and the process exits 0; SIGHUP reloads meanwhile.
func TestSIGTERMDrains(t *testing.T) {
	bin := buildBinary(t)
	up, err := echo.Start(echo.Options{Listen: "127.0.0.1:0", Name: "up", Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	_, upPort, _ := net.SplitHostPort(up.Addr())
	out, admin := freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf(`apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: p}
spec:
  admin: {address: %s}
  outbound: {address: %s}
  timeouts: {drain: 5s}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: %s}]
endpoints: [{addresses: [127.0.0.1]}]
`, admin, out, upPort)
	file := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", file, "-log-level", "debug")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitReady(t, admin, &logs)

	// SIGHUP: a reload of the unchanged file is applied and counted.
	_ = cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(scrape(t, admin), `meshproxy_config_reloads_total{result="ok"} 1`) {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+out+"/?delay=1s", nil)
		req.Host = "web"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	time.Sleep(300 * time.Millisecond) // the request is in flight upstream
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if resp, err := http.Get("http://" + admin + "/ready"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 503 {
			t.Errorf("/ready during drain: %d, want 503", resp.StatusCode)
		}
	}
	r := <-done
	if r.err != nil || r.status != 200 || len(r.body) != 10 {
		t.Fatalf("in-flight request during drain: %+v; logs:\n%s", r, logs.String())
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; logs:\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("meshproxy did not exit after SIGTERM; logs:\n%s", logs.String())
	}
}

func waitReady(t *testing.T, admin string, logs *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + admin + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("meshproxy not ready; logs:\n%s", logs.String())
}

func scrape(t *testing.T, admin string) string {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
