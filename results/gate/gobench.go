package gate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/results/schema"
)

// ParseGoBench parses the output of `go test -bench ... -benchmem` (any
// -count). Each benchmark is named after the last path element of the
// preceding "pkg:" line and the benchmark name without its GOMAXPROCS suffix,
// e.g. "http1.BenchmarkParseRequest". Its ns/op, B/op and allocs/op are the
// medians over its result lines, Runs their number. Benchmarks are returned
// in the order they first appear.
//
// The GOMAXPROCS suffix ("-2") is removed when every benchmark line of a
// package ends in the same "-N" (the testing package adds it to all of them
// when GOMAXPROCS is not 1); a sub-benchmark named "size-1024" run with
// GOMAXPROCS=1 keeps its name.
//
// It is an error when the output has no benchmark result, when a result line
// lacks allocs/op (run without -benchmem) or is malformed, or when go test
// reported a failure.
func ParseGoBench(r io.Reader) ([]schema.GoBenchmark, error) {
	type result struct {
		pkg, name           string // name with its suffix
		ns, bytes, allocs   float64
		hasBytes, hasAllocs bool
		line                int
	}
	var (
		results []result
		pkg     string
		pending string // a benchmark name whose results are on a later line
		lineNo  int
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "pkg:"):
			pkg = strings.TrimSpace(strings.TrimPrefix(line, "pkg:"))
			pending = ""
			continue
		case strings.HasPrefix(trimmed, "--- FAIL"), trimmed == "FAIL", strings.HasPrefix(line, "FAIL\t"), strings.HasPrefix(line, "FAIL "):
			return nil, fmt.Errorf("go bench output line %d: go test reported a failure: %q", lineNo, trimmed)
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		name := pending
		rest := fields
		if strings.HasPrefix(fields[0], "Benchmark") {
			name = fields[0]
			rest = fields[1:]
			if len(rest) == 0 {
				// Name alone: the benchmark logged; its results follow.
				pending = name
				continue
			}
		} else if pending == "" || !isUint(fields[0]) || !strings.Contains(line, "ns/op") {
			continue // any other line: goos, cpu, PASS, ok, log output
		}
		pending = ""
		if !isUint(rest[0]) {
			continue // e.g. "BenchmarkX  --- SKIP" or a log line starting with the name
		}
		res := result{pkg: pkg, name: name, line: lineNo}
		hasNs := false
		vals := rest[1:]
		if len(vals)%2 != 0 {
			return nil, fmt.Errorf("go bench output line %d: %s: malformed result %q", lineNo, name, trimmed)
		}
		for i := 0; i < len(vals); i += 2 {
			v, err := strconv.ParseFloat(vals[i], 64)
			if err != nil {
				return nil, fmt.Errorf("go bench output line %d: %s: value %q: not a number", lineNo, name, vals[i])
			}
			switch vals[i+1] {
			case "ns/op":
				res.ns, hasNs = v, true
			case "B/op":
				res.bytes, res.hasBytes = v, true
			case "allocs/op":
				res.allocs, res.hasAllocs = v, true
			}
		}
		if !hasNs {
			return nil, fmt.Errorf("go bench output line %d: %s: no ns/op", lineNo, name)
		}
		if !res.hasAllocs || !res.hasBytes {
			return nil, fmt.Errorf("go bench output line %d: %s: no B/op or allocs/op (run go test with -benchmem)", lineNo, name)
		}
		results = append(results, res)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("go bench output: %w", err)
	}
	if len(results) == 0 {
		return nil, errors.New("go bench output: no benchmark results")
	}

	// The GOMAXPROCS suffix per package: strip it when all names share it.
	suffix := map[string]string{}
	uniform := map[string]bool{}
	for _, res := range results {
		sfx := procsSuffix(res.name)
		prev, seen := suffix[res.pkg]
		switch {
		case !seen:
			suffix[res.pkg], uniform[res.pkg] = sfx, sfx != ""
		case prev != sfx:
			uniform[res.pkg] = false
		}
	}

	type acc struct {
		ns, bytes, allocs []float64
	}
	var order []string
	byName := map[string]*acc{}
	for _, res := range results {
		name := res.name
		if uniform[res.pkg] {
			name = strings.TrimSuffix(name, suffix[res.pkg])
		}
		if res.pkg != "" {
			name = path.Base(res.pkg) + "." + name
		}
		a := byName[name]
		if a == nil {
			a = &acc{}
			byName[name] = a
			order = append(order, name)
		}
		a.ns = append(a.ns, res.ns)
		a.bytes = append(a.bytes, res.bytes)
		a.allocs = append(a.allocs, res.allocs)
	}
	out := make([]schema.GoBenchmark, 0, len(order))
	for _, name := range order {
		a := byName[name]
		out = append(out, schema.GoBenchmark{
			Name:        name,
			NsPerOp:     median(a.ns),
			BytesPerOp:  median(a.bytes),
			AllocsPerOp: median(a.allocs),
			Runs:        len(a.ns),
		})
	}
	return out, nil
}

// procsSuffix returns the trailing "-N" of a benchmark name, or "".
func procsSuffix(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 || i == len(name)-1 || !isUint(name[i+1:]) {
		return ""
	}
	return name[i:]
}

func isUint(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
