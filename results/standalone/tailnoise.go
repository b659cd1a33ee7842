package standalone

import (
	"fmt"
	"math"
	"strings"
)

// gateAllowanceSigmas is the gate's allowance for a median of 5 current
// repetitions against a median of 5 baseline ones at its default k = 3, in
// units of one repetition's σ: k·√(π/2)·√(1/5 + 1/5) (results/gate).
var gateAllowanceSigmas = 3 * math.Sqrt(math.Pi/2) * math.Sqrt(2.0/5)

// renderTail renders scripts/tailnoise.sh's rows: per rate and mode, the
// added latency (meshproxy minus direct of the same round) over the rounds,
// its spread, and the smallest rise of it a 5-repetition gate could flag.
func renderTail(t *Table, display string) (string, error) {
	if err := t.need("rate", "round", "mode", "target", "p50_us", "p99_us", "failures"); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(header(t, display))
	b.WriteString("Added = meshproxy minus direct in the same round, in ms: median (MAD) over the rounds. " +
		"Sequential: one path after the other, as the gate measures; concurrent: both loads at once. " +
		"Smallest flagged rise: the gate's allowance at k = 3 for 5 + 5 repetitions (2.38 σ, σ = 1.4826 × MAD), " +
		"as a share of the median added value.\n\n")
	row(&b, "rate (req/s)", "mode", "added p50", "added p99", "direct p99", "smallest flagged rise of added p99", "rounds", "failed requests")
	row(&b, "---", "---", "---", "---", "---", "---", "---", "---")
	for _, rate := range t.distinct("rate") {
		for _, mode := range t.distinct("mode") {
			m := eq(t, "rate", rate, "mode", mode)
			p50, err := addedByRound(t, m, "p50_us")
			if err != nil {
				return "", err
			}
			p99, err := addedByRound(t, m, "p99_us")
			if err != nil {
				return "", err
			}
			if len(p99) == 0 {
				continue
			}
			direct, err := summaryOf(t, "p99_us", func(i int) bool { return m(i) && t.Str(i, "target") == "direct" })
			if err != nil {
				return "", err
			}
			failed, err := sumOf(t, "failures", m)
			if err != nil {
				return "", err
			}
			med99, mad99 := medianMAD(p99)
			flag := "–"
			if med99 > 0 {
				flag = num(100*gateAllowanceSigmas*madToSigma*mad99/med99, 0) + " %"
			}
			row(&b, rate, mode, medMAD(p50), medMAD(p99), num(direct.Median/1000, 3),
				flag, fmt.Sprint(len(p99)), num(failed, 0))
		}
	}
	ml, err := machineLine(t)
	notes(&b, ml)
	return b.String(), err
}

// madToSigma turns a median absolute deviation into a normal σ.
const madToSigma = 1.4826

// addedByRound returns, per round of the rows m selects, meshproxy's value
// of column c minus direct's, in ms; a round missing either is skipped.
func addedByRound(t *Table, m func(int) bool, c string) ([]float64, error) {
	type pair struct {
		d, p   float64
		hd, hp bool
	}
	byRound := map[string]*pair{}
	var order []string
	for i := range t.Rows {
		if !m(i) {
			continue
		}
		v, ok, err := t.Num(i, c)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		r := t.Str(i, "round")
		p := byRound[r]
		if p == nil {
			p = &pair{}
			byRound[r] = p
			order = append(order, r)
		}
		switch t.Str(i, "target") {
		case "direct":
			p.d, p.hd = v, true
		case "meshproxy":
			p.p, p.hp = v, true
		}
	}
	var out []float64
	for _, r := range order {
		if p := byRound[r]; p.hd && p.hp {
			out = append(out, (p.p-p.d)/1000)
		}
	}
	return out, nil
}

// medianMAD returns the median of xs and the median absolute deviation
// from it.
func medianMAD(xs []float64) (median, mad float64) {
	median = Summarize(xs).Median
	dev := make([]float64, len(xs))
	for i, x := range xs {
		dev[i] = math.Abs(x - median)
	}
	return median, Summarize(dev).Median
}

// medMAD formats "median (MAD)" in ms with 3 decimals.
func medMAD(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	m, d := medianMAD(xs)
	return fmt.Sprintf("%s (%s)", num(m, 3), num(d, 3))
}
