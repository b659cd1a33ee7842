// Package gate compares a current benchmark run with a baseline run and says
// whether the current one regressed (`meshbench gate -baseline FILE -current
// FILE`). It never compares absolute times across runs: the machines are
// shared and small, so a slower or faster machine, or a busy minute, must not
// move the result. Every latency and CPU metric is a ratio of two things
// measured in the same run, at the same moment, on the same machine.
//
// # Metrics
//
// For each (target, rate) present in the baseline, using only steps with
// Status "ok":
//
//   - added_p50, added_p99 (unit "x direct"; targets whose Kind is not
//     "direct"): per repetition r, ratio_r = the target's Load.LatencyUS.P50
//     (P99) / the direct target's at the same rate and repetition. The value
//     is the median of ratio_r over the repetitions; 1.0 means the proxy adds
//     nothing.
//   - rss (unit "MiB"): the median of Step.RSSMiB over the repetitions.
//     Absolute, because memory does not scale with CPU speed.
//   - cpu_per_request (unit "x loadgen"): per repetition,
//     Step.CPUPerRequestUS / (Load.GeneratorCPUS×1e6 / (Load.Requests +
//     Load.Errors)): the proxies' CPU per request relative to the load
//     generator's CPU per request in the same step. The value is the median.
//
// The spread of a metric in one run is (max−min)/median over its
// repetitions. The limit is
//
//	limit = baseline × (1 + max(threshold, spread_baseline + spread_current))
//
// and a row passes when current ≤ limit. So a metric may always grow by its
// threshold, and by more when the two runs themselves show that much noise:
// two runs of the same code never fail. A run with a single repetition has a
// spread of 0 (only the threshold applies).
//
// For each Go benchmark (Run.GoBenchmarks, median over -count runs):
//
//   - allocs_per_op (unit "allocs/op"): limit = baseline × (1 +
//     AllocsPerOp) + 0.5, so a zero-allocation path that starts allocating
//     (0 -> 1) fails.
//
// # Missing and new
//
// A (target, rate) or benchmark in the baseline that is missing from the
// current run, or has no ok step there (a target that failed every step),
// gives FAIL rows; so does a metric the baseline measured and the current
// run did not, and a ratio whose direct steps are all missing. One present
// only in the current run gives PASS rows noted "new". A step flagged
// Busy.Disturbed, in either run, adds a note to the rows it feeds; it does
// not change pass or fail (the spread already widens the limit).
package gate

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/meshbench/meshbench/results/schema"
)

// Thresholds are the relative growth each metric may show before the gate
// fails (0.25 = +25 %), unless the runs' own spread allows more.
type Thresholds struct {
	AddedP50      float64 // added_p50: latency ratio to direct at the median
	AddedP99      float64 // added_p99: latency ratio to direct at p99
	RSS           float64 // rss: peak resident memory of the target's proxies
	CPUPerRequest float64 // cpu_per_request: proxy CPU per request relative to meshload's
	AllocsPerOp   float64 // allocs_per_op, relative; plus an absolute slack of 0.5 alloc
}

// DefaultThresholds are the gate's defaults:
//
//   - AddedP50 0.25: the median ratio is stable on a quiet machine; +25 %
//     is well above run-to-run noise and well below a real slowdown of the
//     proxy path.
//   - AddedP99 0.50: tails on a 2-core shared machine move by 20-40 %
//     between identical runs (scheduler wake-ups, GC); +50 % still catches a
//     doubled tail.
//   - RSS 0.15: memory is nearly deterministic for the same code and load;
//     +15 % catches a new buffer per connection or a leaked pool.
//   - CPUPerRequest 0.30: a ratio of two CPU times in one step, steadier than
//     either time alone but still sensitive to frequency scaling and caches.
//   - AllocsPerOp 0.10: allocations are deterministic; 10 % plus the
//     absolute 0.5 slack tolerates only median rounding.
func DefaultThresholds() Thresholds {
	return Thresholds{
		AddedP50:      0.25,
		AddedP99:      0.50,
		RSS:           0.15,
		CPUPerRequest: 0.30,
		AllocsPerOp:   0.10,
	}
}

// Metric names used in Row.Metric.
const (
	MetricAddedP50      = "added_p50"
	MetricAddedP99      = "added_p99"
	MetricRSS           = "rss"
	MetricCPUPerRequest = "cpu_per_request"
	MetricAllocsPerOp   = "allocs_per_op"
)

