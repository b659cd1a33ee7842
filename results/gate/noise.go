package gate

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/internal/atomicfile"
	"github.com/meshbench/meshbench/results/schema"
)

// Noise is the measured spread of each noise-based metric of a baseline:
// per (target, rate, metric) the baseline's median and the MAD of the
// repetitions about their run's median. It is recorded next to the baseline
// (`make baseline` writes results/baseline-noise.tsv) so the limits are
// reviewable, and it may pool the repetitions of more runs of the same code
// (MeasureNoise's same): for a steadier σ than 5 values give, and for a
// steadier reference value. One run's median is one draw of a value that
// moves from run to run as much as its standard error says; a baseline
// taken from a run that happened to sit high lets a regression of that
// size through (measured: the 12-run evaluation's baseline run had the
// highest added p50 of the 12, and added p50 +25 % was caught in 6 of 10
// runs against it, 10 of 10 against the median of two runs' repetitions).
type Noise struct {
	Baseline string   // ID of the baseline run
	Runs     []string // IDs of the runs the residuals came from, baseline first
	File     string   // where it was read from; "" when measured
	Entries  []NoiseEntry
}

// NoiseEntry is the noise of one metric of one target at one rate.
type NoiseEntry struct {
	Target string
	Rate   float64
	Metric string
	Unit   string
	N      int     // repetitions behind the MAD and Pooled, over all Runs
	Median float64 // the baseline run's own median, in Unit (checks the baseline file)
	MAD    float64 // median |residual|, in Unit
	// Pooled is the median of all N repetitions of all Runs: the value
	// the gate compares the current run with. It is Median when the
	// noise comes from the baseline alone.
	Pooled float64
}

// Sigma is the robust standard deviation, 1.4826 × MAD.
func (e NoiseEntry) Sigma() float64 { return madToSigma * e.MAD }

// MeasureNoise measures the noise of every noise-based metric the baseline
// has. same are further runs of the same code and scenario: their
// residuals (each about its own run's median, so a shift between runs does
// not count as spread within one) are pooled with the baseline's.
func MeasureNoise(baseline *schema.Run, opt Options, same ...*schema.Run) *Noise {
	n := &Noise{}
	if baseline == nil {
		return n
	}
	n.Baseline = baseline.ID
	n.Runs = append(n.Runs, baseline.ID)
	for _, r := range same {
		n.Runs = append(n.Runs, r.ID)
	}
	b := index(baseline)
	others := make([]runIndex, len(same))
	for i, r := range same {
		others[i] = index(r)
	}
	for _, k := range unionKeys(b, b) {
		if b.kind[k.target] == "direct" {
			continue
		}
		for _, m := range metricDefs {
			bs := m.extract(b.steps[k], b.direct[k.rate], opt)
			if len(bs.vals) == 0 {
				continue
			}
			all := bs.floats()
			res := residuals(all)
			for _, o := range others {
				if s := m.extract(o.steps[k], o.direct[k.rate], opt); len(s.vals) > 0 {
					res = append(res, residuals(s.floats())...)
					all = append(all, s.floats()...)
				}
			}
			n.Entries = append(n.Entries, NoiseEntry{
				Target: k.target, Rate: k.rate, Metric: m.name, Unit: m.unit(opt),
				N: len(all), Median: median(bs.floats()), MAD: mad(res), Pooled: median(all),
			})
		}
	}
	return n
}

func (n *Noise) lookup(target string, rate float64, metric string) (NoiseEntry, bool) {
	for _, e := range n.Entries {
		if e.Target == target && e.Rate == rate && e.Metric == metric {
			return e, true
		}
	}
	return NoiseEntry{}, false
}

// Source says where σ and the reference values come from, for the
// table's header.
func (n *Noise) Source() string {
	from := "the baseline's repetitions"
	if len(n.Runs) > 1 {
		from = fmt.Sprintf("the repetitions of %d runs of the same code (%s); baseline values are their pooled medians", len(n.Runs), strings.Join(n.Runs, ", "))
	}
	if n.File != "" {
		return fmt.Sprintf("σ from %s, recorded in %s", from, n.File)
	}
	return "σ from " + from
}

// Check verifies that the noise was recorded for this baseline with these
// options: same run ID, the same medians (so the baseline file was not
// replaced under the same name), the same units.
func (n *Noise) Check(baseline *schema.Run, opt Options) error {
	where := "noise"
	if n.File != "" {
		where = n.File
	}
	if baseline == nil || n.Baseline != baseline.ID {
		id := ""
		if baseline != nil {
			id = baseline.ID
		}
		return fmt.Errorf("%s: recorded for baseline %q, not %q (rewrite it: meshbench gate -baseline FILE -write-noise %s)", where, n.Baseline, id, where)
	}
	fresh := MeasureNoise(baseline, opt)
	for _, want := range fresh.Entries {
		got, found := n.lookup(want.Target, want.Rate, want.Metric)
		switch {
		case !found:
			return fmt.Errorf("%s: no entry for %s@%g/%s, which the baseline has", where, want.Target, want.Rate, want.Metric)
		case got.Unit != want.Unit:
			return fmt.Errorf("%s: %s@%g/%s recorded in %q, the gate measures %q (cpu unit option differs?)", where, want.Target, want.Rate, want.Metric, got.Unit, want.Unit)
		case !closeTo(got.Median, want.Median):
			return fmt.Errorf("%s: %s@%g/%s median %g, the baseline's is %g: the baseline changed since the noise was recorded", where, want.Target, want.Rate, want.Metric, got.Median, want.Median)
		}
	}
	return nil
}

