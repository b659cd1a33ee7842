package gate

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshbench/meshbench/results/schema"
)

// Fixtures: gate runs (direct, meshproxy client sidecar, meshproxy mTLS
// pair at 1000 req/s, 5 repetitions of 10 s) generated from a noise model
// whose centres and spreads were measured on the stored results
// (results/baseline.json, 3 × 3 s, and results/20261123T150638Z-default.json,
// 3 × 10 s, the 1000 req/s steps of these three targets): per repetition
// the median and 1.4826 × the MAD of the residuals about each file's
// median. go test -run TestGenerateFixtures -regen rewrites testdata/.

var regen = flag.Bool("regen", false, "rewrite the generated fixtures in testdata")

// targetModel is one target's centre and spread per metric.
type targetModel struct {
	name, kind, topology, tls string
	proxies                   int
	added50, sd50             float64 // added p50, ms
	added99, sd99             float64 // added p99, ms
	cpuRatio, sdCPU           float64 // proxy CPU per request / meshload's
	rssPerProxy, sdRSS        float64 // MiB
}

// Measured on the stored results (see above): direct p50 112 µs (σ 7),
// p99 880 µs (σ 116); meshproxy added p50 0.079 ms (σ 0.006), added p99
// 0.135 ms (σ 0.180), CPU 0.33 x loadgen (σ 0.039), RSS 10.7 MiB (σ 0.38);
// the pair added p50 0.206 ms (σ 0.043), added p99 0.818 ms (σ 0.171), CPU
// 0.89 (σ 0.052), RSS 14.3 MiB per proxy (σ 0.55). meshload spends about
// 230 µs of CPU per request at 1000 req/s.
var (
	directP50US, directSD50US = 112.0, 7.0
	directP99US, directSD99US = 880.0, 116.0
	generatorUS               = 230.0

	realModel = []targetModel{
		{"meshproxy", "meshproxy", "client-sidecar", "none", 1, 0.079, 0.006, 0.135, 0.180, 0.33, 0.039, 10.7, 0.38},
		{"meshproxy-pair-mtls", "meshproxy", "sidecar-pair", "mtls", 2, 0.206, 0.043, 0.818, 0.171, 0.89, 0.052, 14.3, 0.55},
	}
)

const (
	fixtureReps     = 5
	fixtureRequests = 10000 // 10 s at 1000 req/s
)

// gateSpec is the scenario a fixture says it ran (scenarios/gate.yaml).
const gateSpec = `{"file":"scenarios/gate.yaml","name":"gate","mode":"loopback","protocol":"http/1.1",` +
	`"load":{"rates":[1000],"connections":16,"duration":"10s","warmup":"1s","repetitions":5,"timeout":"5s","payload":1024,"requestBody":0,"service":"echo","path":"/","minSuccess":"100%"},` +
	`"targets":[{"name":"direct","kind":"direct"},{"name":"meshproxy","kind":"meshproxy","topology":"client-sidecar","eventLoops":1},` +
	`{"name":"meshproxy-pair-mtls","kind":"meshproxy","topology":"sidecar-pair","tls":"mtls","eventLoops":1}]}`

// generate builds a run from the model with noise scaled by scale (1: the
// measured noise; 0: none), drawn from a source seeded with seed.
func generate(id string, seed uint64, scale float64) *schema.Run {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	draw := func(centre, sd float64) float64 { return centre + scale*sd*r.NormFloat64() }
	run := &schema.Run{
		Schema: schema.Version, ID: id, Mode: "loopback",
		Started:     time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
		Environment: schema.Environment{CPUModel: "AMD EPYC", Cores: 2, OS: "Debian GNU/Linux 12 (bookworm)", GoVersion: "go1.26.8"},
		Scenario:    schema.Scenario{Name: "gate", File: "scenarios/gate.yaml", Spec: json.RawMessage(gateSpec)},
	}
	for rep := 1; rep <= fixtureReps; rep++ {
		d50, d99 := draw(directP50US, directSD50US), draw(directP99US, directSD99US)
		run.Steps = append(run.Steps, step("direct", "direct", "direct", "none", rep, d50, d99, 0, 0, 0))
		for _, t := range realModel {
			cpu := draw(t.cpuRatio, t.sdCPU) * generatorUS
			st := step(t.name, t.kind, t.topology, t.tls, rep,
				d50+1000*draw(t.added50, t.sd50), d99+1000*draw(t.added99, t.sd99),
				t.proxies, cpu, draw(t.rssPerProxy, t.sdRSS))
			run.Steps = append(run.Steps, st)
		}
	}
	run.GoBenchmarks = []schema.GoBenchmark{
		{Name: "http1.BenchmarkParseRequest", NsPerOp: 346, AllocsPerOp: 0, Runs: 3},
		{Name: "route.BenchmarkCompile", NsPerOp: 52000, BytesPerOp: 9000, AllocsPerOp: 120, Runs: 3},
		{Name: "sidecar.BenchmarkForward1KiB/meshproxy/serial", NsPerOp: 61000, BytesPerOp: 1200, AllocsPerOp: 14, Runs: 3},
	}
	return run
}

