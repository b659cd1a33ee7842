package aggregate

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/meshbench/meshbench/results/schema"
)

// RSSRule is how a soak judges a proxy's memory: the median of the samples
// in the reference window [WarmS, WarmS+WindowS) against the median of
// those in the last window [EndS-WindowS, EndS]; the growth may be at most
// the larger of MaxGrowthPercent of the reference and MaxGrowthMiB.
type RSSRule struct {
	WarmS, WindowS, EndS           float64
	MaxGrowthPercent, MaxGrowthMiB float64
}

// JudgeRSS sets r's reference and last medians, growth, limit and Flat
// from r.Samples. A window without samples leaves r not flat, with a note:
// flatness that was not measured is not claimed. JudgeRSS sets Judged; a
// caller that must not judge a proxy (one the soak restarted) clears it.
func JudgeRSS(r *schema.SoakRSS, rule RSSRule) {
	r.Judged = true
	var ref, last []float64
	for _, s := range r.Samples {
		if s.TS >= rule.WarmS && s.TS < rule.WarmS+rule.WindowS {
			ref = append(ref, s.MiB)
		}
		if s.TS >= rule.EndS-rule.WindowS && s.TS <= rule.EndS {
			last = append(last, s.MiB)
		}
	}
	switch {
	case len(ref) == 0:
		r.Flat, r.Note = false, fmt.Sprintf("no RSS sample in the reference window [%gs, %gs)", rule.WarmS, rule.WarmS+rule.WindowS)
		return
	case len(last) == 0:
		r.Flat, r.Note = false, fmt.Sprintf("no RSS sample in the last window [%gs, %gs]", rule.EndS-rule.WindowS, rule.EndS)
		return
	}
	warm, end := median(ref), median(last)
	growth := end - warm
	limit := math.Max(warm*rule.MaxGrowthPercent/100, rule.MaxGrowthMiB)
	r.Flat = growth <= limit
	r.WarmMiB, r.LastMiB, r.GrowthMiB, r.LimitMiB = round(warm, 3), round(end, 3), round(growth, 3), round(limit, 3)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// JudgeSoak sets sk.Failures, sk.FailureBudget, sk.OK and sk.Reasons from
// the step's load l and what the soak recorded (JudgeRSS already applied
// to its proxies). The soak passes when the load's and the slow reader's
// failures together stay within ExpectedFailuresPerKill × the kills done,
// every planned disturbance was done (and, where the proxies count it,
// applied by each of them and never rejected), every kill's pod came
// back, the slow reader completed a response, and every judged proxy's
// RSS is flat.
func JudgeSoak(sk *schema.Soak, l *schema.Load) {
	var reasons []string
	add := func(format string, a ...any) { reasons = append(reasons, fmt.Sprintf(format, a...)) }

	sk.Failures = uint64(sk.SlowReader.Failures)
	if l != nil {
		sk.Failures += l.UnexpectedStatus + l.Errors
	}
	sk.FailureBudget = uint64(sk.ExpectedFailuresPerKill) * uint64(sk.Kills.Done)
	if l == nil {
		add("no load result")
	}
	if sk.Failures > sk.FailureBudget {
		why := Failures(l)
		if sk.SlowReader.Failures > 0 {
			why = strings.TrimPrefix(why+fmt.Sprintf(", slow reader ×%d", sk.SlowReader.Failures), ", ")
		}
		add("%d failed requests > budget %d (%d per kill × %d kills): %s", sk.Failures, sk.FailureBudget, sk.ExpectedFailuresPerKill, sk.Kills.Done, why)
	}
	events := func(what, counted string, e *schema.SoakEvents) {
		if e.Done < e.Planned {
			msg := fmt.Sprintf("%s: %d of %d done", what, e.Done, e.Planned)
			if len(e.Errors) > 0 {
				msg += ": " + e.Errors[0]
			}
			add("%s", msg)
		}
		for _, p := range sortedNames(e.Applied) {
			if n := e.Applied[p]; n < e.Done {
				add("%s applied %d of %d %s", p, n, e.Done, counted)
			}
		}
		for _, p := range sortedNames(e.Rejected) {
			if n := e.Rejected[p]; n > 0 {
				add("%s rejected %d %s", p, n, counted)
			}
		}
	}
	events("reloads", "config reloads", &sk.Reloads)
	events("rotations", "identity reloads", &sk.Rotations)
	events("kills", "kills", &sk.Kills.SoakEvents)
	if sk.Kills.Restarted < sk.Kills.Done {
		add("kills: %d of %d killed pods came back", sk.Kills.Restarted, sk.Kills.Done)
	}
	if sk.SlowReader.Size > 0 && sk.SlowReader.Responses == 0 {
		msg := "the slow reader completed no response"
		if len(sk.SlowReader.Errors) > 0 {
			msg += ": " + sk.SlowReader.Errors[0]
		}
		add("%s", msg)
	}
	judged := 0
	for _, r := range sk.RSS {
		if !r.Judged {
			continue
		}
		judged++
		switch {
		case r.Note != "" && !r.Flat:
			add("%s RSS not judged flat: %s", r.Name, r.Note)
		case !r.Flat:
			add("%s RSS grew %.1f MiB (median %.1f → %.1f MiB), more than the %.1f MiB allowed", r.Name, r.GrowthMiB, r.WarmMiB, r.LastMiB, r.LimitMiB)
		}
	}
	if judged == 0 {
		add("no proxy's RSS was judged")
	}
	sk.OK, sk.Reasons = len(reasons) == 0, reasons
}

func sortedNames(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
