package standalone

import (
	"fmt"
	"strings"
)

// syscallGroups are the columns of the syscall table: each sums the per-
// request counts of its events within a round (e.g. epoll_pwait and
// epoll_wait are one "wait for events" whatever the libc calls it).
var syscallGroups = []struct {
	title  string
	events []string
	dec    int
}{
	{"CPU µs", []string{"cpu_us"}, 1},
	{"syscalls", []string{"all_syscalls"}, 2},
	{"epoll waits", []string{"epoll_pwait", "epoll_wait"}, 2},
	{"reads", []string{"read", "readv", "recvfrom"}, 2},
	{"writes", []string{"write", "writev", "sendto"}, 2},
	{"futex", []string{"futex"}, 2},
	{"nanosleep", []string{"nanosleep"}, 2},
	{"sched_yield", []string{"sched_yield"}, 2},
	{"getsockopt", []string{"getsockopt"}, 2},
	{"context switches", []string{"context-switches"}, 2},
	{"CPU migrations", []string{"cpu-migrations"}, 2},
}

// renderSyscalls renders scripts/syscallbench.sh's rows: per load (a rate
// or "sat") one table of targets with each group's count per request, the
// median (min–max) over the rounds.
func renderSyscalls(t *Table, display string) (string, error) {
	if err := t.need("round", "target", "workers", "load", "event", "per_request"); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(header(t, display))
	b.WriteString("Per request answered in the counting window, median (min–max) over the rounds; counted by " +
		"`perf stat` on all the proxy's processes (kernel tracepoints). meshproxy's N is its event loops " +
		"(GOMAXPROCS N+1), nginx's its worker processes (the master is counted too). Epoll waits are " +
		"epoll_pwait + epoll_wait, reads read + readv + recvfrom, writes write + writev + sendto.\n")
	for _, load := range t.distinct("load") {
		title := load + " req/s"
		if load == "sat" {
			title = "saturation (wrk, 16 connections)"
		}
		fmt.Fprintf(&b, "\n**%s**\n\n", title)
		cells := []string{"target", "N"}
		sep := []string{"---", "---"}
		for _, g := range syscallGroups {
			cells = append(cells, g.title)
			sep = append(sep, "---")
		}
		row(&b, cells...)
		row(&b, sep...)
		for _, target := range t.distinct("target") {
			for _, n := range t.distinct("workers") {
				m := eq(t, "target", target, "workers", n, "load", load)
				out := []string{target, n}
				any := false
				for _, g := range syscallGroups {
					xs, err := groupPerRound(t, m, g.events)
					if err != nil {
						return "", err
					}
					any = any || len(xs) > 0
					out = append(out, Summarize(xs).format(g.dec))
				}
				if any {
					row(&b, out...)
				}
			}
		}
	}
	ml, err := machineLine(t)
	notes(&b, "", ml)
	return b.String(), err
}

// groupPerRound sums, per round, the per-request counts of events over the
// rows where match holds; a round with none of the events has no value.
func groupPerRound(t *Table, match func(int) bool, events []string) ([]float64, error) {
	sums := map[string]float64{}
	var order []string
	for i := range t.Rows {
		if !match(i) {
			continue
		}
		ev := t.Str(i, "event")
		hit := false
		for _, e := range events {
			hit = hit || ev == e
		}
		if !hit {
			continue
		}
		v, ok, err := t.Num(i, "per_request")
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		r := t.Str(i, "round")
		if _, seen := sums[r]; !seen {
			order = append(order, r)
		}
		sums[r] += v
	}
	xs := make([]float64, 0, len(order))
	for _, r := range order {
		xs = append(xs, sums[r])
	}
	return xs, nil
}
