package gate

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const mp, pair = "meshproxy", "meshproxy-pair-mtls"

func table(rep Report) string {
	var buf bytes.Buffer
	rep.WriteTable(&buf)
	return buf.String()
}

// wantFailing checks that exactly the rows want fail.
func wantFailing(t *testing.T, rep Report, want ...string) {
	t.Helper()
	got := rep.Failing()
	if strings.Join(got, " ") != strings.Join(sorted(want), " ") {
		t.Fatalf("failing rows %q, want %q\n%s", got, sorted(want), table(rep))
	}
	if rep.Pass != (len(want) == 0) {
		t.Errorf("Pass = %v with %d failing rows", rep.Pass, len(want))
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func row(t *testing.T, rep Report, id string) Row {
	t.Helper()
	for _, r := range rep.Rows {
		if r.ID() == id {
			return r
		}
	}
	t.Fatalf("no row %s\n%s", id, table(rep))
	return Row{}
}

func TestSameCodePasses(t *testing.T) {
	tests := []struct{ name, base, cur string }{
		{"identical runs", "base.json", "base.json"},
		{"identical quiet runs", "quiet-base.json", "quiet-base.json"},
		// Two runs of the same code with the noise measured on the stored
		// results: meshproxy's added p99 median moves by +0.12 ms, beyond
		// its 0.057 ms floor, within the noise allowance.
		{"same code, measured noise", "base.json", "noisy.json"},
		{"same code, quiet machine", "quiet-base.json", "quiet-rerun.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := Compare(load(t, tc.base), load(t, tc.cur), nil, DefaultOptions())
			wantFailing(t, rep)
			// Every metric of both proxied targets and of direct is there.
			if n := len(rep.Rows); n != 1+2*5+3 {
				t.Errorf("%d rows, want 14\n%s", n, table(rep))
			}
		})
	}
}

// The noisy pair differs by more than the floors: only the allowance the
// baseline's noise adds lets it pass (so a gate that drops the noise term
// fails here).
func TestNoiseWidensTheLimit(t *testing.T) {
	opt := DefaultOptions()
	opt.K = 0
	rep := Compare(load(t, "base.json"), load(t, "noisy.json"), nil, opt)
	if rep.Pass {
		t.Fatalf("with k = 0 (floors only) the noisy pair passed; the test no longer shows the noise term\n%s", table(rep))
	}
}

// The limit is baseline + max(floor, k·σ·√(π/2)·√(1/nb+1/nc)), σ = 1.4826
// × the MAD of the baseline's repetitions without the median's own 0.
func TestLimitFormula(t *testing.T) {
	base := load(t, "base.json")
	rep := Compare(base, load(t, "noisy.json"), nil, DefaultOptions())
	var p99 []float64
	d := map[int]float64{}
	for _, s := range base.Steps {
		if s.Target == "direct" {
			d[s.Repetition] = s.Load.LatencyUS.P99
		}
	}
	for _, s := range base.Steps {
		if s.Target == mp {
			p99 = append(p99, (s.Load.LatencyUS.P99-d[s.Repetition])/1000)
		}
	}
	m := median(p99)
	var abs []float64
	for _, v := range p99 {
		if v != m {
			abs = append(abs, math.Abs(v-m))
		}
	}
	sigma := 1.4826 * median(abs)
	want := m + math.Max(math.Max(0.2*math.Abs(m), 0.05), 3*sigma*math.Sqrt(math.Pi/2)*math.Sqrt(2.0/5))

	r := row(t, rep, mp+"@1000/added_p99")
	near(t, "baseline", r.Baseline, m)
	near(t, "sigma", r.Sigma, sigma)
	near(t, "limit", r.Limit, want)
	if r.Unit != UnitMS || r.NB != 5 || r.NC != 5 {
		t.Errorf("unit %q n %d/%d", r.Unit, r.NB, r.NC)
	}

	// rss per proxy: the pair's steps hold two proxies.
	r = row(t, rep, pair+"@1000/rss_per_proxy")
	var rss []float64
	for _, s := range base.Steps {
		if s.Target == pair {
			rss = append(rss, *s.RSSMiB/2)
		}
	}
	near(t, "rss per proxy", r.Baseline, median(rss))

	// cpu per request relative to meshload's in the same step.
	r = row(t, rep, mp+"@1000/cpu_per_request")
	var cpu []float64
	for _, s := range base.Steps {
		if s.Target == mp {
			cpu = append(cpu, *s.CPUPerRequestUS/(s.Load.GeneratorCPUS*1e6/float64(s.Load.Requests+s.Load.Errors)))
		}
	}
	near(t, "cpu ratio", r.Baseline, median(cpu))
}

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

// Each doctored regression fails exactly its row, on a quiet machine where
// every one of them is larger than its limit.
func TestDoctoredRegressionFailsItsRow(t *testing.T) {
	base := load(t, "quiet-base.json")
	for _, reg := range DefaultRegressions() {
		t.Run(reg.String(), func(t *testing.T) {
			doc, err := Doctor(load(t, "quiet-rerun.json"), mp, reg, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			wantFailing(t, Compare(base, doc, nil, DefaultOptions()), mp+"@1000/"+reg.Metric)
		})
	}
}

// Doctor moves the gate's value by exactly the regression.
func TestDoctorMovesTheMetricExactly(t *testing.T) {
	opt := DefaultOptions()
	for _, cpuUnit := range []string{CPUUnitLoadgen, CPUUnitUS} {
		opt.CPUUnit = cpuUnit
		cur := load(t, "noisy.json")
		before := Compare(load(t, "base.json"), cur, nil, opt)
		for _, reg := range DefaultRegressions() {
			doc, err := Doctor(cur, mp, reg, opt)
			if err != nil {
				t.Fatal(err)
			}
			after := Compare(load(t, "base.json"), doc, nil, opt)
			id := mp + "@1000/" + reg.Metric
			b, a := row(t, before, id).Current, row(t, after, id).Current
			want := b + reg.By*math.Abs(b)
			if reg.Metric == MetricSuccessRatio {
				want = b * (1 - reg.By) // 10 of 10000 per step
			}
			if math.Abs(a-want) > 1e-9 {
				t.Errorf("%s (%s): %v -> %v, want %v", reg, cpuUnit, b, a, want)
			}
		}
	}
}

func TestSuccessRatio(t *testing.T) {
	all503 := func(s *schema.Step) {
		// meshproxy answers everything with 503, faster than before.
		l := s.Load
		zero := 0.0
		l.Successes, l.UnexpectedStatus, l.SuccessRatio = 0, l.Requests, &zero
		l.StatusCodes = map[string]uint64{"503": l.Requests}
		l.LatencyUS.P50 *= 0.8
		s.Status, s.Error = "failed", "success 0 % < minSuccess 100 %: 503 ×10000"
	}
	oldFormat := func(r *schema.Run) *schema.Run {
		// As written before success was classified.
		for i := range r.Steps {
			l := r.Steps[i].Load
			l.SuccessRatio, l.Successes, l.Expect = nil, 0, ""
		}
		return r
	}
	tests := []struct {
		name    string
		base    func(*testing.T) *schema.Run
		cur     func(*testing.T) *schema.Run
		failing []string
		note    string // of meshproxy's success row
	}{
		{
			name: "100 % 503 with a 20 % lower p50",
			cur:  func(t *testing.T) *schema.Run { return edit(load(t, "base.json"), mp, all503) },
			// With no success left no latency is measured either.
			failing: []string{mp + "@1000/added_p50", mp + "@1000/added_p99", mp + "@1000/cpu_per_request", mp + "@1000/rss_per_proxy", mp + "@1000/success_ratio"},
			note:    "50000 of 50000 requests failed, baseline 0 of 50000",
		},
		{
			name: "100 % 503 in files from before success_ratio",
			base: func(t *testing.T) *schema.Run { return oldFormat(load(t, "base.json")) },
			cur: func(t *testing.T) *schema.Run {
				r := oldFormat(edit(load(t, "base.json"), mp, func(s *schema.Step) {
					s.Load.StatusCodes = map[string]uint64{"503": s.Load.Requests}
					s.Load.LatencyUS.P50 *= 0.8
				}))
				return r
			},
			// The old runner called these steps ok; only the status codes tell.
			failing: []string{mp + "@1000/success_ratio"},
			note:    "counted from 2xx status codes",
		},
		{
			name: "one failed request in 50000",
			cur: func(t *testing.T) *schema.Run {
				return edit(load(t, "base.json"), mp, func(s *schema.Step) {
					if s.Repetition == 3 {
						s.Load.Successes--
						s.Load.UnexpectedStatus++
						r := float64(s.Load.Successes) / float64(s.Load.Requests)
						s.Load.SuccessRatio = &r
					}
				})
			},
			failing: []string{mp + "@1000/success_ratio"},
			note:    "1 of 50000 requests failed",
		},
		{
			name: "a transport error counts as a failure",
			cur: func(t *testing.T) *schema.Run {
				return edit(load(t, "base.json"), mp, func(s *schema.Step) {
					if s.Repetition == 1 {
						s.Load.Errors = 1
					}
				})
			},
			failing: []string{mp + "@1000/success_ratio"},
		},
		{
			name: "a step that failed before load ran",
			cur: func(t *testing.T) *schema.Run {
				return edit(load(t, "base.json"), mp, func(s *schema.Step) {
					if s.Repetition == 2 {
						s.Status, s.Error, s.Load, s.RSSMiB, s.CPUPerRequestUS = "failed", "meshproxy exited: status 2", nil, nil, nil
					}
				})
			},
			failing: []string{mp + "@1000/success_ratio"},
			note:    `1 current steps have no load result ("meshproxy exited: status 2")`,
		},
		{
			name:    "no success counts at all: a note, not a failure",
			base:    func(t *testing.T) *schema.Run { return noCounts(oldFormat(load(t, "base.json"))) },
			cur:     func(t *testing.T) *schema.Run { return noCounts(oldFormat(load(t, "base.json"))) },
			failing: nil,
			note:    "baseline has no success counts",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := load(t, "base.json")
			if tc.base != nil {
				base = tc.base(t)
			}
			rep := Compare(base, tc.cur(t), nil, DefaultOptions())
			wantFailing(t, rep, tc.failing...)
			if r := row(t, rep, mp+"@1000/success_ratio"); !strings.Contains(r.Note, tc.note) {
				t.Errorf("note %q does not contain %q", r.Note, tc.note)
			}
		})
	}
}

func noCounts(r *schema.Run) *schema.Run {
	for i := range r.Steps {
		r.Steps[i].Load.StatusCodes = nil
	}
	return r
}

func TestAllocs(t *testing.T) {
	tests := []struct {
		name    string
		bench   int
		allocs  float64
		failing []string
		note    string
	}{
		{"0 -> 1 fails", 0, 1, []string{"http1.BenchmarkParseRequest@0/allocs_per_op"}, "0 -> 1 allocs/op > limit (+10% + 0.5)"},
		{"120 -> 132 within 10 % + 0.5", 1, 132, nil, ""},
		{"120 -> 133 fails", 1, 133, []string{"route.BenchmarkCompile@0/allocs_per_op"}, "120 -> 133"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := load(t, "base.json")
			cur.GoBenchmarks[tc.bench].AllocsPerOp = tc.allocs
			rep := Compare(load(t, "base.json"), cur, nil, DefaultOptions())
			wantFailing(t, rep, tc.failing...)
			if tc.note != "" {
				if r := row(t, rep, tc.failing[0]); !strings.Contains(r.Note, tc.note) {
					t.Errorf("note %q, want %q", r.Note, tc.note)
				}
			}
		})
	}
}

