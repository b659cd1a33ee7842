package aggregate

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	expectpkg "github.com/meshbench/meshbench/internal/expect"
	"github.com/meshbench/meshbench/results/schema"
)

// DefaultExpect is meshload's -expect when a result file records none.
const DefaultExpect = expectpkg.Default

// Verdict decides whether a step whose load was l passed: it needs
// responses, a success classification, and at least minSuccessPercent
// (0-100) of its requests (responses and transport errors) successful.
// When it fails, reason says why in one line, e.g.
//
//	success 96.30 % < minSuccess 100 %: 503 ×37, reset ×2
//
// The loopback and kind runners both call it, so a step's status follows
// one policy; meshload is run so that its exit code does not decide.
func Verdict(l *schema.Load, minSuccessPercent float64) (ok bool, reason string) {
	switch {
	case l == nil:
		return false, "no load result"
	case l.Requests == 0 && l.Errors == 0:
		return false, "no requests were sent"
	case l.Requests == 0:
		return false, "no responses: " + Failures(l)
	case l.SuccessRatio == nil:
		// A meshload too old to tell successes from failures: a step it
		// measured cannot be shown to have succeeded.
		return false, "responses not classified (meshload wrote no success_ratio; rebuild meshload)"
	}
	total := l.Requests + l.Errors
	if meets(l.Successes, total, minSuccessPercent) {
		return true, ""
	}
	r := fmt.Sprintf("success %s < minSuccess %s", Percent(float64(l.Successes)/float64(total)), PercentLimit(minSuccessPercent))
	if f := Failures(l); f != "" {
		r += ": " + f
	}
	return false, r
}

// meets reports whether successes out of total reach minPercent. It
// compares counts, not a rounded ratio, so that exactly 999 of 1000 meets
// 99.9 % and one failure in ten million misses 100 %; the slack of 1e-4
// (a millionth of a request) only absorbs the binary rounding of minPercent.
func meets(successes, total uint64, minPercent float64) bool {
	if successes > total {
		return false // inconsistent counts are never a success
	}
	return float64(successes)*100 >= minPercent*float64(total)-1e-4
}

// Percent formats a success ratio (0..1) for people, rounded down to two
// decimals so that a ratio below a limit never prints as the limit:
// "100 %" only when nothing failed, "99.99 %" for 99.999 %, "0 %" when
// nothing succeeded.
func Percent(ratio float64) string {
	switch {
	case math.IsNaN(ratio):
		return "NaN %"
	case ratio >= 1:
		return "100 %"
	case ratio <= 0:
		return "0 %"
	}
	// The 1e-9 keeps an exact ratio such as 0.29 (2899.9999… × 1e-4 in
	// binary) at 29.00; it is far below any ratio of real request counts.
	return strconv.FormatFloat(math.Floor(ratio*10000+1e-9)/100, 'f', 2, 64) + " %"
}

// PercentLimit formats a scenario's minSuccess (0-100) as written:
// "100 %", "99.9 %".
func PercentLimit(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + " %"
}

// Failures lists a load's failed requests, responses with an unexpected
// status by code and then transport errors by kind, largest first:
// "503 ×37, reset ×2". It is "" when nothing failed.
func Failures(l *schema.Load) string {
	if l == nil {
		return ""
	}
	var parts []string
	for _, c := range sortedCounts(UnexpectedCodes(l)) {
		parts = append(parts, c.key+" ×"+strconv.FormatUint(c.n, 10))
	}
	for _, c := range sortedCounts(l.ErrorsByKind) {
		parts = append(parts, c.key+" ×"+strconv.FormatUint(c.n, 10))
	}
	return strings.Join(parts, ", ")
}

// UnexpectedCodes counts the responses whose status l.Expect does not
// accept, by status code. When the codes it finds do not add up to
// l.UnexpectedStatus (an Expect this package cannot read, or counts from
// another meshload), the total is returned under the key
// "unexpected status (expect …)" rather than a guess per code.
func UnexpectedCodes(l *schema.Load) map[string]uint64 {
	out := map[string]uint64{}
	if l == nil {
		return out
	}
	expect := l.Expect
	if expect == "" {
		expect = DefaultExpect
	}
	accept, err := expectpkg.Parse(expect)
	ok := err == nil
	var sum uint64
	if ok {
		for code, n := range l.StatusCodes {
			c, cerr := strconv.Atoi(code)
			if n > 0 && (cerr != nil || !accept.Match(c)) {
				out[code] += n
				sum += n
			}
		}
	}
	if !ok || (l.SuccessRatio != nil && sum != l.UnexpectedStatus) {
		out = map[string]uint64{}
		if l.UnexpectedStatus > 0 {
			out["unexpected status (expect "+expect+")"] = l.UnexpectedStatus
		}
	}
	return out
}

type count struct {
	key string
	n   uint64
}

// sortedCounts lists the non-zero counts of m, largest first, then by key.
func sortedCounts(m map[string]uint64) []count {
	var out []count
	for k, n := range m {
		if n > 0 {
			out = append(out, count{k, n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].key < out[j].key
	})
	return out
}
