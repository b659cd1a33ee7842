package report

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

func TestFortioJSON(t *testing.T) {
	tests := []struct {
		name    string
		r       *result.Result
		wantQPS string
	}{
		{"open loop", sampleResult(t), "2000"},
		{"closed loop", closedLoopResult(t), "max"},
		{"nothing came back", emptyResult(), "100"},
		{"fractional rate", func() *result.Result { r := closedLoopResult(t); r.TargetRate = 1234.5; return r }(), "1234.5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			var b bytes.Buffer
			if err := WriteFortioJSON(&b, r); err != nil {
				t.Fatal(err)
			}
			raw := b.Bytes()
			f, err := ReadFortioJSON(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if want := ToFortio(r); !reflect.DeepEqual(f, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", f, want)
			}

			if f.RunType != "HTTP" || f.Version != "meshload" || f.URL != r.URL || f.AbortOn != 0 || f.Exactly != 0 {
				t.Errorf("RunType %q Version %q URL %q AbortOn %d Exactly %d", f.RunType, f.Version, f.URL, f.AbortOn, f.Exactly)
			}
			if f.RequestedQPS != tc.wantQPS {
				t.Errorf("RequestedQPS %q, want %q", f.RequestedQPS, tc.wantQPS)
			}
			if f.ActualQPS != r.AchievedRate() {
				t.Errorf("ActualQPS %v, AchievedRate %v", f.ActualQPS, r.AchievedRate())
			}
			if f.ActualDuration != r.Duration || f.RequestedDuration != r.Duration.String() {
				t.Errorf("ActualDuration %v RequestedDuration %q, want %v", f.ActualDuration, f.RequestedDuration, r.Duration)
			}
			if f.NumThreads != r.Connections || f.NumConnections != r.Connections ||
				f.SocketCount != int64(r.Connections)+int64(r.Reconnects) {
				t.Errorf("NumThreads %d NumConnections %d SocketCount %d", f.NumThreads, f.NumConnections, f.SocketCount)
			}
			if !f.StartTime.Equal(r.Start) {
				t.Errorf("StartTime %v, want %v", f.StartTime, r.Start)
			}
			// As fortio: every request under its status, errors under -1.
			var sum int64
			for _, n := range f.RetCodes {
				sum += n
			}
			if uint64(sum) != r.Handled() || uint64(f.RetCodes[FortioSocketError]) != r.Errors {
				t.Errorf("RetCodes %v add up to %d with %d under -1; want %d requests, %d errors", f.RetCodes, sum, f.RetCodes[FortioSocketError], r.Handled(), r.Errors)
			}
			if _, ok := f.RetCodes[FortioSocketError]; ok && r.Errors == 0 {
				t.Errorf("RetCodes has -1 without errors: %v", f.RetCodes)
			}

			// As fortio: DurationHistogram holds every request, and
			// ErrorsDurationHistogram the failures among them.
			all, failed := result.NewHistogram(), result.NewHistogram()
			for _, h := range []*hdrhistogram.Histogram{r.Latency, r.UnexpectedLatency, r.ErrorLatency} {
				if h != nil {
					all.Merge(h)
				}
			}
			for _, h := range []*hdrhistogram.Histogram{r.UnexpectedLatency, r.ErrorLatency} {
				if h != nil {
					failed.Merge(h)
				}
			}
			if uint64(f.DurationHistogram.Count) != r.Handled() || uint64(f.ErrorsDurationHistogram.Count) != r.Failures() {
				t.Errorf("DurationHistogram.Count %d, ErrorsDurationHistogram.Count %d; want %d requests, %d failures",
					f.DurationHistogram.Count, f.ErrorsDurationHistogram.Count, r.Handled(), r.Failures())
			}
			checkFortioHistogram(t, "DurationHistogram", f.DurationHistogram, all)
			checkFortioHistogram(t, "ErrorsDurationHistogram", f.ErrorsDurationHistogram, failed)
			for name, h := range map[string]FortioHistogram{"Sizes": f.Sizes, "HeaderSizes": f.HeaderSizes} {
				if h.Count != 0 || len(h.Data) != 0 {
					t.Errorf("%s not empty: %+v", name, h)
				}
			}

			// The keys fortio's UI and readers use, spelled as fortio does.
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{
				"RunType", "Labels", "StartTime", "RequestedQPS", "RequestedDuration", "ActualQPS", "ActualDuration",
				"NumThreads", "Version", "DurationHistogram", "ErrorsDurationHistogram", "Exactly", "RetCodes",
				"Sizes", "HeaderSizes", "URL", "SocketCount", "AbortOn", "ID",
			} {
				if _, ok := m[k]; !ok {
					t.Errorf("no %q key", k)
				}
			}
			if got := m["ActualDuration"]; got != float64(r.Duration.Nanoseconds()) {
				t.Errorf("ActualDuration %v, want %d ns", got, r.Duration.Nanoseconds())
			}
			dm := m["DurationHistogram"].(map[string]any)
			for _, k := range []string{"Count", "Min", "Max", "Sum", "Avg", "StdDev", "Data"} {
				if _, ok := dm[k]; !ok {
					t.Errorf("no DurationHistogram.%s key", k)
				}
			}
			if data, ok := dm["Data"].([]any); ok && len(data) > 0 {
				for _, k := range []string{"Start", "End", "Percent", "Count"} {
					if _, ok := data[0].(map[string]any)[k]; !ok {
						t.Errorf("no Data[0].%s key", k)
					}
				}
			}
		})
	}
}

