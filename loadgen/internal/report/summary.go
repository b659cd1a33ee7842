package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/expect"
	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// SummaryTicksPerHalfDistance is the resolution of the summary's percentile
// spectrum: 2 levels per halving of the distance to 100% (0, 25, 50, 62.5,
// 75, 81.25, 87.5, ...). The .hgrm file uses Java's default of 5.
const SummaryTicksPerHalfDistance = 2

// WriteSummary writes the human summary of a run: what was driven (URL,
// protocol, connections, requested vs achieved rate or "closed loop"), how
// long, what came back (the success ratio against the expected statuses,
// failures by status and by kind, errors by kind, status codes), the latency
// distribution of successes (min/mean/p50/p90/p99/p99.9/p99.99/max in ms and
// a wrk2-style "Detailed Percentile spectrum" table), short latency
// summaries of each kind of failure when there were any, the scheduler lag,
// the generator's CPU cost, and each warning on its own "WARNING: " line.
func WriteSummary(w io.Writer, r *result.Result) error {
	ew := &errWriter{w: w}

	method := r.Method
	if method == "" {
		method = "GET"
	}
	ew.printf("meshload %s %s\n", method, oneLine(r.URL))

	proto := r.Protocol
	if r.Streams > 0 {
		proto += fmt.Sprintf(" (up to %d concurrent streams per connection)", r.Streams)
	}
	ew.printf("  protocol:     %s\n", proto)
	ew.printf("  connections:  %d\n", r.Connections)
	achieved := r.AchievedRate()
	if r.TargetRate == 0 {
		ew.printf("  rate:         closed loop (no target rate, as fast as possible), %.1f req/s achieved\n", achieved)
	} else {
		ew.printf("  rate:         %.1f req/s requested, %.1f req/s achieved (%.2f%%)\n",
			r.TargetRate, achieved, 100*achieved/r.TargetRate)
	}
	start := ""
	if !r.Start.IsZero() {
		start = " from " + r.Start.Format("2006-01-02T15:04:05.000Z07:00")
	}
	ew.printf("  duration:     %.3f s%s\n", r.Duration.Seconds(), start)
	ew.printf("  requests:     %d (%d responses, %d errors)\n", r.Handled(), r.Requests, r.Errors)
	writeVerdict(ew, r)

	kinds := errorKinds(r)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k.kind, k.n)
	}
	ew.printf("  errors:       %d (%s)\n", r.Errors, strings.Join(parts, ", "))
	ew.printf("  reconnects:   %d\n", r.Reconnects)
	codes := statusCodes(r)
	if len(codes) == 0 {
		ew.printf("  status codes: none\n")
	} else {
		parts = parts[:0]
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%s: %d", statusName(r, c), r.StatusCodes[c]))
		}
		ew.printf("  status codes: %s\n", strings.Join(parts, ", "))
	}

	lat := orEmpty(r.Latency)
	ew.printf("\nLatency of successes (from when each request was due, corrected for coordinated omission):\n")
	if lat.TotalCount() == 0 {
		ew.printf("  no successes recorded\n")
	} else {
		for _, s := range latencyStats(lat) {
			ew.printf("  %-7s %s\n", s.name, fmtMS(s.us))
		}
		ew.printf("\n  Detailed Percentile spectrum:\n")
		writePercentileDistribution(ew, lat, SummaryTicksPerHalfDistance, usPerMS)
	}

	writeFailureLatency(ew, "Latency of unexpected-status responses", r.UnexpectedLatency)
	writeFailureLatency(ew, "Time to failure of errors", r.ErrorLatency)

	lag := orEmpty(r.SchedLag)
	if lag.TotalCount() == 0 {
		ew.printf("\nScheduler lag (how late requests were sent after they were due): no samples\n")
	} else {
		ew.printf("\nScheduler lag (how late requests were sent after they were due): p50 %s, p99 %s, max %s\n",
			fmtMS(float64(lag.ValueAtQuantile(50))), fmtMS(float64(lag.ValueAtQuantile(99))), fmtMS(float64(lag.Max())))
	}

	perReq := "n/a per request"
	if r.Handled() > 0 {
		perReq = fmt.Sprintf("%.1f µs per request", cpuPerRequestUS(r))
	}
	ew.printf("Generator CPU: %.3f s (%s)\n", r.GeneratorCPU.Seconds(), perReq)

	for _, warn := range r.Warnings {
		ew.printf("WARNING: %s\n", oneLine(warn))
	}
	return ew.err
}

