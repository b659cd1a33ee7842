package standalone

import (
	"fmt"
	"strings"
)

// busyCols are the columns every script records about the rest of the
// machine during each run.
var busyCols = []string{"loadavg1", "other_cores", "steal_pct"}

// header is the first lines of a section: where the numbers come from and
// under which conditions they were measured.
func header(t *Table, display string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Raw rows: `%s` (started %s, commit `%s`).\n", display, t.Meta["started"], t.Meta["commit"])
	var cond []string
	for _, k := range []string{"params", "cpu", "kernel", "os", "tools", "meshproxy"} {
		if v := t.Meta[k]; v != "" {
			if k == "kernel" {
				v = "kernel " + v
			}
			cond = append(cond, v)
		}
	}
	if len(cond) > 0 {
		fmt.Fprintf(&b, "Conditions: %s.\n", strings.Join(cond, "; "))
	}
	return b.String()
}

// machineLine says how busy the rest of the machine was during the runs:
// a reader can tell a quiet run from a disturbed one.
func machineLine(t *Table) (string, error) {
	if err := t.need(busyCols...); err != nil {
		return "", err
	}
	all := func(int) bool { return true }
	var s [3]Summary
	for i, c := range busyCols {
		xs, err := t.collect(c, all)
		if err != nil {
			return "", err
		}
		s[i] = Summarize(xs)
	}
	other := s[1]
	// tick accounting can put "other" slightly below zero on a quiet machine
	for _, p := range []*float64{&other.Median, &other.Min, &other.Max} {
		*p = max(*p, 0)
	}
	return fmt.Sprintf("Machine during the runs: processes other than the benchmark's used %s CPUs "+
		"(median, min–max over %d runs); hypervisor steal %s %%; 1-minute load average before each run "+
		"(the benchmark's own earlier runs included) %s; before the first run %s.\n",
		other.format(2), other.N, s[2].format(1), s[0].format(2), t.Meta["loadavg_at_start"]), nil
}

// notes writes the paragraphs that follow a table, each after a blank line;
// empty ones are skipped.
func notes(b *strings.Builder, paras ...string) {
	for _, p := range paras {
		if p != "" {
			b.WriteString("\n" + strings.TrimRight(p, "\n") + "\n")
		}
	}
}

