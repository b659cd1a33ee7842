package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/results/schema"
)

// soakBlocks shows each soak step of a run: its verdict, the disturbances
// it counted, and every proxy's RSS over time (a table of one value per
// minute, and in HTML a line per proxy). None for a run without a soak.
func soakBlocks(v *runView, html bool) []block {
	var out []block
	for i := range v.run.Steps {
		st := &v.run.Steps[i]
		k := st.Soak
		if k == nil {
			continue
		}
		out = append(out, heading{3, "Soak: " + oneLine(st.Target) + " at " + rateText(st.Rate) + " req/s"})
		verdict := paragraph{bold("Passed:"), txt(" failures within the budget, every disturbance done and applied, every judged proxy's RSS flat.")}
		if !k.OK {
			verdict = paragraph{bold("FAILED:"), txt(" " + oneLine(strings.Join(k.Reasons, "; ")) + ".")}
		}
		out = append(out, verdict)
		out = append(out, paragraph{txt(fmt.Sprintf("Failed requests (the load's and the slow reader's): %d; budget %d (%d per kill × %d %s).",
			k.Failures, k.FailureBudget, k.ExpectedFailuresPerKill, k.Kills.Done, plural(k.Kills.Done, "kill", "kills")))})
		out = append(out, soakEventsTable(k))
		out = append(out, soakRSSTable(k))
		if tb, ok := soakRSSMinutes(k); ok {
			out = append(out, tb)
		}
		if html {
			if ch, ok := soakRSSChart(k); ok {
				out = append(out, ch)
			}
		}
	}
	return out
}

func secondsText(s float64) string {
	if s <= 0 {
		return "off"
	}
	return strings.TrimSuffix(strconv.FormatFloat(s, 'f', 3, 64), ".000") + " s"
}

func perProxy(m map[string]int) string {
	if len(m) == 0 {
		return dash
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, oneLine(k)+" "+strconv.Itoa(m[k]))
	}
	return strings.Join(parts, ", ")
}

func soakEventsTable(k *schema.Soak) table {
	tb := table{
		head:  []string{"disturbance", "every", "planned", "done", "applied (by proxy)", "rejected", "notes"},
		right: []bool{false, true, true, true, false, false, false},
	}
	row := func(name string, e schema.SoakEvents, note string) {
		if len(e.Errors) > 0 {
			note = strings.TrimPrefix(note+"; "+oneLine(e.Errors[0]), "; ")
		}
		tb.rows = append(tb.rows, []string{name, secondsText(e.EveryS), strconv.Itoa(e.Planned), strconv.Itoa(e.Done),
			perProxy(e.Applied), perProxy(e.Rejected), note})
	}
	row("config reloads", k.Reloads, "")
	row("certificate rotations", k.Rotations, "")
	kn := k.Kills
	note := ""
	if kn.Done > 0 {
		served := make([]string, len(kn.ServedAfterRestart))
		for i, n := range kn.ServedAfterRestart {
			served[i] = group(strconv.FormatUint(n, 10))
		}
		note = fmt.Sprintf("%s; down %s; %d of %d back; requests served after each restart: %s",
			oneLine(kn.Pod), secondsText(kn.DownS), kn.Restarted, kn.Done, strings.Join(served, ", "))
	}
	row("pod kills", kn.SoakEvents, note)
	sr := k.SlowReader
	if sr.Size > 0 {
		n := fmt.Sprintf("%s responses of %s B at %s B/s, %s MiB read and checked, %d failed", group(strconv.FormatUint(sr.Responses, 10)),
			group(strconv.Itoa(sr.Size)), group(strconv.Itoa(sr.RateBPS)), fixed(float64(sr.Bytes)/(1<<20), 1), sr.Failures)
		if len(sr.Errors) > 0 {
			n += "; " + oneLine(sr.Errors[0])
		}
		tb.rows = append(tb.rows, []string{"slow reader", dash, dash, dash, dash, dash, n})
	} else {
		tb.rows = append(tb.rows, []string{"slow reader", "off", dash, dash, dash, dash, ""})
	}
	return tb
}