func TestMissingAndNew(t *testing.T) {
	every := func(target string) []string {
		var ids []string
		for _, m := range []string{MetricAddedP50, MetricAddedP99, MetricCPUPerRequest, MetricRSSPerProxy, MetricSuccessRatio} {
			ids = append(ids, target+"@1000/"+m)
		}
		return ids
	}
	tests := []struct {
		name    string
		cur     func(*testing.T) *schema.Run
		failing []string
		notes   map[string]string
	}{
		{
			name:    "missing target",
			cur:     func(t *testing.T) *schema.Run { return without(load(t, "base.json"), pair) },
			failing: every(pair),
			notes:   map[string]string{pair + "@1000/added_p50": "missing from current run"},
		},
		{
			name: "target failed every step",
			cur: func(t *testing.T) *schema.Run {
				return edit(load(t, "base.json"), pair, func(s *schema.Step) {
					s.Status, s.Error, s.Load, s.RSSMiB, s.CPUPerRequestUS = "failed", "upstream refused", nil, nil, nil
				})
			},
			failing: every(pair),
			notes:   map[string]string{pair + "@1000/rss_per_proxy": `no step with successful responses in current run: 5 failed ("upstream refused")`},
		},
		{
			name: "direct failed: no added latency can be formed",
			cur: func(t *testing.T) *schema.Run {
				return edit(load(t, "base.json"), "direct", func(s *schema.Step) {
					s.Status, s.Error, s.Load = "failed", "echo did not start", nil
				})
			},
			failing: []string{"direct@1000/success_ratio", mp + "@1000/added_p50", mp + "@1000/added_p99", pair + "@1000/added_p50", pair + "@1000/added_p99"},
			notes:   map[string]string{mp + "@1000/added_p50": "current run: no direct step with successful responses"},
		},
		{
			name: "benchmark missing, another new",
			cur: func(t *testing.T) *schema.Run {
				r := load(t, "base.json")
				r.GoBenchmarks[1].Name = "route.BenchmarkMatch"
				return r
			},
			failing: []string{"route.BenchmarkCompile@0/allocs_per_op"},
			notes:   map[string]string{"route.BenchmarkMatch@0/allocs_per_op": "new"},
		},
		{
			name: "new target passes",
			cur: func(t *testing.T) *schema.Run {
				r := load(t, "base.json")
				for _, s := range r.Steps {
					if s.Target == mp {
						s.Target = "meshproxy-2"
						r.Steps = append(r.Steps, s)
					}
				}
				return r
			},
			notes: map[string]string{"meshproxy-2@1000/added_p99": "new", "meshproxy-2@1000/success_ratio": "new"},
		},
		{
			name: "disturbed steps are noted only",
			cur: func(t *testing.T) *schema.Run {
				return edit(load(t, "base.json"), mp, func(s *schema.Step) {
					if s.Repetition == 1 {
						s.Busy = schema.Busy{OtherCPUPercent: 60, Disturbed: true}
					}
				})
			},
			notes: map[string]string{mp + "@1000/added_p50": "disturbed steps: baseline 0, current 1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := Compare(load(t, "base.json"), tc.cur(t), nil, DefaultOptions())
			wantFailing(t, rep, tc.failing...)
			for id, note := range tc.notes {
				if r := row(t, rep, id); !strings.Contains(r.Note, note) {
					t.Errorf("%s: note %q does not contain %q", id, r.Note, note)
				}
			}
		})
	}
}

