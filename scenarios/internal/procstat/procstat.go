// Package procstat samples the memory and CPU of proxy processes from /proc
// while a benchmark step runs, and how busy the rest of the machine was.
//
// A Group is one proxy: a root pid and all its descendants (nginx's master
// and workers count as one). Every tick the sampler lists /proc, reads each
// process's /proc/PID/stat (parent pid, utime+stime, start time) to find the
// descendants, and /proc/PID/status (VmRSS, VmHWM) of the groups' processes.
// A process is identified by its pid AND start time, so a reused pid is never
// mistaken for the process that had it before.
//
// CPU is counted per process from the first sample to the last one in which
// the process was seen: a process that exits mid-step keeps its last seen
// value, a process born after the first sample counts from 0. CPU of
// children that have exited and been reaped (cutime/cstime) is not added:
// it was already counted while they were alive, up to the last tick.
//
// Sampling reads /proc through one directory descriptor and reused buffers,
// so a tick allocates nothing once the processes are known.
package procstat

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// DefaultInterval is the sampling period when Start is given 0.
const DefaultInterval = 100 * time.Millisecond

// ClockTicks returns USER_HZ, the unit of utime/stime in /proc/PID/stat and
// of the times in /proc/stat.
//
// It is a constant because the kernel converts to USER_HZ before reporting
// (whatever CONFIG_HZ it was built with), and USER_HZ is 100 on every
// architecture Go supports on Linux. The C way to ask, sysconf(_SC_CLK_TCK),
// is not reachable without cgo (the binaries are built with CGO_ENABLED=0);
// the tests check the constant against AT_CLKTCK in /proc/self/auxv, where
// the kernel hands the same value to libc.
func ClockTicks() int { return clockTicks }

const clockTicks = 100

// Group is one proxy: its root pid; all descendants count too (nginx master
// and workers).
type Group struct {
	Name string
	Root int
}

// Result is what a Sampler measured between Start and Stop.
type Result struct {
	Elapsed time.Duration // first to last sample
	Groups  []GroupResult // in the order of the groups given to Start
	Busy    Busy
}

// GroupResult is one group's memory and CPU.
type GroupResult struct {
	Name string
	PIDs []int // every pid seen in the group, in the order first seen (root first)
	// Samples is the number of samples in which the group had a live process.
	Samples int
	// RSSPeakMiB and RSSAvgMiB: VmRSS summed over the group's live processes
	// per sample; the largest and the mean over Samples.
	RSSPeakMiB, RSSAvgMiB float64
	// HWMMiB is VmHWM (each process's peak RSS) summed over the processes
	// alive at the last sample that saw any.
	HWMMiB float64
	// CPUSeconds is utime+stime from the first to the last sample, summed
	// over the group's processes.
	CPUSeconds float64
}

// Busy says how much CPU the machine spent on work that is not the run's own.
type Busy struct {
	Cores int // CPUs listed in /proc/stat
	// TotalCPUSeconds is the non-idle CPU time of the whole machine
	// (user+nice+system+steal from /proc/stat; irq and softirq left out because
	// loopback traffic of the run itself is processed there) over Elapsed.
	TotalCPUSeconds float64
	// OwnCPUSeconds is the CPU time of the run's own processes (the own roots
	// given to Start, this process, and all their descendants) and of kernel
	// threads over the same window.
	OwnCPUSeconds float64
	// OtherCPUPercent is (Total-Own) / (Elapsed × Cores) × 100, at least 0:
	// how busy other processes kept the machine, in percent of all its CPUs.
	OtherCPUPercent float64
}

type procKey struct {
	pid   int32
	start uint64
}

// acct is one process's CPU: the value it counts from and the last seen.
type acct struct{ base, last uint64 }

type groupState struct {
	name    string
	root    procKey
	pids    []int
	seen    map[int32]struct{}
	procs   map[procKey]acct
	samples int
	rssSum  uint64 // kB, over samples
	rssPeak uint64 // kB
	hwm     uint64 // kB

	// this tick
	rss, tickHWM uint64
	live         int
}

// Sampler samples a set of process groups until Stop.
type Sampler struct {
	mu       sync.Mutex
	fs       *procFS
	groups   []groupState
	ownRoots []procKey
	own      map[procKey]acct

	// reused every tick
	pidBuf  []int32
	entries []procEntry
	index   map[int32]int32
	label   []int16 // per entry: group index, noGroup, or unknown
	ownMark []int8  // per entry: 1 own, 0 not, -1 unknown

	cpu0, cpu1  cpuTimes
	first, last time.Time
	every       time.Duration
	done        chan struct{}
	wg          sync.WaitGroup
	stopOnce    sync.Once
	result      Result
}

