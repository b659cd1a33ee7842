package report

import (
	"bytes"
	"strings"
)

// mdEscaper makes user text literal in GitHub-flavoured Markdown: HTML
// brackets become entities (so a target named <script> is shown, never
// interpreted), and Markdown punctuation is backslash-escaped. "|" is
// escaped everywhere, so text is safe in table cells too.
var mdEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;",
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`,
	"|", `\|`, "~", `\~`, "#", `\#`,
)

func mdText(s string) string { return mdEscaper.Replace(flatten(s)) }

// mdCode is a code span holding s literally, with a fence longer than any
// run of backticks inside it.
func mdCode(s string) string {
	s = oneLine(s)
	longest, cur := 0, 0
	for _, r := range s {
		if r == '`' {
			cur++
			longest = max(longest, cur)
		} else {
			cur = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if longest > 0 || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// mdLineStart escapes what would start a list item or block at the
// beginning of a line ("- x", "+ x", "1. x", "2) x").
func mdLineStart(s string) string {
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return `\` + s
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i > 0 && i < len(s) && (s[i] == '.' || s[i] == ')') {
		return s[:i] + `\` + s[i:]
	}
	return s
}

func mdInline(w *bytes.Buffer, parts []inline) {
	for i, p := range parts {
		switch p.kind {
		case textKind:
			if i == 0 {
				w.WriteString(mdLineStart(mdText(p.text)))
			} else {
				w.WriteString(mdText(p.text))
			}
		case codeKind:
			w.WriteString(mdCode(p.text))
		case strongKind:
			w.WriteString("**" + mdText(p.text) + "**")
		case linkKind:
			// safeURL excluded spaces and angle brackets, so <url> is literal.
			w.WriteString("[" + mdText(p.text) + "](<" + p.href + ">)")
		}
	}
}

func renderMarkdown(w *bytes.Buffer, blocks []block) {
	for _, bl := range blocks {
		switch x := bl.(type) {
		case section:
			renderMarkdown(w, x.blocks)
		case heading:
			w.WriteString(strings.Repeat("#", x.level) + " " + mdText(x.text) + "\n\n")
		case paragraph:
			mdInline(w, x)
			w.WriteString("\n\n")
		case bullets:
			for _, item := range x {
				w.WriteString("- ")
				mdInline(w, item)
				w.WriteString("\n")
			}
			w.WriteString("\n")
		case table:
			mdTable(w, x)
		case chart:
			// charts are HTML only
		}
	}
}

func mdTable(w *bytes.Buffer, tb table) {
	w.WriteString("|")
	for _, h := range tb.head {
		w.WriteString(" " + mdText(h) + " |")
	}
	w.WriteString("\n|")
	for i := range tb.head {
		if i < len(tb.right) && tb.right[i] {
			w.WriteString("---:|")
		} else {
			w.WriteString("---|")
		}
	}
	w.WriteString("\n")
	for _, row := range tb.rows {
		w.WriteString("|")
		for _, cell := range row {
			w.WriteString(" " + mdText(cell) + " |")
		}
		w.WriteString("\n")
	}
	w.WriteString("\n")
}
