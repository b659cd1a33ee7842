package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// goldenRegistry builds the small registry whose exposition is pinned by
// TestWriteTextGolden.
func goldenRegistry() *Registry {
	r := NewRegistry()
	r.Counter("meshproxy_config_reloads_total", "Config reloads, by result.", "result", "ok").Add(3)
	r.Counter("meshproxy_config_reloads_total", "ignored: help is set once", "result", "error").Inc()
	r.Gauge("meshproxy_connections", "Open connections.\nBy direction.", "direction", "inbound").Set(5)
	r.Gauge("meshproxy_connections", "", "direction", "outbound").Add(-2)
	r.Gauge("meshproxy_weird_labels", `Escapes: \ and "quotes".`, "z", `a"b\c`+"\nd", "a", "first").Set(1)
	r.GaugeFunc("meshproxy_ratio", "A sampled value.", func() float64 { return 0.5 })
	r.GaugeFunc("meshproxy_big", "Whole numbers print as integers.", func() float64 { return 123456789 })

	in := r.Requests("inbound", "api", "10.0.0.1:80")
	in.Observe(200, 50*time.Microsecond)
	in.Observe(200, 3*time.Millisecond)
	in.Observe(503, 1500*time.Millisecond)
	in.Observe(0, 2*time.Minute) // no response: code "0", beyond the last bound
	in.Observe(99, 1234567*time.Nanosecond)
	r.Requests("outbound", "db", "10.0.0.2:5432") // never observed: zero histogram, no codes
	return r
}

const golden = `# HELP meshproxy_big Whole numbers print as integers.
# TYPE meshproxy_big gauge
meshproxy_big 123456789
# HELP meshproxy_config_reloads_total Config reloads, by result.
# TYPE meshproxy_config_reloads_total counter
meshproxy_config_reloads_total{result="error"} 1
meshproxy_config_reloads_total{result="ok"} 3
# HELP meshproxy_connections Open connections.\nBy direction.
# TYPE meshproxy_connections gauge
meshproxy_connections{direction="inbound"} 5
meshproxy_connections{direction="outbound"} -2
# HELP meshproxy_ratio A sampled value.
# TYPE meshproxy_ratio gauge
meshproxy_ratio 0.5
# HELP meshproxy_request_duration_ms Duration of requests handled by the proxy, in milliseconds.
# TYPE meshproxy_request_duration_ms histogram
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="0.1"} 1
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="0.25"} 1
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="0.5"} 1
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="1"} 1
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="2.5"} 2
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="5"} 3
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="10"} 3
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="25"} 3
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="50"} 3
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="100"} 3
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="250"} 3
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="500"} 3
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="1000"} 3
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="2500"} 4
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="5000"} 4
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="10000"} 4
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="30000"} 4
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="60000"} 4
meshproxy_request_duration_ms_bucket{direction="inbound",route="api",backend="10.0.0.1:80",le="+Inf"} 5
meshproxy_request_duration_ms_sum{direction="inbound",route="api",backend="10.0.0.1:80"} 121504.285
meshproxy_request_duration_ms_count{direction="inbound",route="api",backend="10.0.0.1:80"} 5
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="0.1"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="0.25"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="0.5"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="1"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="2.5"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="5"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="10"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="25"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="50"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="100"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="250"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="500"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="1000"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="2500"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="5000"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="10000"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="30000"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="60000"} 0
meshproxy_request_duration_ms_bucket{direction="outbound",route="db",backend="10.0.0.2:5432",le="+Inf"} 0
meshproxy_request_duration_ms_sum{direction="outbound",route="db",backend="10.0.0.2:5432"} 0
meshproxy_request_duration_ms_count{direction="outbound",route="db",backend="10.0.0.2:5432"} 0
# HELP meshproxy_requests_total Requests handled by the proxy, by response status code (0: no valid status, other: more distinct codes than the series has slots).
# TYPE meshproxy_requests_total counter
meshproxy_requests_total{direction="inbound",route="api",backend="10.0.0.1:80",code="0"} 2
meshproxy_requests_total{direction="inbound",route="api",backend="10.0.0.1:80",code="200"} 2
meshproxy_requests_total{direction="inbound",route="api",backend="10.0.0.1:80",code="503"} 1
# HELP meshproxy_weird_labels Escapes: \\ and "quotes".
# TYPE meshproxy_weird_labels gauge
meshproxy_weird_labels{a="first",z="a\"b\\c\nd"} 1
`

func TestWriteTextGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := goldenRegistry().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != golden {
		t.Errorf("exposition mismatch\n%s", lineDiff(golden, got))
	}
}

// lineDiff reports the first differing line, which is far easier to act on
// than two 60-line strings.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\nwant %q\ngot  %q\n\nfull output:\n%s", i+1, wl, gl, got)
		}
	}
	return "identical lines?"
}

func TestWriteTextEmptyRegistry(t *testing.T) {
	var buf bytes.Buffer
	if err := NewRegistry().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("empty registry wrote %q, want nothing", buf.String())
	}
}

func TestWriteTextValidExposition(t *testing.T) {
	r := goldenRegistry()
	r.RegisterProcessMetrics()
	// Overflow the code slots so code="other" is exercised too.
	s := r.Requests("inbound", "many-codes", `back"end\`)
	for code := 200; code < 240; code++ {
		s.Observe(code, time.Duration(code)*time.Millisecond)
	}
	r.GaugeFunc("meshproxy_special_values", "NaN and infinities.", func() float64 { return math.NaN() }, "v", "nan")
	r.GaugeFunc("meshproxy_special_values", "", func() float64 { return math.Inf(1) }, "v", "inf")
	r.GaugeFunc("meshproxy_special_values", "", func() float64 { return math.Inf(-1) }, "v", "-inf")
	r.GaugeFunc("meshproxy_special_values", "", func() float64 { return 1e-7 }, "v", "tiny")

	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if err := checkExposition(buf.String()); err != nil {
		t.Fatalf("%v\n\n%s", err, buf.String())
	}
	for _, name := range []string{
		"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
		"process_start_time_seconds", "go_goroutines", "go_memstats_heap_inuse_bytes",
		`code="other"} 24`,
	} {
		if !strings.Contains(buf.String(), name) {
			t.Errorf("output lacks %s", name)
		}
	}
}

// checkExposition validates text against the exposition format 0.0.4: line
// syntax, escapes, HELP/TYPE at most once per family and before its samples,
// families contiguous, and histogram buckets cumulative with +Inf == _count.
func checkExposition(text string) error {
	if text != "" && !strings.HasSuffix(text, "\n") {
		return errors.New("output does not end in a newline")
	}
	types := map[string]string{}
	helps := map[string]bool{}
	done := map[string]bool{} // families whose block has ended
	current := ""
	type hist struct {
		last     float64
		inf      float64
		haveInf  bool
		count    float64
		hasCount bool
	}
	hists := map[string]*hist{}
	enter := func(fam string) error {
		if fam != current {
			if done[fam] {
				return fmt.Errorf("family %s is not contiguous", fam)
			}
			if current != "" {
				done[current] = true
			}
			current = fam
		}
		return nil
	}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n++
		if strings.HasPrefix(line, "#") {
			f := strings.SplitN(line, " ", 4)
			if len(f) < 3 || f[0] != "#" || (f[1] != "HELP" && f[1] != "TYPE") {
				continue // plain comment
			}
			name := f[2]
			if !validMetricName(name) {
				return fmt.Errorf("line %d: bad metric name %q", n, name)
			}
			if err := enter(name); err != nil {
				return fmt.Errorf("line %d: %v", n, err)
			}
			switch f[1] {
			case "HELP":
				if helps[name] {
					return fmt.Errorf("line %d: second HELP for %s", n, name)
				}
				helps[name] = true
				if len(f) == 4 {
					if err := checkEscapes(f[3], false); err != nil {
						return fmt.Errorf("line %d: %v", n, err)
					}
				}
			case "TYPE":
				if _, ok := types[name]; ok {
					return fmt.Errorf("line %d: second TYPE for %s", n, name)
				}
				if len(f) != 4 {
					return fmt.Errorf("line %d: TYPE without type", n)
				}
				switch f[3] {
				case "counter", "gauge", "histogram", "summary", "untyped":
				default:
					return fmt.Errorf("line %d: unknown type %q", n, f[3])
				}
				types[name] = f[3]
			}
			continue
		}
		name, labels, value, err := parseSample(line)
		if err != nil {
			return fmt.Errorf("line %d: %v: %q", n, err, line)
		}
		fam := name
		if _, ok := types[name]; !ok {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suf); ok && types[base] == "histogram" {
					fam = base
				}
			}
		}
		if _, ok := types[fam]; !ok {
			return fmt.Errorf("line %d: sample %s before its TYPE", n, name)
		}
		if err := enter(fam); err != nil {
			return fmt.Errorf("line %d: %v", n, err)
		}
		if types[fam] != "histogram" {
			continue
		}
		key := fam + "{" + labels["direction"] + "," + labels["route"] + "," + labels["backend"] + "}"
		h := hists[key]
		if h == nil {
			h = &hist{}
			hists[key] = h
		}
		switch name {
		case fam + "_bucket":
			if _, ok := labels["le"]; !ok {
				return fmt.Errorf("line %d: bucket without le", n)
			}
			if value < h.last {
				return fmt.Errorf("line %d: bucket count decreases", n)
			}
			h.last = value
			if labels["le"] == "+Inf" {
				h.inf, h.haveInf = value, true
			}
		case fam + "_count":
			h.count, h.hasCount = value, true
		}
	}
	for key, h := range hists {
		if !h.haveInf || !h.hasCount || h.inf != h.count {
			return fmt.Errorf("histogram %s: +Inf bucket %v (present %v) vs _count %v (present %v)",
				key, h.inf, h.haveInf, h.count, h.hasCount)
		}
	}
	return nil
}

// parseSample parses `name{l="v",...} value [timestamp]`.
func parseSample(line string) (name string, labels map[string]string, value float64, err error) {
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return "", nil, 0, errors.New("no metric name")
	}
	name, rest := line[:i], line[i:]
	if !validMetricName(name) {
		return "", nil, 0, fmt.Errorf("bad metric name %q", name)
	}
	labels = map[string]string{}
	if rest[0] == '{' {
		rest = rest[1:]
		for len(rest) > 0 && rest[0] != '}' {
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 || !validLabelName(rest[:eq]) {
				return "", nil, 0, errors.New("bad label name")
			}
			lname := rest[:eq]
			rest = rest[eq+1:]
			if len(rest) == 0 || rest[0] != '"' {
				return "", nil, 0, errors.New("label value not quoted")
			}
			var val strings.Builder
			j := 1
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] == '\\' {
					j++
					switch {
					case j >= len(rest):
						return "", nil, 0, errors.New("dangling backslash")
					case rest[j] == '\\', rest[j] == '"':
						val.WriteByte(rest[j])
					case rest[j] == 'n':
						val.WriteByte('\n')
					default:
						return "", nil, 0, fmt.Errorf("bad escape \\%c", rest[j])
					}
					continue
				}
				val.WriteByte(rest[j])
			}
			if j >= len(rest) {
				return "", nil, 0, errors.New("unterminated label value")
			}
			if _, dup := labels[lname]; dup {
				return "", nil, 0, fmt.Errorf("repeated label %s", lname)
			}
			labels[lname] = val.String()
			rest = rest[j+1:]
			if strings.HasPrefix(rest, ",") {
				rest = rest[1:]
			}
		}
		if len(rest) == 0 {
			return "", nil, 0, errors.New("unterminated label set")
		}
		rest = rest[1:]
	}
	f := strings.Split(rest, " ")
	if len(f) < 2 || len(f) > 3 || f[0] != "" {
		return "", nil, 0, errors.New("want exactly one space, a value and an optional timestamp")
	}
	switch f[1] {
	case "NaN", "+Inf", "-Inf":
		value = map[string]float64{"NaN": math.NaN(), "+Inf": math.Inf(1), "-Inf": math.Inf(-1)}[f[1]]
	default:
		if value, err = strconv.ParseFloat(f[1], 64); err != nil {
			return "", nil, 0, fmt.Errorf("bad value %q", f[1])
		}
	}
	if len(f) == 3 {
		if _, err := strconv.ParseInt(f[2], 10, 64); err != nil {
			return "", nil, 0, fmt.Errorf("bad timestamp %q", f[2])
		}
	}
	return name, labels, value, nil
}

// checkEscapes reports backslash sequences the format does not define.
func checkEscapes(s string, quoted bool) error {
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		i++
		if i >= len(s) || !(s[i] == '\\' || s[i] == 'n' || (quoted && s[i] == '"')) {
			return fmt.Errorf("bad escape in %q", s)
		}
	}
	return nil
}

func TestSameLabelsSamePointer(t *testing.T) {
	r := NewRegistry()
	if r.Requests("inbound", "a", "b") != r.Requests("inbound", "a", "b") {
		t.Error("Requests returned different pointers for the same labels")
	}
	if r.Requests("inbound", "a", "b") == r.Requests("outbound", "a", "b") {
		t.Error("Requests returned the same pointer for different labels")
	}
	c := r.Counter("c_total", "", "x", "1", "y", "2")
	if c != r.Counter("c_total", "", "y", "2", "x", "1") {
		t.Error("Counter identity depends on label order")
	}
	if c == r.Counter("c_total", "", "x", "1", "y", "3") {
		t.Error("Counter returned the same pointer for different labels")
	}
	if g := r.Gauge("g", "", "k", "v"); g != r.Gauge("g", "", "k", "v") {
		t.Error("Gauge returned different pointers for the same labels")
	}
}

func TestGaugeFuncReplace(t *testing.T) {
	r := NewRegistry()
	r.GaugeFunc("f", "h", func() float64 { return 1 })
	r.GaugeFunc("f", "h", func() float64 { return 2 })
	var buf bytes.Buffer
	r.WriteText(&buf)
	if want := "# HELP f h\n# TYPE f gauge\nf 2\n"; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestRegistrationPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func(r *Registry)
	}{
		{"bad metric name", func(r *Registry) { r.Counter("1abc", "") }},
		{"empty metric name", func(r *Registry) { r.Gauge("", "") }},
		{"bad label name", func(r *Registry) { r.Counter("a", "", "bad-name", "v") }},
		{"reserved label name", func(r *Registry) { r.Counter("a", "", "__name__", "v") }},
		{"odd labels", func(r *Registry) { r.Counter("a", "", "k") }},
		{"repeated label", func(r *Registry) { r.Counter("a", "", "k", "1", "k", "2") }},
		{"type clash", func(r *Registry) { r.Counter("a", ""); r.Gauge("a", "") }},
		{"func clash", func(r *Registry) { r.Gauge("a", ""); r.GaugeFunc("a", "", func() float64 { return 0 }) }},
		{"reserved family", func(r *Registry) { r.Counter(RequestsTotalName, "") }},
		{"nil func", func(r *Registry) { r.GaugeFunc("a", "", nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("did not panic")
				}
			}()
			tt.f(NewRegistry())
		})
	}
}

func TestCounterGauge(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("c_total", "")
	c.Inc()
	c.Add(41)
	if c.Value() != 42 {
		t.Errorf("counter = %d, want 42", c.Value())
	}
	g := r.Gauge("g", "")
	g.Set(10)
	g.Add(-15)
	if g.Value() != -5 {
		t.Errorf("gauge = %d, want -5", g.Value())
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("scraper went away")
	}
	return len(p), nil
}

func TestWriteTextReportsWriteErrors(t *testing.T) {
	r := goldenRegistry()
	for i := range 200 {
		r.Requests("inbound", strconv.Itoa(i), "b").Observe(200, time.Millisecond)
	}
	if err := r.WriteText(&failWriter{n: 100}); err == nil {
		t.Error("WriteText returned nil for a failing writer")
	}
}

func TestAppendMicrosAsMillis(t *testing.T) {
	for us, want := range map[uint64]string{
		0: "0", 1: "0.001", 10: "0.01", 100: "0.1", 1000: "1", 1500: "1.5",
		12345: "12.345", 120000: "120", 1000001: "1000.001",
	} {
		if got := string(appendMicrosAsMillis(nil, us)); got != want {
			t.Errorf("appendMicrosAsMillis(%d) = %q, want %q", us, got, want)
		}
	}
}

// TestConcurrentRegistration races lookups, recording and scrapes; run with
// -race it checks that the copy-on-write snapshots really are safe.
func TestConcurrentRegistration(t *testing.T) {
	r := NewRegistry()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				route := strconv.Itoa(i % 20)
				r.Requests("inbound", route, "b").Observe(200+g, time.Millisecond)
				r.Counter("c_total", "", "route", route).Inc()
				r.GaugeFunc("f", "", func() float64 { return float64(i) }, "g", strconv.Itoa(g))
				if i%50 == 0 {
					var buf bytes.Buffer
					if err := r.WriteText(&buf); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	var total uint64
	for i := range 20 {
		total += r.Requests("inbound", strconv.Itoa(i), "b").Count()
		total -= r.Counter("c_total", "", "route", strconv.Itoa(i)).Value()
	}
	if total != 0 {
		t.Errorf("request series and counters disagree by %d", total)
	}
	var buf bytes.Buffer
	r.WriteText(&buf)
	if err := checkExposition(buf.String()); err != nil {
		t.Error(err)
	}
}
