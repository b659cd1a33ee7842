// Package aggregate turns the steps of a run into what reports compare:
// each step's latency over the direct path measured beside it, the median
// and spread of every target and rate over its repetitions, and the same in
// the Service Mesh Performance result shape. The loopback and the kind
// runners both use it, so their result files read alike.
package aggregate

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meshbench/meshbench/results/schema"
)

// Direct is the Kind of the baseline target (scenario kind "direct"; on
// kind clusters the namespace without a mesh).
const Direct = "direct"

// AddLatencyOverDirect sets each step's latency minus the direct target's
// at the same rate and repetition: the two were measured minutes apart at
// most, on the same machine, which is what makes the difference fair.
func AddLatencyOverDirect(steps []schema.Step) {
	type key struct {
		rate float64
		rep  int
	}
	direct := map[key]*schema.Latency{}
	for i := range steps {
		s := &steps[i]
		if s.Kind == Direct && s.Status == "ok" && s.Load != nil {
			direct[key{s.Rate, s.Repetition}] = &s.Load.LatencyUS
		}
	}
	for i := range steps {
		s := &steps[i]
		d := direct[key{s.Rate, s.Repetition}]
		if s.Kind == Direct || s.Status != "ok" || s.Load == nil || d == nil {
			continue
		}
		l := s.Load.LatencyUS
		s.AddedLatencyUS = &schema.Latency{
			Min: l.Min - d.Min, Mean: l.Mean - d.Mean, P50: l.P50 - d.P50, P90: l.P90 - d.P90,
			P99: l.P99 - d.P99, P999: l.P999 - d.P999, P9999: l.P9999 - d.P9999, Max: l.Max - d.Max,
		}
	}
}

