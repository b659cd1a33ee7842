package standalone

import (
	"fmt"
	"strings"
	"testing"
)

// TestRenderH2IdleVerdict: the sentence under the HTTP/2 table holds the
// largest RSS of any round that opened 10,000 streams against 64 MiB, at
// the boundary too, and checks nothing when no round opened that many.
func TestRenderH2IdleVerdict(t *testing.T) {
	tests := []struct {
		name string
		rows [][3]string // event_loops, streams, rss_streams_kib
		want string
	}{
		{"all below", [][3]string{{"0", "10000", "40000"}, {"1", "10000", "45000"}, {"0", "10000", "41000"}},
			"Largest RSS with the streams open in any round: 43.9 MiB (eventLoops 1, 10,000 streams), within the target of 64 MiB"},
		{"exactly 64 MiB is within", [][3]string{{"0", "10000", "65536"}, {"1", "10000", "100"}},
			"64.0 MiB (eventLoops 0, 10,000 streams), within the target of 64 MiB for 10,000 streams."},
		{"one round over, median below", [][3]string{{"0", "10000", "40000"}, {"0", "10000", "65537"}, {"0", "10000", "41000"}},
			"64.0 MiB (eventLoops 0, 10,000 streams), **over** the target"},
		{"a smaller run is not held against it", [][3]string{{"0", "10000", "40000"}, {"1", "5000", "70000"}},
			"39.1 MiB (eventLoops 0, 10,000 streams), within"},
		{"no run of 10,000 streams", [][3]string{{"0", "5000", "20000"}},
			"No round opened 10,000 streams: the 64 MiB target is not checked."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("# bench: h2idle\nround\tevent_loops\tconns\tstreams\tstreams_arrived\topen_after\twaiting_after\t" +
				"rss_before_kib\trss_idle_kib\trss_streams_kib\tbytes_per_conn\tbytes_per_stream\theap_bytes_per_conn\t" +
				"heap_bytes_per_stream\tfds_added\tloadavg1\tother_cores\tsteal_pct\n")
			for i, r := range tt.rows {
				fmt.Fprintf(&b, "%d\t%s\t100\t%s\t%[3]s\t100\t%[3]s\t9000\t9500\t%s\t5000\t3000\t3000\t2800\t140\t0.1\t0.0\t0.0\n",
					i+1, r[0], r[1], r[2])
			}
			tab, err := ParseTable("x.tsv", strings.NewReader(b.String()))
			if err != nil {
				t.Fatal(err)
			}
			got, err := renderH2Idle(tab, "x.tsv")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("rendering lacks %q:\n%s", tt.want, got)
			}
			if strings.Contains(got, "not every held request") {
				t.Errorf("every request arrived, yet the rendering says otherwise:\n%s", got)
			}
		})
	}
}
