package kube

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/meshbench/meshbench/results/schema"
	"github.com/meshbench/meshbench/scenarios/internal/machine"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// CLI are the `meshbench run -target kind` settings that come from flags;
// the rest come from the environment (OptionsFromEnv).
type CLI struct {
	OutDir string // result files
	DryRun bool   // print the plan, run nothing
	Keep   bool   // keep the scratch directory (certificates)
	Env    Env    // nil: os.Getenv
	Runner Runner // nil: ExecRunner
}

// Main runs (or, with DryRun, prints) each scenario on kind and returns
// the exit status: 0, 1 when a step failed or nothing could be written,
// 2 for bad settings, 130 when interrupted.
func Main(ctx context.Context, scs []*scenario.Scenario, c CLI, stdout, stderr io.Writer) int {
	o, err := OptionsFromEnv(c.Env)
	if err != nil {
		fmt.Fprintf(stderr, "meshbench run: %v\n", err)
		return 2
	}
	var plans []*Plan
	for _, sc := range scs {
		p, err := BuildPlan(sc, o)
		if err != nil {
			fmt.Fprintf(stderr, "meshbench run: %s: %v\n", sc.File, err)
			return 2
		}
		plans = append(plans, p)
	}
	if c.DryRun {
		for _, p := range plans {
			if err := Print(stdout, p); err != nil {
				fmt.Fprintf(stderr, "meshbench run: %v\n", err)
				return 1
			}
		}
		return 0
	}
	if _, err := exec.LookPath(o.Kubectl); err != nil {
		fmt.Fprintf(stderr, "meshbench run: %s not found (%v): make bench-kind puts the pinned kubectl in bin/kind-tools/bin; "+
			"or set MESHBENCH_KUBECTL\n", o.Kubectl, err)
		return 2
	}
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		fmt.Fprintf(stderr, "meshbench run: %v\n", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "meshbench run: %v\n", err)
		return 1
	}
	runner := c.Runner
	if runner == nil {
		runner = ExecRunner{}
	}
	code := 0
	for _, p := range plans {
		sc := p.Scenario
		work, err := os.MkdirTemp("", "meshbench-kind-"+sc.Name+"-")
		if err != nil {
			fmt.Fprintf(stderr, "meshbench run: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "== %s (%s) on kind: %s\n", sc.Name, sc.File, strings.Join(o.Meshes, ", "))
		ex := &Executor{Runner: runner, Log: stdout, Work: work, MeshbenchPath: self,
			Environment: environment(ctx, filepath.Dir(self))}
		res := ex.Run(ctx, p)
		if c.Keep {
			fmt.Fprintf(stdout, "work directory kept: %s\n", work)
		} else {
			os.RemoveAll(work)
		}
		path := filepath.Join(c.OutDir, res.ID+".json")
		if err := schema.WriteFile(path, res); err != nil {
			fmt.Fprintf(stderr, "meshbench run: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "result: %s\n", path)
		for _, w := range res.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		for _, s := range res.Steps {
			if s.Status == "failed" {
				code = 1
			}
		}
		if ctx.Err() != nil {
			return 130
		}
	}
	return code
}

// environment describes this machine (the kind nodes are containers on
// it) and the meshbench binaries next to this one.
func environment(ctx context.Context, binDir string) schema.Environment {
	programs := map[string]string{}
	for _, name := range []string{"meshproxy", "meshload", "meshbench"} {
		programs[name] = filepath.Join(binDir, name)
	}
	return machine.Environment(ctx, programs)
}
