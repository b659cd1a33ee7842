package gate

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Hand-picked noise: each number of each step moves independently; p99 by
// up to ±15 %, which gives each run a spread of about 20-30 % in its p99
// ratios.
var (
	baselineNoise = fixedNoise(map[string][fixtureReps]float64{
		"direct|p99":              {1.00, 1.10, 0.92},
		"meshproxy-pair-mtls|p99": {1.10, 0.90, 1.00},
		"nginx|p99":               {0.95, 1.05, 1.10},
		"direct|p50":              {1.00, 1.03, 0.98},
		"meshproxy-pair-mtls|p50": {1.02, 0.97, 1.00},
		"nginx|p50":               {0.99, 1.02, 1.04},
		"rss":                     {1.00, 1.02, 0.99},
		"cpu":                     {1.05, 0.95, 1.00},
		"gen":                     {1.00, 1.03, 0.97},
	})
	rerunNoise = fixedNoise(map[string][fixtureReps]float64{
		"direct|p99":              {0.90, 1.00, 1.05},
		"meshproxy-pair-mtls|p99": {1.15, 1.00, 0.95},
		"nginx|p99":               {1.10, 0.88, 1.00},
		"direct|p50":              {1.04, 0.99, 1.00},
		"meshproxy-pair-mtls|p50": {0.97, 1.05, 1.01},
		"nginx|p50":               {1.03, 0.98, 0.96},
		"rss":                     {1.01, 0.98, 1.03},
		"cpu":                     {0.92, 1.08, 1.03},
		"gen":                     {1.02, 0.96, 1.00},
	})
)

func baselineRun() *schema.Run { return buildRun("base", 1, baselineNoise) }

// failing returns "target@rate/metric" of every failing row, sorted.
func failing(rep Report) []string {
	var out []string
	for _, r := range rep.Rows {
		if !r.Pass {
			out = append(out, fmt.Sprintf("%s@%g/%s", r.Target, r.Rate, r.Metric))
		}
	}
	sort.Strings(out)
	return out
}

