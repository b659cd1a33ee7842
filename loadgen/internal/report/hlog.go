package report

import (
	"fmt"
	"io"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// WriteHlog writes r.Intervals as a standard HdrHistogram interval log
// (format version 1.3), the format Java's HistogramLogReader and
// HistogramLogProcessor, HdrHistogramVisualizer and hdrhistogram-go's
// HistogramLogReader read:
//
//	#[Logged with meshload]
//	#[Histogram log format version 1.3]
//	#[StartTime: 1700000000.123 (seconds since epoch), 2023-11-14T22:13:20.123Z]
//	#[BaseTime: 1700000000.123 (seconds since epoch)]
//	#[...what was measured and the units...]
//	"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//	0.000000,1.000000,0.004095,HISTFAAAA...
//
// Only successes are in it (responses with an expected status), as in
// -json's latency_us; failures are counted in -json and the summary.
//
// Units: the histogram values are latencies in MICROSECONDS. Interval lines
// carry timestamps in seconds relative to BaseTime (= StartTime = r.Start,
// or the first interval's start if that is earlier; ms precision), so tools
// recover absolute times. The Interval_Max
// column is the interval's max divided by hdrhistogram-go's fixed ratio of
// 1e6 (its ns-to-ms ratio), which for µs values makes it SECONDS. To see
// milliseconds with HistogramLogProcessor, pass -outputValueUnitRatio 1000
// (its default of 1e6 assumes nanoseconds and would print seconds).
//
// An interval whose histogram has no timestamps is placed i seconds after
// r.Start; a nil interval is written as an empty histogram so the per-second
// cadence is kept.
func WriteHlog(w io.Writer, r *result.Result) error {
	lw := hdrhistogram.NewHistogramLogWriter(w)
	// BaseTime (and StartTime) is r.Start, or the first interval's start if
	// earlier or r.Start is unset: interval timestamps must not be negative,
	// which hdrhistogram-go's reader cannot parse.
	base := startMs(r)
	for i := range r.Intervals {
		if s := intervalStartMs(r, i); base == 0 || s < base {
			base = s
		}
	}
	baseSec := float64(base) / 1000
	lw.SetBaseTime(base)

	method := r.Method
	if method == "" {
		method = "GET"
	}
	lines := []string{
		"[Logged with meshload]",
		"[Histogram log format version " + hdrhistogram.HISTOGRAM_LOG_FORMAT_VERSION + "]",
		// The same text Java's HistogramLogWriter writes, with ms precision
		// (hdrhistogram-go's OutputStartTime/OutputBaseTime keep whole seconds).
		fmt.Sprintf("[StartTime: %.3f (seconds since epoch), %s]", baseSec,
			time.UnixMilli(base).UTC().Format("2006-01-02T15:04:05.000Z07:00")),
		fmt.Sprintf("[BaseTime: %.3f (seconds since epoch)]", baseSec),
		oneLine(fmt.Sprintf("[meshload %s %s, %s, %d connections, %s; one histogram per second]",
			method, r.URL, r.Protocol, r.Connections, rateText(r))),
		"[Values: latency in microseconds of successes (expected status " + r.Expect.String() + ") from when each request was due (corrected for coordinated omission); failures are not in this log]",
		"[Interval_Max is in seconds (max us / 1e6); HistogramLogProcessor: use -outputValueUnitRatio 1000 for ms]",
	}
	for _, l := range lines {
		if err := lw.OutputComment(l); err != nil {
			return err
		}
	}
	if err := lw.OutputLegend(); err != nil {
		return err
	}
	for i, h := range r.Intervals {
		if h == nil {
			h = result.NewHistogram()
		}
		if h.StartTimeMs() == 0 && h.EndTimeMs() == 0 {
			h = h.Clone() // do not touch the caller's histogram
			s := intervalStartMs(r, i)
			h.SetStartTimeMs(s)
			h.SetEndTimeMs(s + 1000)
		}
		if err := lw.OutputIntervalHistogram(h); err != nil {
			return err
		}
	}
	return nil
}

// rateText describes the target rate for comments.
func rateText(r *result.Result) string {
	if r.TargetRate == 0 {
		return "closed loop"
	}
	return fmt.Sprintf("target %g req/s", r.TargetRate)
}

// ReadHlog reads an interval log (as written by WriteHlog, or any standard
// HdrHistogram log) back into its histograms, in file order. Each histogram's
// StartTimeMs/EndTimeMs are absolute ms since the epoch (hdrhistogram-go's
// reader truncates them, so they may come back 1 ms early) and its tag, if
// any, is set.
func ReadHlog(rd io.Reader) ([]*hdrhistogram.Histogram, error) {
	lr := hdrhistogram.NewHistogramLogReader(rd)
	var hs []*hdrhistogram.Histogram
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			return hs, fmt.Errorf("hdrhistogram log: interval %d: %w", len(hs)+1, err)
		}
		if h == nil {
			return hs, nil
		}
		hs = append(hs, h)
	}
}
