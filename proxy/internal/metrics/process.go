package metrics

import (
	"bytes"
	"errors"
	"math"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat. It is
// 100 on every mainstream Linux architecture, and reading it for real needs
// sysconf(3) through cgo, which a static sidecar binary avoids.
const clockTicks = 100

// RegisterProcessMetrics registers the standard process and Go runtime
// metrics under the names the official client uses, so existing dashboards
// and alerts (RSS, CPU, fd leaks, goroutine leaks) work unchanged:
//
//	process_resident_memory_bytes  gauge    /proc/self/statm
//	process_cpu_seconds_total      counter  /proc/self/stat utime+stime
//	process_open_fds               gauge    entries of /proc/self/fd
//	process_start_time_seconds     gauge    /proc/self/stat starttime + boot time
//	go_goroutines                  gauge    runtime.NumGoroutine
//	go_memstats_heap_inuse_bytes   gauge    runtime/metrics, no stop-the-world
//
// Everything is sampled at scrape time, so nothing costs anything between
// scrapes. The process_* metrics are registered only where /proc/self is
// readable (Linux); the go_* ones everywhere. Calling it twice is harmless.
func (r *Registry) RegisterProcessMetrics() {
	if _, err := procSelfStat(); err == nil {
		r.GaugeFunc("process_resident_memory_bytes", "Resident memory size in bytes.", residentMemory)
		r.CounterFunc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", cpuSeconds)
		r.GaugeFunc("process_open_fds", "Number of open file descriptors.", openFDs)
		start := startTime()
		r.GaugeFunc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
			func() float64 { return start })
	}
	r.GaugeFunc("go_goroutines", "Number of goroutines that currently exist.",
		func() float64 { return float64(runtime.NumGoroutine()) })
	r.GaugeFunc("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", heapInuse)
}

// residentMemory reads the second field of /proc/self/statm (resident pages).
func residentMemory() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return math.NaN()
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return math.NaN()
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return math.NaN()
	}
	return float64(pages) * float64(os.Getpagesize())
}

// procSelfStat returns the fields of /proc/self/stat after the command name,
// so that index i holds field i+3 of proc(5) ("state" is field 3). The name
// is skipped by its closing parenthesis because it may contain spaces.
func procSelfStat() ([][]byte, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, errors.New("metrics: malformed /proc/self/stat")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return nil, errors.New("metrics: short /proc/self/stat")
	}
	return f, nil
}

// statField parses field n (1-based, as numbered in proc(5)) of /proc/self/stat.
func statField(f [][]byte, n int) (uint64, error) {
	return strconv.ParseUint(string(f[n-3]), 10, 64)
}

// cpuSeconds is utime (field 14) + stime (field 15) in seconds.
func cpuSeconds() float64 {
	f, err := procSelfStat()
	if err != nil {
		return math.NaN()
	}
	utime, err1 := statField(f, 14)
	stime, err2 := statField(f, 15)
	if err1 != nil || err2 != nil {
		return math.NaN()
	}
	return float64(utime+stime) / clockTicks
}

// openFDs counts the entries of /proc/self/fd (including the one used to
// list it, as the official client does).
func openFDs() float64 {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return math.NaN()
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return math.NaN()
	}
	return float64(len(names))
}

// startTime is boot time (btime in /proc/stat) plus starttime (field 22 of
// /proc/self/stat, clock ticks after boot). It is computed once at
// registration; if /proc does not tell, the registration time is a close
// enough stand-in because metrics are registered at startup.
func startTime() float64 {
	fallback := float64(time.Now().UnixNano()) / 1e9
	f, err := procSelfStat()
	if err != nil {
		return fallback
	}
	ticks, err := statField(f, 22)
	if err != nil {
		return fallback
	}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return fallback
	}
	for line := range bytes.Lines(stat) {
		if rest, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			btime, err := strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 64)
			if err != nil {
				return fallback
			}
			return float64(btime) + float64(ticks)/clockTicks
		}
	}
	return fallback
}

// heapInuse mirrors runtime.MemStats.HeapInuse (objects plus the unused part
// of in-use spans) from runtime/metrics, which, unlike ReadMemStats, does not
// stop the world.
var heapInuse = func() func() float64 {
	var mu sync.Mutex // scrapes may overlap; samples is reused between them
	samples := []rtmetrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
	}
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		rtmetrics.Read(samples)
		var sum float64
		for _, s := range samples {
			if s.Value.Kind() != rtmetrics.KindUint64 {
				return math.NaN()
			}
			sum += float64(s.Value.Uint64())
		}
		return sum
	}
}()
