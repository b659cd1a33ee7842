package procstat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// procEntry is what one tick learns about one process from /proc/PID/stat.
type procEntry struct {
	pid, ppid int32
	cpu       uint64 // utime+stime, clock ticks
	start     uint64 // starttime, clock ticks after boot: (pid, start) names a process
}

// statFields is what parseStat extracts from a /proc/PID/stat line.
type statFields struct {
	ppid  int32
	utime uint64
	stime uint64
	start uint64
}

var errBadStat = errors.New("procstat: malformed /proc/PID/stat")

// parseStat parses a /proc/PID/stat line. The second field, comm, is the
// program name in parentheses and may itself contain spaces and parentheses
// ("(a) (b)" is a valid comm), so the line is split at its LAST ')': every
// field after it is a plain number or the one-letter state. Fields counted
// from 1 as in proc(5): 3 state, 4 ppid, 14 utime, 15 stime, 22 starttime.
func parseStat(b []byte) (statFields, error) {
	var f statFields
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return f, errBadStat
	}
	rest := b[i+1:]
	field := 2 // comm was field 2
	for len(rest) > 0 && field < 22 {
		// skip spaces
		j := 0
		for j < len(rest) && rest[j] == ' ' {
			j++
		}
		rest = rest[j:]
		k := 0
		for k < len(rest) && rest[k] != ' ' && rest[k] != '\n' {
			k++
		}
		if k == 0 {
			break
		}
		tok := rest[:k]
		rest = rest[k:]
		field++
		switch field {
		case 4:
			v, ok := parseUint(tok)
			if !ok {
				return f, errBadStat
			}
			f.ppid = int32(v)
		case 14:
			v, ok := parseUint(tok)
			if !ok {
				return f, errBadStat
			}
			f.utime = v
		case 15:
			v, ok := parseUint(tok)
			if !ok {
				return f, errBadStat
			}
			f.stime = v
		case 22:
			v, ok := parseUint(tok)
			if !ok {
				return f, errBadStat
			}
			f.start = v
		}
	}
	if field < 22 {
		return f, errBadStat
	}
	return f, nil
}

// parseUint parses decimal digits without allocating.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// parseStatusKiB returns the VmRSS and VmHWM lines of /proc/PID/status in kB;
// ok is false when there is no VmRSS line: a zombie or a kernel thread, which
// has no memory of its own.
func parseStatusKiB(b []byte) (rss, hwm uint64, ok bool) {
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		var line []byte
		if nl < 0 {
			line, b = b, nil
		} else {
			line, b = b[:nl], b[nl+1:]
		}
		if len(line) < 6 || line[0] != 'V' || line[1] != 'm' {
			continue
		}
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			rss, ok = statusValue(line[6:]), true
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			hwm = statusValue(line[6:])
		}
	}
	return rss, hwm, ok
}

// statusValue parses "   1234 kB".
func statusValue(b []byte) uint64 {
	b = bytes.TrimLeft(b, " \t")
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		b = b[:i]
	}
	v, _ := parseUint(b)
	return v
}

// cpuTimes is the aggregate "cpu" line of /proc/stat.
type cpuTimes struct {
	busy  uint64 // user+nice+system+steal (irq and softirq left out, see parseProcStat)
	total uint64 // busy + idle + iowait
	cores int    // cpuN lines
}

// parseProcStat parses /proc/stat: the aggregate "cpu" line (user nice system
// idle iowait irq softirq steal guest guest_nice, in clock ticks) and the
// number of "cpuN" lines. guest and guest_nice are already part of user and
// nice, so they are not added again.
func parseProcStat(b []byte) (cpuTimes, error) {
	var t cpuTimes
	found := false
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		var line []byte
		if nl < 0 {
			line, b = b, nil
		} else {
			line, b = b[:nl], b[nl+1:]
		}
		if !bytes.HasPrefix(line, []byte("cpu")) {
			continue
		}
		if len(line) > 3 && line[3] >= '0' && line[3] <= '9' {
			t.cores++
			continue
		}
		if len(line) < 4 || line[3] != ' ' {
			continue
		}
		var v [8]uint64
		n := 0
		rest := line[3:]
		for n < len(v) {
			rest = bytes.TrimLeft(rest, " ")
			if len(rest) == 0 {
				break
			}
			k := bytes.IndexByte(rest, ' ')
			if k < 0 {
				k = len(rest)
			}
			x, ok := parseUint(rest[:k])
			if !ok {
				return t, fmt.Errorf("procstat: /proc/stat: bad cpu field %q", rest[:k])
			}
			v[n] = x
			n++
			rest = rest[k:]
		}
		if n < 4 {
			return t, fmt.Errorf("procstat: /proc/stat: cpu line has %d fields", n)
		}
		// user nice system idle iowait irq softirq steal (older kernels have
		// fewer). irq and softirq are not counted as busy: on loopback the
		// run's own traffic is processed in softirq, which the kernel does not
		// charge to any process, so counting it made a quiet machine look
		// 15-20 % busy "from others" during an mTLS pair step. steal (the
		// hypervisor giving the CPU to another guest) is a disturbance and
		// counts.
		t.busy = v[0] + v[1] + v[2] + v[7]
		t.total = t.busy + v[3] + v[4]
		found = true
	}
	if !found {
		return t, errors.New("procstat: /proc/stat: no cpu line")
	}
	if t.cores == 0 {
		t.cores = 1
	}
	return t, nil
}

