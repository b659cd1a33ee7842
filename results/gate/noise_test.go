package gate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results/schema"
)

func TestNoiseRoundTrip(t *testing.T) {
	opt := DefaultOptions()
	n := MeasureNoise(load(t, "base.json"), opt, load(t, "noisy.json"))
	if len(n.Entries) != 8 || n.Entries[0].N != 10 {
		t.Fatalf("%d entries, first N %d; want 8 entries of 10 repetitions (2 runs × 5)", len(n.Entries), n.Entries[0].N)
	}
	var buf bytes.Buffer
	if err := WriteNoise(&buf, n); err != nil {
		t.Fatal(err)
	}
	golden(t, "noise.golden", buf.Bytes())
	got, err := ReadNoise(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got.Baseline != n.Baseline || strings.Join(got.Runs, ",") != strings.Join(n.Runs, ",") || len(got.Entries) != len(n.Entries) {
		t.Fatalf("read back %+v", got)
	}
	for i := range n.Entries {
		if got.Entries[i] != n.Entries[i] {
			t.Errorf("entry %d: %+v, want %+v", i, got.Entries[i], n.Entries[i])
		}
	}
	if err := got.Check(load(t, "base.json"), opt); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// σ pooled over more runs is what the gate uses: a noise file from the
// baseline and a quiet run gives a different limit than the baseline alone.
func TestNoiseFromMoreRuns(t *testing.T) {
	opt := DefaultOptions()
	base, cur := load(t, "base.json"), load(t, "noisy.json")
	alone := row(t, Compare(base, cur, nil, opt), mp+"@1000/added_p99")
	pooled := row(t, Compare(base, cur, MeasureNoise(base, opt, load(t, "noisy.json"), generate("x", 99, 1)), opt), mp+"@1000/added_p99")
	if alone.Sigma == pooled.Sigma || alone.Limit == pooled.Limit {
		t.Errorf("pooled noise did not change σ or the limit: %v/%v vs %v/%v", alone.Sigma, alone.Limit, pooled.Sigma, pooled.Limit)
	}
	// The reference value is the median of every pooled repetition, and
	// n_b counts them: one run's median is one draw, and a baseline run
	// that sat high would let a regression of that size through.
	n := MeasureNoise(base, opt, load(t, "noisy.json"), generate("x", 99, 1))
	e, _ := n.lookup(mp, 1000, "added_p99")
	if pooled.NB != e.N || e.N <= alone.NB {
		t.Errorf("n_b = %d, want the %d pooled repetitions (alone: %d)", pooled.NB, e.N, alone.NB)
	}
	if pooled.Baseline != e.Pooled || e.Pooled == alone.Baseline {
		t.Errorf("baseline value %v, want the pooled median %v (the baseline's own: %v)", pooled.Baseline, e.Pooled, alone.Baseline)
	}
}

// A version 1 noise file (no pooled median) still reads; its reference is
// the baseline's own median, as it was when it was written.
func TestReadNoiseV1(t *testing.T) {
	var buf bytes.Buffer
	n := MeasureNoise(load(t, "base.json"), DefaultOptions(), load(t, "noisy.json"))
	if err := WriteNoise(&buf, n); err != nil {
		t.Fatal(err)
	}
	var v1 []string
	for i, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		switch {
		case i == 0:
			l = noiseHeaderV1
		case i >= 3:
			l = l[:strings.LastIndex(l, "\t")]
		}
		v1 = append(v1, l)
	}
	got, err := ReadNoise(strings.NewReader(strings.Join(v1, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got.Entries {
		if e.Pooled != e.Median || e.Median != n.Entries[i].Median || e.N != n.Entries[i].N {
			t.Errorf("entry %d: %+v, want pooled = median = %v", i, e, n.Entries[i].Median)
		}
	}
}

func TestNoiseCheck(t *testing.T) {
	opt := DefaultOptions()
	tests := []struct {
		name string
		f    func(n *Noise, base *schema.Run, o *Options)
		err  string
	}{
		{"matches", func(*Noise, *schema.Run, *Options) {}, ""},
		{"other baseline", func(n *Noise, _ *schema.Run, _ *Options) { n.Baseline = "20261101T000000Z-gate" }, `recorded for baseline "20261101T000000Z-gate", not "20261124T090001Z-gate"`},
		{"baseline replaced under the same ID", func(_ *Noise, b *schema.Run, _ *Options) {
			edit(b, mp, func(s *schema.Step) { s.Load.LatencyUS.P50 += 50 })
		}, "meshproxy@1000/added_p50 median"},
		{"other cpu unit", func(_ *Noise, _ *schema.Run, o *Options) { o.CPUUnit = CPUUnitUS }, `recorded in "x loadgen", the gate measures "µs"`},
		{"entry missing", func(n *Noise, _ *schema.Run, _ *Options) { n.Entries = n.Entries[1:] }, "no entry for meshproxy@1000/added_p50"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := MeasureNoise(load(t, "base.json"), opt)
			n.File = "results/baseline-noise.tsv"
			base, o := load(t, "base.json"), opt
			tc.f(n, base, &o)
			err := n.Check(base, o)
			if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "results/baseline-noise.tsv: ") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestReadNoiseErrors(t *testing.T) {
	var good bytes.Buffer
	WriteNoise(&good, MeasureNoise(load(t, "base.json"), DefaultOptions()))
	lines := strings.Split(good.String(), "\n")
	tests := []struct {
		name string
		edit func([]string)
		err  string
	}{
		{"header", func(l []string) { l[0] = "# something else" }, "line 1: want"},
		{"baseline line", func(l []string) { l[1] = "baseline x" }, "line 2"},
		{"columns", func(l []string) { l[3] = "target\trate" }, "line 4: want the columns"},
		{"field count", func(l []string) { l[4] = "meshproxy\t1000" }, "line 5: 2 fields, want 9"},
		{"metric", func(l []string) { l[4] = strings.Replace(l[4], "added_p50", "p50", 1) }, `line 5: metric "p50"`},
		{"number", func(l []string) { l[4] = strings.Replace(l[4], "\t1000\t", "\tfast\t", 1) }, `line 5: rate "fast": not a number`},
		{"sigma", func(l []string) {
			f := strings.Split(l[4], "\t")
			f[7] = "1"
			l[4] = strings.Join(f, "\t")
		}, "line 5: sigma 1 is not 1.4826 × mad"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := append([]string(nil), lines...)
			tc.edit(l)
			_, err := ReadNoise(strings.NewReader(strings.Join(l, "\n")))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
}

func TestNoiseFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "baseline-noise.tsv")
	if DefaultNoisePath(filepath.Join(dir, "baseline.json")) != path {
		t.Fatalf("DefaultNoisePath = %q", DefaultNoisePath(filepath.Join(dir, "baseline.json")))
	}
	if err := WriteNoiseFile(path, MeasureNoise(load(t, "base.json"), DefaultOptions())); err != nil {
		t.Fatal(err)
	}
	n, err := ReadNoiseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n.File != path || !strings.Contains(n.Source(), "recorded in "+path) {
		t.Errorf("File %q, Source %q", n.File, n.Source())
	}
	os.WriteFile(path, []byte("nonsense\n"), 0o644)
	if _, err := ReadNoiseFile(path); err == nil || !strings.HasPrefix(err.Error(), path+": line 1") {
		t.Errorf("err %v, want it to name %s and line 1", err, path)
	}
}
