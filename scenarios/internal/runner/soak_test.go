package runner

import (
	"context"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/testenv"
	"github.com/meshbench/meshbench/results/schema"
)

// soakScenario is a soak compressed into 20 s at a low rate: reloads at 2,
// 4, ... 18 s (9), rotations at 5, 10, 15 s (3), kills at 8 and 16 s with
// their restarts at 9 and 17 s (2), and a slow reader taking 2 s per
// response.
const soakScenario = `
name: soak-test
load:
  rates: [50]
  connections: 4
  duration: 20s
  warmup: 300ms
  payload: 256
backends:
  - name: echo
    replicas: 2
targets:
  - {name: pair, kind: meshproxy, topology: sidecar-pair, tls: mtls, eventLoops: 1}
soak:
  reload: 2s
  rotate: 5s
  kill: {every: 8s, down: 1s, expectedFailures: 5}
  slowReader: {size: 262144, rate: 131072}
  rss: {every: 1s, warm: 4s, window: 4s}
`

// TestSoakDisturbances runs a 20-s soak and checks that every disturbance
// happened as often as planned and that the proxies saw it: each config
// rewrite applied by the client sidecar, each rotation by every sidecar
// that was not restarted, each killed pod back, the slow reader's bytes
// read and checked, every proxy's RSS sampled, the restarted one shown but
// not judged.
func TestSoakDisturbances(t *testing.T) {
	testenv.SkipShort(t, "a 20-s soak")
	out := t.TempDir()
	res, path, err := Run(context.Background(), parse(t, soakScenario), Options{Bin: bins, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	back, err := schema.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 1 || len(back.Steps) != 1 || back.Steps[0].Soak == nil {
		t.Fatalf("%d steps, soak read back %v", len(back.Steps), len(back.Steps) == 1 && back.Steps[0].Soak != nil)
	}
	st := back.Steps[0]
	t.Logf("%s", stepLine(&st))
	k := st.Soak
	if st.Status != "ok" || !k.OK {
		t.Errorf("status %s (%s), soak ok %v: %v", st.Status, st.Error, k.OK, k.Reasons)
	}
	if st.Load == nil || st.Load.Requests < 800 {
		t.Fatalf("load %+v", st.Load)
	}

	if r := k.Reloads; r.Planned != 9 || r.Done != 9 || len(r.AtS) != 9 || r.Applied["client-sidecar"] != 9 || r.Rejected["client-sidecar"] != 0 {
		t.Errorf("reloads %+v: want 9 planned, done and applied by the client sidecar, none rejected", r)
	}
	if r := k.Rotations; r.Planned != 3 || r.Done != 3 || r.Applied["client-sidecar"] < 3 || r.Applied["server-sidecar-1"] < 3 ||
		r.Rejected["client-sidecar"] != 0 || r.Rejected["server-sidecar-1"] != 0 {
		t.Errorf("rotations %+v: want 3 planned and done, applied by client-sidecar and server-sidecar-1, none rejected", r)
	}
	if _, ok := k.Rotations.Applied["server-sidecar-2"]; ok {
		t.Errorf("rotations counted on the restarted sidecar, whose counters start again: %+v", k.Rotations.Applied)
	}
	if kl := k.Kills; kl.Planned != 2 || kl.Done != 2 || kl.Restarted != 2 || len(kl.ReadyAtS) != 2 || len(kl.ServedAfterRestart) != 2 ||
		!strings.HasPrefix(kl.Pod, "server-sidecar-2 + echo ") {
		t.Errorf("kills %+v: want 2 planned, done and restarted, with what each restart served", kl)
	} else {
		for i, at := range kl.AtS {
			if ready := kl.ReadyAtS[i]; ready < at+kl.DownS {
				t.Errorf("kill %d at %.1fs ready again at %.1fs, before its %vs down", i, at, ready, kl.DownS)
			}
		}
		t.Logf("requests served by the restarted pod after each restart: %v", kl.ServedAfterRestart)
	}
	if sr := k.SlowReader; sr.Responses < 3 || sr.Bytes < sr.Responses*262144 || sr.Size != 262144 {
		t.Errorf("slow reader %+v: want at least 3 complete 256-KiB responses", sr)
	}
	if k.FailureBudget != 10 || k.Failures > k.FailureBudget {
		t.Errorf("failures %d, budget %d (want 5 per kill × 2)", k.Failures, k.FailureBudget)
	}

	names := map[string]schema.SoakRSS{}
	for _, r := range k.RSS {
		names[r.Name] = r
		if len(r.Samples) < 12 {
			t.Errorf("%s: %d RSS samples over 20 s at 1/s", r.Name, len(r.Samples))
		}
		for _, s := range r.Samples {
			if s.MiB < 1 || s.TS < 0 || s.TS > 21 {
				t.Errorf("%s: sample %+v", r.Name, s)
				break
			}
		}
	}
	for _, n := range []string{"client-sidecar", "server-sidecar-1"} {
		if r := names[n]; !r.Judged || !r.Flat || r.WarmMiB <= 0 || len(r.RestartsAtS) != 0 {
			t.Errorf("%s: %+v: want judged flat, never restarted", n, r)
		}
	}
	if r := names["server-sidecar-2"]; r.Judged || len(r.RestartsAtS) != 2 || !strings.Contains(r.Note, "restarted 2 times") {
		t.Errorf("server-sidecar-2: judged %v, restarts %v, note %q: want shown, not judged", r.Judged, r.RestartsAtS, r.Note)
	}
	if s := strays(t); len(s) > 0 {
		t.Fatalf("processes left after the run:\n%s", strings.Join(s, "\n"))
	}
}

// A soak cannot run in netns mode: it kills and restarts loopback pods.
func TestSoakRefusesNetns(t *testing.T) {
	sc := parse(t, soakScenario)
	_, _, err := Run(context.Background(), sc, Options{Bin: bins, OutDir: t.TempDir(), Netns: true})
	if err == nil || !strings.Contains(err.Error(), "a soak runs in loopback mode only") {
		t.Fatalf("err %v", err)
	}
}

func TestMetricValue(t *testing.T) {
	text := strings.Join([]string{
		"# HELP meshproxy_config_reloads_total Config reloads by result.",
		"# TYPE meshproxy_config_reloads_total counter",
		`meshproxy_config_reloads_total{result="ok"} 12`,
		`meshproxy_config_reloads_total{result="failed"} 1`,
		`meshproxy_identity_reloads_total{result="ok",extra="x"} 3`,
		`meshproxy_identity_reloads_total_other{result="ok"} 99`,
	}, "\n")
	for _, tt := range []struct {
		name, label string
		want        float64
	}{
		{"meshproxy_config_reloads_total", `result="ok"`, 12},
		{"meshproxy_config_reloads_total", `result="failed"`, 1},
		{"meshproxy_identity_reloads_total", `result="ok"`, 3},
		{"meshproxy_identity_reloads_total", `result="failed"`, 0},
		{"meshproxy_missing_total", `result="ok"`, 0},
	} {
		if got := metricValue(text, tt.name, tt.label); got != tt.want {
			t.Errorf("%s{%s} = %v, want %v", tt.name, tt.label, got, tt.want)
		}
	}
}
