package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results/published"
	"github.com/meshbench/meshbench/results/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func loadFixtures(t *testing.T) ([]*schema.Run, *published.Figures) {
	t.Helper()
	runs, err := LoadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := published.Load(filepath.Join("testdata", "published.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return runs, pub
}

func TestFixturesAreStrict(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	if len(files) < 2 {
		t.Fatalf("want at least 2 fixture result files, have %d", len(files))
	}
	for _, f := range files {
		if _, err := schema.ReadFile(f); err != nil {
			t.Error(err)
		}
	}
}

func TestLoadDirNewestPerScenario(t *testing.T) {
	runs, err := LoadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.ID)
	}
	want := []string{"20261120T140000Z-canary", "20261123T101500Z-default", "20261124T090000Z-outage"} // by scenario name; older default left out
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("LoadDir = %v, want %v", got, want)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDirOrderIndependentAndSkipsHidden(t *testing.T) {
	dir := t.TempDir()
	// The older run under a name that sorts last, so directory order cannot
	// decide; a hidden half-written temp file and a non-JSON file are ignored.
	copyFile(t, "testdata/20261101T090000Z-default.json", filepath.Join(dir, "zzz.json"))
	copyFile(t, "testdata/20261123T101500Z-default.json", filepath.Join(dir, "aaa.json"))
	// The gate's baseline is a reference, not a run to report.
	copyFile(t, "testdata/20261120T140000Z-canary.json", filepath.Join(dir, BaselineFile))
	os.WriteFile(filepath.Join(dir, ".result-123.json"), []byte("{half"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a result"), 0o644)
	runs, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].ID != "20261123T101500Z-default" {
		t.Fatalf("got %d runs (%v), want only the newest default run", len(runs), runs)
	}

	empty, err := LoadDir(t.TempDir())
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty dir: %v, %v", empty, err)
	}
	if _, err := LoadDir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing dir: no error")
	}
}

func TestLoadDirBadFileNamesIt(t *testing.T) {
	cases := []struct {
		name, content, wantErr string
	}{
		{"broken.json", `{"schema": "meshbench.dev/result/v1", "id": `, "unexpected EOF"},
		{"unknown-field.json", `{"schema": "meshbench.dev/result/v1", "surprise": 1}`, "surprise"},
		{"old-schema.json", `{"schema": "meshbench.dev/result/v0"}`, "schema"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyFile(t, "testdata/20261123T101500Z-default.json", filepath.Join(dir, "good.json"))
			bad := filepath.Join(dir, tc.name)
			os.WriteFile(bad, []byte(tc.content), 0o644)
			runs, err := LoadDir(dir)
			if err == nil {
				t.Fatalf("no error, %d runs", len(runs))
			}
			if !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not name %s and %q", err, bad, tc.wantErr)
			}
		})
	}
}

func TestGolden(t *testing.T) {
	runs, pub := loadFixtures(t)
	cases := []struct {
		name string
		runs []*schema.Run
		pub  *published.Figures
	}{
		{"full", runs, pub},
		{"empty", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, out := range []struct {
				ext    string
				render func(io.Writer, []*schema.Run, *published.Figures) error
			}{{"md", Markdown}, {"html", HTML}} {
				var buf bytes.Buffer
				if err := out.render(&buf, tc.runs, tc.pub); err != nil {
					t.Fatal(err)
				}
				// Deterministic: a second rendering is byte-identical.
				var again bytes.Buffer
				out.render(&again, tc.runs, tc.pub)
				if !bytes.Equal(buf.Bytes(), again.Bytes()) {
					t.Fatalf("%s: two renderings differ", out.ext)
				}
				golden := filepath.Join("testdata", tc.name+".golden."+out.ext)
				if *update {
					if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run `go test ./results/report -update` to create it)", err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("%s differs from %s; diff it against the output of -update:\n%s", out.ext, golden, firstDiff(buf.String(), string(want)))
				}
			}
		})
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + itoa(i+1) + ":\n got: " + gl + "\nwant: " + wl
		}
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }

func render(t *testing.T, f func(io.Writer, []*schema.Run, *published.Figures) error, runs []*schema.Run, pub *published.Figures) string {
	t.Helper()
	var buf bytes.Buffer
	if err := f(&buf, runs, pub); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestMarkdownContent checks what the section must say, independently of
// the golden file.
func TestMarkdownContent(t *testing.T) {
	runs, pub := loadFixtures(t)
	md := render(t, Markdown, runs, pub)
	for _, want := range []string{
		"## Scenario default — direct, one meshproxy hop",
		"Run `20261123T101500Z-default`, started 2026-11-23 10:15:00 UTC",
		"mode **loopback**",
		"CPU: AMD EPYC 7B13 (2 cores)",
		"Commit: `e89d012a4c1f` (dirty: uncommitted changes)",
		"nginx `1.22.1`",
		"### Added latency over direct",
		"| direct | 1,000 | 3 | 0 |",
		"baseline",
		"| nginx | 10,000 | 2 | 1 |",
		"| meshproxy † | 10,000 |",
		"† Disturbed: during 1 of 3 steps of meshproxy at 10,000 req/s",
		"vCPU per 1000 req/s = CPU µs per request × 1000 / 1,000,000",
		"| meshproxy-pair-mtls | 1,000 | client-sidecar, server-sidecar |",
		"reset 1, timeout 3",
		"| meshproxy | 1,000 | 3 | reviews-v1 | 90.0 % | 87.4 % | 8,738 | no | reviews-v2 served 12.6 %, outside 10 % ± 2 % |",
		"| meshproxy | 1,000 | 3 | reviews-v2 | 10.0 % | 12.6 % | 1,262 | no |  |",
		"| nginx | 10,000 | 2 | failed | – | – | nginx: exited before ready",
		"- envoy: not on PATH, skipped",
		"## Published figures (not measured here)",
		"**Published, not measured:**",
		"| vCPU per 1000 req/s per proxy | 0.2 | Envoy sidecar, per 1000 requests/s |",
		"- URL: [https://istio.io/latest/docs/ops/deployment/performance-and-scalability/](<https://istio.io/latest/docs/ops/deployment/performance-and-scalability/>)",
		"- Source: Performance &amp; Scalability",
		"- Date: 2021-05-27",
		"mode **netns**",
		"Commit: not a git checkout",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	// Measured tables come before the published section, and the older run
	// of the same scenario is not reported.
	if strings.Index(md, "Published figures") < strings.LastIndex(md, "### Failed and skipped steps") {
		t.Error("published section is not after every measured table")
	}
	if strings.Contains(md, "older run") {
		t.Error("the older default run was reported")
	}
	// Targets in order of first appearance, rates ascending.
	order := []string{"| direct | 1,000 |", "| direct | 10,000 |", "| meshproxy | 1,000 |", "| meshproxy † | 10,000 |", "| meshproxy-pair-mtls | 1,000 |", "| nginx | 1,000 |", "| nginx | 10,000 |"}
	last := -1
	for _, o := range order {
		i := strings.Index(md, o)
		if i <= last {
			t.Fatalf("row %q out of order (at %d, previous at %d)", o, i, last)
		}
		last = i
	}
}

func TestEmptyAndNil(t *testing.T) {
	md := render(t, Markdown, nil, nil)
	for _, want := range []string{"No result files yet.", "`make bench`", "No published figures file was given"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	h := render(t, HTML, nil, nil)
	if !strings.Contains(h, "No result files yet.") || strings.Contains(h, "<svg") {
		t.Error("empty HTML report wrong")
	}
}

// hostile returns the fixture runs with the nginx target renamed to a
// script tag, as a user's scenario file might name it.
func hostile(t *testing.T) []*schema.Run {
	runs, _ := loadFixtures(t)
	const evil = `<script>alert("x")</script>`
	for _, r := range runs {
		for i := range r.Steps {
			if r.Steps[i].Target == "nginx" {
				r.Steps[i].Target = evil
			}
		}
		for i := range r.Summaries {
			if r.Summaries[i].Target == "nginx" {
				r.Summaries[i].Target = evil
			}
		}
		r.Scenario.Description = "a | b\n# not a heading <b>bold</b>"
		r.Warnings = append(r.Warnings, "1. not a list <img src=x>")
	}
	return runs
}

func TestEscaping(t *testing.T) {
	runs := hostile(t)
	h := render(t, HTML, runs, nil)
	if strings.Contains(strings.ToLower(h), "<script") || strings.Contains(h, "<b>") || strings.Contains(h, "<img") {
		t.Fatal("HTML contains unescaped user markup")
	}
	if !strings.Contains(h, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Fatal("escaped target name missing from the HTML")
	}
	// The name shows up in the tables and in the SVG charts (legend, bars).
	svgs := svgRe.FindAllString(h, -1)
	inSVG := 0
	for _, s := range svgs {
		if strings.Contains(s, "&lt;script&gt;") {
			inSVG++
		}
	}
	if inSVG == 0 {
		t.Error("target name not shown (escaped) in any chart")
	}
	wellFormed(t, h)

	md := render(t, Markdown, runs, nil)
	if strings.Contains(md, "<script") || strings.Contains(md, "<b>") || strings.Contains(md, "<img") {
		t.Fatal("Markdown contains raw user HTML")
	}
	if !strings.Contains(md, "| &lt;script&gt;alert(\"x\")&lt;/script&gt; | 1,000 |") {
		t.Error("escaped target name missing from the Markdown tables")
	}
	if !strings.Contains(md, `a \| b \# not a heading`) {
		t.Error("description not flattened and escaped in the heading")
	}
	if !strings.Contains(md, "- 1\\. not a list") {
		t.Error("a warning starting with a list marker is not escaped")
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "# ") {
			t.Errorf("user text made a top-level heading: %q", line)
		}
	}
}

var svgRe = regexp.MustCompile(`(?s)<svg .*?</svg>`)

// wellFormed parses the whole page and each <svg> alone with encoding/xml.
func wellFormed(t *testing.T, page string) {
	t.Helper()
	parse := func(what, s string) {
		d := xml.NewDecoder(strings.NewReader(s))
		d.Strict = true
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatalf("%s is not well-formed XML: %v", what, err)
			}
		}
	}
	parse("the HTML page", strings.TrimPrefix(page, "<!DOCTYPE html>\n"))
	svgs := svgRe.FindAllString(page, -1)
	for i, s := range svgs {
		parse("svg "+itoa(i), s)
		var root struct {
			XMLName xml.Name
			Title   string   `xml:"title"`
			Texts   []string `xml:"text"`
		}
		if err := xml.Unmarshal([]byte(s), &root); err != nil {
			t.Fatal(err)
		}
		if root.XMLName.Space != "http://www.w3.org/2000/svg" || root.XMLName.Local != "svg" {
			t.Errorf("svg %d: root %v", i, root.XMLName)
		}
		if root.Title == "" || len(root.Texts) < 5 {
			t.Errorf("svg %d: title %q, %d text elements (want a title, axis labels, tick values)", i, root.Title, len(root.Texts))
		}
	}
}

