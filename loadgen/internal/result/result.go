// Package result is what a meshload run produces: the merged latency
// histogram, per-second interval histograms, the scheduler-lag histogram,
// counts by status code and error kind, and the run's parameters. The
// runner fills it; the report package writes it out.
package result

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
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
	Protocol    string  // "http/1.1" or "h2"
	TargetRate  float64 // requests per second; 0 = closed loop (as fast as possible)
	Connections int
	Streams     int // HTTP/2 max concurrent streams per connection; 0 for HTTP/1.1

	Start    time.Time     // wall-clock start of the measured part (after warm-up)
	Duration time.Duration // measured part

	Requests     uint64            // completed with an HTTP response (any status)
	Errors       uint64            // failed without a response
	ErrorsByKind map[string]uint64 // ErrConnect, ErrTimeout, ErrReset, ErrProtocol
	StatusCodes  map[int]uint64
	Reconnects   uint64

	// Latency holds every request that got a response, in µs, measured from
	// the moment the request was due (open loop), not when it was sent.
	Latency *hdrhistogram.Histogram
	// Intervals are per-second histograms of the same, in order; each has
	// StartTimeStamp/EndTimeStamp set (ms since the Unix epoch).
	Intervals []*hdrhistogram.Histogram
	// SchedLag holds how late each request was sent after it was due, in µs.
	SchedLag *hdrhistogram.Histogram

	GeneratorCPU time.Duration // user+system CPU of the meshload process during the run
	Warnings     []string      // e.g. the generator could not keep up with the rate
}

// AchievedRate is responses plus errors per second of the measured part.
func (r *Result) AchievedRate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests+r.Errors) / r.Duration.Seconds()
}