func closeTo(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// noiseHeader starts a noise file: the format and version. Version 1
// files (no pooled_median column) are still read, their pooled median
// taken as the baseline's own.
const (
	noiseHeader   = "# meshbench gate noise v2"
	noiseHeaderV1 = "# meshbench gate noise v1"
)

var noiseColumns = []string{"target", "rate", "metric", "unit", "n", "median", "mad", "sigma", "pooled_median"}

// WriteNoise writes n as TSV: a header comment, "# baseline ID", "# runs
// ID,ID", the column names, one line per entry. sigma is 1.4826 × mad,
// written for readers; ReadNoise checks it.
func WriteNoise(w io.Writer, n *Noise) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, noiseHeader)
	fmt.Fprintf(bw, "# baseline %s\n", n.Baseline)
	fmt.Fprintf(bw, "# runs %s\n", strings.Join(n.Runs, ","))
	fmt.Fprintln(bw, strings.Join(noiseColumns, "\t"))
	for _, e := range n.Entries {
		fmt.Fprintf(bw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", e.Target, fmtFloat(e.Rate), e.Metric, e.Unit, e.N,
			fmtFloat(e.Median), fmtFloat(e.MAD), fmtFloat(e.Sigma()), fmtFloat(e.Pooled))
	}
	return bw.Flush()
}

// fmtFloat writes a float so that it reads back exactly.
func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// WriteNoiseFile writes n to path atomically.
func WriteNoiseFile(path string, n *Noise) error {
	return atomicfile.Write(path, ".noise-*.tsv", func(w io.Writer) error { return WriteNoise(w, n) })
}

// ReadNoise parses what WriteNoise wrote; errors name the line.
func ReadNoise(r io.Reader) (*Noise, error) {
	n := &Noise{}
	sc := bufio.NewScanner(r)
	line := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		line++
		return sc.Text(), true
	}
	columns := noiseColumns
	switch l, _ := next(); l {
	case noiseHeader:
	case noiseHeaderV1:
		columns = noiseColumns[:len(noiseColumns)-1]
	default:
		return nil, fmt.Errorf("line 1: want %q", noiseHeader)
	}
	l, ok := next()
	if !ok || !strings.HasPrefix(l, "# baseline ") {
		return nil, fmt.Errorf("line 2: want \"# baseline ID\"")
	}
	n.Baseline = strings.TrimPrefix(l, "# baseline ")
	l, ok = next()
	if !ok || !strings.HasPrefix(l, "# runs ") {
		return nil, fmt.Errorf("line 3: want \"# runs ID,...\"")
	}
	n.Runs = strings.Split(strings.TrimPrefix(l, "# runs "), ",")
	if l, ok = next(); !ok || l != strings.Join(columns, "\t") {
		return nil, fmt.Errorf("line 4: want the columns %q", strings.Join(columns, " "))
	}
	for {
		l, ok := next()
		if !ok {
			break
		}
		e, err := parseNoiseLine(l, len(columns))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		n.Entries = append(n.Entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return n, nil
}

// parseNoiseLine parses one entry of a file with the first cols of
// noiseColumns (all, or all but pooled_median in version 1).
func parseNoiseLine(l string, cols int) (NoiseEntry, error) {
	f := strings.Split(l, "\t")
	if len(f) != cols {
		return NoiseEntry{}, fmt.Errorf("%d fields, want %d", len(f), cols)
	}
	e := NoiseEntry{Target: f[0], Metric: f[2], Unit: f[3]}
	if _, ok := metricByName(e.Metric); !ok {
		return e, fmt.Errorf("metric %q: not a noise-based metric", e.Metric)
	}
	var err error
	num := func(col int) float64 {
		v, perr := strconv.ParseFloat(f[col], 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("%s %q: not a number", noiseColumns[col], f[col])
		}
		return v
	}
	e.Rate, e.Median, e.MAD = num(1), num(5), num(6)
	sigma := num(7)
	e.Pooled = e.Median
	if cols > 8 {
		e.Pooled = num(8)
	}
	if err != nil {
		return e, err
	}
	if e.N, err = strconv.Atoi(f[4]); err != nil || e.N < 1 {
		return e, fmt.Errorf("n %q: want a count >= 1", f[4])
	}
	if e.MAD < 0 {
		return e, fmt.Errorf("mad %g: negative", e.MAD)
	}
	if !closeTo(sigma, e.Sigma()) {
		return e, fmt.Errorf("sigma %g is not 1.4826 × mad %g", sigma, e.MAD)
	}
	return e, nil
}

// ReadNoiseFile reads a noise file; errors name the file.
func ReadNoiseFile(path string) (*Noise, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := ReadNoise(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	n.File = path
	return n, nil
}

// DefaultNoisePath is where `make baseline` records the noise of a
// baseline: results/baseline.json -> results/baseline-noise.tsv. Not .json,
// so `meshbench report`, which reads every *.json in results/, skips it.
func DefaultNoisePath(baselinePath string) string {
	return strings.TrimSuffix(baselinePath, filepath.Ext(baselinePath)) + "-noise.tsv"
}
