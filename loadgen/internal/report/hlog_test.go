package report

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

func TestHlogRoundTrip(t *testing.T) {
	sample := sampleResult(t)
	withEmpty := sampleResult(t)
	withEmpty.Intervals[1] = result.NewHistogram()
	withEmpty.Intervals[1].SetStartTimeMs(withEmpty.Intervals[0].EndTimeMs())
	withEmpty.Intervals[1].SetEndTimeMs(withEmpty.Intervals[2].StartTimeMs())
	slow := result.NewHistogram()
	record(t, result.HighestUS, slow) // 60 s: the top of the range
	record(t, 1, slow)
	slow.SetStartTimeMs(testStart.UnixMilli())
	slow.SetEndTimeMs(testStart.UnixMilli() + 1000)
	tests := []struct {
		name string
		r    *result.Result
	}{
		{"five seconds", sample},
		{"an empty second", withEmpty},
		{"extremes", &result.Result{Start: testStart, Intervals: []*hdrhistogram.Histogram{slow}}},
		{"no intervals", &result.Result{Start: testStart}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteHlog(&b, tc.r); err != nil {
				t.Fatal(err)
			}
			got, err := ReadHlog(bytes.NewReader(b.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.r.Intervals) {
				t.Fatalf("read %d histograms, wrote %d", len(got), len(tc.r.Intervals))
			}
			for i, h := range got {
				w := tc.r.Intervals[i]
				if h.TotalCount() != w.TotalCount() || h.Max() != w.Max() || h.Min() != w.Min() ||
					h.ValueAtQuantile(99) != w.ValueAtQuantile(99) || h.ValueAtQuantile(50) != w.ValueAtQuantile(50) {
					t.Errorf("interval %d: count %d max %d p99 %d, want %d %d %d", i,
						h.TotalCount(), h.Max(), h.ValueAtQuantile(99), w.TotalCount(), w.Max(), w.ValueAtQuantile(99))
				}
				if !h.Equals(w) {
					t.Errorf("interval %d: histograms differ", i)
				}
				// hdrhistogram-go's reader truncates float seconds to ms.
				if d := w.StartTimeMs() - h.StartTimeMs(); d < 0 || d > 1 {
					t.Errorf("interval %d starts at %d ms, want %d", i, h.StartTimeMs(), w.StartTimeMs())
				}
				if d := w.EndTimeMs() - h.EndTimeMs(); d < 0 || d > 1 {
					t.Errorf("interval %d ends at %d ms, want %d", i, h.EndTimeMs(), w.EndTimeMs())
				}
			}
		})
	}
}

func TestHlogHeader(t *testing.T) {
	r := sampleResult(t)
	var b bytes.Buffer
	if err := WriteHlog(&b, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	wantPrefix := []string{
		"#[Logged with meshload]",
		"#[Histogram log format version 1.3]",
		"#[StartTime: 1772593567.890 (seconds since epoch), 2026-03-04T03:06:07.890Z]",
		"#[BaseTime: 1772593567.890 (seconds since epoch)]",
	}
	for i, w := range wantPrefix {
		if lines[i] != w {
			t.Errorf("line %d: %q, want %q", i+1, lines[i], w)
		}
	}
	legend := `"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"`
	li := -1
	for i, l := range lines {
		if l == legend {
			li = i
			break
		}
		if !strings.HasPrefix(l, "#[") || !strings.HasSuffix(l, "]") {
			t.Errorf("line %d before the legend is not a #[...] comment: %q", i+1, l)
		}
	}
	if li < 0 {
		t.Fatalf("no legend line:\n%s", b.String())
	}
	data := lines[li+1:]
	if len(data) != testSeconds {
		t.Fatalf("%d interval lines, want %d", len(data), testSeconds)
	}
	for i, l := range data {
		f := strings.Split(l, ",")
		if len(f) != 4 || !strings.HasPrefix(f[3], "HISTF") {
			t.Fatalf("interval line %q", l)
		}
		start, _ := strconv.ParseFloat(f[0], 64)
		length, _ := strconv.ParseFloat(f[1], 64)
		maxS, _ := strconv.ParseFloat(f[2], 64)
		if start != float64(i) || length != 1 {
			t.Errorf("interval %d: start %v length %v, want %d and 1 (seconds after BaseTime)", i, start, length, i)
		}
		// Interval_Max is µs / 1e6: seconds.
		if want := float64(r.Intervals[i].Max()) / 1e6; strconv.FormatFloat(maxS, 'f', 6, 64) != strconv.FormatFloat(want, 'f', 6, 64) {
			t.Errorf("interval %d: Interval_Max %v, want %v s", i, maxS, want)
		}
	}
}

func TestHlogSynthesizesMissingTimestamps(t *testing.T) {
	r := sampleResult(t)
	for _, h := range r.Intervals {
		h.SetStartTimeMs(0)
		h.SetEndTimeMs(0)
	}
	r.Intervals[3] = nil
	var b bytes.Buffer
	if err := WriteHlog(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, h := range r.Intervals {
		if h != nil && (h.StartTimeMs() != 0 || h.EndTimeMs() != 0) {
			t.Fatal("WriteHlog changed the caller's histogram")
		}
	}
	got, err := ReadHlog(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != testSeconds {
		t.Fatalf("%d histograms", len(got))
	}
	for i, h := range got {
		want := testStart.Add(time.Duration(i) * time.Second).UnixMilli()
		if d := want - h.StartTimeMs(); d < 0 || d > 1 {
			t.Errorf("interval %d starts at %d, want %d", i, h.StartTimeMs(), want)
		}
	}
	if got[3].TotalCount() != 0 {
		t.Errorf("nil interval read back with %d values", got[3].TotalCount())
	}
}

func TestReadHlogErrors(t *testing.T) {
	if _, err := ReadHlog(strings.NewReader("#[StartTime: 1 (seconds since epoch)]\n0.0,1.0,0.1,HISTFAAAAnotbase64!!\n")); err == nil {
		t.Error("corrupt payload: no error")
	}
	hs, err := ReadHlog(strings.NewReader(""))
	if err != nil || len(hs) != 0 {
		t.Errorf("empty log: %d histograms, %v", len(hs), err)
	}
}

func TestHlogIntervalBeforeStart(t *testing.T) {
	r := sampleResult(t)
	first := r.Intervals[0]
	first.SetStartTimeMs(testStart.UnixMilli() - 250) // the runner's first second began before Start
	var b bytes.Buffer
	if err := WriteHlog(&b, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\n-") {
		t.Fatalf("negative timestamp:\n%s", b.String())
	}
	got, err := ReadHlog(&b)
	if err != nil {
		t.Fatal(err)
	}
	if d := first.StartTimeMs() - got[0].StartTimeMs(); d < 0 || d > 1 {
		t.Errorf("first interval starts at %d, want %d", got[0].StartTimeMs(), first.StartTimeMs())
	}
}
