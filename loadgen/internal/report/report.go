// Package report writes a meshload run (a result.Result) out in the formats
// people and tools read:
//
//   - WriteSummary: the human summary printed at the end of a run, with a
//     wrk2-style "Detailed Percentile spectrum".
//   - WriteJSON / ToJSON / ReadJSON: meshload's own documented -json schema
//     (latencies in microseconds).
//   - WriteHlog / ReadHlog: a standard HdrHistogram interval log, one
//     histogram per second, for HistogramLogProcessor, HdrHistogramVisualizer
//     and hdrhistogram-go's HistogramLogReader.
//   - WriteHgrm: the percentile distribution file HdrHistogram's online
//     plotter reads (hdrhistogram.github.io/HdrHistogram/plotFiles.html),
//     byte for byte what Java's outputPercentileDistribution(out, 5, 1000.0)
//     prints.
//   - WriteFortioJSON / ReadFortioJSON: fortio's HTTP result JSON, so that
//     `fortio report` can browse and graph meshload runs.
//
// Every histogram in a Result holds microseconds. Nil histograms are read as
// empty ones, so a partially filled Result (for instance one from a run that
// failed to start) still produces valid output.
package report

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// usPerMS and usPerS convert the histograms' microseconds.
const (
	usPerMS = 1e3
	usPerS  = 1e6
)

// orEmpty returns h, or an empty histogram with meshload's range when h is nil.
func orEmpty(h *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	if h == nil {
		return result.NewHistogram()
	}
	return h
}

// errorKinds returns the run's error counts in a stable order: the four
// standard kinds first (always present, possibly 0), then any other kind the
// runner used, sorted by name.
func errorKinds(r *result.Result) []kindCount {
	std := []string{result.ErrConnect, result.ErrTimeout, result.ErrReset, result.ErrProtocol}
	out := make([]kindCount, 0, len(std)+len(r.ErrorsByKind))
	for _, k := range std {
		out = append(out, kindCount{k, r.ErrorsByKind[k]})
	}
	var extra []string
	for k := range r.ErrorsByKind {
		if !isStdKind(k) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		out = append(out, kindCount{k, r.ErrorsByKind[k]})
	}
	return out
}

type kindCount struct {
	kind string
	n    uint64
}

func isStdKind(k string) bool {
	switch k {
	case result.ErrConnect, result.ErrTimeout, result.ErrReset, result.ErrProtocol:
		return true
	}
	return false
}

// statusCodes returns the status codes in ascending order.
func statusCodes(r *result.Result) []int {
	codes := make([]int, 0, len(r.StatusCodes))
	for c := range r.StatusCodes {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	return codes
}

// intervalFailures is the failure count of interval i (0 when the Result
// does not have it).
func intervalFailures(r *result.Result, i int) uint64 {
	if i < len(r.IntervalFailures) {
		return r.IntervalFailures[i]
	}
	return 0
}

// cpuPerRequestUS is the generator's CPU time per request (responses plus
// errors: every request the generator handled), in µs; 0 when there were none.
func cpuPerRequestUS(r *result.Result) float64 {
	n := r.Handled()
	if n == 0 {
		return 0
	}
	return float64(r.GeneratorCPU.Microseconds()) / float64(n)
}

// intervalStartMs returns the start of interval i in ms since the Unix epoch:
// the histogram's own StartTimeMs when the runner set it, otherwise i seconds
// after r.Start.
func intervalStartMs(r *result.Result, i int) int64 {
	if h := r.Intervals[i]; h != nil && (h.StartTimeMs() != 0 || h.EndTimeMs() != 0) {
		return h.StartTimeMs()
	}
	return startMs(r) + int64(i)*1000
}

// startMs is r.Start in ms since the Unix epoch (0 when unset).
func startMs(r *result.Result) int64 {
	if r.Start.IsZero() {
		return 0
	}
	return r.Start.UnixMilli()
}

// oneLine makes s safe to print as a single line.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// errWriter remembers the first write error so a sequence of prints needs
// one check at the end.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, args...)
}