// checkFortioHistogram checks fh against the HdrHistogram it was made from.
func checkFortioHistogram(t *testing.T, name string, fh FortioHistogram, h *hdrhistogram.Histogram) {
	t.Helper()
	if fh.Count != h.TotalCount() {
		t.Errorf("%s.Count %d, want %d", name, fh.Count, h.TotalCount())
	}
	if h.TotalCount() == 0 {
		if len(fh.Percentiles) != 0 || len(fh.Data) != 0 {
			t.Errorf("empty %s has %d percentiles, %d buckets", name, len(fh.Percentiles), len(fh.Data))
		}
		return
	}
	if len(fh.Percentiles) != len(FortioPercentiles) {
		t.Fatalf("%s percentiles %+v", name, fh.Percentiles)
	}
	for i, p := range fh.Percentiles {
		if p.Percentile != FortioPercentiles[i] || p.Value != float64(h.ValueAtQuantile(p.Percentile))/1e6 {
			t.Errorf("%s percentile %+v, want %v s", name, p, float64(h.ValueAtQuantile(p.Percentile))/1e6)
		}
	}
	if fh.Min != float64(h.Min())/1e6 || fh.Max != float64(h.Max())/1e6 ||
		fh.Avg != h.Mean()/1e6 || fh.StdDev != h.StdDev()/1e6 ||
		math.Abs(fh.Sum-fh.Avg*float64(fh.Count)) > 1e-9*fh.Sum {
		t.Errorf("%s stats %+v", name, fh)
	}
	checkFortioBuckets(t, fh)
}

// checkFortioBuckets checks the Data buckets the way fortio's UI uses them:
// ordered, Start at Min, End at Max, cumulative Percent ending at 100 and
// counts adding up.
func checkFortioBuckets(t *testing.T, h FortioHistogram) {
	t.Helper()
	d := h.Data
	if d[0].Start != h.Min || d[len(d)-1].End != h.Max {
		t.Errorf("buckets span %v..%v, want Min %v..Max %v", d[0].Start, d[len(d)-1].End, h.Min, h.Max)
	}
	var n int64
	for i, b := range d {
		n += b.Count
		if b.Count <= 0 || b.Start > b.End || (i > 0 && (b.Start < d[i-1].End || b.Percent <= d[i-1].Percent)) {
			t.Errorf("bucket %d %+v after %+v", i, b, d[max(i-1, 0)])
		}
		if want := 100 * float64(n) / float64(h.Count); b.Percent != want {
			t.Errorf("bucket %d Percent %v, want %v", i, b.Percent, want)
		}
	}
	if n != h.Count || d[len(d)-1].Percent != 100 {
		t.Errorf("buckets count %d (last Percent %v), want %d", n, d[len(d)-1].Percent, h.Count)
	}
}

func TestFortioGridCell(t *testing.T) {
	tests := []struct{ v, lo, hi int64 }{
		{0, 0, 1}, {7, 7, 8}, {99, 99, 100}, {100, 100, 110}, {412, 410, 420}, {999, 990, 1000},
		{1000, 1000, 1100}, {59_999_999, 59_000_000, 60_000_000}, {60_000_000, 60_000_000, 61_000_000},
	}
	for _, tc := range tests {
		if lo, hi := fortioGridCell(tc.v); lo != tc.lo || hi != tc.hi {
			t.Errorf("fortioGridCell(%d) = [%d, %d), want [%d, %d)", tc.v, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestFortioID(t *testing.T) {
	r := sampleResult(t)
	r.Start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if got, want := FortioID(r), "2026-01-02-030405_meshload_h2"; got != want {
		t.Errorf("FortioID %q, want %q", got, want)
	}
	r.Protocol = "http/1.1"
	if got, want := FortioID(r), "2026-01-02-030405_meshload_http_1_1"; got != want {
		t.Errorf("FortioID %q, want %q", got, want)
	}
}

func TestReadFortioJSONLenient(t *testing.T) {
	// A trimmed result as fortio itself writes it, with fields FortioResult
	// does not model.
	in := `{"RunType":"HTTP","Labels":"x","StartTime":"2026-01-02T03:04:05.6-08:00","RequestedQPS":"8",
	"RequestedDuration":"3s","ActualQPS":7.99,"ActualDuration":3001000000,"NumThreads":4,"Version":"1.60.3",
	"DurationHistogram":{"Count":24,"Min":0.001,"Max":0.01,"Sum":0.1,"Avg":0.004,"StdDev":0.001,
	"Data":[{"Start":0.001,"End":0.01,"Percent":100,"Count":24}],
	"Percentiles":[{"Percentile":50,"Value":0.004}]},"ErrorsDurationHistogram":{"Count":0,"Min":0,"Max":0,
	"Sum":0,"Avg":0,"StdDev":0,"Data":null},"Exactly":0,"Jitter":false,"Uniform":false,"NoCatchUp":false,
	"RunID":0,"AccessLoggerInfo":"","ID":"2026-01-02-030405_x","RetCodes":{"200":24},"IPCountMap":{"1.2.3.4:80":4},
	"Insecure":false,"URL":"http://a/","NumConnections":1,"Sockets":[1,1,1,1],"SocketCount":4,"AbortOn":0}`
	f, err := ReadFortioJSON(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if f.RetCodes[200] != 24 || f.DurationHistogram.Percentiles[0].Value != 0.004 || f.SocketCount != 4 {
		t.Errorf("read %+v", f)
	}
	if _, err := ReadFortioJSON(strings.NewReader(`{"RetCodes": []}`)); err == nil {
		t.Error("malformed RetCodes: no error")
	}
}
