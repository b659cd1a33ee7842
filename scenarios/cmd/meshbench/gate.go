package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/meshbench/meshbench/results/gate"
	"github.com/meshbench/meshbench/results/schema"
)

// gateFlags are the flags of `meshbench gate`.
type gateFlags struct {
	base, cur, benchBase, benchCur string
	noise, writeNoise              string
	doctor                         bool
	doctorTarget, md, tsv, docDir  string
	opt                            gate.Options
}

func newGateFlagSet(stderr io.Writer) (*flag.FlagSet, *gateFlags) {
	fs := flag.NewFlagSet("meshbench gate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	g := &gateFlags{opt: gate.DefaultOptions()}
	fs.StringVar(&g.base, "baseline", "", "baseline result `file` (required)")
	fs.StringVar(&g.cur, "current", "", "current result `file` (required unless -write-noise or -doctor)")
	fs.StringVar(&g.benchBase, "baseline-bench", "", "`go test -bench -benchmem` output to attach to the baseline (overrides its go_benchmarks)")
	fs.StringVar(&g.benchCur, "current-bench", "", "`go test -bench -benchmem` output to attach to the current run")
	fs.StringVar(&g.noise, "noise", "", "noise `file` recorded for the baseline (default: BASELINE-noise.tsv beside it if it exists, else measured from the baseline's repetitions; \"none\": always measure)")
	fs.StringVar(&g.writeNoise, "write-noise", "", "measure the baseline's noise, pooled with the same-code result files given as arguments, write it to `file` and exit")
	fs.BoolVar(&g.doctor, "doctor", false, "evaluate the gate on the current result files given as arguments: verdicts, doctored regressions, smallest regression caught")
	fs.StringVar(&g.doctorTarget, "doctor-target", "meshproxy", "with -doctor: the `target` the regressions are applied to")
	fs.StringVar(&g.md, "md", "", "with -doctor: write the Markdown tables to `file` (default stdout)")
	fs.StringVar(&g.tsv, "tsv", "", "with -doctor: also write the rows as TSV to `file`")
	fs.StringVar(&g.docDir, "doctor-dir", "", "with -doctor: write each doctored copy to `dir` (to rerun meshbench gate on it)")
	o := &g.opt
	fs.Float64Var(&o.K, "k", o.K, "standard errors of the difference of medians a noise-based row may rise by")
	fs.IntVar(&o.MinReps, "min-reps", o.MinReps, "fewest baseline repetitions a noise-based row accepts (fewer fail)")
	fs.Float64Var(&o.FloorAddedP50, "floor-added-p50", o.FloorAddedP50, "least allowance of added p50, relative to the baseline (absolute least 0.01 ms)")
	fs.Float64Var(&o.FloorAddedP99, "floor-added-p99", o.FloorAddedP99, "least allowance of added p99, relative (absolute least 0.05 ms)")
	fs.Float64Var(&o.FloorCPU, "floor-cpu", o.FloorCPU, "least allowance of CPU per request, relative (absolute least 0.01 x loadgen or 1 µs)")
	fs.Float64Var(&o.FloorRSS, "floor-rss", o.FloorRSS, "least allowance of RSS per proxy, relative (absolute least 0.25 MiB)")
	fs.StringVar(&o.CPUUnit, "cpu-unit", o.CPUUnit, "CPU per request as `loadgen` (relative to meshload's in the same step) or us (µs)")
	fs.Float64Var(&o.AllocsRel, "allocs", o.AllocsRel, "allowed relative growth of allocs/op (plus 0.5)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage:\n"+
			"  meshbench gate -baseline FILE -current FILE [flags]\n"+
			"  meshbench gate -baseline FILE -write-noise OUT.tsv [SAME-CODE-RESULT.json...]\n"+
			"  meshbench gate -baseline FILE -doctor [-md OUT.md] [-tsv OUT.tsv] CURRENT.json...\n\n"+
			"Compares added latency, CPU per request, RSS per proxy, success ratio and allocs/op;\n"+
			"limit = baseline + max(floor, k·σ·√(π/2)·√(1/n_b+1/n_c)), σ = 1.4826 × MAD of the baseline's repetitions.\n"+
			"Exit 1 when a row fails (the table says which and why), 2 on bad input.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs, g
}

func runGate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs, g := newGateFlagSet(stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := g.opt.Validate(); err != nil {
		return usageError(fs, stderr, "%v", err)
	}
	modes := 0
	for _, on := range []bool{g.cur != "", g.writeNoise != "", g.doctor} {
		if on {
			modes++
		}
	}
	switch {
	case g.base == "":
		return usageError(fs, stderr, "-baseline is required")
	case modes != 1:
		return usageError(fs, stderr, "give exactly one of -current, -write-noise, -doctor")
	case g.cur != "" && fs.NArg() > 0:
		return usageError(fs, stderr, "unexpected arguments with -current: %s", strings.Join(fs.Args(), " "))
	case g.doctor && fs.NArg() == 0:
		return usageError(fs, stderr, "-doctor needs the current result files as arguments")
	}
	base, err := loadRun(g.base, g.benchBase)
	if err != nil {
		return gateError(stderr, err)
	}
	if g.writeNoise != "" {
		return writeNoise(g, base, fs.Args(), stdout, stderr)
	}
	noise, err := gateNoise(g, base)
	if err != nil {
		return gateError(stderr, err)
	}
	if g.doctor {
		return runDoctor(g, base, noise, fs.Args(), stdout, stderr)
	}
	cur, err := loadRun(g.cur, g.benchCur)
	if err != nil {
		return gateError(stderr, err)
	}
	rep := gate.Compare(base, cur, noise, g.opt)
	if err := rep.WriteTable(stdout); err != nil {
		return gateError(stderr, err)
	}
	if !rep.Pass {
		return 1
	}
	return 0
}

func gateError(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "meshbench gate: %v\n", err)
	return 2
}

// loadRun reads a result file and, when bench is given, replaces its Go
// benchmarks with those parsed from bench.
func loadRun(path, bench string) (*schema.Run, error) {
	r, err := schema.ReadFile(path)
	if err != nil || bench == "" {
		return r, err
	}
	f, err := os.Open(bench)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gb, err := gate.ParseGoBench(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bench, err)
	}
	r.GoBenchmarks = gb
	return r, nil
}

