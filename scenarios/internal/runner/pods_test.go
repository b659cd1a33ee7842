package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
	"github.com/meshbench/meshbench/results/schema"
	"github.com/meshbench/meshbench/scenarios/internal/netns"
)

// needNetns: root first (its message names make test-root), then what
// netns.Available probes (tools, a namespace with a nat table).
func needNetns(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.Need(t, netns.Available())
}

// proxyCPU sums the CPU time of every proxy in every step. The sampler
// reads CPU in 10 ms ticks and a test step is short (a proxy at 300 req/s
// for 1 s uses about 10 ms), so a single step may read 0; the whole run
// may not.
func proxyCPU(res *schema.Run) float64 {
	var sum float64
	for _, s := range res.Steps {
		for _, p := range s.Proxies {
			sum += p.CPUS
		}
	}
	return sum
}

// ownNamespaces lists the namespaces this test process's runs made.
func ownNamespaces(t *testing.T) []string {
	t.Helper()
	names, err := netns.List()
	if err != nil {
		t.Fatal(err)
	}
	var own []string
	prefix := fmt.Sprintf("mbr%dr", os.Getpid())
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			own = append(own, n)
		}
	}
	return own
}

// TestNetnsUnavailable: without what netns mode needs, Run says what is
// missing and starts nothing (not even the output directory).
func TestNetnsUnavailable(t *testing.T) {
	saved := netnsAvailable
	t.Cleanup(func() { netnsAvailable = saved })
	netnsAvailable = func() error { return errors.New("netns: unavailable: needs root (running as uid 1000)") }
	out := filepath.Join(t.TempDir(), "out")
	_, _, err := Run(context.Background(), parse(t, quickScenario), Options{Bin: bins, OutDir: out, Netns: true})
	if err == nil || !strings.Contains(err.Error(), "needs root") || !strings.Contains(err.Error(), "netns mode") {
		t.Fatalf("Run: %v, want an error saying what netns mode needs", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output directory made anyway: %v", err)
	}
	// A scenario's mode: netns asks for it as well.
	sc := parse(t, "mode: netns\n"+quickScenario)
	if _, _, err := Run(context.Background(), sc, Options{Bin: bins, OutDir: out}); err == nil {
		t.Fatal("mode: netns ran without netns")
	}
}

// TestNetnsPidChain: "ip netns exec" and setpriv both exec in place, so the
// pid the supervisor holds (and hands to procstat) is the program itself,
// running as the sidecar's uid in the pod's namespace.
func TestNetnsPidChain(t *testing.T) {
	needNetns(t)
	prefix := fmt.Sprintf("mbr%dr0", os.Getpid())
	n, err := netns.Create(prefix, []string{"p"})
	if err != nil {
		t.Fatal(err)
	}
	sup := &supervisor{dir: t.TempDir()}
	t.Cleanup(func() {
		sup.stopAll(time.Second)
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	})
	sleep := testenv.NeedProgram(t, "sleep", "coreutils")
	p, err := sup.start("sleep", roleTarget, n.CommandAs("p", sidecarUID, sidecarUID, sleep, "30"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.EvalSymlinks(sleep)
	deadline := time.Now().Add(5 * time.Second)
	for {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid()))
		if exe == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d runs %q, want %q", p.pid(), exe, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil || !strings.Contains(string(status), fmt.Sprintf("\nUid:\t%d\t%d", sidecarUID, sidecarUID)) {
		t.Errorf("pid %d status: %v\n%s", p.pid(), err, status)
	}
	ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", p.pid()))
	var podIno, procIno uint64
	if st, err := os.Stat("/run/netns/" + n.Pod("p").NetNS); err == nil {
		podIno = statIno(st)
	}
	fmt.Sscanf(ns, "net:[%d]", &procIno)
	if podIno == 0 || podIno != procIno {
		t.Errorf("pid %d is in %s, the pod's namespace is inode %d", p.pid(), ns, podIno)
	}

	// And this process reaches into the pod without a helper process.
	echo, err := sup.start("echo", roleTarget, n.Command("p", bins.Meshbench, "echo", "-listen", "0.0.0.0:18080"), nil)
	if err != nil {
		t.Fatal(err)
	}
	check := httpCheckWith(podHTTPClient(n.Pod("p").NetNS, time.Second), "http://"+n.Pod("p").IP+":18080/stats")
	if err := waitReady(context.Background(), echo, 5*time.Second, "echo in pod", check); err != nil {
		t.Fatal(err)
	}
}

func statIno(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

const netnsE2EScenario = `
name: e2e
description: the loopback end-to-end targets in transparent mode
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
  - {name: nginx, kind: nginx}
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

// TestNetnsRunEndToEnd runs the topologies of TestRunEndToEnd in pods with
// transparent capture, and checks that nothing is left afterwards.
func TestNetnsRunEndToEnd(t *testing.T) {
	needNetns(t)
	begin := time.Now()
	res, path, err := Run(context.Background(), parse(t, netnsE2EScenario), Options{Bin: bins, OutDir: t.TempDir(), Netns: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run took %v", time.Since(begin).Round(time.Millisecond))
	back, err := schema.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var spec struct{ Mode string }
	if err := json.Unmarshal(back.Scenario.Spec, &spec); err != nil || back.Mode != "netns" || spec.Mode != "netns" || len(back.Steps) != 6 {
		t.Fatalf("result read back: mode %q (scenario %q, %v), %d steps", back.Mode, spec.Mode, err, len(back.Steps))
	}
	for _, w := range res.Warnings {
		t.Logf("warning: %s", w)
	}
	for _, s := range res.Steps {
		t.Logf("%s", stepLine(&s))
		if s.Target == "nginx" {
			if _, err := exec.LookPath("nginx"); err != nil && s.Status == "skipped" {
				if testenv.InCI() { // CI must measure every peer it can install
					t.Errorf("nginx step skipped: nginx not on PATH: apt-get install nginx (CI=true)")
				}
				continue
			}
		}
		if s.Status != "ok" {
			t.Fatalf("%s: %s: %s", s.Target, s.Status, s.Error)
		}
		if s.Load.Requests < 250 || s.Load.Errors != 0 || s.Load.LatencyUS.P50 <= 0 || len(s.Load.Spectrum) < 5 {
			t.Errorf("%s: load %+v", s.Target, s.Load)
		}
		wantProxies := map[string]int{"direct": 0, "meshproxy": 1, "server-sidecar": 1, "pair-mtls": 2, "split": 1, "nginx": 1}[s.Target]
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
	if ns := ownNamespaces(t); len(ns) > 0 {
		t.Errorf("namespaces left after the run: %v", ns)
	}
	if s := strays(t); len(s) > 0 {
		t.Fatalf("processes left after the run:\n%s", strings.Join(s, "\n"))
	}
}

// TestNetnsInterruptStopsEverything: cancelling a netns run (selected by
// the scenario's mode) stops every process and removes the namespaces.
func TestNetnsInterruptStopsEverything(t *testing.T) {
	needNetns(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	begin := time.Now()
	res, path, err := Run(ctx, parse(t, "mode: netns\n"+quickScenario), Options{Bin: bins, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("interrupted run took %v", time.Since(begin).Round(time.Millisecond))
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	interrupted := false
	for _, w := range res.Warnings {
		interrupted = interrupted || strings.Contains(w, "interrupted")
	}
	if res.Mode != "netns" || !interrupted || len(res.Steps) >= 8 {
		t.Fatalf("mode %s, %d steps, warnings %v: want an interrupted netns run", res.Mode, len(res.Steps), res.Warnings)
	}
	if ns := ownNamespaces(t); len(ns) > 0 {
		t.Errorf("namespaces left after interrupt: %v", ns)
	}
	if s := strays(t); len(s) > 0 {
		t.Fatalf("processes left after interrupt:\n%s", strings.Join(s, "\n"))
	}
}
