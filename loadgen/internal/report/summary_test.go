package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

func TestWriteSummary(t *testing.T) {
	open := sampleResult(t)
	lat := open.Latency
	ms := func(v int64) string { return fmt.Sprintf("%.3f ms", float64(v)/1000) }
	tests := []struct {
		name    string
		r       *result.Result
		want    []string // lines (or line fragments) that must appear
		notWant []string
	}{
		{
			name: "open loop",
			r:    open,
			want: []string{
				"meshload GET https://svc.mesh.test:8443/echo?size=1024\n",
				"  protocol:     h2 (up to 100 concurrent streams per connection)\n",
				"  connections:  8\n",
				"  rate:         2000.0 req/s requested, 2001.0 req/s achieved (100.05%)\n",
				"  duration:     5.000 s from 2026-03-04T05:06:07.890+02:00\n",
				"  requests:     10005 (10000 responses, 5 errors)\n",
				"  expected:     2xx\n",
				"  successes:    9993 of 10005 (99.880 %)\n",
				"  failures:     12 (0.120 %): unexpected status 7 (503: 7), errors 5 (connect 2, timeout 3)\n",
				"  errors:       5 (connect 2, timeout 3, reset 0, protocol 0)\n",
				"  reconnects:   2\n",
				"  status codes: 200: 9993, 503: 7\n",
				"Latency of successes (from when each request was due, corrected for coordinated omission):\n",
				"  min     " + ms(lat.Min()) + "\n",
				fmt.Sprintf("  mean    %.3f ms\n", lat.Mean()/1000),
				"  p50     " + ms(lat.ValueAtQuantile(50)) + "\n",
				"  p90     " + ms(lat.ValueAtQuantile(90)) + "\n",
				"  p99     " + ms(lat.ValueAtQuantile(99)) + "\n",
				"  p99.9   " + ms(lat.ValueAtQuantile(99.9)) + "\n",
				"  p99.99  " + ms(lat.ValueAtQuantile(99.99)) + "\n",
				"  max     " + ms(lat.Max()) + "\n",
				"  Detailed Percentile spectrum:\n",
				"       Value     Percentile TotalCount 1/(1-Percentile)\n\n",
				" 0.250000000000 ", // 2 ticks per half distance: 0, 25, 50, 62.5, 75, ...
				" 0.625000000000 ",
				" 0.812500000000 ",
				fmt.Sprintf("%12.3f 1.000000000000 %10d\n", float64(lat.Max())/1000, lat.TotalCount()),
				"#[Mean    = ",
				fmt.Sprintf("#[Max     = %12.3f, Total count    = %12d]\n", float64(lat.Max())/1000, lat.TotalCount()),
				"#[Buckets =           16, SubBuckets     =         2048]\n",
				fmt.Sprintf("Latency of unexpected-status responses (from when each request was due): 7, p50 %s, p99 %s, max %s\n",
					ms(open.UnexpectedLatency.ValueAtQuantile(50)), ms(open.UnexpectedLatency.ValueAtQuantile(99)), ms(open.UnexpectedLatency.Max())),
				"Time to failure of errors (from when each request was due): 5, p50 102.015 ms, p99 104.063 ms, max 104.063 ms\n",
				fmt.Sprintf("Scheduler lag (how late requests were sent after they were due): p50 %s, p99 %s, max %s\n",
					ms(open.SchedLag.ValueAtQuantile(50)), ms(open.SchedLag.ValueAtQuantile(99)), ms(open.SchedLag.Max())),
				"Generator CPU: 1.500 s (149.9 µs per request)\n",
				"WARNING: the generator fell behind the schedule: p99 scheduler lag 1.2 ms\n",
				"WARNING: run interrupted before its end\n",
			},
			notWant: []string{"closed loop", " 0.100000000000 "},
		},
		{
			name: "closed loop",
			r:    closedLoopResult(t),
			want: []string{
				"meshload POST http://127.0.0.1:8080/\n",
				"  protocol:     http/1.1\n",
				"  rate:         closed loop (no target rate, as fast as possible), 500.0 req/s achieved\n",
				"  errors:       0 (connect 0, timeout 0, reset 0, protocol 0)\n",
				"  successes:    1000 of 1000 (100.000 %)\n",
				"  failures:     0\n",
				"  status codes: 200: 1000\n",
				"Scheduler lag (how late requests were sent after they were due): no samples\n",
				"Generator CPU: 0.100 s (100.0 µs per request)\n",
			},
			notWant: []string{"requested", "WARNING", "Latency of unexpected-status", "Time to failure"},
		},
		{
			name: "nothing came back",
			r:    emptyResult(),
			want: []string{
				"meshload GET http://10.0.0.1/\n",
				"  rate:         100.0 req/s requested, 100.0 req/s achieved (100.00%)\n",
				"  errors:       100 (connect 100, timeout 0, reset 0, protocol 0)\n",
				"  successes:    0 of 100 (0.000 %)\n",
				"  failures:     100 (100.000 %): unexpected status 0, errors 100 (connect 100)\n",
				"  status codes: none\n",
				"  no successes recorded\n",
				"Time to failure of errors (from when each request was due): 100, p50 1.000 ms, p99 1.000 ms, max 1.000 ms\n",
				"no samples\n",
				"Generator CPU: 0.000 s (0.0 µs per request)\n",
			},
			notWant: []string{"Detailed Percentile spectrum"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteSummary(&b, tc.r); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("summary lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("summary contains %q", w)
				}
			}
			if t.Failed() {
				t.Logf("summary:\n%s", out)
			}
		})
	}
}

func TestWriteSummaryWarningsOnePerLine(t *testing.T) {
	r := closedLoopResult(t)
	r.Warnings = []string{"first", "second\nstill second"}
	var b bytes.Buffer
	if err := WriteSummary(&b, r); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, "WARNING: ") {
			got = append(got, l)
		}
	}
	want := []string{"WARNING: first", "WARNING: second still second"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("warning lines = %q, want %q", got, want)
	}
}

func TestWriteSummaryWriteError(t *testing.T) {
	if err := WriteSummary(failWriter{}, sampleResult(t)); err == nil {
		t.Error("WriteSummary to a failing writer: no error")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }
