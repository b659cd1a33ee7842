// Package gate compares a current benchmark run with a baseline run and says
// whether the current one regressed (`meshbench gate -baseline FILE -current
// FILE`). The machines are shared and small, so every limit is derived from
// the noise the baseline itself measured, and latency is compared as the
// latency a proxy adds over the direct path measured in the same run.
//
// # Metrics
//
// For each (target, rate) of either run, over the steps that measured
// successful responses (a step with a load result and at least one success;
// in files written before success was classified, a step with status "ok"),
// one value per repetition:
//
//   - added_p50, added_p99 (ms; targets other than direct): the target's
//     Load.LatencyUS.P50 (P99) minus the direct target's in the same
//     repetition at the same rate. Pairing by repetition cancels what moves
//     both (a busy minute); the latency a proxy adds is what a user pays.
//   - cpu_per_request ("x loadgen" by default): Step.CPUPerRequestUS (all the
//     target's proxies) divided by meshload's CPU per request in the same
//     step (Load.GeneratorCPUS / (Requests+Errors)). At 1000 req/s both are
//     dominated by wake-ups and move together with the machine's state; on
//     the stored results the ratio's pooled relative spread was 0.14 against
//     0.24 for the bare µs (15 target-rate groups at 1000 req/s,
//     correlation of the two CPU times 0.93). At 10000 req/s it is the other
//     way round (0.09 against 0.05), so Options.CPUUnit can select "µs".
//   - rss_per_proxy (MiB): Step.RSSMiB / len(Step.Proxies), so the sidecar
//     pair and the single sidecar are comparable per process.
//
// The row's value is the median over the repetitions. Its limit is
//
//	limit = baseline + max(floor, k·σ·√(π/2)·√(1/n_b + 1/n_c))
//
// where σ = 1.4826 × MAD of the baseline's repetitions (recorded in a Noise
// file, possibly pooled with more runs of the same code), n_b and n_c the
// repetitions behind the two medians, and floor = max(rel × |baseline|,
// abs) per metric (Options). σ·√(π/2)/√n is the standard error of a median,
// so the second term is k standard errors of the difference of two medians.
// A baseline with fewer than Options.MinReps repetitions fails these rows:
// a MAD of 3 values is the middle distance and 0 whenever two agree.
//
// Two further metrics have no noise:
//
//   - success_ratio (every target, direct included): successes / (requests +
//     transport errors) summed over every step of the target that has a load
//     result, failed steps included. It fails on any drop below the
//     baseline's (counts compared exactly), and when a current step has no
//     load result at all. Files written before success was classified count
//     2xx status codes as successes (noted); without status codes the row
//     is a note, not a failure.
//   - allocs_per_op of each Go benchmark (Run.GoBenchmarks): limit = baseline
//     × (1 + Options.AllocsRel) + 0.5, so 0 → 1 fails.
//
// # Missing and new
//
// A (target, rate) or benchmark of the baseline missing from the current
// run, or with no usable step there, fails; so does an added-latency row
// whose direct steps are missing. One present only in the current run
// passes, noted "new". Disturbed steps (Busy.Disturbed) are noted; they do
// not change the verdict.
package gate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/results/schema"
)

// Metric names used in Row.Metric.
const (
	MetricAddedP50      = "added_p50"
	MetricAddedP99      = "added_p99"
	MetricCPUPerRequest = "cpu_per_request"
	MetricRSSPerProxy   = "rss_per_proxy"
	MetricSuccessRatio  = "success_ratio"
	MetricAllocsPerOp   = "allocs_per_op"
)

// Units used in Row.Unit.
const (
	UnitMS           = "ms"
	UnitRatioLoadgen = "x loadgen" // proxy CPU per request / meshload CPU per request, same step
	UnitUS           = "µs"
	UnitMiB          = "MiB"
	UnitRatio        = "ratio" // success ratio, 0..1
	UnitAllocs       = "allocs/op"
)

// CPU units for Options.CPUUnit.
const (
	CPUUnitLoadgen = "loadgen"
	CPUUnitUS      = "us"
)

// Absolute floors: the least allowance of each noise-based metric, so a
// baseline near zero (a proxy adding ~0 ms) or a MAD of 0 does not give a
// zero-width limit. They sit at the resolution of the measurement: meshload
// reports latency in µs, /proc CPU time in 10 ms ticks (≈ 1 µs per request
// over a 10 s step at 1000 req/s), VmRSS moves by pages and GC cycles.
const (
	AbsFloorAddedP50MS = 0.010
	AbsFloorAddedP99MS = 0.050
	AbsFloorCPULoadgen = 0.01
	AbsFloorCPUUS      = 1
	AbsFloorRSSMiB     = 0.25
)

