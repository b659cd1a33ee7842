package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/meshbench/meshbench/results/gate"
	"github.com/meshbench/meshbench/results/published"
	"github.com/meshbench/meshbench/results/report"
	"github.com/meshbench/meshbench/results/schema"
	"github.com/meshbench/meshbench/scenarios/internal/kube"
	"github.com/meshbench/meshbench/scenarios/internal/runner"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// defaultBinDir is where meshproxy and meshload are looked for: next to
// this executable (make build puts all three in bin/).
func defaultBinDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "bin"
	}
	return filepath.Dir(exe)
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshbench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "results", "write result files to `dir`")
	binDir := fs.String("bin", defaultBinDir(), "`dir` holding meshproxy and meshload")
	keep := fs.Bool("keep", false, "keep the scratch directory (configs, process logs, raw meshload output)")
	netnsMode := fs.Bool("netns", false, "transparent mode (root): each target in its own client and server pods (network namespaces) with iptables capture; the load addresses the Services' cluster IPs (a scenario's mode: netns selects it too)")
	bench := fs.String("bench", "", "attach this `go test -bench -benchmem` output to each result (for the gate's allocs/op)")
	target := fs.String("target", "loopback", "where to run: loopback, or kind (a kind cluster made by scripts/kind; see deploy/README.md)")
	dryRun := fs.Bool("dry-run", false, "with -target kind: print every command and manifest in order, run nothing")
	soakDuration := fs.Duration("soak-duration", 0, "run a soak scenario for this `duration` instead of its load.duration, compressed: every period of its soak section scales with it, so as many reloads, rotations and kills happen (e.g. 2m for a check)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: meshbench run [-o DIR] [-bin DIR] [-keep] [-netns] [-bench FILE] [-soak-duration D] [-target loopback|kind [-dry-run]] scenarios/X.yaml...\n\n"+
			"Runs each scenario on loopback (-target kind: on a kind cluster, beside Istio and Linkerd)\n"+
			"and writes one result file per scenario to DIR.\n"+
			"Exit status 1 when a step failed (its result file says why).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		return usageError(fs, stderr, "no scenario file given")
	}
	var scs []*scenario.Scenario
	for _, f := range fs.Args() {
		sc, err := scenario.LoadWith(f, scenario.Overrides{SoakDuration: *soakDuration})
		if err != nil {
			fmt.Fprintf(stderr, "meshbench run: %v\n", err)
			return 2
		}
		scs = append(scs, sc)
	}
	switch *target {
	case "loopback":
		if *dryRun {
			return usageError(fs, stderr, "-dry-run needs -target kind")
		}
	case "kind":
		if *bench != "" || *netnsMode {
			return usageError(fs, stderr, "-bench and -netns apply to loopback runs only")
		}
		for _, sc := range scs {
			if sc.Soak.Enabled() {
				return usageError(fs, stderr, "%s: a soak runs on loopback only (it kills and restarts the runner's own pods)", sc.File)
			}
		}
		return kube.Main(ctx, scs, kube.CLI{OutDir: *out, DryRun: *dryRun, Keep: *keep}, stdout, stderr)
	default:
		return usageError(fs, stderr, "-target %q: want loopback or kind", *target)
	}
	bin := runner.Binaries{
		Meshproxy: filepath.Join(*binDir, "meshproxy"),
		Meshload:  filepath.Join(*binDir, "meshload"),
		Meshbench: filepath.Join(*binDir, "meshbench"),
	}
	for _, p := range []string{bin.Meshproxy, bin.Meshload, bin.Meshbench} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(stderr, "meshbench run: %v (run make build, or point -bin at the binaries)\n", err)
			return 2
		}
	}
	var gobench []schema.GoBenchmark
	if *bench != "" {
		f, err := os.Open(*bench)
		if err != nil {
			fmt.Fprintf(stderr, "meshbench run: -bench: %v\n", err)
			return 2
		}
		gobench, err = gate.ParseGoBench(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "meshbench run: -bench %s: %v\n", *bench, err)
			return 2
		}
	}
	code := 0
	for _, sc := range scs {
		fmt.Fprintf(stdout, "== %s (%s): %s\n", sc.Name, sc.File, sc.Description)
		res, path, err := runner.Run(ctx, sc, runner.Options{Bin: bin, OutDir: *out, Log: stdout, KeepWork: *keep, GoBenchmarks: gobench, Netns: *netnsMode, Live: isTerminal(stdout)})
		if err != nil {
			fmt.Fprintf(stderr, "meshbench run: %s: %v\n", sc.File, err)
			return 1
		}
		fmt.Fprintf(stdout, "result: %s\n", path)
		for _, w := range res.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		for _, s := range res.Steps {
			if s.Status == "failed" || (s.Split != nil && !s.Split.OK) {
				code = 1
			}
		}
		if ctx.Err() != nil {
			return 130
		}
	}
	return code
}

