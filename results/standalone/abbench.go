package standalone

import (
	"fmt"
	"path"
	"strings"
)

// renderAB renders scripts/abbench.sh's A/B run: per benchmark, ns/op of
// "before" and "after" as median (min–max) over the rounds, the ratio
// after/before taken within each round (both variants ran back to back, so
// the ratio cancels what the machine did that round), and allocs/op.
func renderAB(g *GoBench, display string) (string, error) {
	type key struct{ pkg, name string }
	type side struct{ ns, allocs, bytes map[int]float64 }
	var order []key
	data := map[key]map[string]*side{}
	for _, r := range g.Results {
		if r.Variant != "before" && r.Variant != "after" {
			return "", fmt.Errorf("%s: result %s has variant %q (want before or after)", g.Path, r.Name, r.Variant)
		}
		k := key{r.Pkg, r.Name}
		if data[k] == nil {
			order = append(order, k)
			data[k] = map[string]*side{}
		}
		s := data[k][r.Variant]
		if s == nil {
			s = &side{ns: map[int]float64{}, allocs: map[int]float64{}, bytes: map[int]float64{}}
			data[k][r.Variant] = s
		}
		s.ns[r.Round] = r.Metrics["ns/op"]
		s.allocs[r.Round] = r.Metrics["allocs/op"]
		s.bytes[r.Round] = r.Metrics["B/op"]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Raw output: `%s` (started %s).\n", display, g.Meta["started"])
	fmt.Fprintf(&b, "Before: `%s`. After: `%s`.\n", g.Meta["before"], g.Meta["after"])
	fmt.Fprintf(&b, "Conditions: %s; %s %s/%s, %s, kernel %s.\n",
		g.Meta["command"], g.Meta["go"], g.Meta["goos"], g.Meta["goarch"], g.Meta["cpu"], g.Meta["kernel"])
	b.WriteString("Median (min–max) over the rounds; the ratio is after/before within each round.\n\n")
	row(&b, "benchmark", "before ns/op", "after ns/op", "after/before", "allocs/op before → after", "rounds")
	row(&b, "---", "---", "---", "---", "---", "---")
	for _, k := range order {
		bef, aft := data[k]["before"], data[k]["after"]
		if bef == nil || aft == nil {
			// A benchmark that exists on one side only (added or removed
			// by the change): shown, never compared.
			one, side := bef, "before only"
			if one == nil {
				one, side = aft, "after only"
			}
			var ns, al []float64
			for round, v := range one.ns {
				ns = append(ns, v)
				al = append(al, one.allocs[round])
			}
			cell := Summarize(ns).format(0)
			b1, a1 := cell, "–"
			if bef == nil {
				b1, a1 = "–", cell
			}
			row(&b, "`"+path.Base(k.pkg)+"."+k.name+"`", b1, a1, side, Summarize(al).format(0), fmt.Sprint(len(ns)))
			continue
		}
		var ratios, bns, ans, ba, aa []float64
		for round, v := range bef.ns {
			bns = append(bns, v)
			ba = append(ba, bef.allocs[round])
			if w, ok := aft.ns[round]; ok && v > 0 {
				ratios = append(ratios, w/v)
			}
		}
		for round, v := range aft.ns {
			ans = append(ans, v)
			aa = append(aa, aft.allocs[round])
		}
		row(&b, "`"+path.Base(k.pkg)+"."+k.name+"`", Summarize(bns).format(0), Summarize(ans).format(0),
			Summarize(ratios).format(3), Summarize(ba).format(0)+" → "+Summarize(aa).format(0), fmt.Sprint(len(ratios)))
	}
	notes(&b, fmt.Sprintf("1-minute load average before each run %s; before the first %s.",
		Summarize(g.Busy["loadavg1"]).format(2), g.Meta["loadavg-at-start"]))
	return b.String(), nil
}
