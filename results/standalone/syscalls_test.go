package standalone

import (
	"fmt"
	"strings"
	"testing"
)

// TestRenderSyscalls: one table per load; groups add their events within
// a round before the median over rounds is taken (epoll_pwait + epoll_wait),
// and a target that was not measured at a load gets no row there.
func TestRenderSyscalls(t *testing.T) {
	var b strings.Builder
	b.WriteString("# bench: syscalls\nround\ttarget\tworkers\tload\trequests\tevent\tcount\tper_request\tloadavg1\tother_cores\tsteal_pct\n")
	add := func(round int, target, n, load, event string, per float64) {
		fmt.Fprintf(&b, "%d\t%s\t%s\t%s\t5000\t%s\t1\t%g\t0.1\t0.0\t0.0\n", round, target, n, load, event, per)
	}
	for r, v := range []float64{1, 2, 4} {
		add(r+1, "meshproxy", "1", "1000", "epoll_pwait", v)
		add(r+1, "meshproxy", "1", "1000", "epoll_wait", 10)
		add(r+1, "meshproxy", "1", "1000", "futex", 0.5*v)
		add(r+1, "nginx", "1", "1000", "epoll_wait", 1.8)
	}
	add(1, "nginx", "1", "sat", "futex", 0)
	tab, err := ParseTable("x.tsv", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := renderSyscalls(tab, "x.tsv")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"**1000 req/s**",
		"| meshproxy | 1 | – | – | 12.00 (11.00–14.00) | – | – | 1.00 (0.50–2.00) |",
		"| nginx | 1 | – | – | 1.80 | – |",
		"**saturation (wrk, 16 connections)**",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rendering lacks %q:\n%s", want, got)
		}
	}
	sat := got[strings.Index(got, "**saturation"):]
	if strings.Contains(sat, "| meshproxy |") {
		t.Errorf("a meshproxy row at saturation, where it was not measured:\n%s", sat)
	}
}