func (e *errWriter) print(s string) {
	if e.err != nil {
		return
	}
	_, e.err = io.WriteString(e.w, s)
}

// --- Java HdrHistogram's outputPercentileDistribution, reproduced ---

// spectrumRow is one line of a percentile distribution: the value reached,
// the percentile level iterated to (0..100) and the count up to that value.
type spectrumRow struct {
	value int64
	level float64
	count int64
}

// percentileSpectrum reproduces Java HdrHistogram's PercentileIterator (the
// iteration outputPercentileDistribution and wrk2's "Detailed Percentile
// spectrum" print): levels start at 0% and advance by 100/ticks, where ticks
// doubles every time the remaining distance to 100% halves
// (ticksPerHalfDistance ticks per half distance), each level reported at the
// first recorded value whose cumulative percentile reaches it; the last value
// is reported once more at 100%. The arithmetic follows the Java code
// operation for operation (including Math.log(x)/Math.log(2)) so the levels
// come out identical.
func percentileSpectrum(h *hdrhistogram.Histogram, ticksPerHalfDistance int) []spectrumRow {
	total := h.TotalCount()
	if total <= 0 {
		return nil
	}
	var rows []spectrumRow
	level := 0.0
	var cum int64
	for _, b := range h.Distribution() {
		if b.Count == 0 {
			continue // Java's reachedIterationLevel is false on empty buckets
		}
		cum += b.Count
		pct := (100.0 * float64(cum)) / float64(total)
		if cum >= total {
			// The last recorded value: Java reports the pending level here,
			// then (hasNext having turned false) one extra step at 100%.
			if pct >= level {
				rows = append(rows, spectrumRow{b.To, level, cum})
			}
			rows = append(rows, spectrumRow{b.To, 100.0, cum})
			break
		}
		for pct >= level && level < 100.0 {
			rows = append(rows, spectrumRow{b.To, level, cum})
			level = nextPercentileLevel(level, ticksPerHalfDistance)
		}
	}
	return rows
}

// nextPercentileLevel is Java's PercentileIterator.incrementIterationLevel.
func nextPercentileLevel(level float64, ticksPerHalfDistance int) float64 {
	exp := int64(math.Log(100.0/(100.0-level))/math.Log(2)) + 1
	ticks := int64(ticksPerHalfDistance) * int64(math.Pow(2, float64(exp)))
	if ticks <= 0 {
		return math.Inf(1)
	}
	return level + 100.0/float64(ticks)
}

// javaMeanStdDev computes the mean and standard deviation the way Java's
// AbstractHistogram.getMean/getStdDeviation do (sum of median-equivalent value
// times count over recorded buckets), so the footer digits match Java's.
func javaMeanStdDev(h *hdrhistogram.Histogram) (mean, stddev float64) {
	total := h.TotalCount()
	if total == 0 {
		return 0, 0
	}
	bars := h.Distribution()
	var sum float64
	for _, b := range bars {
		if b.Count != 0 {
			sum += float64(median(b) * b.Count)
		}
	}
	mean = sum / float64(total)
	var dev float64
	for _, b := range bars {
		if b.Count != 0 {
			d := float64(median(b)) - mean
			dev += (d * d) * float64(b.Count)
		}
	}
	return mean, math.Sqrt(dev / float64(total))
}

// median is Java's medianEquivalentValue for a bucket.
func median(b hdrhistogram.Bar) int64 {
	return b.From + (b.To-b.From+1)>>1
}