func TestCompare(t *testing.T) {
	const mp = "meshproxy-pair-mtls"
	tests := []struct {
		name    string
		current func() *schema.Run
		fail    []string // exactly these rows fail
		notes   map[string]string
	}{
		{
			name:    "identical runs",
			current: baselineRun,
		},
		{
			name: "same code measured twice on a machine 40% slower",
			current: func() *schema.Run {
				r := buildRun("rerun", 1.4, rerunNoise)
				for i := range r.GoBenchmarks {
					r.GoBenchmarks[i].NsPerOp *= 1.3 // never gated
				}
				return r
			},
		},
		{
			name: "2x p99 for meshproxy, direct unchanged",
			current: func() *schema.Run {
				return edit(baselineRun(), mp, func(s *schema.Step) { s.Load.LatencyUS.P99 *= 2 })
			},
			fail: []string{mp + "@1000/added_p99", mp + "@10000/added_p99"},
			notes: map[string]string{
				mp + "@1000/added_p99": "+100% > allowed +52% (threshold 50%, spread 26%+26%)",
			},
		},
		{
			name: "2x rss for meshproxy",
			current: func() *schema.Run {
				return edit(baselineRun(), mp, func(s *schema.Step) { *s.RSSMiB *= 2 })
			},
			fail: []string{mp + "@1000/rss", mp + "@10000/rss"},
		},
		{
			name: "proxy cpu per request +50% at one rate",
			current: func() *schema.Run {
				return edit(baselineRun(), "nginx", func(s *schema.Step) {
					if s.Rate == 1000 {
						*s.CPUPerRequestUS *= 1.5
					}
				})
			},
			fail: []string{"nginx@1000/cpu_per_request"},
		},
		{
			name: "allocs 0 -> 1",
			current: func() *schema.Run {
				r := baselineRun()
				r.GoBenchmarks[0].AllocsPerOp = 1
				return r
			},
			fail: []string{"engine.BenchmarkForward@0/allocs_per_op"},
			notes: map[string]string{
				"engine.BenchmarkForward@0/allocs_per_op": "0 -> 1 allocs/op > limit (+10% + 0.5)",
			},
		},
		{
			name: "allocs 120 -> 132 within 10% + 0.5",
			current: func() *schema.Run {
				r := baselineRun()
				r.GoBenchmarks[2].AllocsPerOp = 132
				return r
			},
		},
		{
			name: "allocs 120 -> 133 fails",
			current: func() *schema.Run {
				r := baselineRun()
				r.GoBenchmarks[2].AllocsPerOp = 133
				return r
			},
			fail: []string{"route.BenchmarkCompile@0/allocs_per_op"},
		},
		{
			name: "benchmark missing, another new",
			current: func() *schema.Run {
				r := baselineRun()
				r.GoBenchmarks[1].Name = "http1.BenchmarkParseResponse"
				return r
			},
			fail: []string{"http1.BenchmarkParseRequest@0/allocs_per_op"},
			notes: map[string]string{
				"http1.BenchmarkParseRequest@0/allocs_per_op":  "benchmark missing from current run",
				"http1.BenchmarkParseResponse@0/allocs_per_op": "new",
			},
		},
		{
			name:    "missing target",
			current: func() *schema.Run { return without(baselineRun(), "nginx") },
			fail: []string{
				"nginx@1000/added_p50", "nginx@1000/added_p99", "nginx@1000/cpu_per_request", "nginx@1000/rss",
				"nginx@10000/added_p50", "nginx@10000/added_p99", "nginx@10000/cpu_per_request", "nginx@10000/rss",
			},
			notes: map[string]string{"nginx@1000/rss": "missing from current run"},
		},
		{
			name: "target fails every step",
			current: func() *schema.Run {
				return edit(baselineRun(), mp, func(s *schema.Step) {
					if s.Rate == 10000 {
						s.Status, s.Error, s.Load, s.RSSMiB, s.CPUPerRequestUS = "failed", "upstream refused", nil, nil, nil
					}
				})
			},
			fail: []string{
				mp + "@10000/added_p50", mp + "@10000/added_p99", mp + "@10000/cpu_per_request", mp + "@10000/rss",
			},
			notes: map[string]string{mp + "@10000/rss": `no ok step in current run: 3 failed ("upstream refused")`},
		},
		{
			name: "one failed step of three still compares",
			current: func() *schema.Run {
				return edit(baselineRun(), mp, func(s *schema.Step) {
					if s.Rate == 1000 && s.Repetition == 2 {
						s.Status, s.Error = "failed", "timeout"
					}
				})
			},
			notes: map[string]string{mp + "@1000/rss": "1 of 3 current steps not ok"},
		},
		{
			name: "direct missing: no ratio can be formed",
			current: func() *schema.Run {
				return edit(baselineRun(), "direct", func(s *schema.Step) {
					if s.Rate == 1000 {
						s.Status = "failed"
					}
				})
			},
			fail: []string{
				mp + "@1000/added_p50", mp + "@1000/added_p99",
				"nginx@1000/added_p50", "nginx@1000/added_p99",
			},
			notes: map[string]string{mp + "@1000/added_p50": "current run: no ok direct step at this rate"},
		},
		{
			name: "new target passes",
			current: func() *schema.Run {
				r := baselineRun()
				for _, s := range r.Steps {
					if s.Target == "nginx" {
						s.Target, s.Kind = "haproxy", "haproxy"
						r.Steps = append(r.Steps, s)
					}
				}
				return r
			},
			notes: map[string]string{"haproxy@1000/added_p99": "new"},
		},
		{
			name: "disturbed step adds a note only",
			current: func() *schema.Run {
				return edit(baselineRun(), mp, func(s *schema.Step) {
					if s.Repetition == 1 {
						s.Busy = schema.Busy{OtherCPUPercent: 60, Disturbed: true}
					}
				})
			},
			notes: map[string]string{mp + "@1000/rss": "disturbed steps: baseline 0, current 1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := Compare(baselineRun(), tc.current(), DefaultThresholds())
			if len(rep.Rows) == 0 {
				t.Fatal("no rows")
			}
			got := failing(rep)
			want := append([]string(nil), tc.fail...)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				var buf bytes.Buffer
				rep.WriteTable(&buf)
				t.Fatalf("failing rows:\n  %s\nwant:\n  %s\n%s", strings.Join(got, "\n  "), strings.Join(want, "\n  "), buf.String())
			}
			if rep.Pass != (len(want) == 0) {
				t.Errorf("Pass = %v with %d failing rows", rep.Pass, len(want))
			}
			for id, note := range tc.notes {
				found := false
				for _, r := range rep.Rows {
					if fmt.Sprintf("%s@%g/%s", r.Target, r.Rate, r.Metric) == id {
						found = true
						if !strings.Contains(r.Note, note) {
							t.Errorf("%s: note %q does not contain %q", id, r.Note, note)
						}
					}
				}
				if !found {
					t.Errorf("%s: no such row", id)
				}
			}
		})
	}
}

// TestSameCodeSeeded compares pairs of runs of the same code with
// independent random noise (p99 ±15 %, p50 ±5 %, rss ±3 %, proxy CPU ±10 %,
// generator CPU ±5 %) on machines up to 50 % apart in speed: none may fail.
func TestSameCodeSeeded(t *testing.T) {
	amp := map[string]float64{"p50": 0.05, "p99": 0.15, "rss": 0.03, "cpu": 0.10, "gen": 0.05}
	for seed := uint64(1); seed <= 200; seed++ {
		base := buildRun("base", 1, randomNoise(seed, amp))
		cur := buildRun("cur", 1+float64(seed%6)/10, randomNoise(seed+10000, amp))
		rep := Compare(base, cur, DefaultThresholds())
		if !rep.Pass {
			var buf bytes.Buffer
			rep.WriteTable(&buf)
			t.Fatalf("seed %d: same code failed the gate:\n%s", seed, buf.String())
		}
	}
}

