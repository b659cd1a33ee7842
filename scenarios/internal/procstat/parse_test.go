package procstat

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/meshbench/meshbench/internal/testenv"
)

// A real line (cat, captured on the benchmark VM) with the fields that matter
// changed to recognisable values: ppid 11344, utime 7, stime 3, starttime 929928.
const catStat = "11349 (cat) R 11344 11344 8744 0 -1 4194304 99 0 0 0 7 3 0 0 20 0 1 0 929928 3133440 413 18446744073709551615 94483307229184 94483307249065 140723311339072 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94483307265072 94483307266688 94484143951872 140723311344127 140723311344147 140723311344147 140723311345643 0\n"

func TestParseStat(t *testing.T) {
	tail := " 4194304 99 0 0 0 7 3 0 0 20 0 1 0 929928 3133440 413 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	tests := []struct {
		name string
		line string
		want statFields
		bad  bool
	}{
		{name: "plain", line: catStat, want: statFields{ppid: 11344, utime: 7, stime: 3, start: 929928}},
		{name: "spaces in comm", line: "77 (Web Content) S 12 77 77 0 -1" + tail, want: statFields{ppid: 12, utime: 7, stime: 3, start: 929928}},
		{name: "paren space paren in comm", line: "77 (a) (b) S 12 77 77 0 -1" + tail, want: statFields{ppid: 12, utime: 7, stime: 3, start: 929928}},
		{name: "comm that looks like fields", line: "77 (x) R 1 2 () S 12 77 77 0 -1" + tail, want: statFields{ppid: 12, utime: 7, stime: 3, start: 929928}},
		{name: "empty comm", line: "77 () S 12 77 77 0 -1" + tail, want: statFields{ppid: 12, utime: 7, stime: 3, start: 929928}},
		{name: "no newline", line: "77 (nginx) S 12 77 77 0 -1" + tail[:len(tail)-1], want: statFields{ppid: 12, utime: 7, stime: 3, start: 929928}},
		{name: "no paren", line: "77 nginx S 12 77 77 0 -1" + tail, bad: true},
		{name: "truncated", line: "77 (nginx) S 12 77 77 0 -1 4194304 99 0 0 0 7 3", bad: true},
		{name: "letters in utime", line: "77 (nginx) S 12 77 77 0 -1 4194304 99 0 0 0 x 3 0 0 20 0 1 0 929928 1 2\n", bad: true},
		{name: "empty", line: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.line))
			if tt.bad {
				if err == nil {
					t.Fatalf("parseStat(%q) = %+v, want an error", tt.line, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseStat(%q): %v", tt.line, err)
			}
			if got != tt.want {
				t.Fatalf("parseStat(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}

// Captured from the benchmark VM (2 vCPU), trimmed after the softirq line.
const procStat2CPU = `cpu  376458 0 197591 1233228 1942 0 41905 7 0 0
cpu0 185546 0 97346 621414 479 0 21113 3 0 0
cpu1 190911 0 100244 611814 1462 0 20792 4 0 0
intr 41264128 0 9 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
ctxt 85741231
btime 1760000000
processes 118842
procs_running 2
procs_blocked 0
softirq 31337889 0 6391813 1 2458207 0 0 4186 10262094 0 12221588
`

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		busy      uint64
		total     uint64
		cores     int
		wantError bool
	}{
		{name: "2 cpus", text: procStat2CPU, busy: 376458 + 0 + 197591 + 7, total: 376458 + 197591 + 7 + 1233228 + 1942, cores: 2},
		{name: "guest is not added twice", text: "cpu  100 10 50 1000 5 1 2 3 40 4\ncpu0 100 10 50 1000 5 1 2 3 40 4\n", busy: 100 + 10 + 50 + 3, total: 163 + 1000 + 5, cores: 1},
		{name: "old kernel, 4 fields", text: "cpu 10 20 30 40\ncpu0 10 20 30 40\ncpu1 0 0 0 0\ncpu2 0 0 0 0\ncpu3 0 0 0 0\n", busy: 60, total: 100, cores: 4},
		{name: "no per-cpu lines", text: "cpu  1 2 3 4 5 6 7 8\n", busy: 1 + 2 + 3 + 8, total: 14 + 4 + 5, cores: 1},
		{name: "no cpu line", text: "intr 1 2 3\nctxt 5\n", wantError: true},
		{name: "garbage", text: "cpu  1 2 x 4\n", wantError: true},
		{name: "too short", text: "cpu  1 2\n", wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.text))
			if tt.wantError {
				if err == nil {
					t.Fatalf("want an error, got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.busy != tt.busy || got.total != tt.total || got.cores != tt.cores {
				t.Fatalf("got busy %d total %d cores %d, want %d %d %d", got.busy, got.total, got.cores, tt.busy, tt.total, tt.cores)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tnginx\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t   14456 kB\nVmSize:\t   14400 kB\nVmLck:\t       0 kB\nVmHWM:\t    6012 kB\nVmRSS:\t    5880 kB\nRssAnon:\t     980 kB\nThreads:\t1\n"
	rss, hwm, ok := parseStatusKiB([]byte(status))
	if rss != 5880 || hwm != 6012 || !ok {
		t.Fatalf("rss %d hwm %d, want 5880 6012", rss, hwm)
	}
	// kernel threads and zombies have no Vm lines
	rss, hwm, ok = parseStatusKiB([]byte("Name:\tkthreadd\nState:\tZ (zombie)\nThreads:\t1\n"))
	if rss != 0 || hwm != 0 || ok {
		t.Fatalf("kernel thread: rss %d hwm %d, want 0 0", rss, hwm)
	}
}

func TestParseRealFiles(t *testing.T) {
	fs, err := openProcFS()
	if err != nil {
		t.Fatal(err)
	}
	defer fs.close()
	b, err := fs.read(int32(os.Getpid()), "stat")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseStat(b)
	if err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	if int(f.ppid) != os.Getppid() || f.start == 0 {
		t.Fatalf("own stat: %+v, want ppid %d and a start time", f, os.Getppid())
	}
	b, err = fs.read(int32(os.Getpid()), "status")
	if err != nil {
		t.Fatal(err)
	}
	if rss, hwm, _ := parseStatusKiB(b); rss == 0 || hwm < rss {
		t.Fatalf("own status: rss %d hwm %d", rss, hwm)
	}
	b, err = fs.read(0, "stat")
	if err != nil {
		t.Fatal(err)
	}
	ct, err := parseProcStat(b)
	if err != nil {
		t.Fatal(err)
	}
	if ct.cores < 1 || ct.busy == 0 || ct.total <= ct.busy {
		t.Fatalf("/proc/stat: %+v", ct)
	}
	if _, err := fs.read(1<<30, "stat"); !gone(err) {
		t.Fatalf("reading a pid that does not exist: %v, want ENOENT", err)
	}
	// a file bigger than the initial buffer is read whole
	fs.buf = make([]byte, 16)
	b, err = fs.read(int32(os.Getpid()), "status")
	if err != nil {
		t.Fatal(err)
	}
	if rss, _, _ := parseStatusKiB(b); rss == 0 {
		t.Fatalf("status read through a small buffer lost VmRSS: %q", b)
	}
}

// The clock tick is a constant; the kernel passes the real one to every
// program as AT_CLKTCK in the auxiliary vector.
func TestClockTicksMatchesAuxv(t *testing.T) {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		testenv.Missing(t, "no auxiliary vector (is /proc mounted?): %v", err)
	}
	const atClktck = 17
	for len(b) >= 16 {
		k, v := binary.NativeEndian.Uint64(b), binary.NativeEndian.Uint64(b[8:])
		b = b[16:]
		if k == atClktck {
			if int(v) != ClockTicks() {
				t.Fatalf("AT_CLKTCK = %d, ClockTicks() = %d", v, ClockTicks())
			}
			return
		}
	}
	testenv.Missing(t, "AT_CLKTCK not in /proc/self/auxv: this kernel does not pass the clock tick")
}
