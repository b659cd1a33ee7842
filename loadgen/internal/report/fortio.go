package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// FortioPercentiles are the percentiles written to DurationHistogram, the
// ones fortio's UI charts (p50, p75, p90, p99, p99.9).
var FortioPercentiles = []float64{50, 75, 90, 99, 99.9}

// FortioResult is fortio's HTTP result JSON (fhttp.HTTPRunnerResults, which
// embeds periodic.RunnerResults and fhttp.HTTPOptions), limited to the fields
// meshload can fill. The Go field names are the JSON keys, as in fortio.
// Durations and latencies are in seconds, as in fortio, except ActualDuration
// (a time.Duration: nanoseconds).
type FortioResult struct {
	// periodic.RunnerResults
	RunType           string // "HTTP"
	Labels            string // "meshload <protocol>"
	StartTime         time.Time
	RequestedQPS      string // "%.9g" of the target rate, "max" when closed loop
	RequestedDuration string // the measured duration, e.g. "30s" (Result has no requested one)
	ActualQPS         float64
	ActualDuration    time.Duration
	NumThreads        int // connections, like fortio's -c
	Version           string
	// DurationHistogram is the latency of every request, successes and
	// failures alike, as in fortio (whose periodic runner records every call
	// here and the failed ones in ErrorsDurationHistogram too), from when
	// each was due (corrected for coordinated omission), in seconds.
	DurationHistogram FortioHistogram
	// ErrorsDurationHistogram is the latency of the failures: responses
	// whose status is not expected, and transport errors (due to failure).
	// Fortio's "Run returned false" cases are the same thing with fortio's
	// fixed notion of OK (2xx or 418). Subtracting it bucket by bucket from
	// DurationHistogram gives the successes (meshload's -json latency_us).
	ErrorsDurationHistogram FortioHistogram
	Exactly                 int64
	Jitter                  bool
	Uniform                 bool
	NoCatchUp               bool
	RunID                   int64
	AccessLoggerInfo        string
	ID                      string // fortio's file id: YYYY-MM-DD-HHmmSS_<labels>

	// fhttp.HTTPRunnerResults
	// RetCodes counts every request by HTTP status, transport errors under
	// -1 as fortio counts its socket errors; it sums to DurationHistogram.Count.
	RetCodes    map[int]int64
	Sizes       FortioHistogram
	HeaderSizes FortioHistogram
	SocketCount int64 // sockets opened: connections + reconnects
	AbortOn     int

	// fhttp.HTTPOptions
	URL            string
	NumConnections int
	H2             bool
	MethodOverride string // the method when it is not GET
}

// FortioHistogram is fortio's stats.HistogramData.
type FortioHistogram struct {
	Count       int64
	Min         float64
	Max         float64
	Sum         float64
	Avg         float64
	StdDev      float64
	Data        []FortioBucket
	Percentiles []FortioPercentile `json:"Percentiles,omitempty"`
}

// FortioBucket is fortio's stats.Bucket: the interval (Start, End], the
// cumulative percentage of values up to End, and the count in the interval.
type FortioBucket struct {
	Start   float64
	End     float64
	Percent float64
	Count   int64
}

// FortioPercentile is fortio's stats.Percentile.
type FortioPercentile struct {
	Percentile float64
	Value      float64
}

// ToFortio converts r to fortio's result JSON.
func ToFortio(r *result.Result) FortioResult {
	qps := "max"
	if r.TargetRate > 0 {
		qps = fmt.Sprintf("%.9g", r.TargetRate)
	}
	method := ""
	if r.Method != "" && r.Method != "GET" {
		method = r.Method
	}
	f := FortioResult{
		RunType:                 "HTTP",
		Labels:                  fortioLabels(r),
		StartTime:               r.Start.Round(0).UTC(),
		RequestedQPS:            qps,
		RequestedDuration:       r.Duration.Round(time.Millisecond).String(),
		ActualQPS:               r.AchievedRate(),
		ActualDuration:          r.Duration,
		NumThreads:              r.Connections,
		Version:                 "meshload",
		DurationHistogram:       fortioHistogram(merged(r.Latency, r.UnexpectedLatency, r.ErrorLatency), FortioPercentiles),
		ErrorsDurationHistogram: fortioHistogram(merged(r.UnexpectedLatency, r.ErrorLatency), FortioPercentiles),
		ID:                      FortioID(r),
		RetCodes:                make(map[int]int64, len(r.StatusCodes)),
		Sizes:                   fortioHistogram(nil, nil),
		HeaderSizes:             fortioHistogram(nil, nil),
		SocketCount:             int64(r.Connections) + int64(r.Reconnects),
		URL:                     r.URL,
		NumConnections:          r.Connections,
		H2:                      r.Protocol == "h2",
		MethodOverride:          method,
	}
	for c, n := range r.StatusCodes {
		f.RetCodes[c] = int64(n)
	}
	if r.Errors > 0 {
		f.RetCodes[FortioSocketError] = int64(r.Errors)
	}
	return f
}

