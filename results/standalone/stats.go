// Package standalone renders the stand-alone sections of BENCHMARKS.md (one
// meshproxy hop, the sidecar pair, meshload beside wrk, idle connections'
// memory, the Go benchmarks) from the raw files the scripts in scripts/
// commit under results/standalone: each section sits between
// "<!-- standalone KEY: begin ... -->" and "<!-- standalone KEY: end -->"
// markers and is rewritten from the newest raw file of KEY; the prose
// around the markers is left alone.
package standalone

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Summary is the median and range of one measured value over a set of runs.
type Summary struct {
	Median, Min, Max float64
	N                int
}

// Summarize returns the median (the mean of the two middle values when N is
// even), minimum and maximum of xs; N is 0 for no values.
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Summary{Median: med, Min: s[0], Max: s[n-1], N: n}
}

// format renders a Summary as "median (min–max)" with dec decimals (and
// thousands separators), or "–" when there were no values. With a single
// value, or when all values are equal, only the value is shown.
func (s Summary) format(dec int) string {
	if s.N == 0 {
		return "–"
	}
	m := num(s.Median, dec)
	if s.N == 1 || num(s.Min, dec) == num(s.Max, dec) {
		return m
	}
	return fmt.Sprintf("%s (%s–%s)", m, num(s.Min, dec), num(s.Max, dec))
}

// num formats v with dec decimals and a thousands separator in the integer
// part ("49,350", "12.77", "-0.05").
func num(v float64, dec int) string {
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if s == "-0" || strings.HasPrefix(s, "-0.") && strings.Trim(s[1:], "0.") == "" {
		s = s[1:] // no "-0.00" for a value that rounds to zero
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

// kibToMiB converts KiB to MiB.
func kibToMiB(v float64) float64 { return v / 1024 }
