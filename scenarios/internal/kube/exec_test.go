package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshbench/meshbench/results/schema"
)

// fakeKube answers the commands a plan runs as a cluster with every
// component installed would, and records them.
type fakeKube struct {
	mu        sync.Mutex
	cmds      []string
	live      []byte
	failJob   string // a Job name that fails
	failSetup string // a command prefix that fails
	// unexpected is the number of 503 responses meshload reports, by Job.
	unexpected map[string]int
	latency    map[string]float64
}

const meshloadOut = `meshload: warning: 1 of 16 connections reconnected
{
  "url": "http://echo:8080/",
  "start": "2026-11-23T10:00:02.5Z",
  "duration_s": 10,
  "target_rate": %[1]g,
  "achieved_rate": %[1]g,
  "connections": 16,
  "requests": %[2]d,
  "errors": 0,
  "errors_by_kind": {"connect": 0, "timeout": 0, "reset": 0, "protocol": 0},
  "status_codes": %[4]s,
  "expect": "2xx",
  "successes": %[5]d,
  "unexpected_status": %[6]d,
  "failures": %[6]d,
  "success_ratio": %[7]g,
  "latency_us": {"min": 100, "mean": %[3]g, "p50": %[3]g, "p90": %[3]g, "p99": %[3]g, "p999": %[3]g, "p9999": %[3]g, "max": %[3]g},
  "sched_lag_us": {"min": 1, "mean": 2, "p50": 2, "p90": 3, "p99": 9, "p999": 20, "p9999": 30, "max": 40},
  "generator_cpu_s": 0.5,
  "warnings": []
}
       Value     Percentile TotalCount 1/(1-Percentile)

       0.100     0.000000          1           1.00
       0.500     0.500000       5000           2.00
       2.000     1.000000      10000
#[Mean    =        0.500, StdDeviation   =        0.100]
`

// meshloadLog is meshload's output for requests responses at rate, bad of
// them 503.
func meshloadLog(rate float64, requests, bad int, lat float64) []byte {
	codes := fmt.Sprintf(`{"200": %d}`, requests-bad)
	if bad > 0 {
		codes = fmt.Sprintf(`{"200": %d, "503": %d}`, requests-bad, bad)
	}
	return []byte(fmt.Sprintf(meshloadOut, rate, requests, lat, codes, requests-bad, bad, float64(requests-bad)/float64(requests)))
}

const promVector = `{"status":"success","data":{"resultType":"vector","result":[%s]}}`

func sample(pod, value string) string {
	return fmt.Sprintf(`{"metric":{"pod":%q,"container":"c"},"value":[1790000000,%q]}`, pod, value)
}

