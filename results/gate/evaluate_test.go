package gate

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func quietRuns(t *testing.T) []NamedRun {
	return []NamedRun{
		{"quiet-base.json", load(t, "quiet-base.json")},
		{"quiet-rerun.json", load(t, "quiet-rerun.json")},
	}
}

func TestEvaluate(t *testing.T) {
	opt := DefaultOptions()
	base := load(t, "quiet-base.json")
	ev := Evaluate(base, nil, quietRuns(t), mp, DefaultRegressions(), opt)
	for _, f := range ev.Files {
		if !f.Pass {
			t.Errorf("%s: unchanged code failed: %v", f.Name, f.Failing)
		}
		for _, d := range f.Doctored {
			want := mp + "@1000/" + d.Regression.Metric
			if !d.Exact || strings.Join(d.Failing, ",") != want {
				t.Errorf("%s %s: exact %v, failing %v, want only %s", f.Name, d.Regression, d.Exact, d.Failing, want)
			}
		}
	}
	// The smallest added-p50 regression caught follows from the rows: the
	// current median must pass the limit, (limit - current) / |current|
	// in each file, the largest of them over the files.
	want := 0.0
	for _, cur := range quietRuns(t) {
		r := row(t, Compare(base, cur.Run, nil, opt), mp+"@1000/added_p50")
		want = math.Max(want, (r.Limit-r.Current)/math.Abs(r.Current))
	}
	s := ev.Smallest[0]
	if s.Metric != MetricAddedP50 || s.By < want || s.By > want+0.002 {
		t.Errorf("smallest %s = %v, want %v (+ bisection resolution 0.001)", s.Metric, s.By, want)
	}
	// A single failed request per step already fails the success row.
	if s := ev.Smallest[4]; s.Metric != MetricSuccessRatio || s.By > 1e-4 {
		t.Errorf("smallest %s = %v, want <= 1e-4 (one request in 10000)", s.Metric, s.By)
	}
	var md, tsv bytes.Buffer
	if err := ev.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := ev.WriteTSV(&tsv); err != nil {
		t.Fatal(err)
	}
	golden(t, "evaluate.md.golden", md.Bytes())
	golden(t, "evaluate.tsv.golden", tsv.Bytes())
}

// Under the measured noise some regressions hide: the evaluation says so
// rather than claiming them, and a current file that already fails is
// reported with its rows.
func TestEvaluateReportsMisses(t *testing.T) {
	opt := DefaultOptions()
	cur := load(t, "noisy.json")
	cur.GoBenchmarks[0].AllocsPerOp = 2
	ev := Evaluate(load(t, "base.json"), nil, []NamedRun{{"noisy.json", cur}}, mp, DefaultRegressions(), opt)
	f := ev.Files[0]
	if f.Pass || strings.Join(f.Failing, ",") != "http1.BenchmarkParseRequest@0/allocs_per_op" {
		t.Fatalf("verdict %v %v", f.Pass, f.Failing)
	}
	for _, d := range f.Doctored {
		// added p99 +50 % is inside meshproxy's measured p99 noise.
		if d.Regression.Metric == MetricAddedP99 && d.Exact {
			t.Errorf("added p99 +50%% reported caught under the measured noise: %v", d.Failing)
		}
		// The already-failing allocs row does not spoil exactness.
		if d.Regression.Metric == MetricSuccessRatio && !d.Exact {
			t.Errorf("success drop not exact: %v", d.Failing)
		}
	}
	var md bytes.Buffer
	ev.WriteMarkdown(&md)
	if !strings.Contains(md.String(), "| noisy.json | added_p99 +50% | no: missed |") {
		t.Errorf("markdown does not show the miss:\n%s", md.String())
	}
}

func TestDoctorErrors(t *testing.T) {
	opt := DefaultOptions()
	if _, err := Doctor(load(t, "base.json"), "nginx", Regression{MetricAddedP50, 0.25}, opt); err == nil || !strings.Contains(err.Error(), `no target "nginx"`) {
		t.Errorf("missing target: %v", err)
	}
	if _, err := Doctor(load(t, "base.json"), mp, Regression{"p50", 0.25}, opt); err == nil || !strings.Contains(err.Error(), `unknown metric "p50"`) {
		t.Errorf("unknown metric: %v", err)
	}
	if _, err := Doctor(load(t, "base.json"), mp, Regression{MetricRSSPerProxy, -1}, opt); err == nil {
		t.Error("negative regression accepted")
	}
	// The copy is deep: the original is untouched.
	orig := load(t, "base.json")
	if _, err := Doctor(orig, mp, Regression{MetricRSSPerProxy, 1}, opt); err != nil {
		t.Fatal(err)
	}
	if got := *orig.Steps[1].RSSMiB; got != *load(t, "base.json").Steps[1].RSSMiB {
		t.Errorf("Doctor changed its input: rss %v", got)
	}
}

// A success regression is judged as the runner judges steps: below the
// scenario's minSuccess (100 % in gate.yaml) a step is failed with the
// reason, and its successes still count for latency, CPU and RSS.
func TestDoctorSuccessJudgesSteps(t *testing.T) {
	doc, err := Doctor(load(t, "base.json"), mp, Regression{MetricSuccessRatio, 0.001}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Steps {
		if s.Target != mp {
			continue
		}
		l := s.Load
		if s.Status != "failed" || !strings.Contains(s.Error, "success 99.90 % < minSuccess 100 %: 503 ×10") {
			t.Errorf("rep %d: status %q error %q", s.Repetition, s.Status, s.Error)
		}
		if l.Successes != 9990 || l.UnexpectedStatus != 10 || l.StatusCodes["503"] != 10 || l.StatusCodes["200"] != 9990 || *l.SuccessRatio != 0.999 {
			t.Errorf("rep %d: counts %+v", s.Repetition, *l)
		}
	}
}
