package runner

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/results/schema"
)

// unexpectedScenario has every backend answer 503 (the echo server's
// ?status parameter), through no proxy and through a meshproxy sidecar.
const unexpectedScenario = `
name: answers-503
load:
  rates: [200]
  connections: 2
  duration: 700ms
  warmup: 0s
  repetitions: 1
  path: /?status=503
targets:
  - {name: direct, kind: direct}
  - {name: meshproxy, kind: meshproxy}
`

// TestUnexpectedStatusFailsTheStep: responses with an unexpected status
// fail their step with the reason (by the runner's verdict, not meshload's
// exit code), the step keeps its load, `meshbench run` exits 1 and still
// writes the result file; with minSuccess 0% the same steps are ok.
func TestUnexpectedStatusFailsTheStep(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "answers-503.yaml")
	if err := os.WriteFile(file, []byte(unexpectedScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bins.Meshbench, "run", "-o", dir, "-bin", binDir, file)
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("meshbench run: exit %d (%v), want 1; output:\n%s", code, err, out)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*-answers-503.json"))
	if len(matches) != 1 {
		t.Fatalf("result files: %v; output:\n%s", matches, out)
	}
	res, err := schema.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 2 {
		t.Fatalf("%d steps, want 2", len(res.Steps))
	}
	for _, s := range res.Steps {
		l := s.Load
		if s.Status != "failed" || l == nil {
			t.Fatalf("%s: status %s, load %v: want failed with its load kept", s.Target, s.Status, l)
		}
		want := fmt.Sprintf("success 0 %% < minSuccess 100 %%: 503 ×%d", l.UnexpectedStatus)
		if s.Error != want || l.UnexpectedStatus < 50 || l.Successes != 0 || l.StatusCodes["503"] != l.UnexpectedStatus {
			t.Errorf("%s: error %q (want %q), load %+v", s.Target, s.Error, want, l)
		}
	}
	for _, sum := range res.Summaries {
		if sum.Repetitions != 0 || sum.Failed != 1 {
			t.Errorf("summary %s: %d repetitions, %d failed; want the failed step left out", sum.Target, sum.Repetitions, sum.Failed)
		}
	}

	// The same answers pass a scenario that accepts any share of failures.
	sc := parse(t, strings.Replace(unexpectedScenario, "  path: /?status=503\n", "  path: /?status=503\n  minSuccess: 0%\n", 1))
	lenient, _, err := Run(context.Background(), sc, Options{Bin: bins, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range lenient.Steps {
		if s.Status != "ok" || s.Load == nil || s.Load.UnexpectedStatus == 0 {
			t.Errorf("minSuccess 0%%: %s: %s %q", s.Target, s.Status, s.Error)
		}
	}
	if s := strays(t); len(s) > 0 {
		t.Fatalf("processes left:\n%s", strings.Join(s, "\n"))
	}
}