// A baseline of 3 repetitions (as results/baseline.json had) cannot give a
// noise-based limit: those rows fail and say why.
func TestBaselineNeedsFiveRepetitions(t *testing.T) {
	base := load(t, "base.json")
	kept := base.Steps[:0]
	for _, s := range base.Steps {
		if s.Repetition <= 3 {
			kept = append(kept, s)
		}
	}
	base.Steps = kept
	rep := Compare(base, load(t, "base.json"), nil, DefaultOptions())
	var want []string
	for _, tg := range []string{mp, pair} {
		for _, m := range []string{MetricAddedP50, MetricAddedP99, MetricCPUPerRequest, MetricRSSPerProxy} {
			want = append(want, tg+"@1000/"+m)
		}
	}
	wantFailing(t, rep, want...)
	if r := row(t, rep, mp+"@1000/added_p50"); !strings.Contains(r.Note, "baseline has 3 repetitions; a noise-based limit needs >= 5") {
		t.Errorf("note %q", r.Note)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		cur  func(*schema.Run)
		want string
	}{
		{"same machine and scenario", func(*schema.Run) {}, ""},
		{"other CPU model", func(r *schema.Run) { r.Environment.CPUModel = "Intel Xeon" }, `environment differs: baseline on "AMD EPYC" × 2 cores, current on "Intel Xeon" × 2 cores`},
		{"more cores", func(r *schema.Run) { r.Environment.Cores = 4 }, `current on "AMD EPYC" × 4 cores`},
		{"other scenario settings", func(r *schema.Run) {
			r.Scenario.Spec = regexp.MustCompile(`"eventLoops":\s*1`).ReplaceAll(r.Scenario.Spec, []byte(`"eventLoops": 0`))
		}, "scenario differs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := load(t, "base.json")
			tc.cur(cur)
			rep := Compare(load(t, "base.json"), cur, nil, DefaultOptions())
			out := table(rep)
			if tc.want == "" {
				if len(rep.Warnings) != 0 || strings.Contains(out, "warning:") {
					t.Errorf("unexpected warning:\n%s", out)
				}
				return
			}
			if !strings.HasPrefix(out, "warning: ") || !strings.Contains(out, tc.want) {
				t.Errorf("no warning %q in:\n%s", tc.want, out)
			}
			if !rep.Pass {
				t.Errorf("a warning failed the gate:\n%s", out)
			}
		})
	}
}