// step is one fully successful step; cpuUS is the proxies' CPU per
// request (0: no proxies), rss the peak per proxy.
func step(target, kind, topology, tls string, rep int, p50, p99 float64, proxies int, cpuUS, rss float64) schema.Step {
	one := 1.0
	st := schema.Step{
		Target: target, Kind: kind, Topology: topology, TLS: tls, Protocol: "http/1.1",
		Rate: 1000, Repetition: rep, Status: "ok", DurationS: 11,
		Load: &schema.Load{
			TargetRate: 1000, AchievedRate: 1000, Connections: 16,
			Requests: fixtureRequests, StatusCodes: map[string]uint64{"200": fixtureRequests},
			Expect: "200-299", Successes: fixtureRequests, SuccessRatio: &one,
			LatencyUS:     schema.Latency{P50: math.Round(p50), P99: math.Round(p99)},
			GeneratorCPUS: generatorUS * fixtureRequests / 1e6,
		},
		Proxies: []schema.Proxy{},
	}
	if proxies == 0 {
		return st
	}
	names := []string{"client-sidecar", "server-sidecar"}
	for i := 0; i < proxies; i++ {
		st.Proxies = append(st.Proxies, schema.Proxy{
			Name: names[i], Samples: 100, RSSMiB: rss, RSSAvgMiB: rss * 0.98, HWMMiB: rss,
			CPUS: cpuUS * fixtureRequests / 1e6 / float64(proxies),
		})
	}
	cpu, total := cpuUS, rss*float64(proxies)
	st.CPUPerRequestUS, st.RSSMiB = &cpu, &total
	return st
}

// The committed fixtures: a baseline and a second run of the same code
// with the measured noise, and the same pair on a quiet machine with a
// tenth of that noise, where every regression BENCHMARKS.md lists is
// larger than the limits (the measured noise hides some of them).
var fixtureFiles = []struct {
	file  string
	seed  uint64
	scale float64
}{
	{"base.json", 1, 1},
	{"noisy.json", 2, 1},
	{"quiet-base.json", 3, 0.1},
	{"quiet-rerun.json", 4, 0.1},
}

func TestGenerateFixtures(t *testing.T) {
	if !*regen {
		t.Skip("only with -regen (rewrites testdata)")
	}
	for _, f := range fixtureFiles {
		id := fmt.Sprintf("20261124T0900%02dZ-gate", f.seed)
		if err := schema.WriteFile(filepath.Join("testdata", f.file), generate(id, f.seed, f.scale)); err != nil {
			t.Fatal(err)
		}
	}
}

// load reads a committed fixture; each call returns a fresh copy.
func load(t *testing.T, file string) *schema.Run {
	t.Helper()
	run, err := schema.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// edit applies f to every step of target in run.
func edit(run *schema.Run, target string, f func(*schema.Step)) *schema.Run {
	for i := range run.Steps {
		if run.Steps[i].Target == target {
			f(&run.Steps[i])
		}
	}
	return run
}

// without drops every step of target.
func without(run *schema.Run, target string) *schema.Run {
	kept := run.Steps[:0]
	for _, s := range run.Steps {
		if s.Target != target {
			kept = append(kept, s)
		}
	}
	run.Steps = kept
	return run
}
