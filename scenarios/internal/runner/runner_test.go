package runner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/results/schema"
	"github.com/meshbench/meshbench/scenarios/internal/cpus"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// bins are meshproxy, meshload and meshbench built once for the package's
// tests (static, like make build), in binDir.
var (
	bins   Binaries
	binDir string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "meshbench-runner-test-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	bins = Binaries{Meshproxy: filepath.Join(dir, "meshproxy"), Meshload: filepath.Join(dir, "meshload"), Meshbench: filepath.Join(dir, "meshbench")}
	for out, pkg := range map[string]string{bins.Meshproxy: "proxy/cmd/meshproxy", bins.Meshload: "loadgen/cmd/meshload", bins.Meshbench: "scenarios/cmd/meshbench"} {
		cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
		cmd.Dir = "../../.."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			panic("go build " + pkg + ": " + err.Error() + "\n" + string(b))
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func parse(t *testing.T, y string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Parse([]byte(y), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// strays lists live processes started from binDir or by nginx/haproxy
// configs in a runner work dir: what a run must not leave behind.
func strays(t *testing.T) []string {
	t.Helper()
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, binDir) || strings.Contains(cmd, "meshbench-quick-") || strings.Contains(cmd, "meshbench-e2e-") {
			if stat, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil && strings.Contains(string(stat), ") Z ") {
				continue // a zombie waiting for its parent is not running
			}
			out = append(out, e.Name()+": "+cmd)
		}
	}
	return out
}

const e2eScenario = `
name: e2e
description: every loopback topology once, briefly
load:
  rates: [300]
  connections: 4
  duration: 1s
  warmup: 300ms
  repetitions: 1
  payload: 512
backends:
  - name: echo
  - name: echo-v1
  - name: echo-v2
targets:
  - {name: direct, kind: direct}
  - {name: meshproxy, kind: meshproxy}
  - {name: server-sidecar, kind: meshproxy, topology: server-sidecar}
  - {name: pair-mtls, kind: meshproxy, topology: sidecar-pair, tls: mtls}
  - name: split
    kind: meshproxy
    split: {echo-v1: 0.5, echo-v2: 0.5}
    tolerance: 0.1
  - {name: envoy, kind: envoy}
objects:
  - apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: echo-split, namespace: default}
    spec:
      parentRefs: [{group: "", kind: Service, name: echo, port: 8080}]
      rules:
        - backendRefs:
            - {name: echo-v1, port: 8080, weight: 50}
            - {name: echo-v2, port: 8080, weight: 50}
`

// TestRunEndToEnd runs every loopback topology for a second each and reads
// the result file back.
func TestRunEndToEnd(t *testing.T) {
	out := t.TempDir()
	res, path, err := Run(context.Background(), parse(t, e2eScenario), Options{Bin: bins, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	back, err := schema.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != res.ID || len(back.Steps) != 6 || back.Environment.Versions["meshproxy"] == "" || back.Environment.Cores == 0 {
		t.Fatalf("result read back: id %s, %d steps, versions %v", back.ID, len(back.Steps), back.Environment.Versions)
	}
	for _, s := range res.Steps {
		t.Logf("%s", stepLine(&s))
		if s.Target == "envoy" {
			if _, err := exec.LookPath("envoy"); err != nil && s.Status != "skipped" {
				t.Errorf("envoy not installed: status %s, want skipped", s.Status)
			}
			continue
		}
		if s.Status != "ok" {
			t.Fatalf("%s: %s: %s", s.Target, s.Status, s.Error)
		}
		if s.Load.Requests < 250 || s.Load.Errors != 0 || s.Load.LatencyUS.P50 <= 0 || len(s.Load.Spectrum) < 5 {
			t.Errorf("%s: load %+v", s.Target, s.Load)
		}
		wantProxies := map[string]int{"direct": 0, "meshproxy": 1, "server-sidecar": 1, "pair-mtls": 2, "split": 1}[s.Target]
		if len(s.Proxies) != wantProxies {
			t.Errorf("%s: %d proxies sampled, want %d", s.Target, len(s.Proxies), wantProxies)
		}
		for _, p := range s.Proxies {
			// CPU > 0 is checked over the whole run (proxyCPU): one step may read 0.
			if p.Samples < 3 || p.RSSMiB < 1 || p.CPUS < 0 {
				t.Errorf("%s: proxy %s sampled %+v", s.Target, p.Name, p)
			}
		}
		if wantProxies > 0 && (s.CPUPerRequestUS == nil || s.AddedLatencyUS == nil) {
			t.Errorf("%s: no CPU per request or added latency", s.Target)
		}
	}
	if cpu := proxyCPU(res); cpu <= 0 {
		t.Errorf("proxy CPU over the whole run %.3f s: the sampler saw no proxy work", cpu)
	}
	split := res.Steps[4]
	if split.Split == nil || !split.Split.OK || split.Split.Counts["echo-v1"] == 0 || split.Split.Counts["echo-v2"] == 0 {
		t.Errorf("split check: %+v", split.Split)
	}
	if len(res.Summaries) != 6 || len(res.SMP) != 5 {
		t.Errorf("%d summaries, %d SMP results", len(res.Summaries), len(res.SMP))
	}
	if s := strays(t); len(s) > 0 {
		t.Fatalf("processes left after the run:\n%s", strings.Join(s, "\n"))
	}
}

const quickScenario = `
name: quick
load: {rates: [200, 400], connections: 2, duration: 2s, warmup: 0s, repetitions: 2}
targets:
  - {name: direct, kind: direct}
  - {name: meshproxy, kind: meshproxy}
`

// TestFailedTargetStillWritesResult: a proxy that cannot start fails its
// steps with the reason, the others are measured, and the file is written.
func TestFailedTargetStillWritesResult(t *testing.T) {
	b := bins
	b.Meshproxy = "/bin/false"
	sc := parse(t, strings.Replace(quickScenario, "duration: 2s", "duration: 500ms", 1))
	res, path, err := Run(context.Background(), sc, Options{Bin: b, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Steps {
		switch s.Target {
		case "direct":
			if s.Status != "ok" {
				t.Errorf("direct: %s %s", s.Status, s.Error)
			}
		case "meshproxy":
			if s.Status != "failed" || !strings.Contains(s.Error, "exited before it was ready") {
				t.Errorf("meshproxy: %s %q", s.Status, s.Error)
			}
		}
	}
	if len(res.Warnings) == 0 {
		t.Error("no warning about the target that did not start")
	}
	if s := strays(t); len(s) > 0 {
		t.Fatalf("processes left:\n%s", strings.Join(s, "\n"))
	}
}

// TestInterruptStopsEverything: cancelling a run (what SIGINT does in the
// command) stops meshload, the proxies and the backends, and the partial
// result says it was interrupted.
func TestInterruptStopsEverything(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	res, path, err := Run(ctx, parse(t, quickScenario), Options{Bin: bins, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	interrupted := false
	for _, w := range res.Warnings {
		interrupted = interrupted || strings.Contains(w, "interrupted")
	}
	if !interrupted || len(res.Steps) >= 8 {
		t.Fatalf("%d steps, warnings %v: want an interrupted run", len(res.Steps), res.Warnings)
	}
	if s := strays(t); len(s) > 0 {
		t.Fatalf("processes left after interrupt:\n%s", strings.Join(s, "\n"))
	}
}

// TestSIGINTToCommand: the command stops its children on SIGINT too.
func TestSIGINTToCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "quick.yaml")
	if err := os.WriteFile(file, []byte(quickScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bins.Meshbench, "run", "-o", dir, "-bin", binDir, file)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatal("meshbench run did not exit within 15 s of SIGINT")
	}
	if s := strays(t); len(s) > 0 {
		t.Fatalf("processes left after SIGINT:\n%s", strings.Join(s, "\n"))
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*-quick.json"))
	if len(matches) != 1 {
		t.Fatalf("result files after SIGINT: %v", matches)
	}
}

// TestPinning: each role's process starts on its scenario CPU list (read
// back from the kernel), tools are never pinned, and a CPU the runner may
// not use is refused before anything starts.
func TestPinning(t *testing.T) {
	allowed, err := cpus.Allowed()
	if err != nil {
		t.Fatal(err)
	}
	first, last := cpus.Format(allowed[:1]), cpus.Format(allowed[len(allowed)-1:])
	sc := &scenario.Scenario{Name: "pin", CPUs: scenario.CPUs{Load: first, Targets: last}}
	plan, err := pinning(sc)
	if err != nil {
		t.Fatal(err)
	}
	sup := &supervisor{dir: t.TempDir(), pin: plan}
	t.Cleanup(func() { sup.stopAll(time.Second) })
	for _, tc := range []struct {
		r    role
		want string
	}{{roleLoad, first}, {roleTarget, last}, {roleTool, cpus.Format(allowed)}} {
		p, err := sup.start("sleep", tc.r, []string{"sleep", "30"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cpus.Of(p.pid())
		if err != nil {
			t.Fatal(err)
		}
		if cpus.Format(got) != tc.want {
			t.Errorf("role %d: pinned to %s, want %s", tc.r, cpus.Format(got), tc.want)
		}
	}

	bad := &scenario.Scenario{Name: "pin", CPUs: scenario.CPUs{Targets: "1023"}}
	if _, err := pinning(bad); err == nil || !strings.Contains(err.Error(), "cpus.targets 1023: CPU 1023 not available here") {
		t.Errorf("CPU 1023: %v", err)
	}
}
