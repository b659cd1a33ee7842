package report

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/meshbench/meshbench/results/schema"
)

// dash stands for a value that was not measured.
const dash = "–"

// fixed formats v with dec decimals, thousands grouped with commas, no
// locale, and never "-0.000".
func fixed(v float64, dec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return dash
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if strings.HasPrefix(s, "-") && strings.Trim(s, "-0.") == "" {
		s = s[1:]
	}
	return group(s)
}

// group inserts commas between thousands of the integer part of a number
// formatted by strconv.
func group(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	intPart, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i:]
	}
	if len(intPart) <= 3 {
		return sign + s
	}
	var b strings.Builder
	lead := len(intPart) % 3
	if lead > 0 {
		b.WriteString(intPart[:lead])
	}
	for i := lead; i < len(intPart); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(intPart[i : i+3])
	}
	return sign + b.String() + frac
}

// ms formats microseconds as milliseconds with three decimals (0.412).
func ms(us float64) string { return fixed(us/1000, 3) }

// spreadOf formats a spread as "median (min–max)", or only the median when
// min and max are equal (one repetition).
func spreadOf(s schema.Spread, f func(float64) string) string {
	med, lo, hi := f(s.Median), f(s.Min), f(s.Max)
	if lo == hi {
		return med
	}
	return med + " (" + lo + "–" + hi + ")"
}

func spreadMS(s schema.Spread) string { return spreadOf(s, ms) }

func dec1(v float64) string { return fixed(v, 1) }
func dec3(v float64) string { return fixed(v, 3) }

// rateText formats a target rate in requests per second; 0 is closed loop.
func rateText(r float64) string {
	if r == 0 {
		return "closed loop"
	}
	if r == math.Trunc(r) {
		return fixed(r, 0)
	}
	return fixed(r, 1)
}

// number formats a published value as given (shortest exact form).
func number(v float64) string {
	return group(strconv.FormatFloat(v, 'f', -1, 64))
}

// counts formats a map of counts as "a 1, b 2" in key order, leaving out
// zeros (meshload lists every standard error kind, most of them 0).
func counts(m map[string]uint64) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		if m[k] > 0 {
			parts = append(parts, k+" "+group(strconv.FormatUint(m[k], 10)))
		}
	}
	if len(parts) == 0 {
		return dash
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// flatten turns line breaks and tabs into spaces, so text from a user's
// file cannot break a table row, a list item or a heading.
func flatten(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\n', '\r', '\t', '\v', '\f':
			return ' '
		}
		return r
	}, s)
}

// oneLine is flatten without leading and trailing space.
func oneLine(s string) string { return strings.TrimSpace(flatten(s)) }

// truncate shortens s to at most n runes, ending with "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// safeURL reports whether u may become a link: http or https only.
func safeURL(u string) bool {
	l := strings.ToLower(strings.TrimSpace(u))
	return (strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")) &&
		!strings.ContainsAny(u, " \t\r\n<>\"'`")
}
