package report

import (
	"bytes"
	"strconv"
)

// The page is also well-formed XML (void elements self-closed, only
// numeric or XML entities), which the tests check with encoding/xml.
const htmlHead = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>meshbench report</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.7rem; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2.5rem; }
h3 { margin-top: 1.8rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.55rem; vertical-align: top; }
th { background: #f3f3f3; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { background: #f3f3f3; padding: 0 0.2rem; border-radius: 3px; }
figure.chart { margin: 1rem 0 1.5rem; }
figure.chart svg { max-width: 100%; height: auto; border: 1px solid #e0e0e0; }
figcaption { font-size: 0.85rem; color: #555; max-width: 760px; }
section.failed { border-left: 4px solid #b00020; background: #fff2f2; padding: 0 1rem 0.5rem; margin: 1rem 0; }
section.failed h3 { color: #b00020; }
section.published { border: 2px dashed #b36b00; background: #fff8ec; padding: 0 1rem 1rem; margin-top: 3rem; }
section.published h2 { border-bottom-color: #b36b00; }
section.published h2::before { content: "PUBLISHED · "; color: #b36b00; }
section.published th { background: #fbe8c8; }
</style>
</head>
<body>
<h1>meshbench report</h1>
`

const htmlTail = `</body>
</html>
`

func htmlInline(w *bytes.Buffer, parts []inline) {
	for _, p := range parts {
		switch p.kind {
		case textKind:
			w.WriteString(esc(p.text))
		case codeKind:
			w.WriteString("<code>" + esc(oneLine(p.text)) + "</code>")
		case strongKind:
			w.WriteString("<strong>" + esc(p.text) + "</strong>")
		case linkKind:
			w.WriteString(`<a href="` + esc(p.href) + `">` + esc(p.text) + "</a>")
		}
	}
}

func renderHTML(w *bytes.Buffer, blocks []block) {
	w.WriteString(htmlHead)
	htmlBlocks(w, blocks)
	w.WriteString(htmlTail)
}

func htmlBlocks(w *bytes.Buffer, blocks []block) {
	for _, bl := range blocks {
		switch x := bl.(type) {
		case section:
			w.WriteString(`<section class="` + esc(x.class) + `" id="` + esc(x.id) + `">` + "\n")
			htmlBlocks(w, x.blocks)
			w.WriteString("</section>\n")
		case heading:
			n := strconv.Itoa(x.level)
			w.WriteString("<h" + n + ">" + esc(oneLine(x.text)) + "</h" + n + ">\n")
		case paragraph:
			w.WriteString("<p>")
			htmlInline(w, x)
			w.WriteString("</p>\n")
		case bullets:
			w.WriteString("<ul>\n")
			for _, item := range x {
				w.WriteString("<li>")
				htmlInline(w, item)
				w.WriteString("</li>\n")
			}
			w.WriteString("</ul>\n")
		case table:
			htmlTable(w, x)
		case chart:
			w.WriteString(`<figure class="chart">` + "\n")
			w.WriteString(x.svg)
			w.WriteString("<figcaption>" + esc(x.caption) + "</figcaption>\n</figure>\n")
		}
	}
}

func htmlTable(w *bytes.Buffer, tb table) {
	class := func(i int) string {
		if i < len(tb.right) && tb.right[i] {
			return ` class="num"`
		}
		return ""
	}
	w.WriteString("<table>\n<thead><tr>")
	for i, h := range tb.head {
		w.WriteString("<th" + class(i) + ">" + esc(h) + "</th>")
	}
	w.WriteString("</tr></thead>\n<tbody>\n")
	for _, row := range tb.rows {
		w.WriteString("<tr>")
		for i, cell := range row {
			w.WriteString("<td" + class(i) + ">" + esc(cell) + "</td>")
		}
		w.WriteString("</tr>\n")
	}
	w.WriteString("</tbody>\n</table>\n")
}
