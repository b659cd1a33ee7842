package report

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// goldenHistogram is the histogram of testdata/java_hgrm_5_1000.hgrm:
// 50,000 values spread over 100-5099 µs, a tail every 997th value from 50 ms
// up, and one 59 s outlier.
func goldenHistogram(t testing.TB) *hdrhistogram.Histogram {
	h := result.NewHistogram()
	for i := int64(0); i < 50000; i++ {
		v := 100 + (i*7919)%5000
		if i%997 == 0 {
			v = 50_000 + i*13
		}
		record(t, v, h)
	}
	record(t, 59_000_000, h)
	return h
}

// TestWriteHgrmMatchesJava compares with the output of Java HdrHistogram
// (github.com/HdrHistogram/HdrHistogram at de84b0a7) for the same histogram:
// HistogramLogReader read it from a WriteHlog file and
// outputPercentileDistribution(printStream, 5, 1000.0) printed the golden file.
func TestWriteHgrmMatchesJava(t *testing.T) {
	want, err := os.ReadFile("testdata/java_hgrm_5_1000.hgrm")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteHgrm(&b, &result.Result{Latency: goldenHistogram(t)}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("line %d:\n got %q\nwant %q", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("got %d lines, want %d", len(gl), len(wl))
	}
}

// hgrmRow is a parsed table line.
type hgrmRow struct {
	valueMS    float64
	percentile float64
	count      int64
	last       bool // the 100% line, which has no 1/(1-Percentile) column
}

// parseHgrm parses a .hgrm file: the header, the table and the footer lines.
func parseHgrm(t *testing.T, s string) (header string, rows []hgrmRow, footer []string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case header == "":
			header = line
		case line == "":
		case strings.HasPrefix(line, "#["):
			footer = append(footer, line)
		default:
			f := strings.Fields(line)
			if len(f) != 3 && len(f) != 4 {
				t.Fatalf("table line %q: %d fields", line, len(f))
			}
			var r hgrmRow
			var err1, err2, err3 error
			r.valueMS, err1 = strconv.ParseFloat(f[0], 64)
			r.percentile, err2 = strconv.ParseFloat(f[1], 64)
			r.count, err3 = strconv.ParseInt(f[2], 10, 64)
			if err1 != nil || err2 != nil || err3 != nil {
				t.Fatalf("table line %q: %v %v %v", line, err1, err2, err3)
			}
			r.last = len(f) == 3
			if !r.last {
				inv, err := strconv.ParseFloat(f[3], 64)
				if err != nil || math.Abs(inv-1/(1-r.percentile)) > 0.01*inv {
					t.Errorf("table line %q: 1/(1-Percentile) = %v (%v)", line, inv, err)
				}
			}
			rows = append(rows, r)
		}
	}
	return header, rows, footer
}