// row writes one Markdown table row.
func row(b *strings.Builder, cells ...string) {
	b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

// summaryOf summarises column c over the rows where match holds.
func summaryOf(t *Table, c string, match func(i int) bool) (Summary, error) {
	xs, err := t.collect(c, match)
	if err != nil {
		return Summary{}, err
	}
	return Summarize(xs), nil
}

// sumOf adds up column c over the rows where match holds.
func sumOf(t *Table, c string, match func(i int) bool) (float64, error) {
	xs, err := t.collect(c, match)
	var s float64
	for _, x := range xs {
		s += x
	}
	return s, err
}

// eq matches rows whose columns have the given values (column, value, ...).
func eq(t *Table, kv ...string) func(i int) bool {
	return func(i int) bool {
		for j := 0; j+1 < len(kv); j += 2 {
			if t.Str(i, kv[j]) != kv[j+1] {
				return false
			}
		}
		return true
	}
}

// roundPairs returns, for every round in which both targets a and b have a
// value of column c, the pair (a's, b's) in round order. roundCol names the
// round, keyCol the target; extra restricts the rows (column, value, ...).
func roundPairs(t *Table, roundCol, keyCol, a, b, c string, extra ...string) ([][2]float64, error) {
	byRound := map[string]*[2]float64{}
	have := map[string]int{}
	var order []string
	for i := range t.Rows {
		if !eq(t, extra...)(i) {
			continue
		}
		k := t.Str(i, keyCol)
		if k != a && k != b {
			continue
		}
		v, ok, err := t.Num(i, c)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		r := t.Str(i, roundCol)
		if byRound[r] == nil {
			byRound[r] = &[2]float64{}
			order = append(order, r)
		}
		if k == a {
			byRound[r][0] = v
			have[r] |= 1
		} else {
			byRound[r][1] = v
			have[r] |= 2
		}
	}
	var out [][2]float64
	for _, r := range order {
		if have[r] == 3 {
			out = append(out, *byRound[r])
		}
	}
	return out, nil
}

// comparison is a sentence comparing targets a and b round by round on
// column c: the per-round values and in how many rounds a was below (or
// above, lowerBetter false) b.
func comparison(t *Table, roundCol, keyCol, a, b, c, what string, dec int, lowerBetter bool, extra ...string) (string, error) {
	pairs, err := roundPairs(t, roundCol, keyCol, a, b, c, extra...)
	if err != nil || len(pairs) == 0 {
		return "", err
	}
	vals := make([]string, len(pairs))
	wins := 0
	for i, p := range pairs {
		vals[i] = num(p[0], dec) + " / " + num(p[1], dec)
		if lowerBetter && p[0] <= p[1] || !lowerBetter && p[0] >= p[1] {
			wins++
		}
	}
	rel := "at or below"
	if !lowerBetter {
		rel = "at or above"
	}
	return fmt.Sprintf("%s by round (%s / %s): %s; %s %s %s's in %d of %d rounds.\n",
		what, a, b, strings.Join(vals, ", "), a, rel, b, wins, len(pairs)), nil
}

// renderHop renders scripts/hopbench.sh's rows: one table row per target.
func renderHop(t *Table, display string) (string, error) {
	if err := t.need("target", "run", "req_per_s", "non2xx", "socket_errors", "p50_ms", "p99_ms",
		"cpu_us_per_req", "rss_idle_kib", "rss_peak_kib"); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(header(t, display))
	b.WriteString("Median (min–max) over the rounds; CPU is the proxy's user+system time per request; RSS in MiB.\n\n")
	row(&b, "target", "req/s", "p50 ms", "p99 ms", "proxy CPU µs/request", "RSS idle", "RSS peak", "failed requests", "rounds")
	row(&b, "---", "---", "---", "---", "---", "---", "---", "---", "---")
	for _, target := range t.distinct("target") {
		m := eq(t, "target", target)
		var s [6]Summary
		for i, c := range []string{"req_per_s", "p50_ms", "p99_ms", "cpu_us_per_req", "rss_idle_kib", "rss_peak_kib"} {
			var err error
			if s[i], err = summaryOf(t, c, m); err != nil {
				return "", err
			}
		}
		failed, err := failures(t, m, "non2xx", "socket_errors")
		if err != nil {
			return "", err
		}
		row(&b, target, s[0].format(0), s[1].format(3), s[2].format(3), s[3].format(1),
			mib(s[4], false), mib(s[5], true), failed, fmt.Sprint(s[0].N))
	}
	cmp, err := comparison(t, "run", "target", "meshproxy", "nginx", "cpu_us_per_req", "Proxy CPU µs per request", 1, true)
	if err != nil {
		return "", err
	}
	ml, err := machineLine(t)
	notes(&b, cmp, ml)
	return b.String(), err
}

// mib formats a KiB summary in MiB: the median, or the largest value for
// a peak (VmHWM only grows, so the last round's is the run's peak).
func mib(s Summary, peak bool) string {
	if s.N == 0 {
		return "–"
	}
	if peak {
		return num(kibToMiB(s.Max), 1)
	}
	return Summary{Median: kibToMiB(s.Median), Min: kibToMiB(s.Min), Max: kibToMiB(s.Max), N: s.N}.format(1)
}

// failures sums the failure columns over the matching rows: "0", or the
// count in bold so a failed run cannot pass unnoticed.
func failures(t *Table, m func(int) bool, cols ...string) (string, error) {
	var total float64
	for _, c := range cols {
		n, err := sumOf(t, c, m)
		if err != nil {
			return "", err
		}
		total += n
	}
	if total == 0 {
		return "0", nil
	}
	return "**" + num(total, 0) + "**", nil
}

// pairNames are the display names of pairbench's targets.
var pairNames = map[string]string{"direct": "direct (no proxy)", "plain": "pair, plaintext hop", "mtls": "pair, mTLS hop"}

// renderPair renders scripts/pairbench.sh's rows: per rate and target, the
// latency hey saw, the latency added over direct in the same round, CPU per
// request of each proxy and their memory.
func renderPair(t *Table, display string) (string, error) {
	if err := t.need("rate", "target", "run", "achieved", "ok", "non200", "errors", "p50_ms", "p99_ms",
		"client_cpu_us", "server_cpu_us", "client_rss_idle_kib", "server_rss_idle_kib", "client_rss_kib", "server_rss_kib"); err != nil {
		return "", err
	}
	added, err := addedLatency(t)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(header(t, display))
	b.WriteString("Median (min–max) over the rounds. Added = target minus direct in the same round. " +
		"CPU is each proxy's user+system time per request; RSS in MiB, client / server proxy.\n\n")
	row(&b, "rate", "target", "achieved req/s", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms",
		"CPU client proxy µs", "CPU server proxy µs", "RSS idle", "RSS peak", "failed requests", "rounds")
	row(&b, "---", "---", "---", "---", "---", "---", "---", "---", "---", "---", "---", "---", "---")
	for _, rate := range t.distinct("rate") {
		for _, target := range t.distinct("target") {
			m := eq(t, "rate", rate, "target", target)
			var s [9]Summary
			for i, c := range []string{"achieved", "p50_ms", "p99_ms", "client_cpu_us", "server_cpu_us",
				"client_rss_idle_kib", "server_rss_idle_kib", "client_rss_kib", "server_rss_kib"} {
				if s[i], err = summaryOf(t, c, m); err != nil {
					return "", err
				}
			}
			if s[0].N == 0 && s[1].N == 0 {
				continue // this target was not run at this rate
			}
			failed, err := failures(t, m, "non200", "errors")
			if err != nil {
				return "", err
			}
			a := added[rate+"\x00"+target]
			name := pairNames[target]
			if name == "" {
				name = target
			}
			row(&b, rate, name, s[0].format(0), s[1].format(2), s[2].format(2),
				Summarize(a[0]).format(2), Summarize(a[1]).format(2), s[3].format(1), s[4].format(1),
				pairMiB(s[5], s[6], false), pairMiB(s[7], s[8], true), failed, fmt.Sprint(max(s[0].N, s[1].N)))
		}
	}
	ml, err := machineLine(t)
	notes(&b, ml)
	return b.String(), err
}

// pairMiB shows a client and a server memory figure as "client / server".
func pairMiB(c, s Summary, peak bool) string {
	if c.N == 0 && s.N == 0 {
		return "–"
	}
	pick := func(x Summary) string {
		if x.N == 0 {
			return "–"
		}
		if peak {
			return num(kibToMiB(x.Max), 1)
		}
		return num(kibToMiB(x.Median), 1)
	}
	return pick(c) + " / " + pick(s)
}

// addedLatency computes, per rate and proxied target, the p50 and p99 of
// each round minus the direct path's of the same rate and round; rounds
// without a direct figure are left out.
func addedLatency(t *Table) (map[string][2][]float64, error) {
	type key struct{ rate, run string }
	direct := map[key][2]float64{}
	for i := range t.Rows {
		if t.Str(i, "target") != "direct" {
			continue
		}
		p50, ok50, p99, ok99, err := latencies(t, i)
		if err != nil {
			return nil, err
		}
		if ok50 && ok99 {
			direct[key{t.Str(i, "rate"), t.Str(i, "run")}] = [2]float64{p50, p99}
		}
	}
	out := map[string][2][]float64{}
	for i := range t.Rows {
		target := t.Str(i, "target")
		d, ok := direct[key{t.Str(i, "rate"), t.Str(i, "run")}]
		if target == "direct" || !ok {
			continue
		}
		p50, ok50, p99, ok99, err := latencies(t, i)
		if err != nil {
			return nil, err
		}
		k := t.Str(i, "rate") + "\x00" + target
		a := out[k]
		if ok50 {
			a[0] = append(a[0], p50-d[0])
		}
		if ok99 {
			a[1] = append(a[1], p99-d[1])
		}
		out[k] = a
	}
	return out, nil
}

// latencies reads row i's p50 and p99 in ms; ok is false for a value the
// row does not have.
func latencies(t *Table, i int) (p50 float64, ok50 bool, p99 float64, ok99 bool, err error) {
	if p50, ok50, err = t.Num(i, "p50_ms"); err != nil {
		return 0, false, 0, false, err
	}
	if p99, ok99, err = t.Num(i, "p99_ms"); err != nil {
		return 0, false, 0, false, err
	}
	return p50, ok50, p99, ok99, nil
}

// renderLoad renders scripts/loadbench.sh's rows: requests/s and the
// generator's CPU per request for wrk and meshload, and the round-by-round
// comparison at equal thread counts.
func renderLoad(t *Table, display string) (string, error) {
	if err := t.need("round", "generator", "req_s", "failed", "cpu_us_per_req"); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(header(t, display))
	b.WriteString("Median (min–max) over the rounds; CPU is the generator's user+system time per request (GNU time).\n\n")
	row(&b, "generator", "req/s", "generator CPU µs/request", "failed requests", "rounds")
	row(&b, "---", "---", "---", "---", "---")
	for _, g := range t.distinct("generator") {
		m := eq(t, "generator", g)
		rps, err := summaryOf(t, "req_s", m)
		if err != nil {
			return "", err
		}
		cpu, err := summaryOf(t, "cpu_us_per_req", m)
		if err != nil {
			return "", err
		}
		failed, err := failures(t, m, "failed")
		if err != nil {
			return "", err
		}
		row(&b, g, rps.format(0), cpu.format(2), failed, fmt.Sprint(rps.N))
	}
	var ns []string
	for _, p := range [][2]string{{"meshload-1loop", "wrk-t1"}, {"meshload-2loops", "wrk-t2"}} {
		for _, c := range []struct {
			col, what string
			dec       int
			lower     bool
		}{{"cpu_us_per_req", "CPU µs per request", 2, true}, {"req_s", "Requests/s", 0, false}} {
			s, err := comparison(t, "round", "generator", p[0], p[1], c.col, c.what, c.dec, c.lower)
			if err != nil {
				return "", err
			}
			ns = append(ns, s)
		}
	}
	ml, err := machineLine(t)
	notes(&b, append(ns, ml)...)
	return b.String(), err
}

// againstTarget is how a verdict sentence places a worst value against an
// upper target: "within" (at the target included) or "**over**".
func againstTarget(worst, target float64) string {
	if worst > target {
		return "**over**"
	}
	return "within"
}
