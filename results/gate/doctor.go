package gate

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/results/aggregate"
	"github.com/meshbench/meshbench/results/schema"
)

// Regression is a deliberate worsening of one metric of one target, applied
// to a copy of a result file by Doctor to see whether the gate catches it.
type Regression struct {
	Metric string // a noise-based metric or MetricSuccessRatio
	// By is relative: 0.25 makes the metric 25 % worse. For success_ratio it
	// is the fraction of the successes turned into 503 responses (0.001:
	// 99.9 % of what succeeded).
	By float64
}

// String is e.g. "added_p50 +25%" or "success_ratio -0.1%".
func (r Regression) String() string {
	if r.Metric == MetricSuccessRatio {
		return fmt.Sprintf("%s -%s%%", r.Metric, strconv.FormatFloat(r.By*100, 'g', 4, 64))
	}
	return fmt.Sprintf("%s +%s%%", r.Metric, strconv.FormatFloat(r.By*100, 'g', 4, 64))
}

// DefaultRegressions are the regressions BENCHMARKS.md shows the gate
// catching: added p50 +25 %, added p99 +50 %, CPU per request +20 %, RSS
// per proxy +20 %, success 99.9 %.
func DefaultRegressions() []Regression {
	return []Regression{
		{MetricAddedP50, 0.25},
		{MetricAddedP99, 0.50},
		{MetricCPUPerRequest, 0.20},
		{MetricRSSPerProxy, 0.20},
		{MetricSuccessRatio, 0.001},
	}
}

// Doctor returns a copy of run in which target's steps are changed so that
// the gate's value of reg.Metric moves by exactly reg.By (success: as near
// as whole requests allow, and at least one request per step when By > 0):
//
//   - added_p50/added_p99: every step's Load.LatencyUS.P50 (P99) rises by
//     By × |the run's median added latency| at that rate, so each
//     repetition's added latency, and with it the median, shifts by that.
//   - cpu_per_request: Step.CPUPerRequestUS and each proxy's CPU time × (1+By).
//   - rss_per_proxy: Step.RSSMiB and each proxy's RSS figures × (1+By).
//   - success_ratio: round(By × successes) responses of each step (at least
//     one) move from the most frequent 2xx status to 503; the step's
//     status is then judged as the runner judges it (aggregate.Verdict with
//     the scenario's minSuccess).
func Doctor(run *schema.Run, target string, reg Regression, opt Options) (*schema.Run, error) {
	if reg.By < 0 {
		return nil, fmt.Errorf("doctor %s: negative regression", reg)
	}
	out, err := copyRun(run)
	if err != nil {
		return nil, err
	}
	steps := 0
	for i := range out.Steps {
		if out.Steps[i].Target == target {
			steps++
		}
	}
	if steps == 0 {
		return nil, fmt.Errorf("doctor %s: run %s has no target %q", reg, run.ID, target)
	}
	switch reg.Metric {
	case MetricAddedP50:
		return out, shiftAdded(out, target, reg, opt, func(l *schema.Latency) *float64 { return &l.P50 })
	case MetricAddedP99:
		return out, shiftAdded(out, target, reg, opt, func(l *schema.Latency) *float64 { return &l.P99 })
	case MetricCPUPerRequest:
		eachStep(out, target, func(s *schema.Step) {
			if s.CPUPerRequestUS != nil {
				*s.CPUPerRequestUS *= 1 + reg.By
			}
			for j := range s.Proxies {
				s.Proxies[j].CPUS *= 1 + reg.By
			}
		})
	case MetricRSSPerProxy:
		eachStep(out, target, func(s *schema.Step) {
			if s.RSSMiB != nil {
				*s.RSSMiB *= 1 + reg.By
			}
			for j := range s.Proxies {
				p := &s.Proxies[j]
				p.RSSMiB *= 1 + reg.By
				p.RSSAvgMiB *= 1 + reg.By
				p.HWMMiB *= 1 + reg.By
			}
		})
	case MetricSuccessRatio:
		minSuccess := scenarioMinSuccess(out)
		eachStep(out, target, func(s *schema.Step) { failSome(s, reg.By, minSuccess) })
	default:
		return nil, fmt.Errorf("doctor: unknown metric %q", reg.Metric)
	}
	return out, nil
}

