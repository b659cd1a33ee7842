package report

import (
	"html"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/results/schema"
)

// A small SVG writer: every attribute value and text is escaped (valid in
// both HTML and XML), coordinates have one decimal, so output is stable.

type svgWriter struct{ b strings.Builder }

func esc(s string) string { return html.EscapeString(s) }

func coord(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if s == "-0.0" {
		s = "0.0"
	}
	return s
}

func (w *svgWriter) raw(s ...string) {
	for _, x := range s {
		w.b.WriteString(x)
	}
}

// el writes a complete empty element <name k="v" .../>; attrs alternate
// name and value.
func (w *svgWriter) el(name string, attrs ...string) {
	w.raw("<", name)
	for i := 0; i+1 < len(attrs); i += 2 {
		w.raw(" ", attrs[i], `="`, esc(attrs[i+1]), `"`)
	}
	w.raw("/>\n")
}

func (w *svgWriter) open(width, height float64, title string) {
	w.raw(`<svg xmlns="http://www.w3.org/2000/svg" width="`, coord(width), `" height="`, coord(height),
		`" viewBox="0 0 `, coord(width), " ", coord(height), `" role="img" font-family="sans-serif" font-size="12">`, "\n")
	w.raw("<title>", esc(title), "</title>\n")
	w.el("rect", "x", "0", "y", "0", "width", coord(width), "height", coord(height), "fill", "#ffffff")
	w.text(width/2, 22, "middle", 15, "bold", title)
}

func (w *svgWriter) close() string {
	w.raw("</svg>\n")
	return w.b.String()
}

func (w *svgWriter) line(x1, y1, x2, y2 float64, stroke string, width float64, dash string) {
	attrs := []string{"x1", coord(x1), "y1", coord(y1), "x2", coord(x2), "y2", coord(y2), "stroke", stroke, "stroke-width", coord(width)}
	if dash != "" {
		attrs = append(attrs, "stroke-dasharray", dash)
	}
	w.el("line", attrs...)
}

func (w *svgWriter) polyline(pts [][2]float64, stroke string, width float64, dash string) {
	var p strings.Builder
	for i, pt := range pts {
		if i > 0 {
			p.WriteByte(' ')
		}
		p.WriteString(coord(pt[0]) + "," + coord(pt[1]))
	}
	attrs := []string{"points", p.String(), "fill", "none", "stroke", stroke, "stroke-width", coord(width), "stroke-linejoin", "round"}
	if dash != "" {
		attrs = append(attrs, "stroke-dasharray", dash)
	}
	w.el("polyline", attrs...)
}

func (w *svgWriter) rect(x, y, width, height float64, fill string, opacity float64) {
	w.el("rect", "x", coord(x), "y", coord(y), "width", coord(width), "height", coord(height), "fill", fill, "fill-opacity", coord(opacity))
}

func (w *svgWriter) circle(x, y, r float64, fill string) {
	w.el("circle", "cx", coord(x), "cy", coord(y), "r", coord(r), "fill", fill)
}

// text writes a text element; weight is "" or "bold".
func (w *svgWriter) text(x, y float64, anchor string, size int, weight, s string) {
	w.raw(`<text x="`, coord(x), `" y="`, coord(y), `" text-anchor="`, anchor, `" font-size="`, strconv.Itoa(size), `"`)
	if weight != "" {
		w.raw(` font-weight="`, weight, `"`)
	}
	w.raw(">", esc(s), "</text>\n")
}

// vtext writes text rotated to read bottom-up (a y axis label).
func (w *svgWriter) vtext(x, y float64, s string) {
	w.raw(`<text x="`, coord(x), `" y="`, coord(y), `" text-anchor="middle" transform="rotate(-90 `, coord(x), " ", coord(y), `)">`, esc(s), "</text>\n")
}

// palette is a fixed colour-blind-safe palette (Okabe–Ito), assigned by a
// target's position in the run; the direct baseline is grey and dashed.
var palette = []string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#8c564b"}

const directColour = "#777777"

func (v *runView) colour(target string) (stroke, dash string) {
	if v.isDirect(target) {
		return directColour, "6 4"
	}
	i := 0
	for _, t := range v.targets[:v.tindex[target]] {
		if !v.isDirect(t) {
			i++
		}
	}
	return palette[i%len(palette)], ""
}