func TestWriteHgrm(t *testing.T) {
	single := result.NewHistogram()
	record(t, 412, single)
	slow := result.NewHistogram() // 1.5-3 s: buckets 2048 µs wide
	for i := range int64(3000) {
		record(t, 1_500_000+i*500, slow)
	}
	tests := []struct {
		name string
		h    *hdrhistogram.Histogram
	}{
		{"sample", sampleResult(t).Latency},
		{"closed loop", closedLoopResult(t).Latency},
		{"golden", goldenHistogram(t)},
		{"one value", single},
		{"seconds", slow},
		{"empty", result.NewHistogram()},
		{"nil", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteHgrm(&b, &result.Result{Latency: tc.h}); err != nil {
				t.Fatal(err)
			}
			h := orEmpty(tc.h)
			header, rows, footer := parseHgrm(t, b.String())
			if want := "       Value     Percentile TotalCount 1/(1-Percentile)"; header != want {
				t.Errorf("header %q, want %q", header, want)
			}
			total := h.TotalCount()
			if total == 0 {
				if len(rows) != 0 {
					t.Errorf("%d table lines for an empty histogram", len(rows))
				}
			} else {
				// Monotonic, starting at the min, ending with one 100% line at the max.
				if rows[0].percentile != 0 {
					t.Errorf("first line %+v, want percentile 0", rows[0])
				}
				for i := 1; i < len(rows); i++ {
					p, c := rows[i-1], rows[i]
					if c.valueMS < p.valueMS || c.percentile < p.percentile || c.count < p.count {
						t.Errorf("line %d %+v after %+v: not monotonic", i+1, c, p)
					}
					if c.percentile == p.percentile && !c.last {
						t.Errorf("line %d repeats percentile %v", i+1, c.percentile)
					}
				}
				last := rows[len(rows)-1]
				want := hgrmRow{float64(h.Max()) / 1000, 1, total, true}
				if last != want {
					t.Errorf("last line %+v, want %+v", last, want)
				}
				if prev := rows[len(rows)-2]; prev.last || prev.count != total || prev.valueMS != want.valueMS {
					t.Errorf("line before last %+v, want the max at a percentile < 1", prev)
				}
				// Each line reports the first value whose cumulative count
				// reaches its percentile: its TotalCount covers the percentile
				// and its value is the histogram's value at that count.
				for _, r := range rows {
					reached := float64(r.count) / float64(total)
					if reached < r.percentile-1e-12 {
						t.Errorf("line %+v: count %d is below the percentile", r, r.count)
					}
					if want := float64(h.ValueAtQuantile(100*reached)) / 1000; r.valueMS != want {
						t.Errorf("line %+v: value %v ms, histogram has %v ms at %d values", r, r.valueMS, want, r.count)
					}
				}
			}
			bucketCount, subBucketCount := javaGeometry(h)
			if n := int64(len(h.Export().Counts)); n != (bucketCount+1)*subBucketCount/2 {
				t.Errorf("geometry %d buckets × %d sub-buckets does not match %d counts", bucketCount, subBucketCount, n)
			}
			wantFooter := []string{
				fmt.Sprintf("#[Mean    = %12.3f, StdDeviation   = %12.3f]", h.Mean()/1000, h.StdDev()/1000),
				fmt.Sprintf("#[Max     = %12.3f, Total count    = %12d]", float64(h.Max())/1000, total),
				fmt.Sprintf("#[Buckets = %12d, SubBuckets     = %12d]", 16, 2048),
			}
			if len(footer) != 3 {
				t.Fatalf("footer %q", footer)
			}
			for i := 1; i < 3; i++ {
				if footer[i] != wantFooter[i] {
					t.Errorf("footer line %d: %q, want %q", i+1, footer[i], wantFooter[i])
				}
			}
			// The mean is Java's computation, which may differ from
			// hdrhistogram-go's in the last digit.
			var mean, sd float64
			if _, err := fmt.Sscanf(footer[0], "#[Mean    = %f, StdDeviation   = %f]", &mean, &sd); err != nil {
				t.Fatalf("footer %q: %v", footer[0], err)
			}
			if math.Abs(mean-h.Mean()/1000) > 0.0011 || math.Abs(sd-h.StdDev()/1000) > 0.0011 {
				t.Errorf("footer %q, want mean %.3f stddev %.3f", footer[0], h.Mean()/1000, h.StdDev()/1000)
			}
		})
	}
}

// TestPercentileSpectrumMatchesGo cross-checks the Java iteration with
// hdrhistogram-go's port of it (which uses math.Log2 instead of Java's
// log(x)/log(2) but agrees on these levels).
func TestPercentileSpectrumMatchesGo(t *testing.T) {
	for _, h := range []*hdrhistogram.Histogram{sampleResult(t).Latency, goldenHistogram(t), closedLoopResult(t).Latency} {
		for _, ticks := range []int{1, 2, 5, 10} {
			rows := percentileSpectrum(h, ticks)
			want := h.CumulativeDistributionWithTicks(int32(ticks))
			if len(rows) != len(want) {
				t.Fatalf("ticks %d: %d rows, hdrhistogram-go has %d", ticks, len(rows), len(want))
			}
			for i, r := range rows {
				w := want[i]
				if r.level != w.Quantile || r.count != w.Count || r.value != w.ValueAt {
					t.Errorf("ticks %d row %d: %+v, hdrhistogram-go %+v", ticks, i, r, w)
				}
			}
		}
	}
}

func TestJavaFixed(t *testing.T) {
	tests := []struct {
		x    float64
		prec int
		want string
	}{
		{0, 3, "0.000"},
		{0.125, 2, "0.13"}, // HALF_UP on a tie (Go: 0.12)
		{0.15, 1, "0.2"},   // 0.1499999... in binary, but Java rounds the digits "0.15"
		{1.0005, 3, "1.001"},
		{0.0004, 3, "0.000"},
		{0.0005, 3, "0.001"},
		{0.00001, 3, "0.000"},
		{999.9996, 3, "1000.000"},
		{0.9996337890625, 12, "0.999633789063"},
		{1, 12, "1.000000000000"},
		{13653.333333333334, 2, "13653.33"},
		{123456789, 2, "123456789.00"},
		{1e21, 2, "1000000000000000000000.00"},
		{-2.5, 0, "-3"},
		{math.Inf(1), 2, "Infinity"},
	}
	for _, tc := range tests {
		if got := javaFixed(tc.x, tc.prec); got != tc.want {
			t.Errorf("javaFixed(%v, %d) = %q, want %q", tc.x, tc.prec, got, tc.want)
		}
	}
	if got := javaF(1.5, 3, 12); got != "       1.500" {
		t.Errorf("javaF pads to %q", got)
	}
}