// procFS reads /proc without allocating in the steady state: one directory
// file descriptor for /proc, getdents into a reused buffer, and openat with
// a NUL-terminated relative path built in a reused buffer (syscall.Open would
// copy its string argument on every call).
type procFS struct {
	dirfd int
	dents []byte
	path  []byte
	buf   []byte
}

func openProcFS() (*procFS, error) {
	fd, err := syscall.Open("/proc", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("procstat: open /proc: %w", err)
	}
	return &procFS{dirfd: fd, dents: make([]byte, 32<<10), path: make([]byte, 0, 64), buf: make([]byte, 4096)}, nil
}

func (p *procFS) close() {
	if p.dirfd >= 0 {
		syscall.Close(p.dirfd)
		p.dirfd = -1
	}
}

// pids appends the numeric entries of /proc to dst.
func (p *procFS) pids(dst []int32) ([]int32, error) {
	if _, err := syscall.Seek(p.dirfd, 0, 0); err != nil {
		return dst, fmt.Errorf("procstat: rewind /proc: %w", err)
	}
	for {
		n, err := syscall.ReadDirent(p.dirfd, p.dents)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return dst, fmt.Errorf("procstat: read /proc: %w", err)
		}
		if n <= 0 {
			return dst, nil
		}
		dst = appendDirentPIDs(dst, p.dents[:n])
	}
}

// appendDirentPIDs parses linux_dirent64 records (ino u64, off i64, reclen
// u16, type u8, name NUL-terminated) and appends names that are numbers.
func appendDirentPIDs(dst []int32, b []byte) []int32 {
	for len(b) >= 19 {
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < 19 || reclen > len(b) {
			return dst
		}
		name := b[19:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if v, ok := parseUint(name); ok && v > 0 && v <= 1<<31-1 {
			dst = append(dst, int32(v))
		}
		b = b[reclen:]
	}
	return dst
}

// read reads /proc/<pid>/<file> (pid 0: /proc/<file>) into p.buf, growing it
// when the file does not fit, and returns the bytes read.
func (p *procFS) read(pid int32, file string) ([]byte, error) {
	p.path = p.path[:0]
	if pid > 0 {
		p.path = strconv.AppendInt(p.path, int64(pid), 10)
		p.path = append(p.path, '/')
	}
	p.path = append(p.path, file...)
	p.path = append(p.path, 0)
	for {
		fd, _, errno := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(p.dirfd),
			uintptr(unsafe.Pointer(&p.path[0])), syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return nil, errno
		}
		n, err := readAll(int(fd), p.buf)
		syscall.Close(int(fd))
		if err != nil {
			return nil, err
		}
		if n < len(p.buf) {
			return p.buf[:n], nil
		}
		p.buf = make([]byte, 2*len(p.buf)) // did not fit: read again, bigger
	}
}

func readAll(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// gone reports whether err means the process went away between listing and
// reading (ENOENT on open, ESRCH on read of an exiting process).
func gone(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH)
}

// scan reads /proc/PID/stat of every process into dst (reused) and fills
// index (cleared) with pid -> position in dst. Processes that exit while
// being read are left out.
func (p *procFS) scan(pids []int32, dst []procEntry, index map[int32]int32) ([]int32, []procEntry, error) {
	var err error
	pids, err = p.pids(pids[:0])
	if err != nil {
		return pids, dst, err
	}
	dst = dst[:0]
	clear(index)
	for _, pid := range pids {
		b, err := p.read(pid, "stat")
		if err != nil {
			continue // exited, or not ours to read: nothing to count
		}
		f, err := parseStat(b)
		if err != nil {
			continue
		}
		index[pid] = int32(len(dst))
		dst = append(dst, procEntry{pid: pid, ppid: f.ppid, cpu: f.utime + f.stime, start: f.start})
	}
	return pids, dst, nil
}

// Descendants returns root and all its descendants (by parent pid, read from
// /proc/*/stat), root first, the others in ascending pid order.
func Descendants(root int) ([]int, error) {
	p, err := openProcFS()
	if err != nil {
		return nil, err
	}
	defer p.close()
	index := make(map[int32]int32)
	_, entries, err := p.scan(nil, nil, index)
	if err != nil {
		return nil, err
	}
	if _, ok := index[int32(root)]; !ok {
		return nil, fmt.Errorf("procstat: pid %d: %w", root, syscall.ESRCH)
	}
	out := []int{root}
	for _, e := range entries {
		if e.pid == int32(root) {
			continue
		}
		if hasAncestor(entries, index, e, int32(root)) {
			out = append(out, int(e.pid))
		}
	}
	return out, nil
}

func hasAncestor(entries []procEntry, index map[int32]int32, e procEntry, root int32) bool {
	for depth := 0; depth < len(entries); depth++ {
		if e.ppid == root {
			return true
		}
		i, ok := index[e.ppid]
		if !ok || e.ppid <= 1 {
			return false
		}
		e = entries[i]
	}
	return false
}

// RSSKiB reads VmRSS of one process from /proc/PID/status, in kB: a single
// reading, for samplers that follow one process over minutes (a soak)
// rather than a group over a step.
func RSSKiB(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	rss, _, ok := parseStatusKiB(b)
	if !ok {
		return 0, fmt.Errorf("procstat: pid %d has no VmRSS (exited, or a kernel thread)", pid)
	}
	return rss, nil
}