func (f *fakeKube) Run(ctx context.Context, argv []string, stdin string, timeout time.Duration) ([]byte, error) {
	cmd := strings.Join(argv, " ")
	f.mu.Lock()
	f.cmds = append(f.cmds, cmd)
	f.mu.Unlock()
	if f.failSetup != "" && strings.HasPrefix(cmd, f.failSetup) {
		return nil, errors.New("forbidden")
	}
	arg := func(i int) string {
		if i < len(argv) {
			return argv[i]
		}
		return ""
	}
	switch {
	case arg(0) == "meshbench" || strings.HasSuffix(arg(0), "/meshbench-test"):
		return nil, nil
	case arg(1) == "get" && arg(2) == "--raw" && arg(3) == "/version":
		return []byte(`{"major":"1","minor":"36","gitVersion":"v1.36.1"}`), nil
	case arg(1) == "get" && arg(2) == "--raw":
		return f.prom(arg(3))
	case arg(1) == "get" && arg(2) == "crd":
		return []byte("v1.5.1"), nil
	case arg(1) == "get" && arg(2) == "deployment" && arg(3) == "istiod":
		return []byte("docker.io/istio/pilot:1.30.3"), nil
	case arg(1) == "get" && arg(2) == "deployment" && arg(3) == "linkerd-destination":
		return []byte("linkerd/cli edge-26.8.3"), nil
	case arg(1) == "get" && arg(2) == "deployment" && arg(3) == "prometheus":
		return []byte("quay.io/prometheus/prometheus:v3.14.0"), nil
	case arg(1) == "get" && arg(2) == "services,endpointslices":
		return f.live, nil
	case arg(1) == "get" && arg(2) == "httproutes":
		if strings.Contains(cmd, "linkerd") {
			return []byte(`{"items":[{"metadata":{"name":"echo-split"},"status":{"parents":[{"controllerName":"linkerd.io/policy-controller","conditions":[{"type":"Accepted","status":"False","reason":"NoMatchingParent"}]}]}}]}`), nil
		}
		return []byte(`{"items":[{"metadata":{"name":"echo-split"},"status":{"parents":[{"controllerName":"istio.io/gateway-controller","conditions":[{"type":"Accepted","status":"True"}]}]}}]}`), nil
	case arg(1) == "get" && arg(2) == "job":
		return []byte(`{"failed":1}`), nil
	case arg(1) == "wait" && strings.HasPrefix(arg(5), "job/"):
		failed := strings.TrimPrefix(arg(5), "job/") == f.failJob
		if (arg(4) == "--for=condition=Failed") == failed {
			return nil, nil
		}
		<-ctx.Done() // the other wait: blocks until cancelled
		return nil, ctx.Err()
	case arg(1) == "logs":
		ns, job := arg(3), strings.TrimPrefix(arg(4), "job/")
		if job == f.failJob {
			return []byte("meshload: dial tcp: connection refused\n"), nil
		}
		lat := f.latency[strings.TrimPrefix(ns, "meshbench-")]
		rate := 1000.0
		var seq int
		fmt.Sscanf(job, "meshload-%d", &seq)
		if seq > 12 {
			rate = 10000
		}
		return meshloadLog(rate, int(rate*10), f.unexpected[job], lat), nil
	case arg(1) == "apply" || arg(1) == "delete" || arg(1) == "create" || arg(1) == "wait":
		return nil, nil
	}
	return nil, fmt.Errorf("fake kubectl: unexpected %s", cmd)
}

// prom answers a query by the mesh in its selector: two proxies (the
// client sidecar of the step's Job, the server sidecar of echo-v1) and
// an idle one that must be left out.
func (f *fakeKube) prom(path string) ([]byte, error) {
	q := path
	job := ""
	f.mu.Lock()
	for i := len(f.cmds) - 1; i >= 0; i-- {
		if k := strings.Index(f.cmds[i], "logs -n "); k >= 0 {
			job = strings.TrimPrefix(strings.Fields(f.cmds[i][k:])[3], "job/")
			break
		}
	}
	f.mu.Unlock()
	switch {
	case strings.Contains(q, "query=max%28machine_cpu_cores"):
		return []byte(fmt.Sprintf(promVector, sample("", "8"))), nil
	case strings.Contains(q, "sum%28increase%28container_cpu_usage_seconds_total%7Bid"):
		return []byte(fmt.Sprintf(promVector, sample("", "20"))), nil
	case strings.Contains(q, "sum%28increase"):
		return []byte(fmt.Sprintf(promVector, sample("", "12"))), nil
	}
	var v1, v2 string
	switch {
	case strings.Contains(q, "increase"):
		v1, v2 = "0.5", "0.25"
	case strings.Contains(q, "count_over_time"):
		v1, v2 = "3", "3"
	default:
		v1, v2 = "20971520", "10485760" // 20 and 10 MiB
	}
	return []byte(fmt.Sprintf(promVector, strings.Join([]string{
		sample(job+"-x2x4q", v1), sample("echo-v1-7d9f8c6b5-abcde", v2), sample("echo-5c4b6d7f8-qqqqq", "999"),
	}, ","))), nil
}

func newExecutor(f *fakeKube, log *bytes.Buffer) *Executor {
	return &Executor{
		Runner: f, Log: log, Work: "/tmp/w", MeshbenchPath: "/x/meshbench-test",
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() },
	}
}

