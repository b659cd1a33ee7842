package aggregate

import (
	"testing"

	"github.com/meshbench/meshbench/results/schema"
)

// load builds a classified Load: codes are the responses by status, kinds
// the transport errors; successes are the 2xx responses (meshload's
// default -expect).
func load(codes, kinds map[string]uint64) *schema.Load {
	l := &schema.Load{Expect: "2xx", StatusCodes: codes, ErrorsByKind: kinds}
	for c, n := range codes {
		l.Requests += n
		if c[0] == '2' {
			l.Successes += n
		} else {
			l.UnexpectedStatus += n
		}
	}
	for _, n := range kinds {
		l.Errors += n
	}
	if total := l.Requests + l.Errors; total > 0 {
		r := float64(l.Successes) / float64(total)
		l.SuccessRatio = &r
	}
	return l
}

func TestVerdict(t *testing.T) {
	unclassified := load(map[string]uint64{"200": 10}, nil)
	unclassified.SuccessRatio = nil
	otherExpect := load(map[string]uint64{"200": 90, "204": 10}, nil)
	otherExpect.Expect, otherExpect.Successes, otherExpect.UnexpectedStatus = "200", 90, 10
	unreadableExpect := load(map[string]uint64{"200": 90, "418": 10}, nil)
	unreadableExpect.Expect = "success"
	ranges := load(map[string]uint64{"200": 90, "204": 5, "304": 3, "404": 1, "799": 1}, nil)
	ranges.Expect, ranges.Successes, ranges.UnexpectedStatus = "200-203, 3xx", 93, 7

	tests := []struct {
		name   string
		l      *schema.Load
		min    float64
		ok     bool
		reason string
	}{
		{"no load", nil, 100, false, "no load result"},
		{"nothing sent", load(nil, nil), 0, false, "no requests were sent"},
		{"only errors", load(nil, map[string]uint64{"connect": 16, "timeout": 0}), 0, false, "no responses: connect ×16"},
		{"all ok", load(map[string]uint64{"200": 1000}, map[string]uint64{"reset": 0}), 100, true, ""},
		{"brief's example", load(map[string]uint64{"200": 961, "503": 37}, map[string]uint64{"reset": 2}), 100, false,
			"success 96.10 % < minSuccess 100 %: 503 ×37, reset ×2"},
		{"one failure in ten million misses 100 %", load(map[string]uint64{"200": 9_999_999, "503": 1}, nil), 100, false,
			"success 99.99 % < minSuccess 100 %: 503 ×1"},
		{"exactly the minimum", load(map[string]uint64{"200": 999, "500": 1}, nil), 99.9, true, ""},
		{"just below the minimum", load(map[string]uint64{"200": 998, "500": 2}, nil), 99.9, false,
			"success 99.80 % < minSuccess 99.9 %: 500 ×2"},
		{"all 503 at minSuccess 0", load(map[string]uint64{"503": 50}, nil), 0, true, ""},
		{"all 503", load(map[string]uint64{"503": 50}, nil), 100, false, "success 0 % < minSuccess 100 %: 503 ×50"},
		{"largest first", load(map[string]uint64{"200": 10, "404": 1, "503": 5}, map[string]uint64{"timeout": 3, "reset": 3}), 50, false,
			"success 45.45 % < minSuccess 50 %: 503 ×5, 404 ×1, reset ×3, timeout ×3"},
		{"unclassified", unclassified, 0, false, "responses not classified (meshload wrote no success_ratio; rebuild meshload)"},
		{"expect from the file", otherExpect, 100, false, "success 90.00 % < minSuccess 100 %: 204 ×10"},
		{"unreadable expect", unreadableExpect, 100, false, "success 90.00 % < minSuccess 100 %: unexpected status (expect success) ×10"},
		{"ranges, classes, a code beyond 599", ranges, 100, false, "success 93.00 % < minSuccess 100 %: 204 ×5, 404 ×1, 799 ×1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason := Verdict(tt.l, tt.min)
			if ok != tt.ok || reason != tt.reason {
				t.Errorf("Verdict = %v, %q; want %v, %q", ok, reason, tt.ok, tt.reason)
			}
		})
	}
}

func TestPercent(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{
		{1, "100 %"}, {0, "0 %"}, {0.29, "29.00 %"}, {0.9999999, "99.99 %"}, {0.96301, "96.30 %"}, {0.5, "50.00 %"},
	} {
		if got := Percent(tt.in); got != tt.want {
			t.Errorf("Percent(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := PercentLimit(99.9); got != "99.9 %" {
		t.Errorf("PercentLimit(99.9) = %q", got)
	}
}

// A failed step keeps its Load (the report shows what happened), but its
// latency stays out of the medians and of added latency.
func TestFailedStepWithLoadLeftOutOfSummaries(t *testing.T) {
	steps := []schema.Step{
		step("direct", Direct, 1000, 1, 100, 1000, "ok"),
		step("proxy", "meshproxy", 1000, 1, 150, 1500, "ok"),
		step("direct", Direct, 1000, 2, 100, 1000, "ok"),
		step("proxy", "meshproxy", 1000, 2, 10, 20, "ok"), // fast because it answered 503
	}
	steps[3].Status = "failed"
	AddLatencyOverDirect(steps)
	if steps[3].AddedLatencyUS != nil {
		t.Error("a failed step got an added latency")
	}
	sums := Summarize(steps)
	p := sums[1]
	if p.Target != "proxy" || p.Repetitions != 1 || p.Failed != 1 || p.P50US.Median != 150 || p.P50US.Min != 150 {
		t.Errorf("proxy summary %+v: the failed step's latency was counted", p)
	}
}
