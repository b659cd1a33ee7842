package standalone

import (
	"fmt"
	"strings"
	"testing"
)

// TestRenderIdleCPU: the table has one row per target and loops setting,
// and the verdict holds meshproxy's worst round (not the median, not
// nginx's) against the 0.2 % target, at the boundary too.
func TestRenderIdleCPU(t *testing.T) {
	tests := []struct {
		name string
		rows [][3]string // target, event_loops, cpu_pct
		want []string
		not  string
	}{
		{"all within", [][3]string{{"meshproxy", "1", "0.01"}, {"meshproxy", "1", "0.02"}, {"nginx", "1", "0.5"}},
			[]string{"| meshproxy | 1 | 0.015 (0.010–0.020) | 9.0 (6.0–12.0) |", "| nginx | 1 | 0.500 |",
				"Most CPU an idle meshproxy used in any round: 0.020 % of a core (eventLoops 1), within the target of 0.2 %."}, "**over**"},
		{"exactly the target is within", [][3]string{{"meshproxy", "0", "0.2"}},
			[]string{"0.200 % of a core (eventLoops 0), within"}, "**over**"},
		{"one round over", [][3]string{{"meshproxy", "1", "0.05"}, {"meshproxy", "1", "0.21"}, {"meshproxy", "0", "0.01"}},
			[]string{"0.210 % of a core (eventLoops 1), **over** the target"}, ""},
		{"only peers measured", [][3]string{{"nginx", "1", "0.9"}}, []string{"| nginx | 1 |"}, "Most CPU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("# bench: idlecpu\nround\ttarget\tevent_loops\tseconds\tcpu_ms\tcpu_pct\twakeups\twakeups_per_s\tloadavg1\tother_cores\tsteal_pct\n")
			for i, r := range tt.rows {
				fmt.Fprintf(&b, "%d\t%s\t%s\t60.0\t1.0\t%s\t60\t1.0\t0.1\t0.0\t0.0\n", i+1, r[0], r[1], r[2])
			}
			tab, err := ParseTable("x.tsv", strings.NewReader(b.String()))
			if err != nil {
				t.Fatal(err)
			}
			got, err := renderIdleCPU(tab, "x.tsv")
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("rendering lacks %q:\n%s", w, got)
				}
			}
			if tt.not != "" && strings.Contains(got, tt.not) {
				t.Errorf("rendering has %q:\n%s", tt.not, got)
			}
		})
	}
}