// TestValues checks the metric definitions on exact numbers.
func TestValues(t *testing.T) {
	rep := Compare(baselineRun(), baselineRun(), DefaultThresholds())
	get := func(target string, rate float64, metric string) Row {
		for _, r := range rep.Rows {
			if r.Target == target && r.Rate == rate && r.Metric == metric {
				return r
			}
		}
		t.Fatalf("no row %s@%g/%s", target, rate, metric)
		return Row{}
	}
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	mp := "meshproxy-pair-mtls"

	// p99 ratios per repetition: 700*1.10/300*1.00, 700*0.90/(300*1.10),
	// 700*1.00/(300*0.92); median = the third.
	r := get(mp, 1000, MetricAddedP99)
	near("added_p99 baseline", r.Baseline, 700.0/(300*0.92))
	lo, hi := 700*0.90/(300*1.10), 700*1.10/300
	spread := (hi - lo) / (700.0 / (300 * 0.92))
	near("added_p99 limit", r.Limit, r.Baseline*(1+math.Max(0.50, 2*spread)))
	if r.Unit != UnitRatioDirect {
		t.Errorf("added_p99 unit = %q", r.Unit)
	}

	// rss: median of 24 MiB × {1.00, 1.02, 0.99}; spread 3 % < 15 %.
	r = get(mp, 10000, MetricRSS)
	near("rss baseline", r.Baseline, 24)
	near("rss limit", r.Limit, 24*1.15)

	// cpu_per_request: proxy 40 µs × {1.05, 0.95, 1.00} over the generator's
	// 10 µs × {1.00, 1.03, 0.97} × 60000 / 60000 per request.
	r = get("nginx", 1000, MetricCPUPerRequest)
	ratios := []float64{30 * 1.05 / 10, 30 * 0.95 / (10 * 1.03), 30 * 1.00 / (10 * 0.97)}
	near("cpu_per_request baseline", r.Baseline, median(ratios))

	// direct gets no rows of its own (no proxies, no ratio to itself).
	for _, row := range rep.Rows {
		if row.Target == "direct" {
			t.Errorf("row for direct: %+v", row)
		}
	}
	// 2 proxied targets × 2 rates × 4 metrics + 3 benchmarks.
	if len(rep.Rows) != 2*2*4+3 {
		t.Errorf("%d rows, want %d", len(rep.Rows), 2*2*4+3)
	}
}

func TestSpreadWidensLimit(t *testing.T) {
	// A noisy baseline (p99 ratios 1, 2, 3 → median 2, spread 100 %) lets the
	// current run grow beyond the 50 % threshold.
	noisy := fixedNoise(map[string][fixtureReps]float64{
		"meshproxy-pair-mtls|p99": {300.0 / 700, 600.0 / 700, 900.0 / 700},
	})
	base := buildRun("base", 1, noisy)
	cur := edit(buildRun("cur", 1, noNoise), "meshproxy-pair-mtls", func(s *schema.Step) { s.Load.LatencyUS.P99 = 300 * 3.9 })
	rep := Compare(base, cur, DefaultThresholds())
	for _, r := range rep.Rows {
		if r.Target == "meshproxy-pair-mtls" && r.Metric == MetricAddedP99 {
			if !r.Pass || math.Abs(r.Limit-4) > 1e-9 {
				t.Errorf("rate %g: pass=%v limit=%v, want pass with limit 4 (2 × (1+100%%))", r.Rate, r.Pass, r.Limit)
			}
		}
	}
}

func TestCompareNilAndEmpty(t *testing.T) {
	rep := Compare(&schema.Run{}, &schema.Run{}, DefaultThresholds())
	if !rep.Pass || len(rep.Rows) != 0 {
		t.Errorf("empty runs: %+v", rep)
	}
	rep = Compare(baselineRun(), nil, DefaultThresholds())
	if rep.Pass {
		t.Error("nil current run passed")
	}
}

func TestWriteTableGolden(t *testing.T) {
	cur := edit(baselineRun(), "meshproxy-pair-mtls", func(s *schema.Step) { s.Load.LatencyUS.P99 *= 2 })
	cur = edit(cur, "nginx", func(s *schema.Step) {
		if s.Repetition == 1 {
			s.Busy.Disturbed = true
		}
		if s.Rate == 10000 {
			s.Status, s.Error = "failed", "connect: connection refused"
		}
	})
	cur.GoBenchmarks[0].AllocsPerOp = 1
	cur.GoBenchmarks = append(cur.GoBenchmarks, schema.GoBenchmark{Name: "metrics.BenchmarkObserve", Runs: 3})
	rep := Compare(baselineRun(), cur, DefaultThresholds())

	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("table differs from %s (go test -run TestWriteTableGolden -update to rewrite):\n--- got\n%s--- want\n%s", golden, buf.Bytes(), want)
	}
}

func TestWriteTableEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := (Report{Pass: true}).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "gate: PASS (nothing to compare)") {
		t.Errorf("got %q", buf.String())
	}
}