// Axes.

type tick struct {
	v     float64
	label string
}

// niceStep is a 1, 2, 2.5 or 5 × 10^k step that cuts span into about n.
func niceStep(span float64, n int) float64 {
	if !(span > 0) {
		span = 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5} {
		if raw <= m*mag*(1+1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// linearTicks returns the axis top (≥ max) and ticks from 0.
func linearTicks(max float64) (float64, []tick) {
	step := niceStep(max, 5)
	top := math.Ceil(max/step-1e-9) * step
	if top <= 0 {
		top = step
	}
	dec := 0
	for dec < 6 && math.Abs(step*math.Pow(10, float64(dec))-math.Round(step*math.Pow(10, float64(dec)))) > 1e-6 {
		dec++
	}
	var ticks []tick
	for i := 0; ; i++ {
		v := float64(i) * step
		if v > top*(1+1e-9) {
			break
		}
		ticks = append(ticks, tick{v, fixed(v, dec)})
	}
	return top, ticks
}

// series is one line of an XY chart, in axis units.
type series struct {
	name         string
	stroke, dash string
	pts          [][2]float64
	lo, hi       []float64 // whiskers per point (optional, same length as pts)
	markers      bool
	offsetPx     float64 // horizontal shift so whiskers of several series do not overlap
}

type xyAxes struct {
	title          string
	xLabel, yLabel string
	xMin, xMax     float64
	yMax           float64
	xTicks, yTicks []tick
}

const (
	chartW  = 760.0
	chartH  = 380.0
	padL    = 72.0
	padR    = 200.0
	padT    = 40.0
	padB    = 58.0
	legendX = chartW - padR + 20
)

func xyChart(a xyAxes, ss []series) string {
	var w svgWriter
	w.open(chartW, chartH, a.title)
	pw, ph := chartW-padL-padR, chartH-padT-padB
	sx := func(x float64) float64 { return padL + (x-a.xMin)/(a.xMax-a.xMin)*pw }
	sy := func(y float64) float64 { return padT + ph - y/a.yMax*ph }

	for _, tk := range a.yTicks {
		y := sy(tk.v)
		w.line(padL, y, padL+pw, y, "#e5e5e5", 1, "")
		w.line(padL-5, y, padL, y, "#333333", 1, "")
		w.text(padL-8, y+4, "end", 11, "", tk.label)
	}
	for _, tk := range a.xTicks {
		x := sx(tk.v)
		w.line(x, padT, x, padT+ph, "#f0f0f0", 1, "")
		w.line(x, padT+ph, x, padT+ph+5, "#333333", 1, "")
		w.text(x, padT+ph+18, "middle", 11, "", tk.label)
	}
	w.line(padL, padT+ph, padL+pw, padT+ph, "#333333", 1, "")
	w.line(padL, padT, padL, padT+ph, "#333333", 1, "")
	w.text(padL+pw/2, chartH-12, "middle", 12, "", a.xLabel)
	w.vtext(18, padT+ph/2, a.yLabel)

	for _, s := range ss {
		pts := make([][2]float64, len(s.pts))
		for i, p := range s.pts {
			pts[i] = [2]float64{sx(p[0]) + s.offsetPx, sy(p[1])}
		}
		for i := range s.lo {
			x := pts[i][0]
			w.line(x, sy(s.lo[i]), x, sy(s.hi[i]), s.stroke, 1.5, "")
			w.line(x-4, sy(s.lo[i]), x+4, sy(s.lo[i]), s.stroke, 1.5, "")
			w.line(x-4, sy(s.hi[i]), x+4, sy(s.hi[i]), s.stroke, 1.5, "")
		}
		if len(pts) > 1 {
			w.polyline(pts, s.stroke, 2, s.dash)
		}
		if s.markers || len(pts) == 1 {
			for _, p := range pts {
				w.circle(p[0], p[1], 3.5, s.stroke)
			}
		}
	}

	// Legend: one entry per named series (a line drawn in several
	// segments names only its first).
	i := -1
	for _, s := range ss {
		if s.name == "" {
			continue
		}
		i++
		y := padT + 8 + float64(i)*20
		w.line(legendX, y, legendX+24, y, s.stroke, 2.5, s.dash)
		w.text(legendX+30, y+4, "start", 12, "", truncate(s.name, 24))
	}
	return w.close()
}

// Latency spectrum: x = -log10(1 - p/100), "nines".

func nines(p float64) float64 { return -math.Log10(1 - p/100) }

func ninesLabel(i int) string {
	switch i {
	case 0:
		return "0 %"
	case 1:
		return "90 %"
	}
	s := "99"
	if i > 2 {
		s += "." + strings.Repeat("9", i-2)
	}
	return s + " %"
}

// medianStep is the ok step with a spectrum whose p99 is the median of
// the target's repetitions at this rate (the lower one for an even count).
func medianStep(steps []*schema.Step) *schema.Step {
	var cand []*schema.Step
	for _, s := range steps {
		if s.Status == "ok" && s.Load != nil && len(s.Load.Spectrum) > 0 {
			cand = append(cand, s)
		}
	}
	if len(cand) == 0 {
		return nil
	}
	sort.SliceStable(cand, func(i, j int) bool {
		a, b := cand[i].Load.LatencyUS.P99, cand[j].Load.LatencyUS.P99
		if a != b {
			return a < b
		}
		return cand[i].Repetition < cand[j].Repetition
	})
	return cand[(len(cand)-1)/2]
}

func spectrumChart(v *runView, rate float64) (chart, bool) {
	type line struct {
		target string
		rep    int
		pts    [][2]float64
	}
	var lines []line
	maxX, maxY := 0.0, 0.0
	for _, target := range v.targets {
		st := medianStep(v.steps[tr{target, rate}])
		if st == nil {
			continue
		}
		l := line{target: target, rep: st.Repetition}
		for _, p := range st.Load.Spectrum {
			if !(p.Percentile >= 0 && p.Percentile < 100) || math.IsNaN(p.US) || math.IsInf(p.US, 0) {
				continue // 100 % is infinitely many nines
			}
			x, y := nines(p.Percentile), p.US/1000
			l.pts = append(l.pts, [2]float64{x, y})
			maxX, maxY = math.Max(maxX, x), math.Max(maxY, y)
		}
		if len(l.pts) > 0 {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return chart{}, false
	}
	xTop := int(math.Ceil(maxX - 1e-9))
	xTop = min(max(xTop, 2), 6)
	var xt []tick
	for i := 0; i <= xTop; i++ {
		xt = append(xt, tick{float64(i), ninesLabel(i)})
	}
	yTop, yt := linearTicks(maxY)
	a := xyAxes{
		title:  "Latency by percentile at " + rateText(rate) + " req/s",
		xLabel: "percentile (each step right is one more nine)",
		yLabel: "latency (ms)",
		xMin:   0, xMax: float64(xTop), yMax: yTop,
		xTicks: xt, yTicks: yt,
	}
	var ss []series
	var reps []string
	for _, l := range lines {
		stroke, dash := v.colour(l.target)
		var pts [][2]float64
		for _, p := range l.pts {
			if p[0] <= float64(xTop) {
				pts = append(pts, p)
			}
		}
		ss = append(ss, series{name: oneLine(l.target), stroke: stroke, dash: dash, pts: pts})
		reps = append(reps, oneLine(l.target)+" repetition "+strconv.Itoa(l.rep))
	}
	return chart{
		svg:     xyChart(a, ss),
		caption: "Latency percentile spectrum at " + rateText(rate) + " req/s, one line per target: the repetition whose p99 is the median (" + strings.Join(reps, ", ") + "). The 100 % point (maximum) is not drawn.",
	}, true
}

// p99 against rate, with min–max whiskers.
func p99Chart(v *runView) (chart, bool) {
	var rates []float64
	for _, r := range v.rates {
		if r > 0 {
			rates = append(rates, r)
		}
	}
	if len(rates) == 0 {
		return chart{}, false
	}
	var ss []series
	maxY := 0.0
	for _, target := range v.targets {
		stroke, dash := v.colour(target)
		s := series{name: oneLine(target), stroke: stroke, dash: dash, markers: true}
		for _, sum := range v.sums {
			if sum.Target != target || sum.Rate <= 0 || !measured(sum) {
				continue
			}
			s.pts = append(s.pts, [2]float64{math.Log10(sum.Rate), sum.P99US.Median / 1000})
			s.lo = append(s.lo, sum.P99US.Min/1000)
			s.hi = append(s.hi, sum.P99US.Max/1000)
			maxY = math.Max(maxY, sum.P99US.Max/1000)
		}
		if len(s.pts) > 0 {
			ss = append(ss, s)
		}
	}
	if len(ss) == 0 {
		return chart{}, false
	}
	for i := range ss {
		ss[i].offsetPx = (float64(i) - float64(len(ss)-1)/2) * 5
	}
	lo, hi := math.Log10(rates[0]), math.Log10(rates[len(rates)-1])
	pad := math.Max(0.15*(hi-lo), 0.15)
	var xt []tick
	for _, r := range rates {
		xt = append(xt, tick{math.Log10(r), rateText(r)})
	}
	yTop, yt := linearTicks(maxY)
	a := xyAxes{
		title:  "p99 latency against rate",
		xLabel: "target rate (req/s, log scale)",
		yLabel: "p99 latency (ms)",
		xMin:   lo - pad, xMax: hi + pad, yMax: yTop,
		xTicks: xt, yTicks: yt,
	}
	return chart{
		svg:     xyChart(a, ss),
		caption: "p99 latency (median over repetitions) against target rate; whiskers span the repetitions' min–max.",
	}, true
}

// Memory: horizontal bars of RSS median per target at its highest rate,
// with the min–max marked.
func memoryChart(v *runView) (chart, bool) {
	type bar struct {
		target string
		rate   float64
		rss    schema.Spread
	}
	var bars []bar
	maxX := 0.0
	for _, target := range v.targets {
		if v.isDirect(target) {
			continue
		}
		var best *schema.Summary
		for i := range v.sums {
			s := &v.sums[i]
			if s.Target == target && s.RSSMiB != nil && measured(*s) {
				best = s // sums are sorted by rate, so the last is the highest
			}
		}
		if best == nil {
			continue
		}
		bars = append(bars, bar{target, best.Rate, *best.RSSMiB})
		maxX = math.Max(maxX, best.RSSMiB.Max)
	}
	if len(bars) == 0 {
		return chart{}, false
	}
	const (
		left, right = 180.0, 250.0
		rowH, barH  = 34.0, 20.0
	)
	height := padT + 10 + float64(len(bars))*rowH + padB
	pw := chartW - left - right
	xTop, xt := linearTicks(maxX)
	sx := func(x float64) float64 { return left + x/xTop*pw }
	axisY := padT + 10 + float64(len(bars))*rowH

	var w svgWriter
	title := "Memory (peak RSS) per target at its highest rate"
	w.open(chartW, height, title)
	for _, tk := range xt {
		x := sx(tk.v)
		w.line(x, padT, x, axisY, "#e5e5e5", 1, "")
		w.line(x, axisY, x, axisY+5, "#333333", 1, "")
		w.text(x, axisY+18, "middle", 11, "", tk.label)
	}
	w.line(left, axisY, left+pw, axisY, "#333333", 1, "")
	w.line(left, padT, left, axisY, "#333333", 1, "")
	w.text(left+pw/2, height-12, "middle", 12, "", "peak RSS (MiB), summed over the target's proxies")
	for i, br := range bars {
		stroke, _ := v.colour(br.target)
		yc := padT + 10 + float64(i)*rowH + rowH/2
		w.text(left-8, yc+4, "end", 12, "", truncate(oneLine(br.target), 24))
		w.rect(left, yc-barH/2, sx(br.rss.Median)-left, barH, stroke, 0.75)
		x1, x2 := sx(br.rss.Min), sx(br.rss.Max)
		w.line(x1, yc, x2, yc, "#222222", 1.5, "")
		w.line(x1, yc-6, x1, yc+6, "#222222", 1.5, "")
		w.line(x2, yc-6, x2, yc+6, "#222222", 1.5, "")
		w.text(math.Max(x2, sx(br.rss.Median))+8, yc+4, "start", 11, "",
			spreadOf(br.rss, dec1)+" MiB at "+rateText(br.rate)+" req/s")
	}
	return chart{
		svg:     w.close(),
		caption: "Bars are the median peak RSS over the repetitions; the line with end marks spans min–max.",
	}, true
}
