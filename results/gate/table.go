package gate

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the report: warning lines first ("warning: ..."), where
// σ came from, then an aligned table with one line per row — target, rate,
// metric, repetitions behind each side (n b/c), baseline, current, limit,
// σ, PASS/FAIL, note — and an overall line. A value a side does not have is
// "-"; the rate of a Go benchmark is "-"; a success ratio's limit is a lower
// bound ("≥ ...").
func (r Report) WriteTable(w io.Writer) error {
	for _, warn := range r.Warnings {
		if _, err := fmt.Fprintf(w, "warning: %s\n", warn); err != nil {
			return err
		}
	}
	if r.Noise != "" {
		if _, err := fmt.Fprintf(w, "noise: %s\n", r.Noise); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tRATE\tMETRIC\tN B/C\tBASELINE\tCURRENT\tLIMIT\tSIGMA\tRESULT\tNOTE")
	failed := 0
	for _, row := range r.Rows {
		rate := "-"
		if row.Metric != MetricAllocsPerOp {
			rate = strconv.FormatFloat(row.Rate, 'f', -1, 64)
		}
		result := "PASS"
		if !row.Pass {
			result = "FAIL"
			failed++
		}
		limit := fmtValue(row.Limit, row.Unit)
		if row.Metric == MetricSuccessRatio && limit != "-" {
			limit = "≥ " + limit
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\n",
			row.Target, rate, row.Metric, row.NB, row.NC,
			fmtValue(row.Baseline, row.Unit), fmtValue(row.Current, row.Unit), limit, fmtValue(row.Sigma, row.Unit),
			result, row.Note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Rows without a note would end in padding.
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line == "" {
			continue
		}
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	var err error
	switch {
	case len(r.Rows) == 0:
		_, err = fmt.Fprintln(w, "gate: PASS (nothing to compare)")
	case r.Pass:
		_, err = fmt.Fprintf(w, "gate: PASS (%d rows)\n", len(r.Rows))
	default:
		_, err = fmt.Fprintf(w, "gate: FAIL (%d of %d rows failed)\n", failed, len(r.Rows))
	}
	return err
}

// fmtValue formats a value in its unit: ms with 3 decimals (µs
// resolution), ratios to loadgen with 3, µs and MiB with 2, success ratios
// as a percentage with 4 decimals (one failure in a million shows), allocs
// as they are.
func fmtValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "-"
	}
	switch unit {
	case UnitMS, UnitRatioLoadgen:
		return fmt.Sprintf("%.3f %s", v, unit)
	case UnitUS, UnitMiB:
		return fmt.Sprintf("%.2f %s", v, unit)
	case UnitRatio:
		// Rounded down, so a ratio below 1 never prints as 100 %.
		return fmt.Sprintf("%.4f %%", math.Floor(v*1e6)/1e4)
	}
	return fmtNum(v) + " " + unit
}

// fmtNum formats v with at most three decimals and no trailing zeros.
func fmtNum(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// fmtSigned is fmtNum with a sign.
func fmtSigned(v float64) string {
	if v >= 0 {
		return "+" + fmtNum(v)
	}
	return fmtNum(v)
}