func eachStep(run *schema.Run, target string, f func(*schema.Step)) {
	for i := range run.Steps {
		if run.Steps[i].Target == target {
			f(&run.Steps[i])
		}
	}
}

// copyRun deep-copies a run through its JSON form, the one thing every
// field of the schema is sure to survive.
func copyRun(run *schema.Run) (*schema.Run, error) {
	b, err := json.Marshal(run)
	if err != nil {
		return nil, err
	}
	var out schema.Run
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// shiftAdded raises the picked percentile of target's steps by By × |median
// added latency| at each rate.
func shiftAdded(run *schema.Run, target string, reg Regression, opt Options, pick func(*schema.Latency) *float64) error {
	m, _ := metricByName(reg.Metric)
	ix := index(run)
	for k, steps := range ix.steps {
		if k.target != target {
			continue
		}
		s := m.extract(steps, ix.direct[k.rate], opt)
		if len(s.vals) == 0 {
			return fmt.Errorf("doctor %s: %s at %g req/s: %s", m.name, target, k.rate, s.why)
		}
		deltaUS := reg.By * math.Abs(median(s.floats())) * 1000
		for i := range run.Steps {
			st := &run.Steps[i]
			if st.Target != target || st.Rate != k.rate || st.Load == nil {
				continue
			}
			*pick(&st.Load.LatencyUS) += deltaUS
			if st.AddedLatencyUS != nil {
				*pick(st.AddedLatencyUS) += deltaUS
			}
		}
	}
	return nil
}

// scenarioMinSuccess reads load.minSuccess ("99.9%") from the recorded
// scenario; 100 when absent, as the scenario's default.
func scenarioMinSuccess(run *schema.Run) float64 {
	var spec struct {
		Load struct {
			MinSuccess string `json:"minSuccess"`
		} `json:"load"`
	}
	if json.Unmarshal(run.Scenario.Spec, &spec) != nil || spec.Load.MinSuccess == "" {
		return 100
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(spec.Load.MinSuccess, "%"), 64)
	if err != nil {
		return 100
	}
	return v
}

// failSome turns round(by × successes) of a step's successes (at least one
// when by > 0) into 503 responses and judges the step again.
func failSome(s *schema.Step, by, minSuccess float64) {
	l := s.Load
	if l == nil {
		return
	}
	succ, _, ok := stepSuccesses(l)
	if !ok || succ == 0 {
		return
	}
	k := uint64(math.Round(by * float64(succ)))
	if k == 0 && by > 0 {
		k = 1
	}
	if k > succ {
		k = succ
	}
	if l.StatusCodes == nil {
		l.StatusCodes = map[string]uint64{}
	}
	takeFrom2xx(l.StatusCodes, k)
	l.StatusCodes["503"] += k
	l.Successes = succ - k
	l.UnexpectedStatus = l.Requests - l.Successes
	ratio := 0.0
	if total := l.Requests + l.Errors; total > 0 {
		ratio = float64(l.Successes) / float64(total)
	}
	l.SuccessRatio = &ratio
	if l.UnexpectedLatencyUS == nil {
		lat := l.LatencyUS
		l.UnexpectedLatencyUS = &lat
	}
	if ok, why := aggregate.Verdict(l, minSuccess); !ok && s.Status == "ok" {
		s.Status, s.Error = "failed", why
	}
}

// takeFrom2xx removes k responses from the 2xx codes, most frequent first.
func takeFrom2xx(codes map[string]uint64, k uint64) {
	for k > 0 {
		best, bestN := "", uint64(0)
		for c, n := range codes {
			if v, err := strconv.Atoi(c); err == nil && v >= 200 && v <= 299 && (n > bestN || (n == bestN && c < best)) {
				best, bestN = c, n
			}
		}
		if bestN == 0 {
			return
		}
		take := min(k, bestN)
		codes[best] -= take
		if codes[best] == 0 {
			delete(codes, best)
		}
		k -= take
	}
}
