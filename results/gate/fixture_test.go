package gate

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/meshbench/meshbench/results/schema"
)

// A fixture run: targets measured at rates in repetitions, each step's
// numbers derived from the target's nominal figures times noise.

type targetSpec struct {
	name, kind string
	p50, p99   float64 // µs on the reference machine
	rss        float64 // MiB; 0: not measured (direct)
	cpuUS      float64 // proxy CPU per request, µs; 0: not measured
}

var fixtureTargets = []targetSpec{
	{"direct", "direct", 100, 300, 0, 0},
	{"meshproxy-pair-mtls", "meshproxy", 180, 700, 24, 40},
	{"nginx", "nginx", 150, 500, 12, 30},
}

var fixtureRates = []float64{1000, 10000}

const fixtureReps = 3

// noiseFunc returns the multiplier for one number of one step; metric is
// "p50", "p99", "rss", "cpu" or "gen".
type noiseFunc func(target string, rate float64, rep int, metric string) float64

func noNoise(string, float64, int, string) float64 { return 1 }

// randomNoise is uniform noise of ±amp[metric] from a seeded source.
func randomNoise(seed uint64, amp map[string]float64) noiseFunc {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	cache := map[string]float64{}
	return func(target string, rate float64, rep int, metric string) float64 {
		k := fmt.Sprintf("%s|%s|%g|%d", target, metric, rate, rep)
		if v, ok := cache[k]; ok {
			return v
		}
		v := 1 + amp[metric]*(2*r.Float64()-1)
		cache[k] = v
		return v
	}
}

// buildRun builds a run. slowdown scales every time (latency, proxy CPU,
// generator CPU) as a slower machine would: ratios within the run do not
// change.
func buildRun(id string, slowdown float64, noise noiseFunc) *schema.Run {
	run := &schema.Run{
		Schema:  schema.Version,
		ID:      id,
		Started: time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC),
		Mode:    "loopback",
	}
	const requests = 60000
	for _, rate := range fixtureRates {
		for rep := 1; rep <= fixtureReps; rep++ {
			for _, t := range fixtureTargets {
				n := func(m string) float64 { return noise(t.name, rate, rep, m) }
				st := schema.Step{
					Target: t.name, Kind: t.kind, Topology: "sidecar-pair", TLS: "mtls",
					Protocol: "http/1.1", Rate: rate, Repetition: rep, Status: "ok",
					DurationS: 60,
					Load: &schema.Load{
						TargetRate: rate, AchievedRate: rate, Connections: 16,
						Requests: requests - 100, Errors: 100,
						LatencyUS: schema.Latency{
							P50: t.p50 * slowdown * n("p50"),
							P99: t.p99 * slowdown * n("p99"),
						},
						// meshload: 10 µs of CPU per request on the reference machine.
						GeneratorCPUS: 10e-6 * requests * slowdown * n("gen"),
					},
				}
				if t.kind == "direct" {
					st.Topology = "direct"
				}
				if t.rss > 0 {
					v := t.rss * n("rss")
					st.RSSMiB = &v
				}
				if t.cpuUS > 0 {
					v := t.cpuUS * slowdown * n("cpu")
					st.CPUPerRequestUS = &v
				}
				run.Steps = append(run.Steps, st)
			}
		}
	}
	run.GoBenchmarks = []schema.GoBenchmark{
		{Name: "engine.BenchmarkForward", NsPerOp: 900 * slowdown, AllocsPerOp: 0, Runs: 3},
		{Name: "http1.BenchmarkParseRequest", NsPerOp: 340 * slowdown, AllocsPerOp: 0, Runs: 3},
		{Name: "route.BenchmarkCompile", NsPerOp: 52000 * slowdown, BytesPerOp: 9000, AllocsPerOp: 120, Runs: 3},
	}
	return run
}

// fixedNoise gives hand-picked multipliers per repetition: the same code
// measured twice, p99 within ±15 % and a spread of about 20 % in each run.
func fixedNoise(table map[string][fixtureReps]float64) noiseFunc {
	return func(target string, rate float64, rep int, metric string) float64 {
		if v, ok := table[target+"|"+metric]; ok {
			return v[rep-1]
		}
		if v, ok := table[metric]; ok {
			return v[rep-1]
		}
		return 1
	}
}

// edit applies f to every step of target (all rates) in run.
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
