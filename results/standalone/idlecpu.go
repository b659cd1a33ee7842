package standalone

import (
	"fmt"
	"strings"
)

// idleCPUTarget is the CPU an idle meshproxy may use (issue 13): 0.2 % of
// one core, so that 1,000 idle sidecars cost two cores, not thirty.
const idleCPUTarget = 0.2

// renderIdleCPU renders scripts/idlecpubench.sh's rows: per target (and
// eventLoops setting of meshproxy), the CPU an idle proxy used and how
// often it woke up, with the verdict against the 0.2 % target.
func renderIdleCPU(t *Table, display string) (string, error) {
	if err := t.need("round", "target", "event_loops", "seconds", "cpu_ms", "cpu_pct", "wakeups_per_s"); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(header(t, display))
	b.WriteString("Median (min–max) over the rounds, a fresh process each, with no traffic while measured. " +
		"CPU is the on-CPU time of all the target's threads (schedstat) as a share of one core; " +
		"wake-ups are their voluntary and involuntary context switches per second.\n\n")
	row(&b, "target", "eventLoops / workers", "CPU % of a core", "CPU ms per minute", "wake-ups per s", "rounds")
	row(&b, "---", "---", "---", "---", "---", "---")
	worst, worstLoops := -1.0, ""
	for _, target := range t.distinct("target") {
		for _, loops := range t.distinct("event_loops") {
			m := eq(t, "target", target, "event_loops", loops)
			pct, err := summaryOf(t, "cpu_pct", m)
			if err != nil {
				return "", err
			}
			if pct.N == 0 {
				continue
			}
			wake, err := summaryOf(t, "wakeups_per_s", m)
			if err != nil {
				return "", err
			}
			// 1 % of a core is 600 ms of CPU per minute.
			perMin := Summary{Median: pct.Median * 600, Min: pct.Min * 600, Max: pct.Max * 600, N: pct.N}
			name, loopsCell := target, loops
			if target == "meshproxy" {
				loopsCell = loopsName(loops)
				if pct.Max > worst {
					worst, worstLoops = pct.Max, loops
				}
			}
			row(&b, name, loopsCell, pct.format(3), perMin.format(1), wake.format(1), fmt.Sprint(pct.N))
		}
	}
	var verdict string
	if worstLoops != "" {
		verdict = fmt.Sprintf("Most CPU an idle meshproxy used in any round: %s %% of a core (eventLoops %s), %s the target of %s %%.\n",
			num(worst, 3), worstLoops, againstTarget(worst, idleCPUTarget), num(idleCPUTarget, 1))
	}
	ml, err := machineLine(t)
	notes(&b, verdict, ml)
	return b.String(), err
}