// gateNoise finds the baseline's noise: -noise, else the default file
// beside the baseline when it exists; nil (measure from the baseline) when
// there is none or -noise none. A file that exists must match the baseline.
func gateNoise(g *gateFlags, base *schema.Run) (*gate.Noise, error) {
	path := g.noise
	switch path {
	case "none":
		return nil, nil
	case "":
		path = gate.DefaultNoisePath(g.base)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	n, err := gate.ReadNoiseFile(path)
	if err != nil {
		return nil, err
	}
	if err := n.Check(base, g.opt); err != nil {
		return nil, err
	}
	return n, nil
}

func writeNoise(g *gateFlags, base *schema.Run, same []string, stdout, stderr io.Writer) int {
	var runs []*schema.Run
	for _, p := range same {
		r, err := schema.ReadFile(p)
		if err != nil {
			return gateError(stderr, err)
		}
		runs = append(runs, r)
	}
	n := gate.MeasureNoise(base, g.opt, runs...)
	if len(n.Entries) == 0 {
		return gateError(stderr, fmt.Errorf("%s: no noise-based metric to measure (no proxied target with successful steps)", g.base))
	}
	if err := gate.WriteNoiseFile(g.writeNoise, n); err != nil {
		return gateError(stderr, err)
	}
	fmt.Fprintf(stdout, "meshbench gate: wrote %s (%d metrics, %s)\n", g.writeNoise, len(n.Entries), n.Source())
	return 0
}

func runDoctor(g *gateFlags, base *schema.Run, noise *gate.Noise, files []string, stdout, stderr io.Writer) int {
	var cur []gate.NamedRun
	for _, p := range files {
		r, err := schema.ReadFile(p)
		if err != nil {
			return gateError(stderr, err)
		}
		cur = append(cur, gate.NamedRun{Name: p, Run: r})
	}
	regs := gate.DefaultRegressions()
	if g.docDir != "" {
		if err := writeDoctored(g, cur, regs); err != nil {
			return gateError(stderr, err)
		}
	}
	ev := gate.Evaluate(base, noise, cur, g.doctorTarget, regs, g.opt)
	if err := writeOut(g.md, stdout, ev.WriteMarkdown); err != nil {
		return gateError(stderr, err)
	}
	if g.tsv != "" {
		if err := writeOut(g.tsv, nil, ev.WriteTSV); err != nil {
			return gateError(stderr, err)
		}
	}
	return 0
}

// writeDoctored writes DIR/<file>-<metric>.json for each file and regression.
func writeDoctored(g *gateFlags, cur []gate.NamedRun, regs []gate.Regression) error {
	if err := os.MkdirAll(g.docDir, 0o755); err != nil {
		return err
	}
	for _, c := range cur {
		stem := strings.TrimSuffix(filepath.Base(c.Name), ".json")
		for _, reg := range regs {
			doc, err := gate.Doctor(c.Run, g.doctorTarget, reg, g.opt)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			if err := schema.WriteFile(filepath.Join(g.docDir, stem+"-"+reg.Metric+".json"), doc); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeOut writes with f to path, or to def when path is "".
func writeOut(path string, def io.Writer, f func(io.Writer) error) error {
	if path == "" {
		return f(def)
	}
	var b strings.Builder
	if err := f(&b); err != nil {
		return err
	}
	if err := writeAtomic(path, []byte(b.String())); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
