package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Names of the request families. They are reserved in every Registry so that
// a Counter or Gauge cannot shadow them.
const (
	RequestsTotalName   = "meshproxy_requests_total"
	RequestDurationName = "meshproxy_request_duration_ms"
	GRPCResponsesName   = "meshproxy_grpc_responses_total"
)

// Metric types as written on "# TYPE" lines.
const (
	typeCounter   = "counter"
	typeGauge     = "gauge"
	typeHistogram = "histogram"
)

// Registry holds metric families and writes them in the Prometheus text format.
//
// All methods are safe for concurrent use. Lookup methods (Requests, Counter,
// Gauge, GaugeFunc, CounterFunc) take a mutex and may allocate; they are meant
// for startup and config compilation, not for the request path. The zero value
// is not usable: call NewRegistry.
type Registry struct {
	mu       sync.RWMutex
	families map[string]*family
	// sorted lists families by name. It is copy-on-write (never modified in
	// place once published) so WriteText can keep using a snapshot after
	// releasing the lock.
	sorted []*family

	requests map[requestKey]*RequestSeries
	// reqSorted lists request series by (direction, route, backend);
	// copy-on-write like sorted.
	reqSorted []*RequestSeries
}

// NewRegistry returns an empty registry with the request families reserved.
func NewRegistry() *Registry {
	r := &Registry{
		families: make(map[string]*family),
		requests: make(map[requestKey]*RequestSeries),
	}
	r.addFamilyLocked(&family{
		name: RequestsTotalName,
		help: "Requests handled by the proxy, by response status code (0: no valid status, other: more distinct codes than the series has slots).",
		typ:  typeCounter,
		kind: kindRequestsTotal,
	})
	r.addFamilyLocked(&family{
		name: RequestDurationName,
		help: "Duration of requests handled by the proxy, in milliseconds.",
		typ:  typeHistogram,
		kind: kindRequestDuration,
	})
	r.addFamilyLocked(&family{
		name: GRPCResponsesName,
		help: "gRPC calls handled by the proxy, by grpc-status (from the response's trailers, or the proxy's own gRPC error); a call with HTTP 200 and grpc-status 14 is a failure here.",
		typ:  typeCounter,
		kind: kindGRPCResponses,
	})
	return r
}

// familyKind says where a family's samples come from.
type familyKind uint8

const (
	kindPlain           familyKind = iota // series []metric
	kindRequestsTotal                     // Registry.reqSorted, per-code counters
	kindRequestDuration                   // Registry.reqSorted, histograms
	kindGRPCResponses                     // Registry.reqSorted, per-grpc-status counters
)

// family is one metric name with its HELP, TYPE and series.
type family struct {
	name string
	help string
	typ  string
	kind familyKind

	// index and series are guarded by Registry.mu; series is copy-on-write
	// and sorted by labels, which gives WriteText its stable order.
	index  map[string]metric
	series []metric
}

// metric is one series of a plain family.
type metric interface {
	// labelString is the rendered label set without braces, e.g. `a="1",b="2"`.
	labelString() string
	// appendValue appends the sample value in exposition syntax.
	appendValue(b []byte) []byte
}

// Counter is a monotonically increasing uint64. Its methods are lock-free and
// allocation-free.
type Counter struct {
	v      atomic.Uint64
	labels string
}

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Value returns the current count.
func (c *Counter) Value() uint64 { return c.v.Load() }

func (c *Counter) labelString() string         { return c.labels }
func (c *Counter) appendValue(b []byte) []byte { return strconv.AppendUint(b, c.v.Load(), 10) }

// Gauge is an int64 that can go up and down (connections open, bytes
// buffered). Its methods are lock-free and allocation-free.
type Gauge struct {
	v      atomic.Int64
	labels string
}

// Add adds n, which may be negative.
func (g *Gauge) Add(n int64) { g.v.Add(n) }

// Set replaces the value.
func (g *Gauge) Set(n int64) { g.v.Store(n) }

// Value returns the current value.
func (g *Gauge) Value() int64 { return g.v.Load() }

func (g *Gauge) labelString() string         { return g.labels }
func (g *Gauge) appendValue(b []byte) []byte { return strconv.AppendInt(b, g.v.Load(), 10) }

// funcMetric is a series sampled at scrape time.
type funcMetric struct {
	f      func() float64
	labels string
}

func (m *funcMetric) labelString() string         { return m.labels }
func (m *funcMetric) appendValue(b []byte) []byte { return appendFloat(b, m.f()) }

// Counter returns the counter with this name and label set, creating it (and
// its family) on first use. labels are name/value pairs ("k1", "v1", "k2",
// "v2", ...); their order does not matter. help is used only when the family
// is created.
//
// It panics on programming errors: an invalid metric or label name, an odd
// number of label arguments, a repeated label name, or a name already
// registered with another type. Those are caught by the first test run, and
// a silently mis-typed family would be worse than a crash at startup.
func (r *Registry) Counter(name, help string, labels ...string) *Counter {
	ls := renderLabels(labels)
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.familyLocked(name, help, typeCounter)
	if m, ok := f.index[ls]; ok {
		c, ok := m.(*Counter)
		if !ok {
			panic(fmt.Sprintf("metrics: %s{%s} is registered as a CounterFunc, not a Counter", name, ls))
		}
		return c
	}
	c := &Counter{labels: ls}
	f.addLocked(c)
	return c
}

// Gauge returns the gauge with this name and label set, creating it on first
// use. Arguments and panics are as for Counter.
func (r *Registry) Gauge(name, help string, labels ...string) *Gauge {
	ls := renderLabels(labels)
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.familyLocked(name, help, typeGauge)
	if m, ok := f.index[ls]; ok {
		g, ok := m.(*Gauge)
		if !ok {
			panic(fmt.Sprintf("metrics: %s{%s} is registered as a GaugeFunc, not a Gauge", name, ls))
		}
		return g
	}
	g := &Gauge{labels: ls}
	f.addLocked(g)
	return g
}

// Remove deletes the Counter, Gauge or func series of family name with
// exactly these labels (in any order) and reports whether there was one.
// It is for series labelled by something a config reload can remove, such
// as an endpoint address: once removed, the series is no longer exported
// or retained. As with RetainRequests, a holder of the old pointer may keep
// updating it unseen, and registering the labels again starts from zero.
// The family's HELP and TYPE stay registered. Request series are removed
// with RetainRequests. Arguments panic as for Counter.
func (r *Registry) Remove(name string, labels ...string) bool {
	ls := renderLabels(labels)
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.families[name]
	if !ok || f.kind != kindPlain {
		return false
	}
	if _, ok := f.index[ls]; !ok {
		return false
	}
	delete(f.index, ls)
	i, _ := slices.BinarySearchFunc(f.series, ls, func(n metric, ls string) int {
		return strings.Compare(n.labelString(), ls)
	})
	// Copy-on-write, like addLocked.
	f.series = slices.Delete(slices.Clone(f.series), i, i+1)
	return true
}

// GaugeFunc registers a gauge whose value is f(), sampled at scrape time. It
// suits values that are cheaper to read on demand than to keep up to date
// (process RSS, heap size, pool occupancy). Registering the same name and
// labels again replaces f, so a reload can rebind it to new state.
//
// f runs on the scraping goroutine, possibly concurrently with itself if two
// scrapes overlap, and must not call back into the Registry's lookup methods.
// Arguments and panics are as for Counter.
func (r *Registry) GaugeFunc(name, help string, f func() float64, labels ...string) {
	r.registerFunc(name, help, typeGauge, f, labels)
}

// CounterFunc is GaugeFunc for values that only ever increase and that
// something else already counts, such as process CPU time; it is typed
// "counter" so rate() applies.
func (r *Registry) CounterFunc(name, help string, f func() float64, labels ...string) {
	r.registerFunc(name, help, typeCounter, f, labels)
}

func (r *Registry) registerFunc(name, help, typ string, f func() float64, labels []string) {
	if f == nil {
		panic("metrics: nil func for " + name)
	}
	ls := renderLabels(labels)
	r.mu.Lock()
	defer r.mu.Unlock()
	fam := r.familyLocked(name, help, typ)
	m := &funcMetric{f: f, labels: ls}
	if old, ok := fam.index[ls]; ok {
		if _, ok := old.(*funcMetric); !ok {
			panic(fmt.Sprintf("metrics: %s{%s} is already registered as a %T", name, ls, old))
		}
		// Replace rather than mutate: a concurrent scrape may hold the old one.
		series := slices.Clone(fam.series)
		series[slices.Index(series, old)] = m
		fam.series = series
		fam.index[ls] = m
		return
	}
	fam.addLocked(m)
}

