package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results/gate"
	"github.com/meshbench/meshbench/results/schema"
)

// gateFixture is one of the gate package's generated runs (5 repetitions
// of direct, meshproxy and the mTLS pair at 1000 req/s).
func gateFixture(name string) string {
	return filepath.Join("..", "..", "..", "results", "gate", "testdata", name)
}

// doctored writes a copy of fixture with reg applied to meshproxy.
func doctored(t *testing.T, fixture string, reg gate.Regression) string {
	t.Helper()
	r, err := schema.ReadFile(gateFixture(fixture))
	if err != nil {
		t.Fatal(err)
	}
	d, err := gate.Doctor(r, "meshproxy", reg, gate.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "doctored.json")
	if err := schema.WriteFile(path, d); err != nil {
		t.Fatal(err)
	}
	return path
}

// copyTo copies a fixture into dir as name (so a noise file can sit beside it).
func copyTo(t *testing.T, fixture, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(gateFixture(fixture))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGateCommand(t *testing.T) {
	base := gateFixture("quiet-base.json")
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     []string
		noStdout   []string
		skipStdout bool
	}{
		{name: "same code passes", args: []string{"-baseline", base, "-current", gateFixture("quiet-rerun.json")}, code: 0,
			stdout: []string{"noise: σ from the baseline's repetitions", "meshproxy  ", "gate: PASS (14 rows)"}},
		{name: "regression exits 1", args: []string{"-baseline", base, "-current", "DOCTORED"}, code: 1,
			stdout: []string{"meshproxy                                      1000  added_p50", "FAIL", "gate: FAIL (1 of 14 rows failed)"}},
		{name: "floors and k are flags", args: []string{"-baseline", base, "-current", "DOCTORED", "-k", "0", "-floor-added-p50", "0.3"}, code: 0,
			stdout: []string{"gate: PASS"}},
		{name: "cpu in µs", args: []string{"-baseline", base, "-current", base, "-cpu-unit", "us"}, code: 0,
			stdout: []string{" µs "}, noStdout: []string{"x loadgen"}},
		{name: "no baseline", args: []string{"-current", base}, code: 2, stderr: []string{"-baseline is required", "Usage:"}},
		{name: "two modes", args: []string{"-baseline", base, "-current", base, "-doctor"}, code: 2, stderr: []string{"exactly one of -current, -write-noise, -doctor"}},
		{name: "doctor without files", args: []string{"-baseline", base, "-doctor"}, code: 2, stderr: []string{"-doctor needs the current result files"}},
		{name: "bad k", args: []string{"-baseline", base, "-current", base, "-k", "-1"}, code: 2, stderr: []string{"k -1: must be >= 0"}},
		{name: "bad cpu unit", args: []string{"-baseline", base, "-current", base, "-cpu-unit", "ms"}, code: 2, stderr: []string{`cpu unit "ms"`}},
		{name: "missing file", args: []string{"-baseline", "nope.json", "-current", base}, code: 2, stderr: []string{"meshbench gate: open nope.json"}},
		{name: "noise of another baseline", args: []string{"-baseline", base, "-current", base, "-noise", "NOISE-OF-BASE"}, code: 2,
			stderr: []string{`recorded for baseline "20261124T090001Z-gate", not "20261124T090003Z-gate"`}},
	}
	docPath := doctored(t, "quiet-rerun.json", gate.Regression{Metric: gate.MetricAddedP50, By: 0.25})
	otherNoise := filepath.Join(t.TempDir(), "noise.tsv")
	if code, _, errs := runCLI("gate", "-baseline", gateFixture("base.json"), "-write-noise", otherNoise); code != 0 {
		t.Fatalf("write-noise: %d %s", code, errs)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"gate"}, tc.args...)
			for i, a := range args {
				args[i] = strings.NewReplacer("DOCTORED", docPath, "NOISE-OF-BASE", otherNoise).Replace(a)
			}
			code, out, errs := runCLI(args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.noStdout {
				if strings.Contains(out, s) {
					t.Errorf("stdout has %q:\n%s", s, out)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errs)
				}
			}
		})
	}
}

// make baseline writes BASELINE-noise.tsv beside the baseline; the gate
// then takes σ from it, and refuses it once the baseline is replaced.
func TestGateNoiseFileBesideBaseline(t *testing.T) {
	dir := t.TempDir()
	base := copyTo(t, "base.json", dir, "baseline.json")
	noise := filepath.Join(dir, "baseline-noise.tsv")
	code, out, errs := runCLI("gate", "-baseline", base, "-write-noise", noise, gateFixture("noisy.json"))
	if code != 0 || !strings.Contains(out, "wrote "+noise+" (8 metrics, σ from the repetitions of 2 runs of the same code") {
		t.Fatalf("write-noise: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCLI("gate", "-baseline", base, "-current", gateFixture("noisy.json"))
	if code != 0 || !strings.Contains(out, "recorded in "+noise) {
		t.Fatalf("gate with the noise file: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runCLI("gate", "-baseline", base, "-current", gateFixture("noisy.json"), "-noise", "none")
	if code != 0 || !strings.Contains(out, "noise: σ from the baseline's repetitions\n") {
		t.Fatalf("-noise none: exit %d\n%s", code, out)
	}
	// A new baseline under the same name without new noise: refused.
	copyTo(t, "quiet-base.json", dir, "baseline.json")
	code, _, errs = runCLI("gate", "-baseline", base, "-current", gateFixture("noisy.json"))
	if code != 2 || !strings.Contains(errs, noise+`: recorded for baseline "20261124T090001Z-gate", not "20261124T090003Z-gate"`) {
		t.Fatalf("stale noise file: exit %d\n%s", code, errs)
	}
}

func TestGateDoctorCommand(t *testing.T) {
	dir := t.TempDir()
	md, tsv, docs := filepath.Join(dir, "eval.md"), filepath.Join(dir, "eval.tsv"), filepath.Join(dir, "doctored")
	code, out, errs := runCLI("gate", "-baseline", gateFixture("quiet-base.json"), "-doctor", "-md", md, "-tsv", tsv, "-doctor-dir", docs,
		gateFixture("quiet-base.json"), gateFixture("quiet-rerun.json"))
	if code != 0 || out != "" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"**Unchanged code: 2 of 2 current files pass.**", "| added_p99 +50% | yes | meshproxy@1000/added_p99 |", "| added_p50 | +12.7% |"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b)
		}
	}
	if b, err = os.ReadFile(tsv); err != nil || !strings.HasPrefix(string(b), "section\tfile\tregression\tmetric\tby\tresult\trows\n") {
		t.Errorf("tsv: %v\n%s", err, b)
	}
	// Each doctored copy fails the plain gate on exactly its row.
	for _, reg := range gate.DefaultRegressions() {
		p := filepath.Join(docs, "quiet-rerun-"+reg.Metric+".json")
		code, out, _ := runCLI("gate", "-baseline", gateFixture("quiet-base.json"), "-current", p)
		var failing []string
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			for _, w := range f {
				if w == "FAIL" && f[0] != "gate:" {
					failing = append(failing, f[0]+"/"+f[2])
				}
			}
		}
		if code != 1 || strings.Join(failing, " ") != "meshproxy/"+reg.Metric {
			t.Errorf("%s: exit %d, failing rows %v, want only meshproxy/%s\n%s", p, code, failing, reg.Metric, out)
		}
	}
}
