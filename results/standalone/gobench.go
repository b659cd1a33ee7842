package standalone

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// GoBench is one raw file of scripts/gobench.sh: `go test -bench` output in
// Go's benchmark format, with configuration lines ("key: value") the script
// adds: when, which commit, and how busy the machine was during each
// package's run (other-cores, steal-pct, loadavg1, before that package).
type GoBench struct {
	Path    string
	Meta    map[string]string // configuration as first seen (goos, cpu, commit, ...)
	Busy    map[string][]float64
	Results []GoResult
}

// GoResult is one benchmark line.
type GoResult struct {
	Pkg, Name string // Name without the "-GOMAXPROCS" suffix
	Procs     int
	Metrics   map[string]float64 // by unit: "ns/op", "B/op", "allocs/op", ...
	// Variant and Round place the result in an A/B run (scripts/abbench.sh:
	// "variant:" and "round:" lines); empty and 0 otherwise.
	Variant string
	Round   int
}

// busyKeys are the configuration keys scripts/gobench.sh writes before each
// package's results.
var busyKeys = []string{"loadavg1", "other-cores", "steal-pct"}

// ParseGoBench reads benchmark output; name is used in errors.
func ParseGoBench(name string, r io.Reader) (*GoBench, error) {
	g := &GoBench{Path: name, Meta: map[string]string{}, Busy: map[string][]float64{}}
	pkg, variant, round := "", "", 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.HasPrefix(text, "Benchmark") {
			res, ok, err := parseBenchLine(text)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, line, err)
			}
			if ok {
				res.Pkg, res.Variant, res.Round = pkg, variant, round
				g.Results = append(g.Results, res)
			}
			continue
		}
		k, v, ok := configLine(text)
		if !ok {
			continue // PASS, ok, test log output
		}
		switch k {
		case "pkg":
			pkg = v
		case "variant":
			variant = v
		case "round":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: round %q is not a number", name, line, v)
			}
			round = n
		}
		for _, bk := range busyKeys {
			if k == bk {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %s %q is not a number", name, line, k, v)
				}
				g.Busy[k] = append(g.Busy[k], f)
			}
		}
		if _, seen := g.Meta[k]; !seen {
			g.Meta[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(g.Results) == 0 {
		return nil, fmt.Errorf("%s: no benchmark results", name)
	}
	return g, nil
}

// configLine recognises a configuration line of the benchmark format: a key
// that starts with a lower-case letter and has no spaces, then ": ".
func configLine(s string) (key, value string, ok bool) {
	k, v, found := strings.Cut(s, ": ")
	if !found || k == "" || k[0] < 'a' || k[0] > 'z' || strings.ContainsAny(k, " \t") {
		return "", "", false
	}
	return k, strings.TrimSpace(v), true
}

// parseBenchLine reads "BenchmarkX-2  1000  123 ns/op  0 B/op  0 allocs/op".
// A line that is not a result ("BenchmarkX" printed alone before a failure
// or log output) is reported with ok false.
func parseBenchLine(s string) (GoResult, bool, error) {
	f := strings.Fields(s)
	if len(f) < 4 || len(f)%2 != 0 {
		return GoResult{}, false, nil
	}
	if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
		return GoResult{}, false, nil
	}
	r := GoResult{Name: f[0], Procs: 1, Metrics: map[string]float64{}}
	if i := strings.LastIndexByte(f[0], '-'); i > 0 {
		if p, err := strconv.Atoi(f[0][i+1:]); err == nil {
			r.Name, r.Procs = f[0][:i], p
		}
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return GoResult{}, false, fmt.Errorf("%s: value %q of %s is not a number", r.Name, f[i], f[i+1])
		}
		r.Metrics[f[i+1]] = v
	}
	return r, true, nil
}

// renderGo renders the Go benchmarks: per benchmark, ns/op, B/op and
// allocs/op as median (min–max) over the -count runs.
func renderGo(g *GoBench, display string) (string, error) {
	type key struct{ pkg, name string }
	var order []key
	runs := map[key][]GoResult{}
	for _, r := range g.Results {
		k := key{r.Pkg, r.Name}
		if runs[k] == nil {
			order = append(order, k)
		}
		runs[k] = append(runs[k], r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Raw output: `%s` (started %s, commit `%s`).\n", display, g.Meta["started"], g.Meta["commit"])
	fmt.Fprintf(&b, "Conditions: %s; %s %s/%s, %s, kernel %s; GOMAXPROCS %d.\n",
		g.Meta["command"], g.Meta["go"], g.Meta["goos"], g.Meta["goarch"], g.Meta["cpu"], g.Meta["kernel"], g.Results[0].Procs)
	b.WriteString("Median (min–max) over the runs.\n\n")
	row(&b, "benchmark", "ns/op", "B/op", "allocs/op", "runs")
	row(&b, "---", "---", "---", "---", "---")
	for _, k := range order {
		rs := runs[k]
		var ns, bytes, allocs []float64
		for _, r := range rs {
			if v, ok := r.Metrics["ns/op"]; ok {
				ns = append(ns, v)
			}
			if v, ok := r.Metrics["B/op"]; ok {
				bytes = append(bytes, v)
			}
			if v, ok := r.Metrics["allocs/op"]; ok {
				allocs = append(allocs, v)
			}
		}
		s := Summarize(ns)
		dec := 0
		if s.Median < 100 {
			dec = 1
		}
		row(&b, "`"+path.Base(k.pkg)+"."+k.name+"`", s.format(dec), Summarize(bytes).format(0),
			Summarize(allocs).format(0), fmt.Sprint(len(rs)))
	}
	other := Summarize(g.Busy["other-cores"])
	other.Min, other.Median, other.Max = max(other.Min, 0), max(other.Median, 0), max(other.Max, 0)
	notes(&b, fmt.Sprintf("Machine during the runs: processes other than `go test` used %s CPUs "+
		"(median, min–max over %d packages); hypervisor steal %s %%; 1-minute load average before each package "+
		"(earlier packages' runs included) %s; "+
		"before the first %s.", other.format(2), other.N, Summarize(g.Busy["steal-pct"]).format(1),
		Summarize(g.Busy["loadavg1"]).format(2), g.Meta["loadavg-at-start"]))
	return b.String(), nil
}