// Units used in Row.Unit.
const (
	UnitRatioDirect  = "x direct"  // latency of the target / latency of direct, same run
	UnitMiB          = "MiB"       // mebibytes
	UnitRatioLoadgen = "x loadgen" // proxy CPU per request / meshload CPU per request, same step
	UnitAllocs       = "allocs/op"
)

// Row is one comparison. Baseline, Current and Limit are in Unit; a side
// that has no value (missing target, metric not measured) is NaN and Note
// says why.
type Row struct {
	Target string // target name; for allocs_per_op the Go benchmark name
	Metric string // one of the Metric* constants
	Rate   float64

	Baseline, Current, Limit float64
	Unit                     string

	Pass bool
	Note string // why it failed, why it was skipped, or what to doubt
}

// Report is the outcome of Compare: one row per metric per (target, rate)
// and per Go benchmark, in a stable order. Pass is true when every row
// passes.
type Report struct {
	Rows []Row
	Pass bool
}

// Compare compares current against baseline. Rows are ordered by target
// name, then rate, then metric (added_p50, added_p99, rss,
// cpu_per_request), then the Go benchmarks by name.
func Compare(baseline, current *schema.Run, th Thresholds) Report {
	b, c := index(baseline), index(current)
	var rows []Row

	keys := unionKeys(b, c)
	for _, k := range keys {
		rows = append(rows, compareTarget(k, b, c, th)...)
	}
	rows = append(rows, compareBenchmarks(baseline, current, th.AllocsPerOp)...)

	rep := Report{Rows: rows, Pass: true}
	for _, r := range rows {
		if !r.Pass {
			rep.Pass = false
		}
	}
	return rep
}

// key identifies a target at a rate.
type key struct {
	target string
	rate   float64
}

// runIndex is one run's steps, grouped.
type runIndex struct {
	steps  map[key][]schema.Step // every step of a target at a rate, in run order
	kind   map[string]string     // target -> Kind
	direct map[float64]map[int]schema.Step
}

func index(run *schema.Run) runIndex {
	ix := runIndex{
		steps:  make(map[key][]schema.Step),
		kind:   make(map[string]string),
		direct: make(map[float64]map[int]schema.Step),
	}
	if run == nil {
		return ix
	}
	// The direct reference: the target of Kind "direct" (the one named
	// "direct" when there are several).
	directTarget := ""
	for _, s := range run.Steps {
		if s.Kind == "direct" && (directTarget == "" || s.Target == "direct") {
			directTarget = s.Target
		}
	}
	for _, s := range run.Steps {
		k := key{s.Target, s.Rate}
		ix.steps[k] = append(ix.steps[k], s)
		if _, ok := ix.kind[s.Target]; !ok {
			ix.kind[s.Target] = s.Kind
		}
		if s.Target == directTarget && ok(s) {
			m := ix.direct[s.Rate]
			if m == nil {
				m = make(map[int]schema.Step)
				ix.direct[s.Rate] = m
			}
			if _, seen := m[s.Repetition]; !seen {
				m[s.Repetition] = s
			}
		}
	}
	return ix
}

func ok(s schema.Step) bool { return s.Status == "ok" }

func unionKeys(b, c runIndex) []key {
	set := make(map[key]bool)
	for k := range b.steps {
		set[k] = true
	}
	for k := range c.steps {
		set[k] = true
	}
	keys := make([]key, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].target != keys[j].target {
			return keys[i].target < keys[j].target
		}
		return keys[i].rate < keys[j].rate
	})
	return keys
}

// sample is one metric of one (target, rate) in one run.
type sample struct {
	values    []float64 // one per usable repetition
	disturbed int       // steps behind the values flagged Busy.Disturbed
	why       string    // why there are no values, when there are none
}

func (s sample) median() float64 { return median(s.values) }

func (s sample) spread() float64 {
	if len(s.values) < 2 {
		return 0
	}
	m := median(s.values)
	if m == 0 {
		return 0
	}
	lo, hi := minMax(s.values)
	return (hi - lo) / m
}

type metricDef struct {
	name      string
	unit      string
	threshold func(Thresholds) float64
	// extract computes the metric over the ok steps of a target at a rate;
	// direct holds the run's ok direct steps at that rate by repetition.
	extract func(steps []schema.Step, direct map[int]schema.Step) sample
	// forDirect: whether the metric applies to the direct target itself.
	forDirect bool
}