func runList(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshbench list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: meshbench list [DIR]\n\nLists the scenarios in DIR (default scenarios).\n")
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	dir := "scenarios"
	if fs.NArg() > 1 {
		return usageError(fs, stderr, "at most one directory")
	}
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	entries, err := scenario.List(dir)
	if err != nil {
		fmt.Fprintf(stderr, "meshbench list: %v\n", err)
		return 1
	}
	code := 0
	for _, e := range entries {
		if e.Err != nil {
			fmt.Fprintf(stdout, "%-32s INVALID: %v\n", e.Path, e.Err)
			code = 1
			continue
		}
		sc := e.Scenario
		var names []string
		for _, t := range sc.Targets {
			names = append(names, t.Name)
		}
		fmt.Fprintf(stdout, "%-32s %-10s %s\n%34s targets: %s; rates %v; %d × %v\n", e.Path, sc.Name, sc.Description,
			"", strings.Join(names, ", "), sc.Load.Rates, sc.Load.Repetitions, sc.Load.Duration)
		if len(sc.Protocol) > 1 || sc.Protocol[0] != scenario.ProtocolHTTP1 {
			var ps []string
			for _, p := range sc.Protocol {
				if r, ok := sc.Load.ProtocolRates[p]; ok {
					p += fmt.Sprintf(" (rates %v)", r)
				}
				ps = append(ps, p)
			}
			fmt.Fprintf(stdout, "%34s protocols: %s\n", "", strings.Join(ps, ", "))
		}
		if sc.Soak.Enabled() {
			fmt.Fprintf(stdout, "%34s soak: %s\n", "", sc.Soak.Describe())
		}
	}
	return code
}

func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshbench validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: meshbench validate FILE...\n\nChecks scenario files; exit 1 names the first problem in each bad file.\n")
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		return usageError(fs, stderr, "no scenario file given")
	}
	code := 0
	for _, f := range fs.Args() {
		if _, err := scenario.Load(f); err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", f)
	}
	return code
}

func runReport(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshbench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("results", "results", "`dir` of result files (the newest run of each scenario is reported)")
	md := fs.String("md", "BENCHMARKS.md", "markdown `file` whose generated section is replaced (\"\" to skip)")
	html := fs.String("html", "results/report.html", "self-contained HTML report `file` (\"\" to skip)")
	pub := fs.String("published", "results/published.yaml", "published reference figures `file` (\"\" for none)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: meshbench report [flags] [RESULT.json...]\n\n"+
			"Regenerates BENCHMARKS.md's generated section and the HTML report from result files\n"+
			"(the given files, or the newest run of each scenario in -results).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var runs []*schema.Run
	var err error
	if fs.NArg() > 0 {
		for _, f := range fs.Args() {
			r, err := schema.ReadFile(f)
			if err != nil {
				fmt.Fprintf(stderr, "meshbench report: %v\n", err)
				return 1
			}
			runs = append(runs, r)
		}
	} else if runs, err = report.LoadDir(*dir); err != nil {
		fmt.Fprintf(stderr, "meshbench report: %v\n", err)
		return 1
	}
	var figures *published.Figures
	if *pub != "" {
		if figures, err = published.Load(*pub); err != nil {
			fmt.Fprintf(stderr, "meshbench report: %v\n", err)
			return 1
		}
	}
	if *md != "" {
		var gen strings.Builder
		if err := report.Markdown(&gen, runs, figures); err != nil {
			fmt.Fprintf(stderr, "meshbench report: %v\n", err)
			return 1
		}
		doc, err := os.ReadFile(*md)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "meshbench report: %v\n", err)
			return 1
		}
		out, err := report.ReplaceSection(doc, []byte(gen.String()))
		if err != nil {
			fmt.Fprintf(stderr, "meshbench report: %s: %v\n", *md, err)
			return 1
		}
		if err := writeAtomic(*md, out); err != nil {
			fmt.Fprintf(stderr, "meshbench report: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s (%d runs)\n", *md, len(runs))
	}
	if *html != "" {
		var b strings.Builder
		if err := report.HTML(&b, runs, figures); err != nil {
			fmt.Fprintf(stderr, "meshbench report: %v\n", err)
			return 1
		}
		if err := writeAtomic(*html, []byte(b.String())); err != nil {
			fmt.Fprintf(stderr, "meshbench report: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s\n", *html)
	}
	return 0
}

func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// isTerminal reports whether w is a character device (a terminal), where a
// line can be rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