// familyLocked returns the plain family called name, creating it if needed.
func (r *Registry) familyLocked(name, help, typ string) *family {
	if !validMetricName(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	if f, ok := r.families[name]; ok {
		if f.kind != kindPlain || f.typ != typ {
			panic(fmt.Sprintf("metrics: %s is already registered as a %s", name, f.typ))
		}
		return f
	}
	f := &family{name: name, help: help, typ: typ, kind: kindPlain, index: make(map[string]metric)}
	r.addFamilyLocked(f)
	return f
}

func (r *Registry) addFamilyLocked(f *family) {
	r.families[f.name] = f
	i, _ := slices.BinarySearchFunc(r.sorted, f.name, func(g *family, name string) int {
		return strings.Compare(g.name, name)
	})
	r.sorted = slices.Insert(slices.Clone(r.sorted), i, f)
}

func (f *family) addLocked(m metric) {
	f.index[m.labelString()] = m
	i, _ := slices.BinarySearchFunc(f.series, m.labelString(), func(n metric, ls string) int {
		return strings.Compare(n.labelString(), ls)
	})
	f.series = slices.Insert(slices.Clone(f.series), i, m)
}

// familySnapshot is a family with the series it had when WriteText started.
type familySnapshot struct {
	*family
	series []metric
}

// WriteText writes every family in the Prometheus text exposition format
// 0.0.4: "# HELP" and "# TYPE" once per family, families sorted by name,
// series sorted by label set (request series by direction, route, backend,
// then code). Families without samples are omitted.
//
// Metric values are read one atomic at a time while requests keep flowing, so
// a scrape is not a consistent cut across series; within one histogram
// _count always equals the +Inf bucket because both come from the same loads.
// The output is streamed through a small buffer rather than built in memory,
// so scrape cost does not grow the heap with the number of series.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.RLock()
	fams := make([]familySnapshot, len(r.sorted))
	for i, f := range r.sorted {
		fams[i] = familySnapshot{family: f, series: f.series}
	}
	reqs := r.reqSorted
	r.mu.RUnlock()

	bw := bufio.NewWriterSize(w, 8<<10)
	buf := make([]byte, 0, 512)
	for _, f := range fams {
		switch f.kind {
		case kindPlain:
			if len(f.series) == 0 {
				continue
			}
			buf = appendHeader(buf[:0], f.family)
			bw.Write(buf)
			for _, m := range f.series {
				buf = appendSampleStart(buf[:0], f.name, "", m.labelString(), "", "")
				buf = m.appendValue(buf)
				buf = append(buf, '\n')
				bw.Write(buf)
			}
		case kindRequestsTotal:
			buf = writeRequestsTotal(bw, buf, f.family, reqs)
		case kindRequestDuration:
			buf = writeRequestDuration(bw, buf, f.family, reqs)
		case kindGRPCResponses:
			buf = writeGRPCResponses(bw, buf, f.family, reqs)
		}
	}
	// bufio.Writer errors are sticky: the first failed Write makes every later
	// call a no-op and Flush reports it.
	return bw.Flush()
}

// appendHeader appends the HELP and TYPE lines of f.
func appendHeader(b []byte, f *family) []byte {
	b = append(b, "# HELP "...)
	b = append(b, f.name...)
	b = append(b, ' ')
	b = appendEscaped(b, f.help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, f.name...)
	b = append(b, ' ')
	b = append(b, f.typ...)
	return append(b, '\n')
}

// appendSampleStart appends `name+suffix{labels,extraName="extraValue"} `,
// omitting the braces when there are no labels at all. extraValue must not
// need escaping (it is a bucket bound or a status code).
func appendSampleStart(b []byte, name, suffix, labels, extraName, extraValue string) []byte {
	b = append(b, name...)
	b = append(b, suffix...)
	if labels != "" || extraName != "" {
		b = append(b, '{')
		b = append(b, labels...)
		if extraName != "" {
			if labels != "" {
				b = append(b, ',')
			}
			b = append(b, extraName...)
			b = append(b, `="`...)
			b = append(b, extraValue...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	return append(b, ' ')
}

// renderLabels validates name/value pairs and renders them, sorted by name,
// as `k1="v1",k2="v2"`. The rendered string is both the series identity (so
// argument order does not create duplicates) and the text written at scrape
// time, so it is computed once here instead of on every scrape.
func renderLabels(kv []string) string {
	if len(kv)%2 != 0 {
		panic(fmt.Sprintf("metrics: odd number of label arguments %q", kv))
	}
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		if !validLabelName(kv[i]) {
			panic(fmt.Sprintf("metrics: invalid label name %q", kv[i]))
		}
		pairs = append(pairs, pair{kv[i], kv[i+1]})
	}
	slices.SortFunc(pairs, func(a, b pair) int { return strings.Compare(a.k, b.k) })
	var b []byte
	for i, p := range pairs {
		if i > 0 {
			if pairs[i-1].k == p.k {
				panic(fmt.Sprintf("metrics: repeated label name %q", p.k))
			}
			b = append(b, ',')
		}
		b = appendLabel(b, p.k, p.v)
	}
	return string(b)
}

// appendLabel appends `name="escaped value"`.
func appendLabel(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, `="`...)
	b = appendEscaped(b, value, true)
	return append(b, '"')
}

// appendEscaped escapes backslash and newline, and also double quote for
// label values, as the text format requires. HELP text leaves quotes alone.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat formats v as the text format expects, in the shortest form
// that parses back to exactly v. Whole numbers that a float64 holds exactly
// are written as integers, so byte counts read "123456789" rather than
// "1.23456789e+08".
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case v == math.Trunc(v) && math.Abs(v) < 1<<53:
		return strconv.AppendInt(b, int64(v), 10)
	case math.Abs(v) >= 1e-4 && math.Abs(v) < 1e15:
		// Plain decimals ("1795434712.94", not "1.79543471294e+09") in the
		// range where they stay short.
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	default:
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	}
}

// validMetricName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]*.
func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]* and is not
// reserved: names starting with "__" are Prometheus-internal.
func validLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
