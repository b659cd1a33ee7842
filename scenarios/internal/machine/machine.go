// Package machine describes the machine a benchmark ran on, for the
// environment block of a result file.
package machine

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/meshbench/meshbench/results/schema"
)

// Environment describes this machine and the programs given by name and
// path (each run with -version). Anything that cannot be read is left empty
// rather than guessed.
func Environment(ctx context.Context, programs map[string]string) schema.Environment {
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
	for name, path := range programs {
		if out, err := command(ctx, path, "-version"); err == nil {
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