const (
	unknownLabel int16 = -2
	noGroup      int16 = -1
	visiting     int16 = -3
)

// Start samples every `every` (DefaultInterval if 0) until Stop. It takes
// the first sample before returning; a group whose root pid is not running
// then is an error. own lists the root pids of every process the run started
// (load generator, servers, proxies): they, this process and all their
// descendants are excluded from Busy.OtherCPUPercent. Own pids that are not
// running are ignored.
func Start(groups []Group, own []int, every time.Duration) (*Sampler, error) {
	if every < 0 {
		return nil, fmt.Errorf("procstat: negative interval %v", every)
	}
	if every == 0 {
		every = DefaultInterval
	}
	fs, err := openProcFS()
	if err != nil {
		return nil, err
	}
	s := &Sampler{
		fs:     fs,
		groups: make([]groupState, len(groups)),
		own:    make(map[procKey]acct),
		index:  make(map[int32]int32),
		every:  every,
		done:   make(chan struct{}),
	}
	// Find the roots' start times, so that a reused pid is never taken for
	// a root later on.
	if s.pidBuf, s.entries, err = fs.scan(s.pidBuf, s.entries, s.index); err != nil {
		fs.close()
		return nil, err
	}
	for i, g := range groups {
		j, ok := s.index[int32(g.Root)]
		if !ok || g.Root <= 0 {
			fs.close()
			return nil, fmt.Errorf("procstat: group %q: pid %d is not running", g.Name, g.Root)
		}
		s.groups[i] = groupState{
			name:  g.Name,
			root:  procKey{int32(g.Root), s.entries[j].start},
			seen:  make(map[int32]struct{}),
			procs: make(map[procKey]acct),
		}
	}
	for _, pid := range append(append([]int(nil), own...), os.Getpid()) {
		if j, ok := s.index[int32(pid)]; ok && pid > 0 {
			s.ownRoots = append(s.ownRoots, procKey{int32(pid), s.entries[j].start})
		}
	}
	if err := s.sample(true); err != nil {
		fs.close()
		return nil, err
	}
	s.wg.Add(1)
	go s.loop()
	return s, nil
}

func (s *Sampler) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.mu.Lock()
			_ = s.sample(false) // a failed tick is skipped; the next one retries
			s.mu.Unlock()
		}
	}
}

// Stop takes a final sample, stops sampling and returns the result. Calling
// it again returns the same result.
func (s *Sampler) Stop() Result {
	s.stopOnce.Do(func() {
		close(s.done)
		s.wg.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		_ = s.sample(false) // on failure the last good sample stands
		s.fs.close()
		s.result = s.compute()
	})
	return s.result
}

