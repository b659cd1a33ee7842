package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// JSON is meshload's -json output, one object per run. All latencies are in
// microseconds (float64; the histogram records whole µs, so they are
// integral except for means). Maps and lists are always present (empty
// rather than null), and errors_by_kind always lists the four standard
// kinds. The schema is read back strictly by ReadJSON: adding a field here is
// a schema change.
type JSON struct {
	// URL is the target URL.
	URL string `json:"url"`
	// Method is the HTTP method.
	Method string `json:"method"`
	// Protocol is "http/1.1", "h2" or "grpc". For grpc, every status below
	// (expect, status_codes) is a gRPC status code (0 = OK), not an HTTP one.
	Protocol string `json:"protocol"`
	// Connections is the number of connections the load was spread over.
	Connections int `json:"connections"`
	// Streams is the HTTP/2 maximum of concurrent streams per connection; 0
	// for HTTP/1.1.
	Streams int `json:"streams"`
	// TargetRate is the requested rate in requests per second; 0 means closed
	// loop (as fast as possible, no schedule).
	TargetRate float64 `json:"target_rate"`
	// AchievedRate is (requests + errors) / duration_s, in requests per second.
	AchievedRate float64 `json:"achieved_rate"`
	// Start is the wall-clock start of the measured part of the run (after
	// warm-up), RFC 3339 with nanoseconds, in UTC.
	Start time.Time `json:"start"`
	// DurationS is the length of the measured part, in seconds.
	DurationS float64 `json:"duration_s"`
	// Expect is the normalised set of statuses counted as success (the
	// -expect spec: "2xx", "200,204", "2xx,3xx", "200-250").
	Expect string `json:"expect"`
	// Requests is the number of requests that got an HTTP response (any
	// status, expected or not).
	Requests uint64 `json:"requests"`
	// Successes is the number of responses whose status is in expect; each
	// has a latency in latency_us.
	Successes uint64 `json:"successes"`
	// UnexpectedStatus is the number of responses whose status is not in
	// expect (requests = successes + unexpected_status).
	UnexpectedStatus uint64 `json:"unexpected_status"`
	// Errors is the number of requests that failed without a response
	// (transport errors).
	Errors uint64 `json:"errors"`
	// Failures is unexpected_status + errors.
	Failures uint64 `json:"failures"`
	// SuccessRatio is successes / (requests + errors), 0 when no request
	// finished.
	SuccessRatio float64 `json:"success_ratio"`
	// ErrorsByKind splits errors: "connect", "timeout", "reset", "protocol"
	// (always present) and any other kind the runner reported.
	ErrorsByKind map[string]uint64 `json:"errors_by_kind"`
	// StatusCodes counts responses by HTTP status, keyed by the decimal code
	// ("200": n). The counts add up to requests.
	StatusCodes map[string]uint64 `json:"status_codes"`
	// Reconnects is how many times a connection had to be re-opened.
	Reconnects uint64 `json:"reconnects"`
	// LatencyUS summarises the latency of successes only, in µs, measured
	// from the moment each request was due (corrected for coordinated
	// omission).
	LatencyUS LatencyJSON `json:"latency_us"`
	// UnexpectedLatencyUS summarises responses with an unexpected status
	// (due to response), in µs; all zero when there were none.
	UnexpectedLatencyUS LatencyJSON `json:"unexpected_latency_us"`
	// ErrorLatencyUS summarises transport errors from due time to failure,
	// in µs; all zero when there were none.
	ErrorLatencyUS LatencyJSON `json:"error_latency_us"`
	// SchedLagUS summarises how late requests were sent after they were due,
	// in µs.
	SchedLagUS LatencyJSON `json:"sched_lag_us"`
	// GeneratorCPUS is the user+system CPU time meshload used during the
	// measured part, in seconds.
	GeneratorCPUS float64 `json:"generator_cpu_s"`
	// GeneratorCPUPerRequestUS is generator_cpu_s per request handled
	// (requests + errors), in µs; 0 when there were none.
	GeneratorCPUPerRequestUS float64 `json:"generator_cpu_per_request_us"`
	// Warnings are the run's warnings (e.g. the generator could not keep up
	// with the target rate), one sentence each.
	Warnings []string `json:"warnings"`
	// Intervals summarises the per-second latency histograms of successes,
	// in order, with each second's failures.
	Intervals []IntervalJSON `json:"intervals"`
}

