package kube

import (
	"math"
	"sort"

	"github.com/meshbench/meshbench/results/schema"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// The summary code below follows scenarios/internal/runner/summary.go
// (unexported there): the same medians, spreads and SMP shape, so kind and
// loopback results read alike.

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

// addLatencyOverNone sets each step's latency minus the "none" namespace's
// (kind direct) at the same rate and repetition, measured minutes apart at
// most on the same cluster.
func addLatencyOverNone(steps []schema.Step) {
	type key struct {
		rate float64
		rep  int
	}
	direct := map[key]*schema.Latency{}
	for i := range steps {
		s := &steps[i]
		if s.Kind == scenario.KindDirect && s.Status == "ok" && s.Load != nil {
			direct[key{s.Rate, s.Repetition}] = &s.Load.LatencyUS
		}
	}
	for i := range steps {
		s := &steps[i]
		d := direct[key{s.Rate, s.Repetition}]
		if s.Kind == scenario.KindDirect || s.Status != "ok" || s.Load == nil || d == nil {
			continue
		}
		l := s.Load.LatencyUS
		s.AddedLatencyUS = &schema.Latency{
			Min: l.Min - d.Min, Mean: l.Mean - d.Mean, P50: l.P50 - d.P50, P90: l.P90 - d.P90,
			P99: l.P99 - d.P99, P999: l.P999 - d.P999, P9999: l.P9999 - d.P9999, Max: l.Max - d.Max,
		}
	}
}

// summarize folds the repetitions of each target and rate into medians
// with their spread, in the order targets first appear.
func summarize(steps []schema.Step) []schema.Summary {
	type key struct {
		target string
		rate   float64
	}
	var order []key
	groups := map[key][]*schema.Step{}
	first := map[string]int{}
	for i := range steps {
		s := &steps[i]
		k := key{s.Target, s.Rate}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		if _, ok := first[s.Target]; !ok {
			first[s.Target] = i
		}
		groups[k] = append(groups[k], s)
	}
	sort.SliceStable(order, func(i, j int) bool {
		fi, fj := first[order[i].target], first[order[j].target]
		return fi < fj || (fi == fj && order[i].rate < order[j].rate)
	})
	var out []schema.Summary
	for _, k := range order {
		g := groups[k]
		f := g[0]
		sum := schema.Summary{Target: f.Target, Kind: f.Kind, Topology: f.Topology, TLS: f.TLS, Rate: k.rate}
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

// smp gives each summary in the Service Mesh Performance result shape (the
// median repetition's latencies by p50, in milliseconds); the mesh is the
// namespace's: none, meshproxy, istio, linkerd.
func smp(steps []schema.Step, sums []schema.Summary) []schema.SMPResult {
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
		if mesh == scenario.KindDirect {
			mesh = MeshNone
		}
		out = append(out, schema.SMPResult{
			Target: sum.Target, Mesh: mesh, Rate: sum.Rate, ActualQPS: m.Load.AchievedRate,
			LatenciesMS: schema.SMPLatency{Min: l.Min / 1000, Average: l.Mean / 1000, P50: l.P50 / 1000,
				P90: l.P90 / 1000, P99: l.P99 / 1000, Max: l.Max / 1000},
		})
	}
	return out
}
