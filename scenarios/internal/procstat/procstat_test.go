package procstat

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
)

const helperEnv = "PROCSTAT_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "burn" {
		helperBurn()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperBurn is the child process of TestSampleChild: it touches 50 MiB,
// burns about 300 ms of CPU time (CPU, not wall time: the machine is shared),
// then idles so that the sampler sees its final figures before it exits.
func helperBurn() {
	mem := make([]byte, 50<<20)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = byte(i)
	}
	burnCPU(300 * time.Millisecond)
	time.Sleep(400 * time.Millisecond)
	runtime.KeepAlive(mem)
	fmt.Printf("cpu %d\n", processCPU().Milliseconds()) // what the sampler should have seen, at most
}

// burnCPU spins until this process has used d more CPU time.
func burnCPU(d time.Duration) {
	start := processCPU()
	x := uint64(1)
	for processCPU()-start < d {
		for i := 0; i < 100000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	if x == 42 {
		println(x)
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startCmd starts cmd in its own process group, killed and waited for at the
// end of the test.
func startCmd(t *testing.T, cmd *exec.Cmd) <-chan struct{} {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("pid %d not reaped 10 s after SIGKILL", cmd.Process.Pid)
		}
	})
	return done
}

func TestSampleChild(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=burn")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	pid := cmd.Process.Pid
	s, err := Start([]Group{{Name: "burn", Root: pid}}, []int{pid}, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("helper: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("helper still running after 20 s")
	}
	r := s.Stop()
	g := r.Groups[0]
	t.Logf("elapsed %v, group %+v, busy %+v; helper says %q", r.Elapsed, g, r.Busy, out.String())
	var cpuMillis int
	if _, err := fmt.Sscanf(out.String(), "cpu %d", &cpuMillis); err != nil {
		t.Fatalf("helper output %q: %v", out.String(), err)
	}
	self := float64(cpuMillis) / 1000
	if g.Name != "burn" || !slices.Equal(g.PIDs, []int{pid}) {
		t.Errorf("group %q pids %v, want burn [%d]", g.Name, g.PIDs, pid)
	}
	if g.Samples < 3 {
		t.Errorf("%d samples, want at least 3", g.Samples)
	}
	// The helper burns 300 ms after its start-up (which costs more under
	// the race detector); the first sample misses what it used before it,
	// and ticks are 10 ms.
	if g.CPUSeconds < 0.27 || g.CPUSeconds > self+0.03 || g.CPUSeconds < self-0.15 {
		t.Errorf("CPUSeconds %.2f, want about 0.3 and at most the helper's own %.2f", g.CPUSeconds, self)
	}
	if g.RSSPeakMiB < 40 {
		t.Errorf("RSS peak %.1f MiB, want at least 40", g.RSSPeakMiB)
	}
	if g.HWMMiB < 40 {
		t.Errorf("HWM %.1f MiB, want at least 40", g.HWMMiB)
	}
	if g.RSSAvgMiB <= 0 || g.RSSAvgMiB > g.RSSPeakMiB {
		t.Errorf("RSS avg %.1f MiB, peak %.1f", g.RSSAvgMiB, g.RSSPeakMiB)
	}
	if r.Busy.OwnCPUSeconds < g.CPUSeconds {
		t.Errorf("own CPU %.2f s does not include the helper's %.2f s", r.Busy.OwnCPUSeconds, g.CPUSeconds)
	}
	if r.Elapsed < 500*time.Millisecond {
		t.Errorf("elapsed %v, the helper alone ran longer", r.Elapsed)
	}
	// Stop is idempotent
	if r2 := s.Stop(); r2.Elapsed != r.Elapsed {
		t.Errorf("second Stop: %v, first %v", r2.Elapsed, r.Elapsed)
	}
}

func TestGroupWithChildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 2 & sleep 2 & wait")
	startCmd(t, cmd)
	pid := cmd.Process.Pid
	s, err := Start([]Group{{Name: "sh", Root: pid}}, nil, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var desc []int
	deadline := time.Now().Add(5 * time.Second)
	for len(desc) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if desc, err = Descendants(pid); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // a few samples with all three
	r := s.Stop()
	g := r.Groups[0]
	t.Logf("descendants %v, group %+v", desc, g)
	if len(desc) != 3 || desc[0] != pid {
		t.Errorf("Descendants(%d) = %v, want the shell and two sleeps", pid, desc)
	}
	if len(g.PIDs) < 3 || g.PIDs[0] != pid {
		t.Errorf("group pids %v, want %d and its two children", g.PIDs, pid)
	}
	for _, p := range desc {
		if !slices.Contains(g.PIDs, p) {
			t.Errorf("pid %d (a descendant) missing from group pids %v", p, g.PIDs)
		}
	}
	if g.RSSPeakMiB <= 0 || g.Samples < 3 {
		t.Errorf("RSS peak %.2f MiB over %d samples", g.RSSPeakMiB, g.Samples)
	}
}

func TestStartMissingRoot(t *testing.T) {
	if _, err := Start([]Group{{Name: "ghost", Root: 1 << 30}}, nil, 0); err == nil {
		t.Fatal("Start with a pid that does not exist: no error")
	}
	if _, err := Descendants(1 << 30); err == nil {
		t.Fatal("Descendants of a pid that does not exist: no error")
	}
	if _, err := Start(nil, nil, -time.Second); err == nil {
		t.Fatal("negative interval: no error")
	}
}

func TestBusyCountsThisProcess(t *testing.T) {
	s, err := Start(nil, []int{1 << 30}, 20*time.Millisecond) // a missing own pid is ignored
	if err != nil {
		t.Fatal(err)
	}
	burnCPU(200 * time.Millisecond)
	r := s.Stop()
	t.Logf("elapsed %v busy %+v", r.Elapsed, r.Busy)
	if r.Busy.Cores < 1 {
		t.Errorf("cores %d", r.Busy.Cores)
	}
	if r.Busy.OwnCPUSeconds < 0.15 {
		t.Errorf("own CPU %.2f s, want ≥ 0.15 (this process burnt 0.2 s)", r.Busy.OwnCPUSeconds)
	}
	if r.Busy.TotalCPUSeconds < 0.15 {
		t.Errorf("total CPU %.2f s, want ≥ 0.15", r.Busy.TotalCPUSeconds)
	}
	if r.Busy.OtherCPUPercent < 0 || r.Busy.OtherCPUPercent > 100 {
		t.Errorf("other CPU %.1f %%", r.Busy.OtherCPUPercent)
	}
	if len(r.Groups) != 0 {
		t.Errorf("groups %v", r.Groups)
	}
}

// A process born after the first sample counts from 0, and one that exits
// between two samples keeps the last CPU figure seen: the subshell here is
// both.
func TestExitedAndNewProcesses(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 0.1; (i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done); sleep 0.3")
	done := startCmd(t, cmd)
	s, err := Start([]Group{{Name: "sh", Root: cmd.Process.Pid}}, nil, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("shell still running after 20 s")
	}
	r := s.Stop()
	g := r.Groups[0]
	t.Logf("group %+v", g)
	if len(g.PIDs) < 4 {
		t.Errorf("pids %v, want the shell, two sleeps and the subshell", g.PIDs)
	}
	// The subshell's loop takes about 0.3 s of CPU; it ran entirely between
	// the first and the last sample and had exited by then.
	if g.CPUSeconds < 0.1 {
		t.Errorf("CPU %.2f s: the exited subshell's loop is missing", g.CPUSeconds)
	}
}

// A steady-state tick allocates nothing (run without -race by make test's
// second pass, whose -run pattern is 'Alloc').
func TestSampleAllocs(t *testing.T) {
	testenv.SkipUnderRace(t)
	cmd := exec.Command("sh", "-c", "sleep 5 & sleep 5 & wait")
	startCmd(t, cmd)
	time.Sleep(100 * time.Millisecond)
	s, err := Start([]Group{{Name: "sh", Root: cmd.Process.Pid}}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for range 3 {
		s.sample(false)
	}
	allocs := testing.AllocsPerRun(20, func() { s.sample(false) })
	if allocs > 0 {
		t.Fatalf("%.1f allocations per sample, want 0", allocs)
	}
}

func BenchmarkSample(b *testing.B) {
	s, err := Start([]Group{{Name: "self", Root: os.Getpid()}}, nil, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	b.ReportAllocs()
	for b.Loop() {
		s.sample(false)
	}
}
