package metrics

import (
	"math"
	"os"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
)

func TestProcessMetrics(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		testenv.Missing(t, "no /proc/self/stat (is /proc mounted?): %v", err)
	}
	now := float64(time.Now().Unix())
	if rss := residentMemory(); !(rss > 1<<20) {
		t.Errorf("resident memory = %v, want > 1 MiB", rss)
	}
	if cpu := cpuSeconds(); !(cpu >= 0) {
		t.Errorf("cpu seconds = %v, want >= 0", cpu)
	}
	if fds := openFDs(); !(fds >= 3) {
		t.Errorf("open fds = %v, want >= 3 (stdin, stdout, stderr)", fds)
	}
	// The test binary started moments ago; allow for slow CI and clock ticks.
	if st := startTime(); math.Abs(st-now) > 600 {
		t.Errorf("start time = %v, now is %v", st, now)
	}
	if h := heapInuse(); !(h > 0) {
		t.Errorf("heap in use = %v, want > 0", h)
	}
}

func TestAppendFloat(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", -3: "-3", 0.5: "0.5", 123456789: "123456789", 1795434712.94: "1795434712.94",
		1e-7: "1e-07", 1e300: "1e+300", math.Inf(1): "+Inf", math.Inf(-1): "-Inf",
	} {
		if got := string(appendFloat(nil, v)); got != want {
			t.Errorf("appendFloat(%v) = %q, want %q", v, got, want)
		}
	}
	if got := string(appendFloat(nil, math.NaN())); got != "NaN" {
		t.Errorf("appendFloat(NaN) = %q", got)
	}
}