func TestCompareEmpty(t *testing.T) {
	rep := Compare(&schema.Run{}, &schema.Run{}, nil, DefaultOptions())
	if !rep.Pass || len(rep.Rows) != 0 {
		t.Errorf("empty runs: %+v", rep)
	}
	rep = Compare(load(t, "base.json"), nil, nil, DefaultOptions())
	if rep.Pass {
		t.Error("nil current run passed")
	}
}

// The share of same-code pairs that fail, drawn from the measured noise
// model: the statistics behind the limit (the MAD without the median's own
// zero, √(π/2) for the median's standard error, k = 3) keep it at about 5 %
// of runs with σ from the baseline alone and lower with σ pooled over 3
// runs. A broken σ or standard error moves these far beyond the bounds.
func TestFalseAlarmRate(t *testing.T) {
	tests := []struct {
		extraRuns int
		maxFail   int // of 200
	}{
		{0, 16},
		{2, 10},
	}
	opt := DefaultOptions()
	for _, tc := range tests {
		fails := 0
		for seed := uint64(1000); seed < 3000; seed += 10 {
			b := generate("b", seed, 1)
			var same []*schema.Run
			for i := 0; i < tc.extraRuns; i++ {
				same = append(same, generate("x", seed+2+uint64(i), 1))
			}
			if !Compare(b, generate("c", seed+1, 1), MeasureNoise(b, opt, same...), opt).Pass {
				fails++
			}
		}
		t.Logf("σ pooled over %d runs: %d of 200 same-code pairs fail", 1+tc.extraRuns, fails)
		if fails > tc.maxFail {
			t.Errorf("σ pooled over %d runs: %d of 200 same-code pairs fail, want <= %d", 1+tc.extraRuns, fails, tc.maxFail)
		}
	}
}

