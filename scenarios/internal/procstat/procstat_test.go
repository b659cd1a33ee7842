package procstat

import (
	"bufio"
	"fmt"
	"io"
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

// helperBurn is the child process of TestSampleChild. It touches 50 MiB
// and burns 100 ms of CPU time before sampling starts (what the sampler
// must not count), prints "ready" with its CPU time, waits for "go" on
// stdin (sent once the sampler has taken its first sample), burns 300 ms
// (CPU, not wall time: the machine is shared), prints its CPU time at "go"
// and after the burn, and stays alive until stdin closes, so that the
// sampler's final sample sees all of it. These handshakes replace sleeps
// that a loaded machine can outlast.
func helperBurn() {
	mem := make([]byte, 50<<20)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = byte(i)
	}
	burnCPU(100 * time.Millisecond)
	fmt.Printf("ready %d\n", processCPU().Milliseconds())
	in := bufio.NewReader(os.Stdin)
	if line, err := in.ReadString('\n'); err != nil || line != "go\n" {
		fmt.Fprintf(os.Stderr, "helper: want go on stdin, got %q, %v\n", line, err)
		os.Exit(1)
	}
	before := processCPU()
	burnCPU(300 * time.Millisecond)
	fmt.Printf("cpu %d %d\n", before.Milliseconds(), processCPU().Milliseconds())
	_, _ = io.Copy(io.Discard, in)
	runtime.KeepAlive(mem)
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
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	pid := cmd.Process.Pid
	lines := make(chan string, 2)
	go func() {
		br := bufio.NewReader(stdout)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- line
		}
	}()
	next := func(what string) string {
		t.Helper()
		select {
		case line := <-lines:
			return line
		case <-time.After(20 * time.Second):
			t.Fatalf("helper did not say %s within 20 s", what)
		}
		return ""
	}
	ready := next("ready")
	var readyMillis int
	if _, err := fmt.Sscanf(ready, "ready %d", &readyMillis); err != nil {
		t.Fatalf("helper said %q, want ready and its CPU time: %v", ready, err)
	}
	s, err := Start([]Group{{Name: "burn", Root: pid}}, []int{pid}, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	line := next("its CPU time")
	r := s.Stop() // the helper still runs: the final sample sees all it used
	stdin.Close()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("helper: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("helper still running 20 s after its stdin closed")
	}
	g := r.Groups[0]
	t.Logf("elapsed %v, group %+v, busy %+v; helper says %q", r.Elapsed, g, r.Busy, line)
	var beforeMillis, afterMillis int
	if _, err := fmt.Sscanf(line, "cpu %d %d", &beforeMillis, &afterMillis); err != nil {
		t.Fatalf("helper output %q: %v", line, err)
	}
	// The sampler's window starts after "ready" and before "go".
	burnt, most := float64(afterMillis-beforeMillis)/1000, float64(afterMillis-readyMillis)/1000
	if g.Name != "burn" || !slices.Equal(g.PIDs, []int{pid}) {
		t.Errorf("group %q pids %v, want burn [%d]", g.Name, g.PIDs, pid)
	}
	if g.Samples < 3 {
		t.Errorf("%d samples, want at least 3", g.Samples)
	}
	// Between the first sample and the last the helper burnt what it
	// reports (about 0.3 s), and nothing it used before "ready" (at least
	// 0.1 s) counts. /proc reports utime and stime in 10 ms ticks, each
	// rounded down, so each end of the difference may be off by 20 ms.
	if g.CPUSeconds < burnt-0.03 || g.CPUSeconds > most+0.03 {
		t.Errorf("CPUSeconds %.2f, want at least the %.2f s burnt after the first sample and at most the %.2f s used after ready", g.CPUSeconds, burnt, most)
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
	// 300 ms of CPU between the first and the last sample takes at least
	// 300 ms / cores of wall time (the helper's runtime has more threads).
	if least := 300 * time.Millisecond / time.Duration(max(1, r.Busy.Cores)); r.Elapsed < least {
		t.Errorf("elapsed %v, shorter than the %v the helper's 300 ms of CPU needed", r.Elapsed, least)
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