// writeVerdict prints which statuses counted as success, the success ratio
// and the failures split by unexpected status code and by error kind.
func writeVerdict(ew *errWriter, r *result.Result) {
	expect := r.Expect.String()
	if r.Expect.Empty() {
		expect = "none (every response is a failure)"
	}
	ew.printf("  expected:     %s\n", expect)
	ew.printf("  successes:    %d of %d (%s)\n", r.Successes, r.Handled(), percent(r.SuccessRatio()))
	if r.Failures() == 0 {
		ew.printf("  failures:     0\n")
		return
	}
	var unexpected []string
	for _, c := range statusCodes(r) {
		if n := r.StatusCodes[c]; n > 0 && !r.Expect.Match(c) {
			unexpected = append(unexpected, fmt.Sprintf("%s: %d", statusName(r, c), n))
		}
	}
	var kinds []string
	for _, k := range errorKinds(r) {
		if k.n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k.kind, k.n))
		}
	}
	ew.printf("  failures:     %d (%s): unexpected status %d", r.Failures(), percent(1-r.SuccessRatio()), r.UnexpectedStatus)
	if len(unexpected) > 0 {
		ew.printf(" (%s)", strings.Join(unexpected, ", "))
	}
	ew.printf(", errors %d", r.Errors)
	if len(kinds) > 0 {
		ew.printf(" (%s)", strings.Join(kinds, ", "))
	}
	ew.printf("\n")
}

// percent formats a ratio as "99.900 %".
func percent(ratio float64) string {
	return strconv.FormatFloat(100*ratio, 'f', 3, 64) + " %"
}

// writeFailureLatency prints one line summarising a failure histogram,
// nothing when it is empty.
func writeFailureLatency(ew *errWriter, title string, h *hdrhistogram.Histogram) {
	if h == nil || h.TotalCount() == 0 {
		return
	}
	ew.printf("\n%s (from when each request was due): %d, p50 %s, p99 %s, max %s\n", title, h.TotalCount(),
		fmtMS(float64(h.ValueAtQuantile(50))), fmtMS(float64(h.ValueAtQuantile(99))), fmtMS(float64(h.Max())))
}

// stat is one named latency figure in µs.
type stat struct {
	name string
	us   float64
}

// latencyStats are the summary's latency lines (and the JSON LatencyJSON
// fields), in µs.
func latencyStats(h *hdrhistogram.Histogram) []stat {
	return []stat{
		{"min", float64(h.Min())},
		{"mean", h.Mean()},
		{"p50", float64(h.ValueAtQuantile(50))},
		{"p90", float64(h.ValueAtQuantile(90))},
		{"p99", float64(h.ValueAtQuantile(99))},
		{"p99.9", float64(h.ValueAtQuantile(99.9))},
		{"p99.99", float64(h.ValueAtQuantile(99.99))},
		{"max", float64(h.Max())},
	}
}

// fmtMS formats a µs value as milliseconds with µs precision: "0.412 ms".
func fmtMS(us float64) string {
	return strconv.FormatFloat(us/usPerMS, 'f', 3, 64) + " ms"
}

// statusName is how the summary names a status: the HTTP code, or for a
// gRPC run the gRPC code's name ("UNAVAILABLE").
func statusName(r *result.Result, c int) string {
	if r.Protocol == "grpc" {
		return expect.GRPCName(c)
	}
	return strconv.Itoa(c)
}