// Options are the gate's parameters.
type Options struct {
	// K is how many standard errors of the difference of medians the
	// current median may exceed the baseline's by.
	K float64
	// MinReps is the fewest baseline repetitions a noise-based row accepts.
	MinReps int
	// Relative floors (0.10 = 10 % of the baseline value) of the noise-based
	// metrics; the absolute floors are the AbsFloor* constants.
	FloorAddedP50, FloorAddedP99, FloorCPU, FloorRSS float64
	// CPUUnit is CPUUnitLoadgen (proxy CPU per request relative to
	// meshload's in the same step) or CPUUnitUS (µs per request).
	CPUUnit string
	// AllocsRel is the relative growth allowed in allocs/op (plus 0.5).
	AllocsRel float64
}

// DefaultOptions are the gate's defaults:
//
//   - K 3: about one false alarm in a few hundred rows when σ is known;
//     σ from 5 repetitions is itself uncertain, which the floors cover.
//   - MinReps 5.
//   - Floors: added p50 10 %, added p99 20 % (tails move more between
//     runs than within one), CPU per request 10 %, RSS per proxy 10 %.
//   - CPUUnit "loadgen" (see the package comment for why).
//   - AllocsRel 0.10: with the 0.5 slack only median rounding passes.
func DefaultOptions() Options {
	return Options{
		K:             3,
		MinReps:       5,
		FloorAddedP50: 0.10,
		FloorAddedP99: 0.20,
		FloorCPU:      0.10,
		FloorRSS:      0.10,
		CPUUnit:       CPUUnitLoadgen,
		AllocsRel:     0.10,
	}
}

// Validate reports the first option out of range.
func (o Options) Validate() error {
	switch {
	case o.K < 0 || math.IsNaN(o.K):
		return fmt.Errorf("k %v: must be >= 0", o.K)
	case o.MinReps < 2:
		return fmt.Errorf("min-reps %d: must be >= 2 (a spread needs two values)", o.MinReps)
	case o.CPUUnit != CPUUnitLoadgen && o.CPUUnit != CPUUnitUS:
		return fmt.Errorf("cpu unit %q: want %q or %q", o.CPUUnit, CPUUnitLoadgen, CPUUnitUS)
	case o.AllocsRel < 0:
		return fmt.Errorf("allocs %v: must be >= 0", o.AllocsRel)
	}
	for name, f := range map[string]float64{"added-p50": o.FloorAddedP50, "added-p99": o.FloorAddedP99, "cpu": o.FloorCPU, "rss": o.FloorRSS} {
		if f < 0 || math.IsNaN(f) {
			return fmt.Errorf("floor-%s %v: must be >= 0", name, f)
		}
	}
	return nil
}

// Row is one comparison. Baseline, Current, Limit and Sigma are in Unit; a
// side that has no value is NaN and Note says why. For success_ratio the
// limit is a lower bound (current must be at least Limit).
type Row struct {
	Target string // target name; for allocs_per_op the Go benchmark name
	Metric string // one of the Metric* constants
	Rate   float64

	Baseline, Current, Limit float64
	Sigma                    float64 // σ of the baseline's repetitions; NaN where no noise applies
	NB, NC                   int     // repetitions (steps) behind each side's value
	Unit                     string

	Pass bool
	Note string // why it failed, why it was skipped, or what to doubt
}

// ID is "target@rate/metric", the row's name in notes and tests.
func (r Row) ID() string {
	return fmt.Sprintf("%s@%s/%s", r.Target, strconv.FormatFloat(r.Rate, 'f', -1, 64), r.Metric)
}

// Report is the outcome of Compare, rows in a stable order (target, rate,
// metric in the order of the Metric* constants; then the Go benchmarks by
// name). Pass is true when every row passes. Warnings are run-level remarks
// (a different machine or scenario); Noise says where σ came from.
type Report struct {
	Rows     []Row
	Warnings []string
	Noise    string
	Pass     bool
}

// Failing returns the IDs of the failing rows, sorted.
func (r Report) Failing() []string {
	var out []string
	for _, row := range r.Rows {
		if !row.Pass {
			out = append(out, row.ID())
		}
	}
	sort.Strings(out)
	return out
}