// FortioSocketError is the RetCodes key fortio gives a request that got no
// HTTP response (a connect, read or write error).
const FortioSocketError = -1

// merged returns one histogram holding the values of every non-nil h.
func merged(hs ...*hdrhistogram.Histogram) *hdrhistogram.Histogram {
	m := result.NewHistogram()
	for _, h := range hs {
		if h != nil {
			m.Merge(h)
		}
	}
	return m
}

func fortioLabels(r *result.Result) string {
	if r.Protocol == "" {
		return "meshload"
	}
	return "meshload " + r.Protocol
}

// FortioID is the name (without ".json") fortio would give the result file:
// the start time as YYYY-MM-DD-HHmmSS, "_", then the labels with every run of
// non-alphanumeric characters replaced by one "_", at most 96 bytes. `fortio
// report` lists the .json files of its data directory by this name.
func FortioID(r *result.Result) string {
	t := r.Start
	id := fmt.Sprintf("%d-%02d-%02d-%02d%02d%02d", t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second())
	var b strings.Builder
	last := '_'
	for _, c := range fortioLabels(r) {
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			last = c
		} else {
			if last == '_' {
				continue
			}
			last = '_'
		}
		b.WriteRune(last)
	}
	id += "_" + strings.TrimSuffix(b.String(), "_")
	if len(id) > 96 {
		id = id[:96]
	}
	return id
}

// fortioHistogram converts an HdrHistogram of µs to fortio's histogram data
// in seconds. Count/Min/Max/Avg/StdDev/percentiles come from the
// HdrHistogram (Sum is Avg × Count). The Data buckets regroup the
// HdrHistogram's buckets on a grid of two significant digits in µs (1, 2,
// ..., 9, 10, 11, ..., 99, 100, 110, ..., 990, 1000, 1100, ... µs: 1-10% wide),
// a finer version of fortio's own 1-2-5 style grid; each HdrHistogram bucket
// goes whole into the grid cell holding its lowest value, and, as in fortio,
// the first bucket starts at Min and the last ends at Max. Empty histograms
// have Count 0, no Data and no Percentiles.
func fortioHistogram(h *hdrhistogram.Histogram, percentiles []float64) FortioHistogram {
	fh := FortioHistogram{Data: []FortioBucket{}}
	if h == nil || h.TotalCount() == 0 {
		return fh
	}
	total := h.TotalCount()
	fh.Count = total
	fh.Min = float64(h.Min()) / usPerS
	fh.Max = float64(h.Max()) / usPerS
	fh.Avg = h.Mean() / usPerS
	fh.Sum = h.Mean() * float64(total) / usPerS
	fh.StdDev = h.StdDev() / usPerS
	var cum int64
	lastLo := int64(-1)
	for _, b := range h.Distribution() {
		if b.Count == 0 {
			continue
		}
		cum += b.Count
		lo, hi := fortioGridCell(b.From)
		pct := 100 * float64(cum) / float64(total)
		if n := len(fh.Data); n > 0 && lo == lastLo {
			fh.Data[n-1].Count += b.Count
			fh.Data[n-1].Percent = pct
			continue
		}
		lastLo = lo
		fh.Data = append(fh.Data, FortioBucket{
			Start: float64(lo) / usPerS, End: float64(hi) / usPerS, Percent: pct, Count: b.Count,
		})
	}
	fh.Data[0].Start = fh.Min
	fh.Data[len(fh.Data)-1].End = fh.Max
	for _, p := range percentiles {
		fh.Percentiles = append(fh.Percentiles, FortioPercentile{p, float64(h.ValueAtQuantile(p)) / usPerS})
	}
	return fh
}

// fortioGridCell returns the grid cell [lo, hi) holding v µs: cells 1 µs wide
// below 100 µs, then two significant digits.
func fortioGridCell(v int64) (lo, hi int64) {
	if v < 100 {
		return v, v + 1
	}
	p := int64(1)
	for v/p >= 100 {
		p *= 10
	}
	m := v / p
	return m * p, (m + 1) * p
}

// WriteFortioJSON writes ToFortio(r) as indented JSON, the file `fortio
// report` serves from its data directory (name it FortioID(r)+".json" so it
// sorts and displays like fortio's own results).
func WriteFortioJSON(w io.Writer, r *result.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(ToFortio(r))
}

// ReadFortioJSON reads a fortio HTTP result. It is lenient: fields
// FortioResult does not model (fortio writes many more) are ignored, so it
// also reads results saved by fortio itself.
func ReadFortioJSON(rd io.Reader) (FortioResult, error) {
	var f FortioResult
	if err := json.NewDecoder(rd).Decode(&f); err != nil {
		return FortioResult{}, fmt.Errorf("fortio json: %w", err)
	}
	return f, nil
}
