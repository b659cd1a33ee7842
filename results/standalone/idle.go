package standalone

import (
	"fmt"
	"strings"
)

// idleTarget is the per-connection RSS an idle keep-alive connection may
// cost meshproxy (issue 11, defect 9): 4 KB.
const idleTarget = 4096

// renderIdle renders scripts/idlebench.sh's rows: per eventLoops setting,
// what the proxy's RSS and Go heap grew by per idle keep-alive connection,
// and whether every connection was still open when it was measured.
func renderIdle(t *Table, display string) (string, error) {
	if err := t.need("round", "event_loops", "conns", "open_after", "rss_before_kib", "rss_after_kib",
		"bytes_per_conn", "heap_bytes_per_conn", "fds_added"); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(header(t, display))
	b.WriteString("Median (min–max) over the rounds, a fresh proxy each. Per connection = (after − before) / connections, " +
		"in bytes; RSS is the proxy process's VmRSS (the kernel's socket buffers are not in it), heap its " +
		"go_memstats_heap_inuse_bytes; RSS before and after in MiB. Held = connections still open when the client " +
		"was told to stop (fewest in any round).\n\n")
	row(&b, "eventLoops", "connections", "held", "RSS before", "RSS after", "RSS per connection", "heap per connection", "descriptors added", "rounds")
	row(&b, "---", "---", "---", "---", "---", "---", "---", "---", "---")
	worst, worstLoops := 0.0, ""
	for _, loops := range t.distinct("event_loops") {
		m := eq(t, "event_loops", loops)
		var s [6]Summary
		for i, c := range []string{"conns", "open_after", "rss_before_kib", "rss_after_kib", "bytes_per_conn", "heap_bytes_per_conn"} {
			var err error
			if s[i], err = summaryOf(t, c, m); err != nil {
				return "", err
			}
		}
		fds, err := summaryOf(t, "fds_added", m)
		if err != nil {
			return "", err
		}
		held := num(s[1].Min, 0)
		if s[1].N == 0 {
			held = "–"
		} else if s[1].Min < s[0].Min {
			held = "**" + held + "**" // the proxy closed some: the figure is not for s[0] connections
		}
		if s[4].N > 0 && (worstLoops == "" || s[4].Max > worst) {
			worst, worstLoops = s[4].Max, loops
		}
		row(&b, loopsName(loops), s[0].format(0), held, mib(s[2], false), mib(s[3], false),
			s[4].format(0), s[5].format(0), fds.format(0), fmt.Sprint(s[4].N))
	}
	var verdict string
	if worstLoops != "" {
		verdict = fmt.Sprintf("Largest RSS per connection in any round: %s bytes (eventLoops %s), %s the target of 4 KB (%s bytes).\n",
			num(worst, 0), worstLoops, againstTarget(worst, idleTarget), num(idleTarget, 0))
	}
	ml, err := machineLine(t)
	notes(&b, verdict, ml)
	return b.String(), err
}

// loopsName labels a spec.eventLoops value.
func loopsName(loops string) string {
	if loops == "0" {
		return "0 (one per core)"
	}
	return loops
}