// LatencyJSON summarises one histogram, every field in microseconds.
type LatencyJSON struct {
	// Min is the smallest recorded value (lowest equivalent value of its
	// histogram bucket).
	Min float64 `json:"min"`
	// Mean is the arithmetic mean of the recorded values.
	Mean float64 `json:"mean"`
	// P50 is the 50th percentile (median).
	P50 float64 `json:"p50"`
	// P90 is the 90th percentile.
	P90 float64 `json:"p90"`
	// P99 is the 99th percentile.
	P99 float64 `json:"p99"`
	// P999 is the 99.9th percentile.
	P999 float64 `json:"p999"`
	// P9999 is the 99.99th percentile.
	P9999 float64 `json:"p9999"`
	// Max is the largest recorded value (highest equivalent value of its
	// histogram bucket).
	Max float64 `json:"max"`
}

// IntervalJSON summarises one per-second latency histogram.
type IntervalJSON struct {
	// T is the start of the interval in seconds since start.
	T float64 `json:"t"`
	// Count is the number of successes due in the interval (their latency
	// is recorded in it).
	Count int64 `json:"count"`
	// Failures is the number of requests due in the interval that failed
	// (unexpected status or error).
	Failures uint64 `json:"failures"`
	// P50 is the interval's median latency in µs.
	P50 float64 `json:"p50"`
	// P99 is the interval's 99th percentile latency in µs.
	P99 float64 `json:"p99"`
	// Max is the interval's largest latency in µs.
	Max float64 `json:"max"`
}

// ToJSON converts a Result to the -json schema.
func ToJSON(r *result.Result) JSON {
	j := JSON{
		URL:                      r.URL,
		Method:                   r.Method,
		Protocol:                 r.Protocol,
		Connections:              r.Connections,
		Streams:                  r.Streams,
		TargetRate:               r.TargetRate,
		AchievedRate:             r.AchievedRate(),
		Start:                    r.Start.Round(0).UTC(),
		DurationS:                r.Duration.Seconds(),
		Expect:                   r.Expect.String(),
		Requests:                 r.Requests,
		Successes:                r.Successes,
		UnexpectedStatus:         r.UnexpectedStatus,
		Errors:                   r.Errors,
		Failures:                 r.Failures(),
		SuccessRatio:             r.SuccessRatio(),
		ErrorsByKind:             map[string]uint64{},
		StatusCodes:              make(map[string]uint64, len(r.StatusCodes)),
		Reconnects:               r.Reconnects,
		LatencyUS:                latencyJSON(r.Latency),
		UnexpectedLatencyUS:      latencyJSON(r.UnexpectedLatency),
		ErrorLatencyUS:           latencyJSON(r.ErrorLatency),
		SchedLagUS:               latencyJSON(r.SchedLag),
		GeneratorCPUS:            r.GeneratorCPU.Seconds(),
		GeneratorCPUPerRequestUS: cpuPerRequestUS(r),
		Warnings:                 append([]string{}, r.Warnings...),
		Intervals:                make([]IntervalJSON, 0, len(r.Intervals)),
	}
	for _, k := range errorKinds(r) {
		j.ErrorsByKind[k.kind] = k.n
	}
	for c, n := range r.StatusCodes {
		j.StatusCodes[strconv.Itoa(c)] = n
	}
	base := startMs(r)
	for i, h := range r.Intervals {
		h = orEmpty(h)
		j.Intervals = append(j.Intervals, IntervalJSON{
			T:        float64(intervalStartMs(r, i)-base) / 1000,
			Count:    h.TotalCount(),
			Failures: intervalFailures(r, i),
			P50:      float64(h.ValueAtQuantile(50)),
			P99:      float64(h.ValueAtQuantile(99)),
			Max:      float64(h.Max()),
		})
	}
	return j
}

func latencyJSON(h *hdrhistogram.Histogram) LatencyJSON {
	if h == nil || h.TotalCount() == 0 {
		return LatencyJSON{}
	}
	s := latencyStats(h)
	return LatencyJSON{
		Min: s[0].us, Mean: s[1].us, P50: s[2].us, P90: s[3].us,
		P99: s[4].us, P999: s[5].us, P9999: s[6].us, Max: s[7].us,
	}
}

// WriteJSON writes ToJSON(r), indented, followed by a newline.
func WriteJSON(w io.Writer, r *result.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(ToJSON(r))
}

// ReadJSON reads one -json object strictly: unknown fields and trailing data
// are errors.
func ReadJSON(rd io.Reader) (JSON, error) {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	var j JSON
	if err := dec.Decode(&j); err != nil {
		return JSON{}, fmt.Errorf("meshload json: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return JSON{}, errors.New("meshload json: trailing data after the object")
	}
	return j, nil
}
