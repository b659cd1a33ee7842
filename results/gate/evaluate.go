package gate

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/results/schema"
)

// NamedRun is a result file and the name to show for it (its path).
type NamedRun struct {
	Name string
	Run  *schema.Run
}

// Evaluation is what `meshbench gate -doctor` measures of the gate itself
// on real runs of unchanged code: whether each run passes (false
// positives), whether each deliberate regression fails exactly its rows,
// and the smallest regression of each metric that fails in every run.
type Evaluation struct {
	Baseline string // baseline run ID
	Target   string // the target the regressions are applied to
	Noise    string // where σ came from
	Options  Options
	Files    []FileEvaluation
	Smallest []Smallest
}

// FileEvaluation is one current file.
type FileEvaluation struct {
	Name     string
	Pass     bool
	Failing  []string // row IDs failing without any doctoring
	Warnings []string
	Doctored []DoctoredResult
}

// DoctoredResult is one regression applied to one current file.
type DoctoredResult struct {
	Regression Regression
	Want       []string // the target's rows of the metric: these must fail
	Failing    []string // every failing row of the doctored copy
	// Exact: every Want row fails, and no row fails that did not already
	// fail in the undoctored file.
	Exact bool
	Err   string // the regression could not be applied
}

// Smallest is the smallest regression of a metric that fails the
// metric's rows in every current file, found by bisection.
type Smallest struct {
	Metric  string
	Note    string    // for success_ratio: the failed requests per step that By means
	By      float64   // NaN: not caught up to MaxBy in some file
	PerFile []float64 // per file; NaN where not caught
	MaxBy   float64   // the largest regression tried
}

// bisection bounds per metric: the largest regression tried and the
// resolution. Success regressions are tiny fractions of the requests.
func bisectRange(metric string) (maxBy, tol float64) {
	if metric == MetricSuccessRatio {
		return 0.5, 1e-7
	}
	return 10, 0.001
}

// Evaluate runs the gate on each current file as it is and on doctored
// copies (regs applied to target), and bisects for the smallest regression
// of each metric in regs that every file fails.
func Evaluate(baseline *schema.Run, noise *Noise, currents []NamedRun, target string, regs []Regression, opt Options) Evaluation {
	if noise == nil {
		noise = MeasureNoise(baseline, opt)
	}
	ev := Evaluation{Baseline: baseline.ID, Target: target, Noise: noise.Source(), Options: opt}
	for _, cur := range currents {
		rep := Compare(baseline, cur.Run, noise, opt)
		fe := FileEvaluation{Name: cur.Name, Pass: rep.Pass, Failing: rep.Failing(), Warnings: rep.Warnings}
		for _, reg := range regs {
			fe.Doctored = append(fe.Doctored, doctorOne(baseline, cur.Run, noise, target, reg, opt, fe.Failing))
		}
		ev.Files = append(ev.Files, fe)
	}
	for _, reg := range regs {
		ev.Smallest = append(ev.Smallest, smallest(baseline, noise, currents, target, reg.Metric, opt))
	}
	return ev
}

func doctorOne(baseline, cur *schema.Run, noise *Noise, target string, reg Regression, opt Options, before []string) DoctoredResult {
	d := DoctoredResult{Regression: reg}
	doc, err := Doctor(cur, target, reg, opt)
	if err != nil {
		d.Err = err.Error()
		return d
	}
	rep := Compare(baseline, doc, noise, opt)
	d.Failing = rep.Failing()
	d.Want = rowsOf(rep, target, reg.Metric)
	d.Exact = len(d.Want) > 0 && sameSet(minus(d.Failing, before), minus(d.Want, before)) && subset(d.Want, d.Failing)
	return d
}

// rowsOf lists the IDs of the target's rows of a metric.
func rowsOf(rep Report, target, metric string) []string {
	var ids []string
	for _, r := range rep.Rows {
		if r.Target == target && r.Metric == metric {
			ids = append(ids, r.ID())
		}
	}
	sort.Strings(ids)
	return ids
}

// caught reports whether doctoring cur by reg fails every row of the
// metric for target.
func caught(baseline *schema.Run, noise *Noise, cur *schema.Run, target string, reg Regression, opt Options) bool {
	doc, err := Doctor(cur, target, reg, opt)
	if err != nil {
		return false
	}
	rep := Compare(baseline, doc, noise, opt)
	want := rowsOf(rep, target, reg.Metric)
	return len(want) > 0 && subset(want, rep.Failing())
}

