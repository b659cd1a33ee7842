package gate

import (
	"math"

	"github.com/meshbench/meshbench/results/schema"
)

// repValue is one repetition's value of a metric.
type repValue struct {
	rep       int
	v         float64
	disturbed int // steps behind v flagged Busy.Disturbed (target and direct)
}

// series is one metric of one (target, rate) in one run.
type series struct {
	vals []repValue // one per usable repetition, in run order
	why  string     // why there are none
}

// disturbed counts the disturbed steps behind the values.
func (s series) disturbed() int {
	n := 0
	for _, v := range s.vals {
		n += v.disturbed
	}
	return n
}

func (s series) floats() []float64 {
	out := make([]float64, len(s.vals))
	for i, v := range s.vals {
		out[i] = v.v
	}
	return out
}

// Floor is the least allowance of a metric: max(Rel × |baseline|, Abs).
type Floor struct{ Rel, Abs float64 }

func (f Floor) of(base float64) float64 { return math.Max(f.Rel*math.Abs(base), f.Abs) }

type metricDef struct {
	name  string
	unit  func(Options) string
	floor func(Options) Floor
	// extract computes the metric over the steps of a target at a rate;
	// direct holds the run's usable direct steps at that rate by repetition.
	extract func(steps []schema.Step, direct map[int]schema.Step, opt Options) series
}

func fixedUnit(u string) func(Options) string { return func(Options) string { return u } }

var metricDefs = []metricDef{
	{MetricAddedP50, fixedUnit(UnitMS),
		func(o Options) Floor { return Floor{o.FloorAddedP50, AbsFloorAddedP50MS} },
		func(st []schema.Step, d map[int]schema.Step, _ Options) series {
			return addedSeries(st, d, func(l schema.Latency) float64 { return l.P50 })
		}},
	{MetricAddedP99, fixedUnit(UnitMS),
		func(o Options) Floor { return Floor{o.FloorAddedP99, AbsFloorAddedP99MS} },
		func(st []schema.Step, d map[int]schema.Step, _ Options) series {
			return addedSeries(st, d, func(l schema.Latency) float64 { return l.P99 })
		}},
	{MetricCPUPerRequest, cpuUnit, cpuFloor, cpuSeries},
	{MetricRSSPerProxy, fixedUnit(UnitMiB),
		func(o Options) Floor { return Floor{o.FloorRSS, AbsFloorRSSMiB} },
		func(st []schema.Step, _ map[int]schema.Step, _ Options) series { return rssSeries(st) }},
}

// metricByName finds a noise-based metric's definition.
func metricByName(name string) (metricDef, bool) {
	for _, m := range metricDefs {
		if m.name == name {
			return m, true
		}
	}
	return metricDef{}, false
}

func cpuUnit(o Options) string {
	if o.CPUUnit == CPUUnitUS {
		return UnitUS
	}
	return UnitRatioLoadgen
}

func cpuFloor(o Options) Floor {
	if o.CPUUnit == CPUUnitUS {
		return Floor{o.FloorCPU, AbsFloorCPUUS}
	}
	return Floor{o.FloorCPU, AbsFloorCPULoadgen}
}

// addedSeries: per repetition, the target's latency minus direct's, in ms.
func addedSeries(steps []schema.Step, direct map[int]schema.Step, pick func(schema.Latency) float64) series {
	var s series
	if len(direct) == 0 {
		s.why = "no direct step with successful responses at this rate"
		return s
	}
	for _, st := range steps {
		if !usable(st) {
			continue
		}
		d, found := direct[st.Repetition]
		if !found {
			continue
		}
		s.vals = append(s.vals, repValue{
			rep:       st.Repetition,
			v:         (pick(st.Load.LatencyUS) - pick(d.Load.LatencyUS)) / 1000,
			disturbed: disturbed(st) + disturbed(d),
		})
	}
	if len(s.vals) == 0 {
		s.why = "no repetition in which both this target and direct had successful responses"
	}
	return s
}

// cpuSeries: per repetition, the proxies' CPU per request, relative to
// meshload's in the same step unless opt.CPUUnit is µs.
func cpuSeries(steps []schema.Step, _ map[int]schema.Step, opt Options) series {
	var s series
	for _, st := range steps {
		if !usable(st) || st.CPUPerRequestUS == nil {
			continue
		}
		v := *st.CPUPerRequestUS
		if opt.CPUUnit != CPUUnitUS {
			n := float64(st.Load.Requests + st.Load.Errors)
			if n == 0 || st.Load.GeneratorCPUS <= 0 {
				continue
			}
			v /= st.Load.GeneratorCPUS * 1e6 / n
		}
		s.vals = append(s.vals, repValue{rep: st.Repetition, v: v, disturbed: disturbed(st)})
	}
	if len(s.vals) == 0 {
		s.why = "proxy or generator CPU not measured"
	}
	return s
}

// rssSeries: per repetition, the proxies' summed peak RSS per proxy.
func rssSeries(steps []schema.Step) series {
	var s series
	for _, st := range steps {
		if !usable(st) || st.RSSMiB == nil || len(st.Proxies) == 0 {
			continue
		}
		s.vals = append(s.vals, repValue{rep: st.Repetition, v: *st.RSSMiB / float64(len(st.Proxies)), disturbed: disturbed(st)})
	}
	if len(s.vals) == 0 {
		s.why = "rss not measured"
	}
	return s
}

func disturbed(s schema.Step) int {
	if s.Busy.Disturbed {
		return 1
	}
	return 0
}