// javaGeometry returns the bucketCount and subBucketCount Java HdrHistogram
// would have for h's lowest/highest trackable value and significant digits
// (the "#[Buckets = ..., SubBuckets = ...]" footer line).
func javaGeometry(h *hdrhistogram.Histogram) (bucketCount, subBucketCount int64) {
	sig := h.SignificantFigures()
	largest := 2 * int64(math.Pow(10, float64(sig)))
	unitMagnitude := int64(math.Floor(math.Log(float64(h.LowestTrackableValue())) / math.Log(2)))
	if unitMagnitude < 0 {
		unitMagnitude = 0
	}
	subBucketCountMagnitude := int64(math.Ceil(math.Log(float64(largest)) / math.Log(2)))
	subBucketHalfCountMagnitude := max(subBucketCountMagnitude, 1) - 1
	subBucketCount = int64(math.Pow(2, float64(subBucketHalfCountMagnitude+1)))
	smallestUntrackable := subBucketCount << uint(unitMagnitude)
	bucketCount = 1
	for smallestUntrackable <= h.HighestTrackableValue() {
		if smallestUntrackable > math.MaxInt64/2 {
			bucketCount++
			break
		}
		smallestUntrackable <<= 1
		bucketCount++
	}
	return bucketCount, subBucketCount
}

// writePercentileDistribution prints h exactly as Java HdrHistogram's
// outputPercentileDistribution(printStream, ticksPerHalfDistance, scale)
// does (plain-text form): the header, one line per percentile level with
// values divided by scale, and the #[Mean/#[Max/#[Buckets footer.
func writePercentileDistribution(ew *errWriter, h *hdrhistogram.Histogram, ticksPerHalfDistance int, scale float64) {
	sig := int(h.SignificantFigures())
	ew.printf("%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")
	for _, row := range percentileSpectrum(h, ticksPerHalfDistance) {
		v := javaF(float64(row.value)/scale, sig, 12)
		p := javaF(row.level/100.0, 12, 2)
		if row.level != 100.0 {
			inv := javaF(1/(1.0-(row.level/100.0)), 2, 14)
			ew.printf("%s %s %10d %s\n", v, p, row.count, inv)
		} else {
			ew.printf("%s %s %10d\n", v, p, row.count)
		}
	}
	mean, stddev := javaMeanStdDev(h)
	buckets, subBuckets := javaGeometry(h)
	ew.printf("#[Mean    = %s, StdDeviation   = %s]\n", javaF(mean/scale, sig, 12), javaF(stddev/scale, sig, 12))
	ew.printf("#[Max     = %s, Total count    = %12d]\n", javaF(float64(h.Max())/scale, sig, 12), h.TotalCount())
	ew.printf("#[Buckets = %12d, SubBuckets     = %12d]\n", buckets, subBuckets)
}

// javaF formats x like java.util.Formatter's "%<width>.<prec>f" (Locale.US):
// Java rounds the shortest decimal representation of the double HALF_UP,
// where Go's %f rounds the exact binary value half-to-even, so the two differ
// on ties such as 0.125 -> "0.13" (Java) vs "0.12" (Go). The result is
// left-padded with spaces to width.
func javaF(x float64, prec, width int) string {
	s := javaFixed(x, prec)
	if len(s) < width {
		s = strings.Repeat(" ", width-len(s)) + s
	}
	return s
}

func javaFixed(x float64, prec int) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 1):
		return "Infinity"
	case math.IsInf(x, -1):
		return "-Infinity"
	}
	neg := math.Signbit(x)
	if neg {
		x = -x
	}
	// Shortest digits d1.d2d3...e±X: the value is 0.d1d2d3... × 10^(X+1).
	e := strconv.FormatFloat(x, 'e', -1, 64)
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	keep := exp + 1 + prec // digits that survive to the left of the cut
	var n []byte           // round(x × 10^prec) as decimal digits
	switch {
	case keep >= len(digits):
		n = append([]byte(digits), strings.Repeat("0", keep-len(digits))...)
	case keep >= 0:
		n = []byte(digits[:keep])
		if digits[keep] >= '5' { // HALF_UP
			i := len(n) - 1
			for ; i >= 0 && n[i] == '9'; i-- {
				n[i] = '0'
			}
			if i >= 0 {
				n[i]++
			} else {
				n = append([]byte{'1'}, n...)
			}
		}
	}
	if len(n) < prec+1 {
		n = append([]byte(strings.Repeat("0", prec+1-len(n))), n...)
	}
	intPart, frac := string(n[:len(n)-prec]), string(n[len(n)-prec:])
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if prec > 0 {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}
