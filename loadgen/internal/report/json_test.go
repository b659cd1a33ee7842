package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

func TestJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		r    *result.Result
	}{
		{"open loop", sampleResult(t)},
		{"closed loop", closedLoopResult(t)},
		{"nothing came back", emptyResult()},
		{"zero result", &result.Result{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteJSON(&b, tc.r); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(b.String(), "{\n  \"") {
				t.Errorf("not indented: %.40q", b.String())
			}
			got, err := ReadJSON(&b)
			if err != nil {
				t.Fatal(err)
			}
			if want := ToJSON(tc.r); !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestJSONFieldNames(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sampleResult(t)); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"url", "method", "protocol", "connections", "streams", "target_rate", "achieved_rate",
		"start", "duration_s", "expect", "requests", "successes", "unexpected_status", "errors", "failures",
		"success_ratio", "errors_by_kind", "status_codes", "reconnects", "latency_us", "unexpected_latency_us",
		"error_latency_us", "sched_lag_us", "generator_cpu_s", "generator_cpu_per_request_us", "warnings", "intervals",
	}
	if got := sortedKeys(m); !slices.Equal(got, sorted(want)) {
		t.Errorf("keys %q, want %q", got, sorted(want))
	}
	latKeys := sorted([]string{"min", "mean", "p50", "p90", "p99", "p999", "p9999", "max"})
	for _, k := range []string{"latency_us", "unexpected_latency_us", "error_latency_us", "sched_lag_us"} {
		if got := sortedKeys(m[k].(map[string]any)); !slices.Equal(got, latKeys) {
			t.Errorf("%s keys %q, want %q", k, got, latKeys)
		}
	}
	iv := m["intervals"].([]any)
	if len(iv) != testSeconds {
		t.Fatalf("%d intervals, want %d", len(iv), testSeconds)
	}
	if got, want := sortedKeys(iv[0].(map[string]any)), sorted([]string{"t", "count", "failures", "p50", "p99", "max"}); !slices.Equal(got, want) {
		t.Errorf("interval keys %q, want %q", got, want)
	}
	if got := m["start"]; got != "2026-03-04T03:06:07.89Z" {
		t.Errorf("start %q, want RFC 3339 in UTC", got)
	}
	if got := m["status_codes"].(map[string]any)["503"]; got != 7.0 {
		t.Errorf(`status_codes["503"] = %v, want 7`, got)
	}
	for k, want := range map[string]any{
		"expect": "2xx", "requests": 10000.0, "successes": 9993.0, "unexpected_status": 7.0,
		"errors": 5.0, "failures": 12.0, "success_ratio": 9993.0 / 10005,
	} {
		if got := m[k]; got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if got := m["errors_by_kind"]; !reflect.DeepEqual(got, map[string]any{"connect": 2.0, "timeout": 3.0, "reset": 0.0, "protocol": 0.0}) {
		t.Errorf("errors_by_kind %v", got)
	}
}

func TestJSONEmptyCollectionsAreNotNull(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, &result.Result{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"errors_by_kind", "status_codes", "warnings", "intervals"} {
		if strings.Contains(b.String(), `"`+k+`": null`) {
			t.Errorf("%s is null:\n%s", k, b.String())
		}
	}
}

func TestToJSONValues(t *testing.T) {
	r := sampleResult(t)
	j := ToJSON(r)
	wantLat := func(h *hdrhistogram.Histogram) LatencyJSON {
		return LatencyJSON{
			Min:   float64(h.Min()),
			Mean:  h.Mean(),
			P50:   float64(h.ValueAtQuantile(50)),
			P90:   float64(h.ValueAtQuantile(90)),
			P99:   float64(h.ValueAtQuantile(99)),
			P999:  float64(h.ValueAtQuantile(99.9)),
			P9999: float64(h.ValueAtQuantile(99.99)),
			Max:   float64(h.Max()),
		}
	}
	if want := wantLat(r.Latency); j.LatencyUS != want {
		t.Errorf("latency_us %+v, want %+v", j.LatencyUS, want)
	}
	if want := wantLat(r.SchedLag); j.SchedLagUS != want {
		t.Errorf("sched_lag_us %+v, want %+v", j.SchedLagUS, want)
	}
	if want := wantLat(r.UnexpectedLatency); j.UnexpectedLatencyUS != want {
		t.Errorf("unexpected_latency_us %+v, want %+v", j.UnexpectedLatencyUS, want)
	}
	if want := wantLat(r.ErrorLatency); j.ErrorLatencyUS != want {
		t.Errorf("error_latency_us %+v, want %+v", j.ErrorLatencyUS, want)
	}
	// The failures' latencies stay out of latency_us: the sample's 503s
	// took 100-625 µs, its errors 100-104 ms (within the histogram's 0.1 %).
	if j.UnexpectedLatencyUS.Max > 625 || j.ErrorLatencyUS.Min < 99_000 || j.LatencyUS.Max > 22_000 {
		t.Errorf("latency_us max %v, unexpected max %v, error min %v: classes mixed", j.LatencyUS.Max, j.UnexpectedLatencyUS.Max, j.ErrorLatencyUS.Min)
	}
	if j.Successes != r.Successes || j.UnexpectedStatus != 7 || j.Failures != 12 || j.SuccessRatio != 9993.0/10005 ||
		uint64(j.LatencyUS.P50) == 0 || j.Expect != "2xx" {
		t.Errorf("classification: %+v", j)
	}
	if j.LatencyUS.P99 != 1167 || j.LatencyUS.Min != 200 { // pinned: catches unit slips
		t.Errorf("latency_us p99 %v min %v, want 1167 and 200 µs", j.LatencyUS.P99, j.LatencyUS.Min)
	}
	if j.AchievedRate != r.AchievedRate() || j.TargetRate != 2000 || j.DurationS != 5 {
		t.Errorf("rates/duration %v %v %v", j.AchievedRate, j.TargetRate, j.DurationS)
	}
	if j.GeneratorCPUS != 1.5 || j.GeneratorCPUPerRequestUS != 1.5e6/10005 {
		t.Errorf("cpu %v s, %v µs/request", j.GeneratorCPUS, j.GeneratorCPUPerRequestUS)
	}
	if !j.Start.Equal(testStart) {
		t.Errorf("start %v, want %v", j.Start, testStart)
	}
	for i, iv := range j.Intervals {
		h := r.Intervals[i]
		want := IntervalJSON{
			T: float64(i), Count: h.TotalCount(), Failures: r.IntervalFailures[i], P50: float64(h.ValueAtQuantile(50)),
			P99: float64(h.ValueAtQuantile(99)), Max: float64(h.Max()),
		}
		if iv != want {
			t.Errorf("interval %d: %+v, want %+v", i, iv, want)
		}
	}
	if !slices.Equal(j.Warnings, r.Warnings) {
		t.Errorf("warnings %q", j.Warnings)
	}
	var sum uint64
	for _, n := range j.StatusCodes {
		sum += n
	}
	if sum != j.Requests {
		t.Errorf("status codes add up to %d, requests %d", sum, j.Requests)
	}
}

// TestSuccessRatioEdges: the ratio counts errors in the denominator and is
// 0 (not NaN) when nothing finished; failures' latencies are zero when
// there were none.
func TestSuccessRatioEdges(t *testing.T) {
	tests := []struct {
		name string
		r    *result.Result
		want float64
	}{
		{"all succeeded", closedLoopResult(t), 1},
		{"nothing came back", emptyResult(), 0},
		{"nothing finished", &result.Result{}, 0},
		{"errors count", &result.Result{Requests: 3, Successes: 3, Errors: 1}, 0.75},
		{"unexpected count", &result.Result{Requests: 4, Successes: 1, UnexpectedStatus: 3}, 0.25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := ToJSON(tc.r)
			if j.SuccessRatio != tc.want {
				t.Errorf("success_ratio %v, want %v", j.SuccessRatio, tc.want)
			}
			if tc.r.UnexpectedStatus == 0 && j.UnexpectedLatencyUS != (LatencyJSON{}) {
				t.Errorf("unexpected_latency_us %+v without unexpected statuses", j.UnexpectedLatencyUS)
			}
		})
	}
}

func TestIntervalsWithoutTimestamps(t *testing.T) {
	r := sampleResult(t)
	for _, h := range r.Intervals {
		h.SetStartTimeMs(0)
		h.SetEndTimeMs(0)
	}
	r.Intervals[2] = nil
	j := ToJSON(r)
	for i, iv := range j.Intervals {
		if iv.T != float64(i) {
			t.Errorf("interval %d at t=%v, want %d", i, iv.T, i)
		}
	}
	if j.Intervals[2] != (IntervalJSON{T: 2}) {
		t.Errorf("nil interval: %+v", j.Intervals[2])
	}
}

func TestReadJSONStrict(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, closedLoopResult(t)); err != nil {
		t.Fatal(err)
	}
	good := b.String()
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"as written", good, true},
		{"unknown field", strings.Replace(good, `"url"`, `"bogus": 1, "url"`, 1), false},
		{"unknown nested field", strings.Replace(good, `"p9999"`, `"p99999": 1, "p9999"`, 1), false},
		{"trailing data", good + "{}", false},
		{"wrong type", strings.Replace(good, `"connections": 4`, `"connections": "4"`, 1), false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadJSON(strings.NewReader(tc.in))
			if (err == nil) != tc.ok {
				t.Errorf("ReadJSON error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestJSONStartTimePrecision(t *testing.T) {
	r := closedLoopResult(t)
	r.Start = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.Local)
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	j, err := ReadJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !j.Start.Equal(r.Start) {
		t.Errorf("start %v, want %v (nanoseconds kept)", j.Start, r.Start)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return sorted(keys)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
