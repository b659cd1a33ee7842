package report

import (
	"io"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// HgrmTicksPerHalfDistance is the percentile resolution of the .hgrm file,
// Java's outputPercentileDistribution default (and wrk2's).
const HgrmTicksPerHalfDistance = 5

// WriteHgrm writes r.Latency (successes only: failures have their own
// histograms, in -json) as the percentile distribution file HdrHistogram's
// plotter (hdrhistogram.github.io/HdrHistogram/plotFiles.html) reads, with
// values in milliseconds: exactly what Java HdrHistogram's
// outputPercentileDistribution(printStream, 5, 1000.0) prints for the same
// histogram, i.e. the "Value Percentile TotalCount 1/(1-Percentile)" table
// (the 100% line without the last column) followed by
//
//	#[Mean    =        0.412, StdDeviation   =        0.050]
//	#[Max     =        5.000, Total count    =       299994]
//	#[Buckets =           16, SubBuckets     =         2048]
//
// Numbers are formatted as java.util.Formatter does (HALF_UP rounding of the
// shortest decimal representation). An empty histogram gives the header and
// the footer only, as in Java.
func WriteHgrm(w io.Writer, r *result.Result) error {
	ew := &errWriter{w: w}
	writePercentileDistribution(ew, orEmpty(r.Latency), HgrmTicksPerHalfDistance, usPerMS)
	return ew.err
}
