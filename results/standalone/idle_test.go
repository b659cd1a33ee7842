package standalone

import (
	"fmt"
	"strings"
	"testing"
)

// TestRenderIdleVerdict: the sentence under the idle table holds the worst
// round of any configuration against the 4 KB target, at the boundary too.
func TestRenderIdleVerdict(t *testing.T) {
	tests := []struct {
		name  string
		bytes [][2]string // event_loops, bytes_per_conn per row
		want  string
	}{
		{"all below", [][2]string{{"0", "3000"}, {"1", "3500"}, {"0", "3100"}},
			"Largest RSS per connection in any round: 3,500 bytes (eventLoops 1), within the target"},
		{"exactly 4 KB is within", [][2]string{{"0", "4096"}, {"1", "100"}},
			"4,096 bytes (eventLoops 0), within the target of 4 KB (4,096 bytes)."},
		{"one round over, median below", [][2]string{{"0", "3000"}, {"0", "4097"}, {"0", "3100"}},
			"4,097 bytes (eventLoops 0), **over** the target"},
		{"not measured", [][2]string{{"0", "-"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("# bench: idlebench\nround\tevent_loops\tconns\topen_after\trss_before_kib\trss_after_kib\t" +
				"bytes_per_conn\theap_bytes_per_conn\tfds_added\tloadavg1\tother_cores\tsteal_pct\n")
			for i, r := range tt.bytes {
				fmt.Fprintf(&b, "%d\t%s\t10000\t10000\t9000\t40000\t%s\t600\t10000\t0.1\t0.0\t0.0\n", i+1, r[0], r[1])
			}
			tab, err := ParseTable("x.tsv", strings.NewReader(b.String()))
			if err != nil {
				t.Fatal(err)
			}
			got, err := renderIdle(tab, "x.tsv")
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if strings.Contains(got, "Largest") {
					t.Errorf("a verdict without a measured round:\n%s", got)
				}
				return
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("rendering lacks %q:\n%s", tt.want, got)
			}
		})
	}
}