// TestExecutorRun drives a whole plan against the fake cluster: every step
// gets its load, proxies and added latency over none; the result file
// reads back strictly; versions and the route check are recorded; the
// cleanup runs.
func TestExecutorRun(t *testing.T) {
	live, err := os.ReadFile("testdata/live.json")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeKube{live: live, failJob: JobName(7), latency: map[string]float64{"none": 500, "meshproxy": 700, "istio": 1500, "linkerd": 1100},
		unexpected: map[string]int{JobName(6): 37}}
	p, err := BuildPlan(load(t, "scenarios/default.yaml"), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	res := newExecutor(f, &log).Run(context.Background(), p)

	var buf bytes.Buffer
	if err := schema.Write(&buf, res); err != nil {
		t.Fatal(err)
	}
	if _, err := schema.Read(&buf); err != nil {
		t.Fatalf("result does not read back: %v", err)
	}
	if res.Mode != "kind" || len(res.Steps) != 24 || !strings.HasSuffix(res.ID, "-default-kind") {
		t.Fatalf("mode %s, %d steps, id %s", res.Mode, len(res.Steps), res.ID)
	}
	for k, want := range map[string]string{"kubernetes": "v1.36.1", "istio": "1.30.3", "linkerd": "edge-26.8.3", "gateway-api": "v1.5.1", "prometheus": "v3.14.0"} {
		if res.Environment.Versions[k] != want {
			t.Errorf("version %s = %q, want %q", k, res.Environment.Versions[k], want)
		}
	}
	for i, s := range res.Steps {
		mesh := p.Options.Meshes[i%4]
		if s.Target != mesh {
			t.Errorf("step %d: target %s, want %s (meshes alternate)", i+1, s.Target, mesh)
		}
		if i == 6 { // step 7 failed
			if s.Status != "failed" || !strings.Contains(s.Error, "connection refused") {
				t.Errorf("step 7: %s %q", s.Status, s.Error)
			}
			continue
		}
		if i == 5 { // step 6 had 37 responses 503: failed by the verdict, its load kept
			if want := "success 99.63 % < minSuccess 100 %: 503 ×37"; s.Status != "failed" || s.Error != want || s.Load == nil || s.Load.UnexpectedStatus != 37 {
				t.Errorf("step 6: %s %q, want failed %q with its load", s.Status, s.Error, want)
			}
			continue
		}
		if s.Status != "ok" || s.Load == nil || len(s.Load.Spectrum) != 3 {
			t.Fatalf("step %d: %+v", i+1, s)
		}
		if mesh == MeshNone {
			if s.AddedLatencyUS != nil || len(s.Proxies) != 0 || s.Kind != "direct" {
				t.Errorf("none step %d: %+v", i+1, s)
			}
			continue
		}
		if s.AddedLatencyUS == nil || s.AddedLatencyUS.P50 != f.latency[mesh]-500 {
			t.Errorf("step %d (%s): added %+v", i+1, mesh, s.AddedLatencyUS)
		}
		if len(s.Proxies) != 2 || s.Proxies[0].Name != "client-sidecar" || !strings.HasPrefix(s.Proxies[1].Name, "server-sidecar/echo-v1-") {
			t.Fatalf("step %d proxies %+v", i+1, s.Proxies)
		}
		if *s.RSSMiB != 30 || s.Proxies[0].RSSMiB != 20 || s.Proxies[0].Samples != 3 {
			t.Errorf("step %d memory %v %+v", i+1, *s.RSSMiB, s.Proxies[0])
		}
		if want := 0.75 * 1e6 / float64(s.Load.Requests); *s.CPUPerRequestUS != round(want, 3) {
			t.Errorf("step %d cpu/req %v, want %v", i+1, *s.CPUPerRequestUS, want)
		}
		// (20 - 12) core-seconds over 10 s of 8 cores.
		if s.Busy.OtherCPUPercent != 10 || s.Busy.Disturbed {
			t.Errorf("step %d busy %+v", i+1, s.Busy)
		}
	}
	if len(res.Summaries) != 8 || len(res.SMP) != 8 || res.SMP[0].Mesh != "none" {
		t.Errorf("summaries %d, smp %d %+v", len(res.Summaries), len(res.SMP), res.SMP)
	}
	all := strings.Join(res.Warnings, "\n")
	for _, want := range []string{"linkerd did not accept HTTPRoute echo-split", "does not run on kind"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "istio did not accept") {
		t.Errorf("istio accepted, yet:\n%s", all)
	}
	cmds := strings.Join(f.cmds, "\n")
	for _, want := range []string{
		"/x/meshbench-test certs -out /tmp/w/certs",
		"--from-file=ca.crt=/tmp/w/certs/ca.crt",
		"kubectl delete job meshload-024",
		"kubectl delete namespace meshbench-none meshbench-meshproxy meshbench-istio meshbench-linkerd --ignore-not-found",
	} {
		if !strings.Contains(cmds, want) {
			t.Errorf("no command %q", want)
		}
	}
	if last := f.cmds[len(f.cmds)-1]; !strings.HasPrefix(last, "kubectl delete namespace") {
		t.Errorf("last command %q, want the cleanup", last)
	}
}

// TestExecutorSetupFailure: a setup command that fails ends the run with
// every step failed and the reason, and still cleans up.
func TestExecutorSetupFailure(t *testing.T) {
	f := &fakeKube{failSetup: "kubectl get deployment istiod"}
	p, err := BuildPlan(load(t, "scenarios/default.yaml"), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	res := newExecutor(f, &log).Run(context.Background(), p)
	if len(res.Steps) != 24 {
		t.Fatalf("%d steps", len(res.Steps))
	}
	for _, s := range res.Steps {
		if s.Status != "failed" || !strings.Contains(s.Error, "Istio's control plane") || !strings.Contains(s.Error, "forbidden") {
			t.Fatalf("step %+v", s)
		}
	}
	if last := f.cmds[len(f.cmds)-1]; !strings.HasPrefix(last, "kubectl delete namespace") {
		t.Errorf("last command %q, want the cleanup", last)
	}
	for _, c := range f.cmds {
		if strings.Contains(c, "apply") {
			t.Errorf("applied after a failed check: %s", c)
		}
	}
}

// TestExecutorInterrupted: a cancelled context stops before the next step
// and still cleans up.
func TestExecutorInterrupted(t *testing.T) {
	live, _ := os.ReadFile("testdata/live.json")
	f := &fakeKube{live: live, latency: map[string]float64{}}
	p, err := BuildPlan(load(t, "scenarios/default.yaml"), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ex := newExecutor(f, &bytes.Buffer{})
	n := 0
	ex.Sleep = func(context.Context, time.Duration) error {
		if n++; n == 2 {
			cancel()
		}
		return nil
	}
	res := ex.Run(ctx, p)
	if len(res.Steps) == 0 || len(res.Steps) >= 24 || !strings.Contains(strings.Join(res.Warnings, "\n"), "interrupted") {
		t.Errorf("%d steps, warnings %v", len(res.Steps), res.Warnings)
	}
	if last := f.cmds[len(f.cmds)-1]; !strings.HasPrefix(last, "kubectl delete namespace") {
		t.Errorf("last command %q, want the cleanup", last)
	}
}

func TestParseMeshloadLog(t *testing.T) {
	lj, sp, err := parseMeshloadLog(meshloadLog(1000, 10000, 0, 800))
	if err != nil {
		t.Fatal(err)
	}
	if lj.Requests != 10000 || lj.LatencyUS.P99 != 800 || lj.Start.IsZero() || len(sp) != 3 || sp[2].US != 2000 {
		t.Errorf("%+v %+v", lj, sp)
	}
	if _, _, err := parseMeshloadLog([]byte("meshload: bad flag\n")); err == nil {
		t.Error("no JSON accepted")
	}
}

func TestParseProm(t *testing.T) {
	for _, bad := range []string{`{`, `{"status":"error","error":"bad query"}`, `{"status":"success","data":{"resultType":"matrix"}}`} {
		if _, err := parseProm([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	rs, err := parseProm([]byte(fmt.Sprintf(promVector, sample("p", "1.5"))))
	if err != nil || len(rs) != 1 || rs[0].value != 1.5 || rs[0].labels["pod"] != "p" {
		t.Errorf("%+v %v", rs, err)
	}
}

func TestProxyName(t *testing.T) {
	s := &StepSpec{Job: "meshload-003", PathBackends: []string{"echo-v1", "echo"}}
	for pod, want := range map[string]string{
		"meshload-003-abcde":       "client-sidecar",
		"meshload-004-abcde":       "",
		"echo-v1-7d9f8c6b5-abcde":  "server-sidecar/echo-v1-7d9f8c6b5-abcde",
		"echo-5c4b6d7f8-qqqqq":     "server-sidecar/echo-5c4b6d7f8-qqqqq",
		"echo-v2-5c4b6d7f8-qqqqq":  "",
		"ztunnel-x8k2p":            "ztunnel/ztunnel-x8k2p",
		"waypoint-6f7d8c9b5-zzzzz": "waypoint/waypoint-6f7d8c9b5-zzzzz",
	} {
		if got := proxyName(s, pod); got != want {
			t.Errorf("proxyName(%s) = %q, want %q", pod, got, want)
		}
	}
}