// smallest bisects each file for the least regression of metric that is
// caught; the answer is the largest of them (caught in every file). The
// gate's verdict only grows worse as a regression grows (the value moves
// one way, the limit not at all), which bisection needs.
func smallest(baseline *schema.Run, noise *Noise, currents []NamedRun, target, metric string, opt Options) Smallest {
	maxBy, tol := bisectRange(metric)
	s := Smallest{Metric: metric, MaxBy: maxBy}
	worst := 0.0
	for _, cur := range currents {
		at := func(by float64) bool {
			return caught(baseline, noise, cur.Run, target, Regression{metric, by}, opt)
		}
		if !at(maxBy) {
			s.PerFile = append(s.PerFile, math.NaN())
			worst = math.NaN()
			continue
		}
		lo, hi := 0.0, maxBy
		if at(0) {
			hi = 0
		}
		for i := 0; i < 64 && hi-lo > tol; i++ {
			mid := (lo + hi) / 2
			if at(mid) {
				hi = mid
			} else {
				lo = mid
			}
		}
		s.PerFile = append(s.PerFile, hi)
		if !math.IsNaN(worst) {
			worst = math.Max(worst, hi)
		}
	}
	s.By = worst
	if len(currents) == 0 {
		s.By = math.NaN()
	}
	if metric == MetricSuccessRatio && !math.IsNaN(s.By) {
		s.Note = requestsNote(currents[0].Run, target, s.By)
	}
	return s
}

// requestsNote says what a success regression of by means in requests, as
// failSome applies it to the target's first step with a load.
func requestsNote(run *schema.Run, target string, by float64) string {
	for _, st := range run.Steps {
		if st.Target != target || st.Load == nil {
			continue
		}
		succ, _, ok := stepSuccesses(st.Load)
		if !ok || succ == 0 {
			continue
		}
		k := uint64(math.Round(by * float64(succ)))
		if k == 0 && by > 0 {
			k = 1
		}
		return fmt.Sprintf("%d failed of %d requests per step", k, st.Load.Requests+st.Load.Errors)
	}
	return ""
}

func minus(a, b []string) []string {
	drop := map[string]bool{}
	for _, x := range b {
		drop[x] = true
	}
	var out []string
	for _, x := range a {
		if !drop[x] {
			out = append(out, x)
		}
	}
	return out
}

func subset(a, b []string) bool { return len(minus(a, b)) == 0 }

func sameSet(a, b []string) bool { return subset(a, b) && subset(b, a) }

// fmtBy shows a regression size: "+25%" style for growth, and for success
// the share of successes that failed.
func fmtBy(metric string, by float64) string {
	if math.IsNaN(by) {
		return "not caught"
	}
	p := strconv.FormatFloat(by*100, 'g', 3, 64)
	if by >= 1 {
		p = strconv.FormatFloat(by*100, 'f', 0, 64) // not 1e+03
	}
	if metric == MetricSuccessRatio {
		return "-" + strconv.FormatFloat(by*100, 'g', 2, 64) + "% of successes"
	}
	return "+" + p + "%"
}

func listOrNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// WriteMarkdown writes the evaluation as Markdown tables: verdicts of the
// current files, the doctored copies, the smallest regressions caught.
func (ev Evaluation) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	o := ev.Options
	fmt.Fprintf(bw, "Gate evaluation against baseline `%s`; regressions applied to `%s`. %s; k = %g, floors: added p50 %g%%, added p99 %g%%, CPU/request %g%%, RSS/proxy %g%%; ≥ %d baseline repetitions.\n\n",
		ev.Baseline, ev.Target, ev.Noise, o.K, o.FloorAddedP50*100, o.FloorAddedP99*100, o.FloorCPU*100, o.FloorRSS*100, o.MinReps)

	pass := 0
	for _, f := range ev.Files {
		if f.Pass {
			pass++
		}
	}
	fmt.Fprintf(bw, "**Unchanged code: %d of %d current files pass.**\n\n", pass, len(ev.Files))
	fmt.Fprintln(bw, "| current file | verdict | failing rows | warnings |")
	fmt.Fprintln(bw, "|---|---|---|---|")
	for _, f := range ev.Files {
		fmt.Fprintf(bw, "| %s | %s | %s | %s |\n", mdCell(f.Name), verdict(f.Pass), mdCell(listOrNone(f.Failing)), mdCell(strings.Join(f.Warnings, "; ")))
	}

	fmt.Fprintln(bw, "\n**Doctored copies** (exact: the regressed metric's rows fail and nothing else newly fails).")
	fmt.Fprintln(bw, "\n| current file | regression | exact | failing rows |")
	fmt.Fprintln(bw, "|---|---|---|---|")
	for _, f := range ev.Files {
		for _, d := range f.Doctored {
			fmt.Fprintf(bw, "| %s | %s | %s | %s |\n", mdCell(f.Name), d.Regression, exactWord(d), mdCell(doctoredRows(d)))
		}
	}

	fmt.Fprintln(bw, "\n**Smallest regression failing in every current file** (bisection).")
	fmt.Fprintln(bw, "\n| metric | smallest caught | per file |")
	fmt.Fprintln(bw, "|---|---|---|")
	for _, s := range ev.Smallest {
		per := make([]string, len(s.PerFile))
		for i, v := range s.PerFile {
			per[i] = fmtBy(s.Metric, v)
		}
		best := fmtBy(s.Metric, s.By)
		if math.IsNaN(s.By) {
			best = "not caught up to " + fmtBy(s.Metric, s.MaxBy)
		}
		if s.Note != "" {
			best += " (" + s.Note + ")"
		}
		fmt.Fprintf(bw, "| %s | %s | %s |\n", s.Metric, best, strings.Join(per, ", "))
	}
	return bw.Flush()
}

func verdict(pass bool) string {
	if pass {
		return "PASS"
	}
	return "FAIL"
}

func exactWord(d DoctoredResult) string {
	switch {
	case d.Err != "":
		return "error"
	case d.Exact:
		return "yes"
	case !subset(d.Want, d.Failing) || len(d.Want) == 0:
		return "no: missed"
	default:
		return "no: extra rows"
	}
}

func doctoredRows(d DoctoredResult) string {
	if d.Err != "" {
		return d.Err
	}
	return listOrNone(d.Failing)
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// TSVColumns are the columns WriteTSV writes.
var TSVColumns = []string{"section", "file", "regression", "metric", "by", "result", "rows"}

// WriteTSV writes the evaluation as tab-separated rows under TSVColumns:
// section "verdict" (one per file, result PASS/FAIL, rows the failing
// ones), "doctored" (per file and regression, result exact/missed/extra/
// error), "smallest" (per metric, file "all" and each file, by the
// smallest regression caught or "none").
func (ev Evaluation) WriteTSV(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, strings.Join(TSVColumns, "\t"))
	row := func(f ...string) {
		for i := range f {
			f[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(f[i])
		}
		fmt.Fprintln(bw, strings.Join(f, "\t"))
	}
	for _, f := range ev.Files {
		row("verdict", f.Name, "none", "", "", verdict(f.Pass), strings.Join(f.Failing, ","))
	}
	for _, f := range ev.Files {
		for _, d := range f.Doctored {
			result := map[string]string{"yes": "exact", "no: missed": "missed", "no: extra rows": "extra", "error": "error"}[exactWord(d)]
			rows := strings.Join(d.Failing, ",")
			if d.Err != "" {
				rows = d.Err
			}
			row("doctored", f.Name, d.Regression.String(), d.Regression.Metric, fmtFloat(d.Regression.By), result, rows)
		}
	}
	for _, s := range ev.Smallest {
		row("smallest", "all", "", s.Metric, byOrNone(s.By), caughtWord(s.By), s.Note)
		for i, v := range s.PerFile {
			row("smallest", ev.Files[i].Name, "", s.Metric, byOrNone(v), caughtWord(v), "")
		}
	}
	return bw.Flush()
}

func byOrNone(v float64) string {
	if math.IsNaN(v) {
		return "none"
	}
	return fmtFloat(v)
}

func caughtWord(v float64) string {
	if math.IsNaN(v) {
		return "not-caught"
	}
	return "caught"
}