func TestHTMLCharts(t *testing.T) {
	runs, pub := loadFixtures(t)
	h := render(t, HTML, runs, pub)
	wellFormed(t, h)
	svgs := svgRe.FindAllString(h, -1)
	// canary: spectrum at 500, p99, memory = 3; default: spectra at 1000 and
	// 10000, p99, memory = 4; outage: spectrum at 1000, p99, memory = 3.
	if len(svgs) != 10 {
		t.Fatalf("%d charts, want 10", len(svgs))
	}
	for _, want := range []string{
		"Latency by percentile at 1,000 req/s",
		"Latency by percentile at 10,000 req/s",
		">99.9 %</text>", ">99.99 %</text>", ">90 %</text>",
		"p99 latency against rate",
		"Memory (peak RSS) per target at its highest rate",
		"latency (ms)",
		"target rate (req/s, log scale)",
		"<polyline",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	// Every table of the Markdown is in the HTML too: compare table headers.
	md := render(t, Markdown, runs, pub)
	if mdTables, htmlTables := strings.Count(md, "\n|---"), strings.Count(h, "<table>"); mdTables != htmlTables {
		t.Errorf("Markdown has %d tables, HTML %d", mdTables, htmlTables)
	}
	if strings.Contains(h, "<script") || strings.Contains(h, "<link") || strings.Contains(h, "@import") || strings.Contains(h, "url(") {
		t.Error("HTML loads or runs something")
	}
}

func TestHTMLNoExternalReferences(t *testing.T) {
	runs, pub := loadFixtures(t)
	h := render(t, HTML, runs, pub)
	rest := strings.ReplaceAll(h, `xmlns="http://www.w3.org/2000/svg"`, "")
	for _, s := range pub.Sources {
		u := esc(s.URL)
		link := `<a href="` + u + `">` + u + `</a>`
		if !strings.Contains(rest, link) {
			t.Errorf("published source link %s missing", link)
		}
		rest = strings.ReplaceAll(rest, link, "")
	}
	for _, scheme := range []string{"http://", "https://", "//cdn", "src="} {
		if i := strings.Index(rest, scheme); i >= 0 {
			t.Errorf("HTML refers outside: %q", rest[max(0, i-60):min(len(rest), i+60)])
		}
	}

	// A source URL that is not http(s) never becomes a link.
	bad := &published.Figures{Sources: []published.Source{{Mesh: "istio", Proxy: "envoy", Version: "1", URL: "javascript:alert(1)", Conditions: "c",
		Figures: []published.Figure{{Metric: "p50_ms", Value: 1}}}}}
	h = render(t, HTML, nil, bad)
	if strings.Contains(h, "href=") || !strings.Contains(h, "javascript:alert(1)") {
		t.Error("a non-http URL became a link (or vanished)")
	}
}

func TestMedianStepAndHelpers(t *testing.T) {
	mk := func(rep int, p99 float64, status string) *schema.Step {
		s := &schema.Step{Repetition: rep, Status: status}
		if status == "ok" {
			s.Load = &schema.Load{LatencyUS: schema.Latency{P99: p99}, Spectrum: []schema.Percentile{{Percentile: 50, US: p99 / 3}}}
		}
		return s
	}
	steps := []*schema.Step{mk(1, 900, "ok"), mk(2, 300, "ok"), mk(3, 500, "ok"), mk(4, 0, "failed")}
	if got := medianStep(steps); got.Repetition != 3 {
		t.Errorf("medianStep: repetition %d, want 3 (p99 500 of 300/500/900)", got.Repetition)
	}
	if got := medianStep(steps[:2]); got.Repetition != 2 {
		t.Errorf("medianStep of two: repetition %d, want the lower, 2", got.Repetition)
	}
	if medianStep(steps[3:]) != nil {
		t.Error("medianStep of failed steps is not nil")
	}

	for _, tc := range []struct {
		got, want string
	}{
		{ms(412), "0.412"},
		{ms(-0.1), "0.000"},
		{ms(1234567), "1,234.567"},
		{dec1(-12345.67), "-12,345.7"},
		{rateText(10000), "10,000"},
		{rateText(0), "closed loop"},
		{rateText(2.5), "2.5"},
		{number(0.2), "0.2"},
		{spreadMS(schema.Spread{Median: 412, Min: 398, Max: 431}), "0.412 (0.398–0.431)"},
		{spreadMS(schema.Spread{Median: 412, Min: 412, Max: 412}), "0.412"},
		{ninesLabel(0), "0 %"}, {ninesLabel(1), "90 %"}, {ninesLabel(2), "99 %"}, {ninesLabel(4), "99.99 %"},
		{mdCode("a`b"), "`` a`b ``"}, {mdCode("x"), "`x`"},
		{truncate("abcdef", 4), "abc…"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if v := vcpuPer1000(27); v != 0.027 {
		t.Errorf("vcpuPer1000(27) = %v, want 0.027", v)
	}
	if top, ticks := linearTicks(0.87); top != 1 || len(ticks) != 6 || ticks[1].label != "0.2" {
		t.Errorf("linearTicks(0.87) = %v, %v", top, ticks)
	}
}

func TestReplaceSection(t *testing.T) {
	gen := []byte("generated\n")
	section := BeginMarker + "\ngenerated\n" + EndMarker
	cases := []struct {
		name, doc, want, wantErr string
	}{
		{
			name: "no markers: after title and its blank line",
			doc:  "# Benchmarks\n\nIntro paragraph.\n",
			want: "# Benchmarks\n\n" + section + "\n\nIntro paragraph.\n",
		},
		{
			name: "no markers: title without blank line",
			doc:  "# Benchmarks\nIntro.\n",
			want: "# Benchmarks\n\n" + section + "\n\nIntro.\n",
		},
		{
			name: "no markers: title is the only line, no newline",
			doc:  "# Benchmarks",
			want: "# Benchmarks\n\n" + section + "\n",
		},
		{
			name: "no markers: first # line wins, ## ignored",
			doc:  "intro\n## Sub\n\n# Title\n\nrest\n",
			want: "intro\n## Sub\n\n# Title\n\n" + section + "\n\nrest\n",
		},
		{
			name: "no title: at the top",
			doc:  "Just text.\n",
			want: section + "\n\nJust text.\n",
		},
		{
			name: "empty doc",
			doc:  "",
			want: section + "\n",
		},
		{
			name: "markers present: replaced, text around kept",
			doc:  "# B\n\nbefore\n" + BeginMarker + "\nold\nstuff\n" + EndMarker + "\nafter\n",
			want: "# B\n\nbefore\n" + section + "\nafter\n",
		},
		{
			name: "markers adjacent",
			doc:  BeginMarker + EndMarker,
			want: section,
		},
		{name: "begin without end", doc: "# B\n" + BeginMarker + "\nold\n", wantErr: "begin marker without end marker"},
		{name: "end without begin", doc: "# B\nold\n" + EndMarker + "\n", wantErr: "end marker without begin marker"},
		{name: "two begins", doc: BeginMarker + "\n" + BeginMarker + "\n" + EndMarker, wantErr: "2 begin markers"},
		{name: "two pairs", doc: BeginMarker + EndMarker + "\n" + BeginMarker + EndMarker, wantErr: "2 begin markers"},
		{name: "two ends", doc: BeginMarker + "\n" + EndMarker + "\n" + EndMarker, wantErr: "2 end markers"},
		{name: "end before begin", doc: EndMarker + "\n" + BeginMarker, wantErr: "before the begin marker"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReplaceSection([]byte(tc.doc), gen)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
			// Idempotent: replacing again changes nothing.
			again, err := ReplaceSection(got, gen)
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("second replace: %v\n%q", err, again)
			}
		})
	}

	if _, err := ReplaceSection([]byte("# B\n"), []byte("x "+EndMarker)); err == nil {
		t.Error("generated text holding a marker was accepted")
	}
	// Without a trailing newline the generated text still ends its line.
	got, _ := ReplaceSection([]byte(BeginMarker+EndMarker), []byte("gen"))
	if string(got) != BeginMarker+"\ngen\n"+EndMarker {
		t.Errorf("got %q", got)
	}
}

func TestReplaceSectionWithRealReport(t *testing.T) {
	runs, pub := loadFixtures(t)
	var gen bytes.Buffer
	if err := Markdown(&gen, runs, pub); err != nil {
		t.Fatal(err)
	}
	doc := []byte("# Benchmarks\n\nHand-written intro.\n\n## Hand-written notes\n\nkept\n")
	out, err := ReplaceSection(doc, gen.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("# Benchmarks\n\n"+BeginMarker+"\n")) || !bytes.HasSuffix(out, []byte(EndMarker+"\n\nHand-written intro.\n\n## Hand-written notes\n\nkept\n")) {
		t.Errorf("unexpected document:\n%s", out)
	}
	// An empty report replaces a full one.
	var empty bytes.Buffer
	Markdown(&empty, nil, nil)
	out2, err := ReplaceSection(out, empty.Bytes())
	if err != nil || bytes.Contains(out2, []byte("meshproxy-pair-mtls")) || !bytes.Contains(out2, []byte("No result files yet.")) {
		t.Errorf("re-replace failed: %v", err)
	}
}

// runByName returns the fixture run of a scenario.
func runByName(t *testing.T, runs []*schema.Run, name string) *schema.Run {
	t.Helper()
	for _, r := range runs {
		if r.Scenario.Name == name {
			return r
		}
	}
	t.Fatalf("no fixture run of scenario %s", name)
	return nil
}

// TestFailedSteps: the outage fixture's meshproxy answered 503 (one
// repetition partly, one wholly). The success column shows it, failed steps
// come before skipped ones (the run measured envoy, skipped, first) with
// their failures by code and kind, the HTML shows them at the top of the
// run, and files without a success classification show a dash, not 0 %.
func TestFailedSteps(t *testing.T) {
	runs, _ := loadFixtures(t)
	md := render(t, Markdown, runs, nil)
	outage := md[strings.Index(md, "## Scenario outage"):]
	for _, want := range []string{
		"**2 of 8 steps failed** (listed under \"Failed and skipped steps\")",
		"| target | rate (req/s) | reps | failed | success | achieved (req/s) |",
		"| direct | 1,000 | 2 | 0 | 100 % |",
		"| meshproxy | 1,000 | 0 | 2 | 48.10 % (0 %–96.20 %) | – |",
		"| nginx | 1,000 | 2 | 0 | 99.97 % (99.94 %–100 %) |",
		"| meshproxy | 1,000 | – | – | 19,991 | 503 10,373 | 2 | reset 2 |",
		"| meshproxy | 1,000 | 1 | failed | 96.20 % | 503 ×377, reset ×2 | success 96.20 % &lt; minSuccess 99.9 %: 503 ×377, reset ×2 |",
		"| meshproxy | 1,000 | 2 | failed | 0 % | 503 ×9996 |",
	} {
		if !strings.Contains(outage, want) {
			t.Errorf("outage report lacks %q", want)
		}
	}
	if f, s := strings.Index(outage, "| 2 | failed |"), strings.Index(outage, "| 1 | skipped |"); f < 0 || s < f {
		t.Errorf("failed steps (at %d) are not listed before skipped ones (at %d)", f, s)
	}
	// Files written before responses were classified: a dash, never 0 %.
	if !strings.Contains(md, "| direct | 500 | 1 | 0 | – | 499.8 |") {
		t.Error("an unclassified run does not show – in the success column")
	}
	if strings.Contains(md[:strings.Index(md, "## Scenario outage")], "| 0 % |") {
		t.Error("an unclassified run shows a success of 0 %")
	}
	unclassified := runByName(t, runs, "outage")
	unclassified.Steps[6].Load.SuccessRatio = nil // meshproxy, repetition 2
	md = render(t, Markdown, []*schema.Run{unclassified}, nil)
	if !strings.Contains(md, "| meshproxy | 1,000 | 2 | failed | – | 503 ×9996 |") || !strings.Contains(md, "| meshproxy | 1,000 | 0 | 2 | 96.20 % |") {
		t.Errorf("a step without a success ratio is not shown as –:\n%s", md)
	}

	// HTML: the failed steps at the top of their run, before the tables.
	h := render(t, HTML, runs, nil)
	run3 := h[strings.Index(h, `<section class="run" id="run-3">`):]
	top, machine := strings.Index(run3, `<section class="failed" id="run-3-failed">`), strings.Index(run3, "<h3>Machine</h3>")
	if top < 0 || machine < top || strings.Count(run3, "<h3>Failed and skipped steps</h3>") != 1 {
		t.Errorf("HTML: failed steps at %d, machine at %d; want them once, at the top", top, machine)
	}
	if strings.Contains(h[:strings.Index(h, `id="run-2"`)], `class="failed"`) {
		t.Error("HTML: a run without failed steps has a failed section")
	}
}
