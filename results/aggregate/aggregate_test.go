package aggregate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results/schema"
)

func step(target, kind string, rate float64, rep int, p50, p99 float64, status string) schema.Step {
	s := schema.Step{Target: target, Kind: kind, Rate: rate, Repetition: rep, Status: status}
	if status == "ok" {
		s.Load = &schema.Load{AchievedRate: rate, LatencyUS: schema.Latency{P50: p50, P99: p99, Mean: p50, Max: p99}}
	}
	return s
}

func TestSpread(t *testing.T) {
	tests := []struct {
		in   []float64
		want schema.Spread
	}{
		{nil, schema.Spread{}},
		{[]float64{5}, schema.Spread{Median: 5, Min: 5, Max: 5}},
		{[]float64{3, 1, 2}, schema.Spread{Median: 2, Min: 1, Max: 3}},
		{[]float64{4, 1, 2, 3}, schema.Spread{Median: 2.5, Min: 1, Max: 4}},
	}
	for _, tt := range tests {
		if got := spread(tt.in); got != tt.want {
			t.Errorf("spread(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// TestSummaries: added latency is taken against direct at the same rate and
// repetition only; failed steps count as failed; order is first appearance,
// then rate; SMP uses the median repetition and calls direct "none".
func TestSummaries(t *testing.T) {
	steps := []schema.Step{
		step("direct", Direct, 1000, 1, 100, 1000, "ok"),
		step("proxy", "meshproxy", 1000, 1, 150, 1300, "ok"),
		step("direct", Direct, 1000, 2, 200, 2000, "ok"),
		step("proxy", "meshproxy", 1000, 2, 260, 2600, "ok"),
		step("direct", Direct, 1000, 3, 100, 1000, "failed"),
		step("proxy", "meshproxy", 1000, 3, 170, 1500, "ok"), // no direct to compare with
		step("direct", Direct, 500, 1, 90, 900, "ok"),
		step("proxy", "meshproxy", 500, 1, 0, 0, "failed"),
	}
	AddLatencyOverDirect(steps)
	if a := steps[1].AddedLatencyUS; a == nil || a.P50 != 50 || a.P99 != 300 {
		t.Fatalf("rep 1 added %+v, want p50 50 p99 300", a)
	}
	if a := steps[3].AddedLatencyUS; a == nil || a.P50 != 60 {
		t.Fatalf("rep 2 added %+v, want p50 60", a)
	}
	if steps[5].AddedLatencyUS != nil || steps[0].AddedLatencyUS != nil {
		t.Fatal("added latency without a direct step, or on direct itself")
	}
	sums := Summarize(steps)
	var got []string
	for _, s := range sums {
		got = append(got, fmt.Sprintf("%s@%v reps=%d failed=%d p50=%v", s.Target, s.Rate, s.Repetitions, s.Failed, s.P50US.Median))
	}
	want := "direct@500 reps=1 failed=0 p50=90|direct@1000 reps=2 failed=1 p50=150|proxy@500 reps=0 failed=1 p50=0|proxy@1000 reps=3 failed=0 p50=170"
	if strings.Join(got, "|") != want {
		t.Fatalf("summaries\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
	if a := sums[3].AddedP50US; a == nil || a.Median != 55 || a.Min != 50 || a.Max != 60 {
		t.Fatalf("proxy added p50 %+v, want median 55 (50-60)", a)
	}
	smp := SMP(steps, sums)
	if len(smp) != 3 || smp[0].Mesh != "none" || smp[2].Mesh != "meshproxy" || smp[2].LatenciesMS.P50 != 0.17 {
		t.Fatalf("SMP %+v", smp)
	}
}

func TestSpectrum(t *testing.T) {
	var b strings.Builder
	b.WriteString("       Value     Percentile TotalCount 1/(1-Percentile)\n\n")
	for i := 0; i < 250; i++ {
		fmt.Fprintf(&b, "%12.3f %2.12f %10d %14.2f\n", float64(i)/100, float64(i)/250, i+1, 1/(1-float64(i)/250))
	}
	b.WriteString("       9.999 1.000000000000        251\n")
	b.WriteString("#[Mean    =        1.000, StdDeviation   =        0.500]\n#[Max     =        9.999, Total count    =          251]\n")
	sp := Spectrum([]byte(b.String()))
	if len(sp) > 101 || len(sp) < 50 {
		t.Fatalf("%d points, want at most ~100", len(sp))
	}
	if sp[0].Percentile != 0 || sp[0].US != 0 || sp[len(sp)-1].Percentile != 100 || sp[len(sp)-1].US != 9999 {
		t.Fatalf("first %+v last %+v: want 0 %% and the 100 %% line (9.999 ms)", sp[0], sp[len(sp)-1])
	}
	if got := Spectrum([]byte("no data\n")); len(got) != 0 {
		t.Fatalf("no data: %+v", got)
	}
}
