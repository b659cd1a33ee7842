// Package result is what a meshload run produces: the merged latency
// histogram of successes, per-second interval histograms, separate latency
// histograms of the two kinds of failure (unexpected status, transport
// error), the scheduler-lag histogram, counts by status code and error
// kind, and the run's parameters. The runner fills it; the report package
// writes it out.
//
// Every finished request is exactly one of:
//   - a success: a response whose status is in Expect;
//   - an unexpected status: a response whose status is not;
//   - an error: no response (ErrConnect, ErrTimeout, ErrReset, ErrProtocol).
package result

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/expect"
)

// Histogram range: 1 µs to 60 s at 3 significant digits, in microseconds.
const (
	LowestUS  = 1
	HighestUS = 60_000_000
	SigFigs   = 3
)

// NewHistogram returns an empty latency histogram with meshload's range.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(LowestUS, HighestUS, SigFigs)
}

// Error kinds: every failed request is counted under exactly one.
const (
	ErrConnect  = "connect"  // the connection could not be opened (refused, TLS handshake failed, ...)
	ErrTimeout  = "timeout"  // no complete response within -timeout
	ErrReset    = "reset"    // the connection broke mid-request
	ErrProtocol = "protocol" // the response was not valid HTTP
)

// Result is one run.
type Result struct {
	URL         string
	Method      string
	Protocol    string  // "http/1.1", "h2" or "grpc" (status codes are then gRPC codes)
	TargetRate  float64 // requests per second; 0 = closed loop (as fast as possible)
	Connections int
	Streams     int // HTTP/2 max concurrent streams per connection; 0 for HTTP/1.1

	Start    time.Time     // wall-clock start of the measured part (after warm-up)
	Duration time.Duration // measured part

	// Expect is the set of statuses counted as success (-expect; its
	// String is the normalised spec, e.g. "2xx" or "200,204").
	Expect expect.Set

	Requests         uint64            // completed with an HTTP response (any status)
	Successes        uint64            // responses whose status is expected
	UnexpectedStatus uint64            // responses whose status is not (Requests = Successes + UnexpectedStatus)
	Errors           uint64            // failed without a response
	ErrorsByKind     map[string]uint64 // ErrConnect, ErrTimeout, ErrReset, ErrProtocol
	StatusCodes      map[int]uint64    // every response by status, expected or not
	Reconnects       uint64

	// Latency holds every success, in µs, measured from the moment the
	// request was due (open loop), not when it was sent.
	Latency *hdrhistogram.Histogram
	// Intervals are per-second histograms of the same, in order; each has
	// StartTimeStamp/EndTimeStamp set (ms since the Unix epoch).
	Intervals []*hdrhistogram.Histogram
	// IntervalFailures counts the failures (unexpected status and errors)
	// of each interval, by due time; same length as Intervals.
	IntervalFailures []uint64
	// UnexpectedLatency holds responses with an unexpected status (due to
	// response, µs); ErrorLatency holds errors (due to failure, µs). The
	// runner always sets both (empty when there were none); readers treat
	// nil as empty.
	UnexpectedLatency *hdrhistogram.Histogram
	ErrorLatency      *hdrhistogram.Histogram
	// SchedLag holds how late each request was sent after it was due, in
	// µs, whatever its outcome.
	SchedLag *hdrhistogram.Histogram

	GeneratorCPU time.Duration // user+system CPU of the meshload process during the run
	Warnings     []string      // e.g. the generator could not keep up with the rate
}

// AchievedRate is responses plus errors per second of the measured part.
func (r *Result) AchievedRate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Handled()) / r.Duration.Seconds()
}

// Handled is every request that finished in the measured part: responses
// of any status plus errors.
func (r *Result) Handled() uint64 { return r.Requests + r.Errors }

// Failures is every request that was not a success: unexpected statuses
// plus errors.
func (r *Result) Failures() uint64 { return r.UnexpectedStatus + r.Errors }

// SuccessRatio is Successes / Handled, 0 when nothing was handled (a run
// that finished no request succeeded at nothing).
func (r *Result) SuccessRatio() float64 {
	if r.Handled() == 0 {
		return 0
	}
	return float64(r.Successes) / float64(r.Handled())
}
