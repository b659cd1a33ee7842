package report

import (
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/expect"
	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// testStart is the start of sampleResult's run (ms precision, not UTC-only
// friendly: the zone is +02:00 so conversions are exercised).
var testStart = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.FixedZone("X", 2*3600))

const testSeconds = 5

// record records v into every histogram, failing the test on error.
func record(t testing.TB, v int64, hs ...*hdrhistogram.Histogram) {
	t.Helper()
	for _, h := range hs {
		if err := h.RecordValue(v); err != nil {
			t.Fatalf("RecordValue(%d): %v", v, err)
		}
	}
}

// sampleResult is an open-loop HTTP/2 run of testSeconds per-second
// intervals of 2000 responses each: 200-1250 µs with a 20 ms tail, of which
// 7 (in the second second) are 503s, unexpected under the default 2xx, plus
// 5 errors in the last second and two warnings.
func sampleResult(t testing.TB) *result.Result {
	t.Helper()
	lat, lag, unexpected, errLat := result.NewHistogram(), result.NewHistogram(), result.NewHistogram(), result.NewHistogram()
	var intervals []*hdrhistogram.Histogram
	for s := range testSeconds {
		h := result.NewHistogram()
		h.SetStartTimeMs(testStart.UnixMilli() + int64(s)*1000)
		h.SetEndTimeMs(testStart.UnixMilli() + int64(s+1)*1000)
		for i := range 2000 {
			v := int64(200 + (i*7919)%800 + s*50)
			if i%500 == 0 {
				v = int64(20_000 + i + s)
			}
			if s == 1 && i >= 1 && i <= 7 {
				record(t, v/2, unexpected) // the 503s: fast error pages
			} else {
				record(t, v, h, lat)
			}
			record(t, int64(i%40), lag)
		}
		intervals = append(intervals, h)
	}
	for i := range 5 {
		record(t, int64(100_000+i*1000), errLat)
	}
	n := uint64(lat.TotalCount())
	return &result.Result{
		URL:               "https://svc.mesh.test:8443/echo?size=1024",
		Method:            "GET",
		Protocol:          "h2",
		TargetRate:        2000,
		Connections:       8,
		Streams:           100,
		Start:             testStart,
		Duration:          testSeconds * time.Second,
		Expect:            expect.MustParse(expect.Default),
		Requests:          n + 7,
		Successes:         n,
		UnexpectedStatus:  7,
		Errors:            5,
		ErrorsByKind:      map[string]uint64{result.ErrTimeout: 3, result.ErrConnect: 2},
		StatusCodes:       map[int]uint64{200: n, 503: 7},
		Reconnects:        2,
		Latency:           lat,
		Intervals:         intervals,
		IntervalFailures:  []uint64{0, 7, 0, 0, 5},
		UnexpectedLatency: unexpected,
		ErrorLatency:      errLat,
		SchedLag:          lag,
		GeneratorCPU:      1500 * time.Millisecond,
		Warnings: []string{
			"the generator fell behind the schedule: p99 scheduler lag 1.2 ms",
			"run interrupted before its end",
		},
	}
}

// closedLoopResult is a closed-loop HTTP/1.1 run with no errors.
func closedLoopResult(t testing.TB) *result.Result {
	t.Helper()
	lat := result.NewHistogram()
	for i := range 1000 {
		record(t, int64(50+i%300), lat)
	}
	return &result.Result{
		URL:          "http://127.0.0.1:8080/",
		Method:       "POST",
		Protocol:     "http/1.1",
		Connections:  4,
		Start:        testStart,
		Duration:     2 * time.Second,
		Expect:       expect.MustParse(expect.Default),
		Requests:     1000,
		Successes:    1000,
		StatusCodes:  map[int]uint64{200: 1000},
		Latency:      lat,
		SchedLag:     result.NewHistogram(),
		GeneratorCPU: 100 * time.Millisecond,
	}
}

// emptyResult is a run that got nothing back: 100 refused connections
// (1 ms each), with nil histograms otherwise.
func emptyResult() *result.Result {
	errLat := result.NewHistogram()
	for range 100 {
		_ = errLat.RecordValue(1000)
	}
	return &result.Result{
		URL:          "http://10.0.0.1/",
		Protocol:     "http/1.1",
		TargetRate:   100,
		Connections:  1,
		Start:        testStart,
		Duration:     time.Second,
		Expect:       expect.MustParse(expect.Default),
		Errors:       100,
		ErrorsByKind: map[string]uint64{result.ErrConnect: 100},
		ErrorLatency: errLat,
	}
}