var metricDefs = []metricDef{
	{MetricAddedP50, UnitRatioDirect, func(t Thresholds) float64 { return t.AddedP50 },
		func(st []schema.Step, d map[int]schema.Step) sample {
			return latencyRatio(st, d, func(l schema.Latency) float64 { return l.P50 })
		}, false},
	{MetricAddedP99, UnitRatioDirect, func(t Thresholds) float64 { return t.AddedP99 },
		func(st []schema.Step, d map[int]schema.Step) sample {
			return latencyRatio(st, d, func(l schema.Latency) float64 { return l.P99 })
		}, false},
	{MetricRSS, UnitMiB, func(t Thresholds) float64 { return t.RSS }, rssSample, true},
	{MetricCPUPerRequest, UnitRatioLoadgen, func(t Thresholds) float64 { return t.CPUPerRequest }, cpuSample, true},
}

func latencyRatio(steps []schema.Step, direct map[int]schema.Step, pick func(schema.Latency) float64) sample {
	var s sample
	if len(direct) == 0 {
		s.why = "no ok direct step at this rate"
		return s
	}
	for _, st := range steps {
		d, found := direct[st.Repetition]
		if !found || st.Load == nil || d.Load == nil {
			continue
		}
		den := pick(d.Load.LatencyUS)
		if den <= 0 {
			continue
		}
		s.values = append(s.values, pick(st.Load.LatencyUS)/den)
		if st.Busy.Disturbed {
			s.disturbed++
		}
		if d.Busy.Disturbed {
			s.disturbed++
		}
	}
	if len(s.values) == 0 {
		s.why = "no repetition with both this target and direct ok"
	}
	return s
}

func rssSample(steps []schema.Step, _ map[int]schema.Step) sample {
	var s sample
	for _, st := range steps {
		if st.RSSMiB == nil {
			continue
		}
		s.values = append(s.values, *st.RSSMiB)
		if st.Busy.Disturbed {
			s.disturbed++
		}
	}
	if len(s.values) == 0 {
		s.why = "rss not measured"
	}
	return s
}

func cpuSample(steps []schema.Step, _ map[int]schema.Step) sample {
	var s sample
	for _, st := range steps {
		if st.CPUPerRequestUS == nil || st.Load == nil {
			continue
		}
		n := float64(st.Load.Requests + st.Load.Errors)
		if n == 0 || st.Load.GeneratorCPUS <= 0 {
			continue
		}
		gen := st.Load.GeneratorCPUS * 1e6 / n
		s.values = append(s.values, *st.CPUPerRequestUS/gen)
		if st.Busy.Disturbed {
			s.disturbed++
		}
	}
	if len(s.values) == 0 {
		s.why = "proxy or generator CPU not measured"
	}
	return s
}

// compareTarget gives the rows of one (target, rate).
func compareTarget(k key, b, c runIndex, th Thresholds) []Row {
	bSteps, inBase := b.steps[k]
	cSteps, inCur := c.steps[k]
	kind := b.kind[k.target]
	if kind == "" {
		kind = c.kind[k.target]
	}
	isDirect := kind == "direct"

	bOK, cOK := okSteps(bSteps), okSteps(cSteps)
	var rows []Row
	for _, m := range metricDefs {
		if isDirect && !m.forDirect {
			continue
		}
		row := Row{
			Target: k.target, Metric: m.name, Rate: k.rate, Unit: m.unit,
			Baseline: math.NaN(), Current: math.NaN(), Limit: math.NaN(),
		}
		var bs, cs sample
		if len(bOK) > 0 {
			bs = m.extract(bOK, b.direct[k.rate])
		}
		if len(cOK) > 0 {
			cs = m.extract(cOK, c.direct[k.rate])
		}
		bHas, cHas := len(bs.values) > 0, len(cs.values) > 0
		switch {
		case bHas && cHas:
			row.Baseline, row.Current = bs.median(), cs.median()
			thr := m.threshold(th)
			allow := math.Max(thr, bs.spread()+cs.spread())
			row.Limit = row.Baseline * (1 + allow)
			row.Pass = row.Current <= row.Limit
			if !row.Pass {
				row.Note = failNote(row.Baseline, row.Current, thr, bs.spread(), cs.spread())
			}
		case bHas: // and the current run has no value
			row.Baseline = bs.median()
			switch {
			case !inCur:
				row.Note = "missing from current run"
			case len(cOK) == 0:
				row.Note = "no ok step in current run: " + failSummary(cSteps)
			default:
				row.Note = "current run: " + cs.why
			}
		case cHas: // new: nothing to compare against
			row.Current = cs.median()
			row.Pass = true
			switch {
			case !inBase:
				row.Note = "new"
			case len(bOK) == 0:
				row.Note = "new: no ok step in baseline"
			default:
				row.Note = "new: baseline has no value (" + bs.why + ")"
			}
		case inCur && len(cOK) == 0 && !isDirect:
			// The target failed every step of the current run. (For direct
			// the rows of the targets measured against it fail instead.)
			row.Note = "no ok step in current run: " + failSummary(cSteps)
		default:
			// Neither run has this metric (rss of direct, a peer whose
			// CPU is not sampled): no row.
			continue
		}
		var notes []string
		if row.Note != "" {
			notes = append(notes, row.Note)
		}
		if n := len(cSteps) - len(cOK); n > 0 && len(cOK) > 0 {
			notes = append(notes, fmt.Sprintf("%d of %d current steps not ok", n, len(cSteps)))
		}
		if bs.disturbed > 0 || cs.disturbed > 0 {
			notes = append(notes, fmt.Sprintf("disturbed steps: baseline %d, current %d", bs.disturbed, cs.disturbed))
		}
		row.Note = strings.Join(notes, "; ")
		rows = append(rows, row)
	}
	return rows
}

func okSteps(steps []schema.Step) []schema.Step {
	var out []schema.Step
	for _, s := range steps {
		if ok(s) {
			out = append(out, s)
		}
	}
	return out
}

// failSummary says how the steps ended, e.g. `3 failed ("connection refused")`.
func failSummary(steps []schema.Step) string {
	counts := map[string]int{}
	first := ""
	for _, s := range steps {
		counts[s.Status]++
		if first == "" && s.Error != "" {
			first = s.Error
		}
	}
	statuses := make([]string, 0, len(counts))
	for st := range counts {
		statuses = append(statuses, st)
	}
	sort.Strings(statuses)
	parts := make([]string, 0, len(statuses))
	for _, st := range statuses {
		name := st
		if name == "" {
			name = "no status"
		}
		parts = append(parts, fmt.Sprintf("%d %s", counts[st], name))
	}
	s := strings.Join(parts, ", ")
	if first != "" {
		s += fmt.Sprintf(" (%q)", first)
	}
	return s
}

func failNote(base, cur, threshold, sb, sc float64) string {
	growth := "n/a"
	if base > 0 {
		growth = fmt.Sprintf("%+.0f%%", (cur/base-1)*100)
	}
	return fmt.Sprintf("%s > allowed %+.0f%% (threshold %.0f%%, spread %.0f%%+%.0f%%)",
		growth, math.Max(threshold, sb+sc)*100, threshold*100, sb*100, sc*100)
}

func compareBenchmarks(baseline, current *schema.Run, threshold float64) []Row {
	bm := map[string]schema.GoBenchmark{}
	cm := map[string]schema.GoBenchmark{}
	if baseline != nil {
		for _, g := range baseline.GoBenchmarks {
			bm[g.Name] = g
		}
	}
	if current != nil {
		for _, g := range current.GoBenchmarks {
			cm[g.Name] = g
		}
	}
	names := make([]string, 0, len(bm)+len(cm))
	for n := range bm {
		names = append(names, n)
	}
	for n := range cm {
		if _, dup := bm[n]; !dup {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	rows := make([]Row, 0, len(names))
	for _, n := range names {
		row := Row{
			Target: n, Metric: MetricAllocsPerOp, Unit: UnitAllocs,
			Baseline: math.NaN(), Current: math.NaN(), Limit: math.NaN(),
		}
		bg, inB := bm[n]
		cg, inC := cm[n]
		switch {
		case !inB:
			row.Current = cg.AllocsPerOp
			row.Pass = true
			row.Note = "new"
		case !inC:
			row.Baseline = bg.AllocsPerOp
			row.Note = "benchmark missing from current run"
		default:
			row.Baseline, row.Current = bg.AllocsPerOp, cg.AllocsPerOp
			row.Limit = bg.AllocsPerOp*(1+threshold) + 0.5
			row.Pass = row.Current <= row.Limit
			if !row.Pass {
				row.Note = fmt.Sprintf("%s -> %s allocs/op > limit (+%.0f%% + 0.5)",
					fmtNum(bg.AllocsPerOp), fmtNum(cg.AllocsPerOp), threshold*100)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func minMax(v []float64) (lo, hi float64) {
	lo, hi = v[0], v[0]
	for _, x := range v[1:] {
		lo = math.Min(lo, x)
		hi = math.Max(hi, x)
	}
	return lo, hi
}