func TestWriteTableGolden(t *testing.T) {
	base := load(t, "base.json")
	cur, err := Doctor(load(t, "noisy.json"), mp, Regression{MetricAddedP50, 1}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	cur = edit(cur, pair, func(s *schema.Step) {
		if s.Repetition == 1 {
			s.Busy.Disturbed = true
		}
	})
	cur.Environment.Cores = 4
	cur.GoBenchmarks[0].AllocsPerOp = 1
	cur.GoBenchmarks = append(cur.GoBenchmarks, schema.GoBenchmark{Name: "metrics.BenchmarkObserve", Runs: 3})
	rep := Compare(base, cur, nil, DefaultOptions())
	golden(t, "table.golden", []byte(table(rep)))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test ./results/gate -run %s -args -update):\n--- got\n%s--- want\n%s", path, t.Name(), got, want)
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

func TestValidateOptions(t *testing.T) {
	tests := []struct {
		name string
		f    func(*Options)
		err  string
	}{
		{"defaults", func(*Options) {}, ""},
		{"negative k", func(o *Options) { o.K = -1 }, "k -1"},
		{"one repetition", func(o *Options) { o.MinReps = 1 }, "min-reps 1"},
		{"cpu unit", func(o *Options) { o.CPUUnit = "ms" }, `cpu unit "ms"`},
		{"negative floor", func(o *Options) { o.FloorRSS = -0.1 }, "floor-rss"},
	}
	for _, tc := range tests {
		o := DefaultOptions()
		tc.f(&o)
		err := o.Validate()
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
		}
	}
}
