package standalone

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Table is one raw file written by scripts/hopbench.sh, pairbench.sh,
// loadbench.sh or idlebench.sh: "# key: value" header lines (what ran, where, on which
// commit), a tab-separated header row, then one row per run. "-" in a cell
// means "not measured" (e.g. proxy CPU for the direct path).
type Table struct {
	Path string
	Meta map[string]string
	Cols []string
	Rows [][]string
	idx  map[string]int
}

// ParseTable reads a raw TSV file; path names it in errors.
func ParseTable(path string, r io.Reader) (*Table, error) {
	t := &Table{Path: path, Meta: map[string]string{}, idx: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		switch {
		case text == "":
			continue
		case strings.HasPrefix(text, "#"):
			k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(text, "#")), ":")
			if !ok {
				return nil, fmt.Errorf("%s:%d: header line %q is not \"# key: value\"", path, line, text)
			}
			t.Meta[strings.TrimSpace(k)] = strings.TrimSpace(v)
		case t.Cols == nil:
			t.Cols = strings.Split(text, "\t")
			for i, c := range t.Cols {
				if _, dup := t.idx[c]; dup {
					return nil, fmt.Errorf("%s:%d: column %q appears twice", path, line, c)
				}
				t.idx[c] = i
			}
		default:
			cells := strings.Split(text, "\t")
			if len(cells) != len(t.Cols) {
				return nil, fmt.Errorf("%s:%d: %d cells, the header has %d columns", path, line, len(cells), len(t.Cols))
			}
			t.Rows = append(t.Rows, cells)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.Cols == nil {
		return nil, fmt.Errorf("%s: no header row", path)
	}
	if len(t.Rows) == 0 {
		return nil, fmt.Errorf("%s: no data rows", path)
	}
	return t, nil
}

// need checks that the table has every named column.
func (t *Table) need(cols ...string) error {
	for _, c := range cols {
		if _, ok := t.idx[c]; !ok {
			return fmt.Errorf("%s: no column %q (columns: %s)", t.Path, c, strings.Join(t.Cols, ", "))
		}
	}
	return nil
}

// Str is row i's cell in column c (need has checked c exists).
func (t *Table) Str(i int, c string) string { return t.Rows[i][t.idx[c]] }

// Num is row i's cell in column c as a number; ok is false for "-" or an
// empty cell (not measured). A cell that is neither is an error naming the
// file, row and column.
func (t *Table) Num(i int, c string) (v float64, ok bool, err error) {
	s := t.Str(i, c)
	if s == "-" || s == "" {
		return 0, false, nil
	}
	v, err = strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s: data row %d, column %q: %q is not a number", t.Path, i+1, c, s)
	}
	return v, true, nil
}

// collect gathers column c over the rows for which keep is true, skipping
// cells that were not measured.
func (t *Table) collect(c string, keep func(i int) bool) ([]float64, error) {
	var xs []float64
	for i := range t.Rows {
		if !keep(i) {
			continue
		}
		v, ok, err := t.Num(i, c)
		if err != nil {
			return nil, err
		}
		if ok {
			xs = append(xs, v)
		}
	}
	return xs, nil
}

// distinct lists the values of column c in the order they first appear.
func (t *Table) distinct(c string) []string {
	var out []string
	seen := map[string]bool{}
	for i := range t.Rows {
		if v := t.Str(i, c); !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
