// Package cpus pins the processes of a run to sets of CPUs, as `taskset -c`
// would, so that the load generator and the system it measures do not
// migrate between cores during a step.
//
// On a small VM, where a wake-up crosses cores decides much of a loopback
// request's latency: with meshload, echo and a one-loop meshproxy free to
// move, the latency meshproxy adds at 1000 req/s ranged 87–181 µs over six
// 5-s pairs; with meshload on CPU 0 and echo and proxy on CPU 1 it ranged
// 48–57 µs (same machine, same hour). Pinning is how fortio, wrk and
// Nighthawk users make such numbers repeatable.
package cpus

import (
	"fmt"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxCPU is the highest CPU number a list may name (unix.CPUSet's size).
const MaxCPU = 1023

// Parse reads a CPU list as taskset -c and cpuset.cpus write it: comma-separated
// CPU numbers and inclusive ranges, "1", "0,2", "2-3", "0,4-7". It returns the
// CPUs sorted, without duplicates; an empty list, a bad number, a range that
// runs backwards or a CPU above MaxCPU is an error naming the item.
func Parse(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty CPU list (want CPU numbers and ranges, e.g. \"1\" or \"0,2-3\")")
	}
	seen := map[int]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isRange := strings.Cut(item, "-")
		first, err := cpuNumber(lo, item)
		if err != nil {
			return nil, err
		}
		last := first
		if isRange {
			if last, err = cpuNumber(hi, item); err != nil {
				return nil, err
			}
			if last < first {
				return nil, fmt.Errorf("CPU range %q runs backwards", item)
			}
		}
		for c := first; c <= last; c++ {
			seen[c] = true
		}
	}
	list := make([]int, 0, len(seen))
	for c := range seen {
		list = append(list, c)
	}
	sort.Ints(list)
	return list, nil
}

func cpuNumber(s, item string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("CPU list item %q: want a CPU number (0-%d) or a range like 2-3", item, MaxCPU)
	}
	if n > MaxCPU {
		return 0, fmt.Errorf("CPU list item %q: CPU %d above %d", item, n, MaxCPU)
	}
	return n, nil
}

// Format writes cpus back as a list with ranges ("0,2-3").
func Format(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}

// Allowed returns the CPUs this process may run on (its affinity mask,
// which a container's cpuset or an outer taskset narrows).
func Allowed() ([]int, error) { return Of(0) }

// Check returns an error unless every CPU of want is in allowed; what names
// the list in the message (e.g. "cpus.load").
func Check(what string, want, allowed []int) error {
	ok := map[int]bool{}
	for _, c := range allowed {
		ok[c] = true
	}
	var missing []int
	for _, c := range want {
		if !ok[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s %s: CPU %s not available here (this process may use CPUs %s)", what, Format(want), Format(missing), Format(allowed))
	}
	return nil
}

// Start starts cmd with its CPU affinity set to cpus (every CPU it may use
// when cpus is empty). The child inherits the affinity of the thread that
// forks it, so Start sets it on a locked thread around cmd.Start and puts
// the thread's own mask back afterwards; every thread the child creates
// (Go's runtime threads included) inherits it from the start, which setting
// it on the running process's pid could not do.
func Start(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	var want unix.CPUSet
	for _, c := range cpus {
		want.Set(c)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return fmt.Errorf("read CPU affinity: %w", err)
	}
	if err := unix.SchedSetaffinity(0, &want); err != nil {
		return fmt.Errorf("pin to CPUs %s: %w", Format(cpus), err)
	}
	startErr := cmd.Start()
	if err := unix.SchedSetaffinity(0, &old); err != nil {
		// The thread stays pinned: keep it locked to this goroutine's
		// death rather than let the runtime schedule other work on it.
		runtime.LockOSThread()
		if startErr == nil {
			startErr = fmt.Errorf("restore CPU affinity after starting %s: %w", cmd.Path, err)
		}
	}
	return startErr
}

// Of returns the affinity of process pid (0: the calling thread).
func Of(pid int) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &set); err != nil {
		return nil, fmt.Errorf("read CPU affinity of pid %d: %w", pid, err)
	}
	var list []int
	for c := 0; c <= MaxCPU; c++ {
		if set.IsSet(c) {
			list = append(list, c)
		}
	}
	return list, nil
}
