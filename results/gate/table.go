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

// WriteTable writes the report as an aligned text table, one line per row:
// target, rate, metric, baseline, current, limit (each with its unit),
// PASS/FAIL and the note; then an overall line. A value a side does not have
// is shown as "-"; the rate of a Go benchmark is "-".
func (r Report) WriteTable(w io.Writer) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tRATE\tMETRIC\tBASELINE\tCURRENT\tLIMIT\tRESULT\tNOTE")
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			row.Target, rate, row.Metric,
			fmtValue(row.Baseline, row.Unit), fmtValue(row.Current, row.Unit), fmtValue(row.Limit, row.Unit),
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

// fmtValue formats a value in its unit: ratios with 3 decimals, MiB with 1,
// allocs as they are.
func fmtValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "-"
	}
	switch unit {
	case UnitRatioDirect, UnitRatioLoadgen:
		return fmt.Sprintf("%.3f %s", v, unit)
	case UnitMiB:
		return fmt.Sprintf("%.1f %s", v, unit)
	case UnitAllocs:
		return fmtNum(v) + " " + unit
	}
	return fmtNum(v) + " " + unit
}

// fmtNum formats v with at most two decimals and no trailing zeros.
func fmtNum(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