// sample takes one sample. It allocates only for processes seen for the
// first time (their map entries and pid lists).
func (s *Sampler) sample(first bool) error {
	b, err := s.fs.read(0, "stat")
	if err != nil {
		return fmt.Errorf("procstat: /proc/stat: %w", err)
	}
	ct, err := parseProcStat(b)
	if err != nil {
		return err
	}
	now := time.Now()
	if s.pidBuf, s.entries, err = s.fs.scan(s.pidBuf, s.entries, s.index); err != nil {
		return err
	}
	n := len(s.entries)
	if cap(s.label) < n {
		s.label = make([]int16, n, n+n/2)
		s.ownMark = make([]int8, n, n+n/2)
	}
	s.label, s.ownMark = s.label[:n], s.ownMark[:n]
	for i := range s.label {
		s.label[i] = unknownLabel
		s.ownMark[i] = -1
	}
	for g := range s.groups {
		gs := &s.groups[g]
		gs.rss, gs.tickHWM, gs.live = 0, 0, 0
	}
	for i := range s.entries {
		g, own := s.classify(int32(i))
		e := &s.entries[i]
		// Kernel threads (kthreadd, pid 2, and its children: ksoftirqd,
		// kworker) count as the run's own: on loopback they mostly process
		// the run's own traffic, and counting them as others flagged quiet
		// steps as disturbed.
		own = own || e.pid == 2 || e.ppid == 2
		if g < 0 && !own {
			continue
		}
		key := procKey{e.pid, e.start}
		if own {
			a, ok := s.own[key]
			if !ok && first {
				a.base = e.cpu
			}
			a.last = e.cpu
			s.own[key] = a
		}
		if g < 0 {
			continue
		}
		gs := &s.groups[g]
		a, ok := gs.procs[key]
		if !ok {
			if first {
				a.base = e.cpu
			}
			if _, seen := gs.seen[e.pid]; !seen {
				gs.seen[e.pid] = struct{}{}
				if key == gs.root {
					gs.pids = append([]int{int(e.pid)}, gs.pids...)
				} else {
					gs.pids = append(gs.pids, int(e.pid))
				}
			}
		}
		a.last = e.cpu
		gs.procs[key] = a
		sb, err := s.fs.read(e.pid, "status")
		if err != nil {
			continue // exited since its stat was read: its CPU is counted, its memory is gone
		}
		rss, hwm, ok := parseStatusKiB(sb)
		if !ok {
			continue // a zombie: exited, not yet reaped, no memory
		}
		gs.rss += rss
		gs.tickHWM += hwm
		gs.live++
	}
	for g := range s.groups {
		gs := &s.groups[g]
		if gs.live == 0 {
			continue
		}
		gs.samples++
		gs.rssSum += gs.rss
		gs.rssPeak = max(gs.rssPeak, gs.rss)
		gs.hwm = gs.tickHWM
	}
	if first {
		s.cpu0, s.first = ct, now
	}
	s.cpu1, s.last = ct, now
	return nil
}

// classify returns entry i's group (the nearest group root among it and its
// ancestors, or noGroup) and whether it is one of the run's own processes.
// Results are memoised per tick; a parent pid whose process started after
// the child is a reused pid, not the parent, and ends the walk.
func (s *Sampler) classify(i int32) (int16, bool) {
	if l := s.label[i]; l != unknownLabel {
		if l == visiting { // a cycle (cannot happen in a consistent snapshot)
			return noGroup, false
		}
		return l, s.ownMark[i] == 1
	}
	e := &s.entries[i]
	key := procKey{e.pid, e.start}
	g := noGroup
	for k := range s.groups {
		if s.groups[k].root == key {
			g = int16(k)
			break
		}
	}
	own := false
	for _, r := range s.ownRoots {
		if r == key {
			own = true
			break
		}
	}
	if (g < 0 || !own) && e.ppid > 0 {
		if j, ok := s.index[e.ppid]; ok && j != i && s.entries[j].start <= e.start {
			s.label[i] = visiting
			pg, pown := s.classify(j)
			if g < 0 {
				g = pg
			}
			own = own || pown
		}
	}
	s.label[i] = g
	if own {
		s.ownMark[i] = 1
	} else {
		s.ownMark[i] = 0
	}
	return g, own
}

func (s *Sampler) compute() Result {
	const mib = 1024.0 // kB per MiB
	hz := float64(clockTicks)
	r := Result{Elapsed: s.last.Sub(s.first), Groups: make([]GroupResult, len(s.groups))}
	for g := range s.groups {
		gs := &s.groups[g]
		var cpu uint64
		for _, a := range gs.procs {
			cpu += a.last - a.base
		}
		gr := GroupResult{
			Name:       gs.name,
			PIDs:       append([]int(nil), gs.pids...),
			Samples:    gs.samples,
			RSSPeakMiB: float64(gs.rssPeak) / mib,
			HWMMiB:     float64(gs.hwm) / mib,
			CPUSeconds: float64(cpu) / hz,
		}
		if gs.samples > 0 {
			gr.RSSAvgMiB = float64(gs.rssSum) / float64(gs.samples) / mib
		}
		r.Groups[g] = gr
	}
	var own uint64
	for _, a := range s.own {
		own += a.last - a.base
	}
	r.Busy = Busy{
		Cores:           s.cpu1.cores,
		TotalCPUSeconds: float64(s.cpu1.busy-min(s.cpu0.busy, s.cpu1.busy)) / hz,
		OwnCPUSeconds:   float64(own) / hz,
	}
	if secs := r.Elapsed.Seconds(); secs > 0 && r.Busy.Cores > 0 {
		r.Busy.OtherCPUPercent = max(0, (r.Busy.TotalCPUSeconds-r.Busy.OwnCPUSeconds)/(secs*float64(r.Busy.Cores))*100)
	}
	return r
}