func soakRSSTable(k *schema.Soak) table {
	tb := table{
		head:  []string{"proxy", "samples", "reference (MiB)", "last (MiB)", "growth (MiB)", "allowed (MiB)", "verdict"},
		right: []bool{false, true, true, true, true, true, false},
	}
	for _, r := range k.RSS {
		verdict := "flat"
		switch {
		case !r.Judged:
			verdict = "not judged"
		case !r.Flat:
			verdict = "GREW"
		}
		if r.Note != "" {
			verdict += ": " + oneLine(r.Note)
		}
		vals := []string{dec1(r.WarmMiB), dec1(r.LastMiB), dec1(r.GrowthMiB), dec1(r.LimitMiB)}
		if r.WarmMiB == 0 && r.LastMiB == 0 {
			vals = []string{dash, dash, dash, dash}
		}
		tb.rows = append(tb.rows, append(append([]string{oneLine(r.Name), strconv.Itoa(len(r.Samples))}, vals...), verdict))
	}
	return tb
}

// soakRSSMinutes is every proxy's RSS once a minute: the first sample at or
// after each whole minute ("–" while a killed pod was down).
func soakRSSMinutes(k *schema.Soak) (table, bool) {
	end := 0.0
	for _, r := range k.RSS {
		for _, s := range r.Samples {
			end = math.Max(end, s.TS)
		}
	}
	if len(k.RSS) == 0 || end == 0 {
		return table{}, false
	}
	step := 60.0
	if end < 4*60 {
		step = math.Max(math.Ceil(end/10), 1) // short (compressed) soaks: about ten rows
	}
	tb := table{head: []string{"time"}, right: []bool{true}}
	for _, r := range k.RSS {
		tb.head = append(tb.head, oneLine(r.Name)+" (MiB)")
		tb.right = append(tb.right, true)
	}
	for t := 0.0; t <= end; t += step {
		row := []string{secondsText(t)}
		if t == 0 {
			row[0] = "0 s"
		}
		for _, r := range k.RSS {
			cell := dash
			for _, s := range r.Samples {
				if s.TS >= t && s.TS < t+step {
					cell = dec1(s.MiB)
					break
				}
			}
			row = append(row, cell)
		}
		tb.rows = append(tb.rows, row)
	}
	return tb, true
}

// soakRSSChart draws every proxy's RSS against time; a restarted proxy's
// line breaks at each restart.
func soakRSSChart(k *schema.Soak) (chart, bool) {
	var ss []series
	maxX, maxY := 0.0, 0.0
	for i, r := range k.RSS {
		stroke := palette[i%len(palette)]
		var segs [][][2]float64
		var cur [][2]float64
		restart := 0
		for _, s := range r.Samples {
			if restart < len(r.RestartsAtS) && s.TS >= r.RestartsAtS[restart] {
				segs, cur = append(segs, cur), nil
				restart++
			}
			cur = append(cur, [2]float64{s.TS / 60, s.MiB})
			maxX, maxY = math.Max(maxX, s.TS/60), math.Max(maxY, s.MiB)
		}
		segs = append(segs, cur)
		name := oneLine(r.Name)
		for j, seg := range segs {
			if len(seg) == 0 {
				continue
			}
			s := series{stroke: stroke, pts: seg}
			if j == 0 || len(ss) == 0 || ss[len(ss)-1].stroke != stroke {
				s.name = name
			}
			ss = append(ss, s)
		}
	}
	if len(ss) == 0 || maxX == 0 {
		return chart{}, false
	}
	xTop, xt := linearTicks(maxX)
	yTop, yt := linearTicks(maxY * 1.1)
	a := xyAxes{
		title:  "RSS per proxy over the soak",
		xLabel: "minutes from the start of the measured load",
		yLabel: "VmRSS (MiB)",
		xMin:   0, xMax: xTop, yMax: yTop,
		xTicks: xt, yTicks: yt,
	}
	return chart{
		svg:     xyChart(a, ss),
		caption: "VmRSS of every proxy, sampled every " + secondsText(samplePeriod(k)) + "; a restarted proxy's line breaks where a kill took its pod down.",
	}, true
}

// samplePeriod is the time between a soak's first two RSS samples.
func samplePeriod(k *schema.Soak) float64 {
	for _, r := range k.RSS {
		if len(r.Samples) > 1 {
			return math.Round((r.Samples[1].TS-r.Samples[0].TS)*10) / 10
		}
	}
	return 0
}
