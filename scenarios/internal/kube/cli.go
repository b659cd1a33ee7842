package kube

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/meshbench/meshbench/results/schema"
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
	env := schema.Environment{
		CPUModel:  cpuModel(),
		Cores:     runtime.NumCPU(),
		Kernel:    strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		OS:        osPrettyName(),
		GoVersion: runtime.Version(),
		Versions:  map[string]string{},
	}
	env.Hostname, _ = os.Hostname()
	if out, err := command(ctx, "git", "rev-parse", "HEAD"); err == nil {
		env.GitCommit = strings.TrimSpace(out)
		if st, err := command(ctx, "git", "status", "--porcelain", "--untracked-files=no"); err == nil {
			env.GitDirty = strings.TrimSpace(st) != ""
		}
	}
	for _, name := range []string{"meshproxy", "meshload", "meshbench"} {
		if out, err := command(ctx, filepath.Join(binDir, name), "-version"); err == nil {
			env.Versions[name] = strings.TrimSpace(out)
		}
	}
	return env
}

func command(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	return string(out), err
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func osPrettyName() string {
	for _, line := range strings.Split(readFile("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