// Summarize folds the repetitions of each target and rate into medians with
// their spread, in the order targets first appear.
func Summarize(steps []schema.Step) []schema.Summary {
	type key struct {
		target string
		rate   float64
	}
	var order []key
	groups := map[key][]*schema.Step{}
	for i := range steps {
		s := &steps[i]
		k := key{s.Target, s.Rate}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	sort.SliceStable(order, func(i, j int) bool {
		return firstIndex(steps, order[i].target) < firstIndex(steps, order[j].target) ||
			(order[i].target == order[j].target && order[i].rate < order[j].rate)
	})
	var out []schema.Summary
	for _, k := range order {
		g := groups[k]
		first := g[0]
		sum := schema.Summary{Target: first.Target, Kind: first.Kind, Topology: first.Topology, TLS: first.TLS, Rate: k.rate}
		var rate, p50, p90, p99, p999, a50, a90, a99, cpu, rss []float64
		for _, s := range g {
			if s.Busy.Disturbed {
				sum.Disturbed++
			}
			if s.Status != "ok" || s.Load == nil {
				sum.Failed++
				continue
			}
			sum.Repetitions++
			sum.Errors += s.Load.Errors
			rate = append(rate, s.Load.AchievedRate)
			p50 = append(p50, s.Load.LatencyUS.P50)
			p90 = append(p90, s.Load.LatencyUS.P90)
			p99 = append(p99, s.Load.LatencyUS.P99)
			p999 = append(p999, s.Load.LatencyUS.P999)
			if a := s.AddedLatencyUS; a != nil {
				a50, a90, a99 = append(a50, a.P50), append(a90, a.P90), append(a99, a.P99)
			}
			if s.CPUPerRequestUS != nil {
				cpu = append(cpu, *s.CPUPerRequestUS)
			}
			if s.RSSMiB != nil {
				rss = append(rss, *s.RSSMiB)
			}
		}
		sum.AchievedRate, sum.P50US, sum.P90US, sum.P99US, sum.P999US = spread(rate), spread(p50), spread(p90), spread(p99), spread(p999)
		sum.AddedP50US, sum.AddedP90US, sum.AddedP99US = spreadPtr(a50), spreadPtr(a90), spreadPtr(a99)
		sum.CPUPerRequest, sum.RSSMiB = spreadPtr(cpu), spreadPtr(rss)
		out = append(out, sum)
	}
	return out
}

func firstIndex(steps []schema.Step, target string) int {
	for i, s := range steps {
		if s.Target == target {
			return i
		}
	}
	return len(steps)
}

// spread is the median (the mean of the middle two for an even count) with
// the min and max.
func spread(v []float64) schema.Spread {
	if len(v) == 0 {
		return schema.Spread{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return schema.Spread{Median: m, Min: s[0], Max: s[len(s)-1]}
}

func spreadPtr(v []float64) *schema.Spread {
	if len(v) == 0 {
		return nil
	}
	s := spread(v)
	return &s
}

// SMP gives each summary in the Service Mesh Performance result shape: the
// median repetition's latencies (by p50) in milliseconds.
func SMP(steps []schema.Step, sums []schema.Summary) []schema.SMPResult {
	var out []schema.SMPResult
	for _, sum := range sums {
		if sum.Repetitions == 0 {
			continue
		}
		var ok []*schema.Step
		for i := range steps {
			s := &steps[i]
			if s.Target == sum.Target && s.Rate == sum.Rate && s.Status == "ok" && s.Load != nil {
				ok = append(ok, s)
			}
		}
		sort.Slice(ok, func(i, j int) bool { return ok[i].Load.LatencyUS.P50 < ok[j].Load.LatencyUS.P50 })
		m := ok[(len(ok)-1)/2]
		l := m.Load.LatencyUS
		mesh := sum.Kind
		if mesh == Direct {
			mesh = "none" // SMP's name for no mesh
		}
		out = append(out, schema.SMPResult{
			Target: sum.Target, Mesh: mesh, Rate: sum.Rate, ActualQPS: m.Load.AchievedRate,
			LatenciesMS: schema.SMPLatency{Min: l.Min / 1000, Average: l.Mean / 1000, P50: l.P50 / 1000,
				P90: l.P90 / 1000, P99: l.P99 / 1000, Max: l.Max / 1000},
		})
	}
	return out
}

// Spectrum reads meshload's -hgrm output, HdrHistogram's percentile
// distribution (value in ms, percentile 0..1, count, 1/(1-p); the 100 %
// line has no 1/(1-p)), and keeps at most about 100 points, always the first
// and the last (the maximum), with latency in µs and percentiles 0..100.
// Lines that are not data (the header, "#[...]" footers) are skipped.
func Spectrum(hgrm []byte) []schema.Percentile {
	var all []schema.Percentile
	for _, line := range strings.Split(string(hgrm), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 && len(f) != 3 || strings.HasPrefix(line, "#") {
			continue
		}
		if _, err := strconv.ParseUint(f[2], 10, 64); err != nil {
			continue
		}
		v, err1 := strconv.ParseFloat(f[0], 64)
		pc, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		all = append(all, schema.Percentile{Percentile: round(pc*100, 6), US: round(v*1000, 3)})
	}
	if len(all) == 0 {
		return []schema.Percentile{}
	}
	step := (len(all) + 99) / 100
	var out []schema.Percentile
	for i := 0; i < len(all); i += step {
		out = append(out, all[i])
	}
	if last := all[len(all)-1]; out[len(out)-1] != last {
		out = append(out, last)
	}
	return out
}

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

// Meshload is the part of meshload's -json object a step keeps (the schema
// is loadgen/internal/report/json.go; decoded leniently so a newer meshload
// with more fields still reads).
type Meshload struct {
	Start         time.Time         `json:"start"`
	DurationS     float64           `json:"duration_s"`
	TargetRate    float64           `json:"target_rate"`
	AchievedRate  float64           `json:"achieved_rate"`
	Connections   int               `json:"connections"`
	Requests      uint64            `json:"requests"`
	Errors        uint64            `json:"errors"`
	ErrorsByKind  map[string]uint64 `json:"errors_by_kind"`
	StatusCodes   map[string]uint64 `json:"status_codes"`
	LatencyUS     schema.Latency    `json:"latency_us"`
	SchedLagUS    schema.Latency    `json:"sched_lag_us"`
	GeneratorCPUS float64           `json:"generator_cpu_s"`
	Warnings      []string          `json:"warnings"`
	// The success classification. SuccessRatio is a pointer so that a file
	// from a meshload that did not classify (no "success_ratio") reads as
	// unknown, never as 0 % or 100 %.
	Expect              string         `json:"expect"`
	Successes           uint64         `json:"successes"`
	UnexpectedStatus    uint64         `json:"unexpected_status"`
	SuccessRatio        *float64       `json:"success_ratio"`
	UnexpectedLatencyUS schema.Latency `json:"unexpected_latency_us"`
	ErrorLatencyUS      schema.Latency `json:"error_latency_us"`
}

// Load condenses m and its spectrum into a step's Load (maps and lists
// never nil, so result files always show them; failure latencies only when
// there were failures of that kind).
func (m Meshload) Load(spectrum []schema.Percentile) *schema.Load {
	l := &schema.Load{
		TargetRate: m.TargetRate, AchievedRate: m.AchievedRate, Connections: m.Connections,
		Requests: m.Requests, Errors: m.Errors, ErrorsByKind: orEmpty(m.ErrorsByKind),
		StatusCodes: orEmpty(m.StatusCodes), LatencyUS: m.LatencyUS, Spectrum: spectrum,
		SchedLagP99US: m.SchedLagUS.P99, GeneratorCPUS: m.GeneratorCPUS,
		Warnings: append([]string{}, m.Warnings...),
		Expect:   m.Expect, Successes: m.Successes, UnexpectedStatus: m.UnexpectedStatus,
	}
	if m.SuccessRatio != nil {
		ratio := *m.SuccessRatio
		l.SuccessRatio = &ratio
	}
	if m.UnexpectedStatus > 0 {
		lat := m.UnexpectedLatencyUS
		l.UnexpectedLatencyUS = &lat
	}
	if m.Errors > 0 {
		lat := m.ErrorLatencyUS
		l.ErrorLatencyUS = &lat
	}
	return l
}

func orEmpty(m map[string]uint64) map[string]uint64 {
	if m == nil {
		return map[string]uint64{}
	}
	return m
}
