package standalone

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// rawDir lays out a results/standalone-like directory from fixtures:
// name -> fixture under testdata/ (or "" for an empty file that is not a
// raw file).
func rawDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, fixture := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var data []byte
		if fixture != "" {
			var err error
			if data, err = os.ReadFile(filepath.Join("testdata", fixture)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNewest(t *testing.T) {
	dir := rawDir(t, map[string]string{
		"README.md":                             "",
		"hopbench/20261101T000000Z.tsv":         "hopbench/20261201T100000Z.tsv",
		"hopbench/20261201T000000Z.tsv":         "hopbench/20261201T100000Z.tsv",
		"hopbench/20261130T000000Z-serial.tsv":  "hopbench/20261201T100000Z.tsv",
		"hopbench/notes.txt":                    "",
		"pairbench/20261201T000000Z-loops0.tsv": "pairbench/20261201T100000Z-loops0.tsv",
		"pairbench/20261202T000000Z-loops1.tsv": "pairbench/20261201T100000Z-loops0.tsv",
		"pairbench/20261130T000000Z-loops1.tsv": "pairbench/20261201T100000Z-loops0.tsv",
		"gobench/20261201T000000Z.txt":          "gobench/20261201T100000Z.txt",
	})
	got, err := Newest(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"hopbench":         filepath.Join(dir, "hopbench/20261201T000000Z.tsv"),
		"hopbench-serial":  filepath.Join(dir, "hopbench/20261130T000000Z-serial.tsv"),
		"pairbench-loops0": filepath.Join(dir, "pairbench/20261201T000000Z-loops0.tsv"),
		"pairbench-loops1": filepath.Join(dir, "pairbench/20261202T000000Z-loops1.tsv"),
		"gobench":          filepath.Join(dir, "gobench/20261201T000000Z.txt"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Newest = %v\nwant %v", got, want)
	}
}

func TestUpdate(t *testing.T) {
	dir := rawDir(t, map[string]string{
		"hopbench/20261201T100000Z.tsv":         "hopbench/20261201T100000Z.tsv",
		"loadbench/20261201T100000Z.tsv":        "loadbench/20261201T100000Z.tsv",
		"pairbench/20261201T100000Z-loops0.tsv": "pairbench/20261201T100000Z-loops0.tsv",
	})
	hop, err := RenderFile(filepath.Join(dir, "hopbench/20261201T100000Z.tsv"), "results/standalone/hopbench/20261201T100000Z.tsv")
	if err != nil {
		t.Fatal(err)
	}
	load, err := RenderFile(filepath.Join(dir, "loadbench/20261201T100000Z.tsv"), "results/standalone/loadbench/20261201T100000Z.tsv")
	if err != nil {
		t.Fatal(err)
	}
	doc := "# Benchmarks\n\nProse before, kept as is.\n\n" +
		BeginMarker("hopbench") + "\nstale table\n" + EndMarker("hopbench") + "\n\nProse between.\n\n" +
		BeginMarker("loadbench") + "\n" + EndMarker("loadbench") + "\nProse after.\n"
	want := "# Benchmarks\n\nProse before, kept as is.\n\n" +
		BeginMarker("hopbench") + "\n" + hop + EndMarker("hopbench") + "\n\nProse between.\n\n" +
		BeginMarker("loadbench") + "\n" + load + EndMarker("loadbench") + "\nProse after.\n"
	// the document sits in the parent of results/ so paths show as results/standalone/...
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "results"), 0o755); err != nil {
		t.Fatal(err)
	}
	sdir := filepath.Join(root, "results", "standalone")
	if err := os.Rename(dir, sdir); err != nil {
		t.Fatal(err)
	}
	got, unused, err := Update([]byte(doc), sdir, root)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("Update:\n%s\nwant:\n%s", got, want)
	}
	if !reflect.DeepEqual(unused, []string{"pairbench-loops0"}) {
		t.Errorf("unused keys %v, want [pairbench-loops0]", unused)
	}
	again, _, err := Update(got, sdir, root)
	if err != nil || string(again) != string(got) {
		t.Errorf("a second Update changed the document (err %v):\n%s", err, again)
	}
}

func TestUpdateErrors(t *testing.T) {
	dir := rawDir(t, map[string]string{"hopbench/20261201T100000Z.tsv": "hopbench/20261201T100000Z.tsv"})
	b, e := BeginMarker, EndMarker
	tests := []struct {
		name, doc, want string
	}{
		{"no raw data", b("loadbench") + "\n" + e("loadbench") + "\n", `section "loadbench" has no raw file`},
		{"begin without end", "x\n" + b("hopbench") + "\ny\n", "1 begin markers and 0 end markers"},
		{"end without begin", "x\n" + e("hopbench") + "\n", "0 begin markers and 1 end markers"},
		{"mismatched keys", b("hopbench") + "\n" + e("loadbench") + "\n", `section "hopbench": its begin marker is followed by the end marker of "loadbench"`},
		{"end before begin", e("hopbench") + "\n" + b("hopbench") + "\n", `section "hopbench": its begin marker is followed by the end marker of "hopbench"`},
		{"nested", b("hopbench") + "\n" + b("hopbench") + "\n" + e("hopbench") + "\n" + e("hopbench") + "\n", `section "hopbench": its begin marker is followed by the end marker`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Update([]byte(tt.doc), dir, dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Update error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"no header row", "# bench: hopbench\n", "no header row"},
		{"no rows", "a\tb\n", "no data rows"},
		{"short row", "a\tb\n1\n", "1 cells, the header has 2 columns"},
		{"bad header line", "# no colon here\na\n1\n", `is not "# key: value"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTable("x.tsv", strings.NewReader(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseTable error %v, want one containing %q", err, tt.want)
			}
		})
	}
	// a column a renderer needs, missing: named with the file
	dir := t.TempDir()
	p := filepath.Join(dir, "hopbench", "20261201T100000Z.tsv")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("target\trun\nmeshproxy\t1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := RenderFile(p, p); err == nil || !strings.Contains(err.Error(), `no column "req_per_s"`) || !strings.Contains(err.Error(), p) {
		t.Fatalf("RenderFile error %v, want the missing column and the file named", err)
	}
	// a cell that is not a number: named with file, row and column
	tab, err := ParseTable("x.tsv", strings.NewReader("target\treq_per_s\nmeshproxy\t-\nnginx\tfast\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := tab.Num(0, "req_per_s"); ok || err != nil {
		t.Errorf(`Num of "-" = ok %v, err %v; want not measured, no error`, ok, err)
	}
	if _, _, err := tab.Num(1, "req_per_s"); err == nil || !strings.Contains(err.Error(), `x.tsv: data row 2, column "req_per_s": "fast" is not a number`) {
		t.Errorf("Num error %v, want file, row, column and value named", err)
	}
}

// TestBenchmarksMDUpToDate fails when a raw file under results/standalone is
// newer than the section BENCHMARKS.md shows, or a section was edited by
// hand: run `make report-standalone` and commit both.
func TestBenchmarksMDUpToDate(t *testing.T) {
	doc, err := os.ReadFile("../../BENCHMARKS.md")
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := Update(doc, ".", "../..")
	if err != nil {
		t.Fatalf("BENCHMARKS.md: %v", err)
	}
	if string(got) != string(doc) {
		t.Fatal("BENCHMARKS.md's stand-alone sections differ from what results/standalone gives: run make report-standalone")
	}
}
