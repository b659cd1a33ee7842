package standalone

import (
	"fmt"
	"strings"
)

// The bound for HTTP/2: 10,000 open streams (100 connections of
// 100) in at most 64 MiB of the proxy's RSS.
const (
	h2StreamsTarget = 10000
	h2RSSTargetKiB  = 64 * 1024
)

// renderH2Idle renders scripts/h2idlebench.sh's rows: per eventLoops
// setting, what the proxy's RSS and Go heap grew by per idle h2c connection
// and per open stream, its RSS with all the streams open, and whether every
// connection and stream was still held when it was measured.
func renderH2Idle(t *Table, display string) (string, error) {
	if err := t.need("round", "event_loops", "conns", "streams", "streams_arrived", "open_after", "waiting_after",
		"rss_before_kib", "rss_idle_kib", "rss_streams_kib", "bytes_per_conn", "bytes_per_stream",
		"heap_bytes_per_conn", "heap_bytes_per_stream", "fds_added"); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(header(t, display))
	b.WriteString("Median (min–max) over the rounds, a fresh proxy each. Per connection = (RSS with the idle connections − " +
		"before) / connections, per stream = (RSS with the streams open − with the idle connections) / streams, in bytes; " +
		"RSS is the proxy process's VmRSS (the kernel's socket buffers are not in it), heap its go_memstats_heap_inuse_bytes; " +
		"RSS columns in MiB. Held = connections still open / streams still waiting for their response when the client " +
		"was told to stop (fewest in any round).\n\n")
	row(&b, "eventLoops", "connections", "streams", "held", "RSS before", "RSS idle connections", "RSS streams open",
		"RSS per connection", "RSS per stream", "heap per connection", "heap per stream", "descriptors added", "rounds")
	row(&b, "---", "---", "---", "---", "---", "---", "---", "---", "---", "---", "---", "---", "---")
	worst, worstLoops, worstStreams := 0.0, "", 0.0
	short, shortArrived, shortSent := 0, 0.0, 0.0
	for _, loops := range t.distinct("event_loops") {
		m := eq(t, "event_loops", loops)
		cols := []string{"conns", "streams", "open_after", "waiting_after", "rss_before_kib", "rss_idle_kib",
			"rss_streams_kib", "bytes_per_conn", "bytes_per_stream", "heap_bytes_per_conn", "heap_bytes_per_stream", "fds_added"}
		s := map[string]Summary{}
		for _, c := range cols {
			v, err := summaryOf(t, c, m)
			if err != nil {
				return "", err
			}
			s[c] = v
		}
		held := heldCell(s["open_after"], s["conns"]) + " / " + heldCell(s["waiting_after"], s["streams"])
		row(&b, loopsName(loops), s["conns"].format(0), s["streams"].format(0), held,
			mib(s["rss_before_kib"], false), mib(s["rss_idle_kib"], false), mib(s["rss_streams_kib"], false),
			s["bytes_per_conn"].format(0), s["bytes_per_stream"].format(0),
			s["heap_bytes_per_conn"].format(0), s["heap_bytes_per_stream"].format(0), s["fds_added"].format(0),
			fmt.Sprint(s["bytes_per_stream"].N))
	}
	for i := range t.Rows {
		streams, ok1, err := t.Num(i, "streams")
		if err != nil {
			return "", err
		}
		arrived, ok2, err := t.Num(i, "streams_arrived")
		if err != nil {
			return "", err
		}
		if ok1 && ok2 && arrived < streams {
			if short == 0 || arrived/streams < shortArrived/shortSent {
				shortArrived, shortSent = arrived, streams
			}
			short++
		}
		rss, ok3, err := t.Num(i, "rss_streams_kib")
		if err != nil {
			return "", err
		}
		// Only a round that held the target's streams is held against it.
		if ok1 && ok3 && streams >= h2StreamsTarget && (worstLoops == "" || rss > worst) {
			worst, worstLoops, worstStreams = rss, t.Str(i, "event_loops"), streams
		}
	}
	var verdict string
	if worstLoops != "" {
		verdict = fmt.Sprintf("Largest RSS with the streams open in any round: %s MiB (eventLoops %s, %s streams), %s the target "+
			"of 64 MiB for %s streams.\n", num(kibToMiB(worst), 1), worstLoops, num(worstStreams, 0), againstTarget(worst, h2RSSTargetKiB), num(h2StreamsTarget, 0))
	} else {
		verdict = fmt.Sprintf("No round opened %s streams: the 64 MiB target is not checked.\n", num(h2StreamsTarget, 0))
	}
	var arrivedNote string
	if short > 0 {
		arrivedNote = fmt.Sprintf("**In %d round(s) not every held request had reached the upstream when the proxy was measured** "+
			"(fewest: %s of %s).\n", short, num(shortArrived, 0), num(shortSent, 0))
	}
	ml, err := machineLine(t)
	notes(&b, verdict, arrivedNote, ml)
	return b.String(), err
}

// heldCell is the fewest held in any round, in bold when fewer than were
// opened (the figures are then not for that many).
func heldCell(held, opened Summary) string {
	if held.N == 0 {
		return "–"
	}
	c := num(held.Min, 0)
	if held.Min < opened.Min {
		c = "**" + c + "**"
	}
	return c
}