// Compare compares current against baseline. noise gives σ per row; nil
// takes it from the baseline's own repetitions (MeasureNoise). Call
// noise.Check(baseline, opt) first: Compare trusts it.
func Compare(baseline, current *schema.Run, noise *Noise, opt Options) Report {
	if noise == nil {
		noise = MeasureNoise(baseline, opt)
	}
	b, c := index(baseline), index(current)
	rep := Report{Noise: noise.Source(), Pass: true}
	rep.Warnings = environmentWarnings(baseline, current)
	for _, k := range unionKeys(b, c) {
		rep.Rows = append(rep.Rows, compareTarget(k, b, c, noise, opt)...)
	}
	rep.Rows = append(rep.Rows, compareBenchmarks(baseline, current, opt.AllocsRel)...)
	for _, r := range rep.Rows {
		if !r.Pass {
			rep.Pass = false
		}
	}
	return rep
}

// environmentWarnings: limits come from the baseline's noise on its
// machine with its scenario; on another machine or scenario they mean less.
func environmentWarnings(b, c *schema.Run) []string {
	if b == nil || c == nil {
		return nil
	}
	var w []string
	be, ce := b.Environment, c.Environment
	if be.CPUModel != ce.CPUModel || be.Cores != ce.Cores {
		w = append(w, fmt.Sprintf("environment differs: baseline on %q × %d cores, current on %q × %d cores; the limits come from the baseline machine's noise",
			be.CPUModel, be.Cores, ce.CPUModel, ce.Cores))
	}
	if !sameJSON(b.Scenario.Spec, c.Scenario.Spec) {
		w = append(w, fmt.Sprintf("scenario differs: baseline ran %q, current %q with different settings (load, targets or event loops); record a new baseline (make baseline)",
			b.Scenario.Name, c.Scenario.Name))
	}
	return w
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// key identifies a target at a rate.
type key struct {
	target string
	rate   float64
}

// runIndex is one run's steps, grouped.
type runIndex struct {
	steps  map[key][]schema.Step           // every step of a target at a rate, in run order
	kind   map[string]string               // target -> Kind
	direct map[float64]map[int]schema.Step // usable steps of the direct target by rate and repetition
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
	directTarget := directName(run)
	for _, s := range run.Steps {
		k := key{s.Target, s.Rate}
		ix.steps[k] = append(ix.steps[k], s)
		if _, ok := ix.kind[s.Target]; !ok {
			ix.kind[s.Target] = s.Kind
		}
		if s.Target != directTarget || !usable(s) {
			continue
		}
		m := ix.direct[s.Rate]
		if m == nil {
			m = make(map[int]schema.Step)
			ix.direct[s.Rate] = m
		}
		if _, seen := m[s.Repetition]; !seen {
			m[s.Repetition] = s
		}
	}
	return ix
}

// directName is the reference target: the one of Kind "direct" (the one
// named "direct" when there are several).
func directName(run *schema.Run) string {
	name := ""
	for _, s := range run.Steps {
		if s.Kind == "direct" && (name == "" || s.Target == "direct") {
			name = s.Target
		}
	}
	return name
}

// usable reports whether a step measured successful responses: its latency
// summary then describes successes only (schema.Load). Files written before
// success was classified have no SuccessRatio; there only "ok" steps count.
func usable(s schema.Step) bool {
	if s.Load == nil {
		return false
	}
	if s.Load.SuccessRatio != nil {
		return s.Load.Successes > 0
	}
	return s.Status == "ok"
}

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

// compareTarget gives the rows of one (target, rate).
func compareTarget(k key, b, c runIndex, noise *Noise, opt Options) []Row {
	kind := b.kind[k.target]
	if kind == "" {
		kind = c.kind[k.target]
	}
	var rows []Row
	for _, m := range metricDefs {
		if kind == "direct" {
			break // the reference has no added latency and no proxies
		}
		if row, ok := compareMetric(k, m, b, c, noise, opt); ok {
			rows = append(rows, row)
		}
	}
	if row, ok := compareSuccess(k, b, c); ok {
		rows = append(rows, row)
	}
	return rows
}

// compareMetric gives the row of one noise-based metric; ok is false when
// neither run has the metric (direct has no proxy CPU).
func compareMetric(k key, m metricDef, b, c runIndex, noise *Noise, opt Options) (Row, bool) {
	bSteps, inBase := b.steps[k]
	cSteps, inCur := c.steps[k]
	bs := m.extract(bSteps, b.direct[k.rate], opt)
	cs := m.extract(cSteps, c.direct[k.rate], opt)
	row := Row{
		Target: k.target, Metric: m.name, Rate: k.rate, Unit: m.unit(opt),
		Baseline: math.NaN(), Current: math.NaN(), Limit: math.NaN(), Sigma: math.NaN(),
		NB: len(bs.vals), NC: len(cs.vals),
	}
	bHas, cHas := len(bs.vals) > 0, len(cs.vals) > 0
	if bHas {
		row.Baseline = median(bs.floats())
	}
	if cHas {
		row.Current = median(cs.floats())
	}
	var notes []string
	switch {
	case bHas && cHas:
		notes = append(notes, judge(&row, m, noise, opt))
	case bHas:
		notes = append(notes, missingNote(inCur, cSteps, cs.why))
	case cHas:
		row.Pass = true
		notes = append(notes, newNote(inBase, bs.why))
	default:
		// Neither run measured it (a peer whose CPU is not sampled); a
		// target that failed everywhere fails its success_ratio row.
		return Row{}, false
	}
	if n := countNot(cSteps, usable); n > 0 && cHas {
		notes = append(notes, fmt.Sprintf("%d of %d current steps without successes", n, len(cSteps)))
	}
	if bs.disturbed() > 0 || cs.disturbed() > 0 {
		notes = append(notes, fmt.Sprintf("disturbed steps: baseline %d, current %d", bs.disturbed(), cs.disturbed()))
	}
	row.Note = joinNotes(notes)
	return row, true
}

// judge sets the limit and verdict of a row both runs measured and returns
// its note.
func judge(row *Row, m metricDef, noise *Noise, opt Options) string {
	if row.NB < opt.MinReps {
		return fmt.Sprintf("baseline has %d repetitions; a noise-based limit needs >= %d (record a new baseline: make baseline)", row.NB, opt.MinReps)
	}
	e, found := noise.lookup(row.Target, row.Rate, row.Metric)
	if !found {
		return "no noise recorded for this row (the noise file belongs to another baseline?)"
	}
	row.Sigma = e.Sigma()
	// The reference is the median of every repetition the noise pooled
	// (the baseline's own when it pooled nothing), and n_b counts them.
	row.Baseline, row.NB = e.Pooled, e.N
	floor := m.floor(opt).of(row.Baseline)
	allow, noiseTerm := allowance(opt.K, row.Sigma, row.NB, row.NC, floor)
	row.Limit = row.Baseline + allow
	row.Pass = row.Current <= row.Limit
	if row.Pass {
		return ""
	}
	rise := row.Current - row.Baseline
	rel := ""
	if row.Baseline != 0 {
		rel = fmt.Sprintf(" (%+.0f%%)", rise/math.Abs(row.Baseline)*100)
	}
	return fmt.Sprintf("rose %s %s%s > allowed %s = max(floor %s, noise %s)",
		fmtSigned(rise), row.Unit, rel, fmtNum(allow), fmtNum(floor), fmtNum(noiseTerm))
}

func missingNote(inCur bool, cSteps []schema.Step, why string) string {
	switch {
	case !inCur:
		return "missing from current run"
	case countNot(cSteps, usable) == len(cSteps):
		return "no step with successful responses in current run: " + failSummary(cSteps)
	default:
		return "current run: " + why
	}
}

func newNote(inBase bool, why string) string {
	if !inBase {
		return "new"
	}
	return "new: baseline has no value (" + why + ")"
}

func countNot(steps []schema.Step, f func(schema.Step) bool) int {
	n := 0
	for _, s := range steps {
		if !f(s) {
			n++
		}
	}
	return n
}

func joinNotes(notes []string) string {
	var kept []string
	for _, n := range notes {
		if n != "" {
			kept = append(kept, n)
		}
	}
	return strings.Join(kept, "; ")
}

// successCounts sums a target's successes and requests (responses plus
// transport errors) over its steps with a load result. noLoad counts steps
// that ran but have none (they failed before load); derived is set when
// some counts come from 2xx status codes (files from before success was
// classified); known is false when no step could be counted.
type successCounts struct {
	successes, total uint64
	noLoad           int
	firstNoLoad      string
	derived, known   bool
}

func countSuccesses(steps []schema.Step) successCounts {
	var sc successCounts
	for _, s := range steps {
		if s.Load == nil {
			if s.Status != "skipped" {
				sc.noLoad++
				if sc.firstNoLoad == "" {
					sc.firstNoLoad = s.Error
				}
			}
			continue
		}
		succ, derived, ok := stepSuccesses(s.Load)
		if !ok {
			continue
		}
		sc.successes += succ
		sc.total += s.Load.Requests + s.Load.Errors
		sc.derived = sc.derived || derived
		sc.known = true
	}
	return sc
}

// stepSuccesses: meshload's count, or for older files the 2xx status codes
// (meshload's default -expect).
func stepSuccesses(l *schema.Load) (n uint64, derived, ok bool) {
	if l.SuccessRatio != nil {
		return l.Successes, false, true
	}
	if len(l.StatusCodes) == 0 && l.Errors == 0 {
		return 0, false, false
	}
	for code, c := range l.StatusCodes {
		if v, err := strconv.Atoi(code); err == nil && v >= 200 && v <= 299 {
			n += c
		}
	}
	return n, true, true
}

func (sc successCounts) ratio() float64 {
	if !sc.known || sc.total == 0 {
		return math.NaN()
	}
	return float64(sc.successes) / float64(sc.total)
}

// below reports whether c's ratio is below b's, comparing the counts
// exactly (c.s·b.t < b.s·c.t in 128 bits): no slack beyond the counts.
func (c successCounts) below(b successCounts) bool {
	h1, l1 := bits.Mul64(c.successes, b.total)
	h2, l2 := bits.Mul64(b.successes, c.total)
	return h1 < h2 || (h1 == h2 && l1 < l2)
}

// compareSuccess gives the success_ratio row of one (target, rate).
func compareSuccess(k key, b, c runIndex) (Row, bool) {
	bSteps, inBase := b.steps[k]
	cSteps, inCur := c.steps[k]
	bc, cc := countSuccesses(bSteps), countSuccesses(cSteps)
	row := Row{
		Target: k.target, Metric: MetricSuccessRatio, Rate: k.rate, Unit: UnitRatio,
		Baseline: bc.ratio(), Current: cc.ratio(), Limit: math.NaN(), Sigma: math.NaN(),
		NB: len(bSteps), NC: len(cSteps),
	}
	var notes []string
	switch {
	case !inCur:
		notes = append(notes, "missing from current run")
	case cc.noLoad > 0:
		notes = append(notes, fmt.Sprintf("%d current steps have no load result (%q)", cc.noLoad, cc.firstNoLoad))
	case !inBase:
		row.Pass = true
		notes = append(notes, "new")
	case !bc.known || bc.total == 0:
		row.Pass = true
		notes = append(notes, "baseline has no success counts (no success_ratio or status codes)")
	case !cc.known || cc.total == 0:
		row.Pass = true
		notes = append(notes, "current run has no success counts (no success_ratio or status codes)")
	default:
		row.Limit = row.Baseline
		row.Pass = !cc.below(bc)
		if !row.Pass {
			notes = append(notes, fmt.Sprintf("%d of %d requests failed, baseline %d of %d",
				cc.total-cc.successes, cc.total, bc.total-bc.successes, bc.total))
		}
	}
	if bc.derived || cc.derived {
		notes = append(notes, "counted from 2xx status codes (file predates success_ratio)")
	}
	if !inBase && !inCur {
		return Row{}, false
	}
	row.Note = joinNotes(notes)
	return row, true
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

func compareBenchmarks(baseline, current *schema.Run, rel float64) []Row {
	bm, cm := benchmarks(baseline), benchmarks(current)
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
			Baseline: math.NaN(), Current: math.NaN(), Limit: math.NaN(), Sigma: math.NaN(),
		}
		bg, inB := bm[n]
		cg, inC := cm[n]
		switch {
		case !inB:
			row.Current, row.NC = cg.AllocsPerOp, cg.Runs
			row.Pass = true
			row.Note = "new"
		case !inC:
			row.Baseline, row.NB = bg.AllocsPerOp, bg.Runs
			row.Note = "benchmark missing from current run"
		default:
			row.Baseline, row.Current, row.NB, row.NC = bg.AllocsPerOp, cg.AllocsPerOp, bg.Runs, cg.Runs
			row.Limit = bg.AllocsPerOp*(1+rel) + 0.5
			row.Pass = row.Current <= row.Limit
			if !row.Pass {
				row.Note = fmt.Sprintf("%s -> %s allocs/op > limit (+%.0f%% + 0.5)",
					fmtNum(bg.AllocsPerOp), fmtNum(cg.AllocsPerOp), rel*100)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func benchmarks(run *schema.Run) map[string]schema.GoBenchmark {
	m := map[string]schema.GoBenchmark{}
	if run != nil {
		for _, g := range run.GoBenchmarks {
			m[g.Name] = g
		}
	}
	return m
}
