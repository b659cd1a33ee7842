package sidecar

// Reliability suite, defect 9 of issue 11: what an idle keep-alive
// connection costs the proxy. 10,000 of them cost about 3.4 KB of RSS each
// before; README and BENCHMARKS.md promise at most 4 KB. The RSS figure of
// the real binary comes from scripts/idlebench.sh; this test keeps the Go
// heap part of it (the proxy's per-connection state) from growing back.

import (
	"bytes"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
)

// idleHeapPerConn bounds the live Go heap one idle keep-alive connection
// may hold in the proxy, after it has served a request with a 1 KiB body.
// Measured at about 1.1 KiB (4000 connections) once the parse state and
// the coalescing buffer moved from each connection to the event loop (the
// mutant that keeps the coalesced 1 KiB response per connection fails the
// bound). The RSS the binary adds per connection (scripts/idlebench.sh) is
// what README's 4 KB promise is about.
const idleHeapPerConn = 1536

// rawConn is a client connection made with bare syscalls, so the clients
// add nothing to the Go heap this test measures: the heap growth is the
// proxy's alone.
type rawConn int

func dialRaw(t *testing.T, port int) rawConn {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		t.Fatalf("connect: %v", err)
	}
	return rawConn(fd)
}

// roundTrip sends req and reads one response with a Content-Length body
// into buf, returning the status line's code.
func (c rawConn) roundTrip(t *testing.T, req []byte, buf []byte) int {
	t.Helper()
	if _, err := syscall.Write(int(c), req); err != nil {
		t.Fatalf("write: %v", err)
	}
	n := 0
	for {
		m, err := syscall.Read(int(c), buf[n:])
		if err != nil || m == 0 {
			t.Fatalf("read after %d bytes: %v", n, err)
		}
		n += m
		head := bytes.Index(buf[:n], []byte("\r\n\r\n"))
		if head < 0 {
			continue
		}
		const cl = "\r\nContent-Length: "
		i := bytes.Index(buf[:head], []byte(cl))
		if i < 0 {
			t.Fatalf("response without Content-Length: %q", buf[:head])
		}
		end := bytes.IndexByte(buf[i+len(cl):head+2], '\r')
		length, err := strconv.Atoi(string(buf[i+len(cl) : i+len(cl)+end]))
		if err != nil {
			t.Fatalf("bad Content-Length in %q", buf[:head])
		}
		if n == head+4+length {
			code, _ := strconv.Atoi(string(buf[9:12]))
			return code
		}
		if n > head+4+length {
			t.Fatalf("%d bytes after a %d-byte body", n-head-4-length, length)
		}
	}
}

func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC() // the first cycle may leave finalizer-reachable objects
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestReliabilityIdleConnMemory opens many keep-alive connections through
// the outbound listener, each serving one request with a 1 KiB response,
// leaves them idle, and bounds the proxy's live heap per connection.
func TestReliabilityIdleConnMemory(t *testing.T) {
	conns := 4000
	if testenv.Race {
		conns = 1000
	}
	app := startEcho(t, "app", 1024)
	s := startSidecar(t, &mesh{services: []svc{{name: "app", ports: []string{portOf(t, app.Addr())}}}})
	port, _ := strconv.Atoi(portOf(t, s.out))
	req := []byte("GET / HTTP/1.1\r\nHost: app\r\n\r\n")
	buf := make([]byte, 8<<10)

	// Warm up: the upstream connection pool, the route's metric series
	// and the loop's scratch buffers exist before the baseline.
	warm := dialRaw(t, port)
	defer syscall.Close(int(warm))
	for i := 0; i < 10; i++ {
		if code := warm.roundTrip(t, req, buf); code != 200 {
			t.Fatalf("warm-up: status %d", code)
		}
	}
	before := liveHeap()
	fds := make([]rawConn, 0, conns)
	defer func() {
		for _, c := range fds {
			syscall.Close(int(c))
		}
	}()
	for i := 0; i < conns; i++ {
		c := dialRaw(t, port)
		fds = append(fds, c)
		if code := c.roundTrip(t, req, buf); code != 200 {
			t.Fatalf("connection %d: status %d", i, code)
		}
	}
	// Every connection is open on the proxy's side: it answered on each.
	// The loops may still be finishing their bookkeeping; give them a
	// moment so the measurement sees the steady idle state.
	time.Sleep(100 * time.Millisecond)
	after := liveHeap()
	per := (int64(after) - int64(before)) / int64(conns)
	t.Logf("%d idle keep-alive connections: live heap %+d KiB, %d B per connection (bound %d)",
		conns, (int64(after)-int64(before))>>10, per, idleHeapPerConn)
	if per > idleHeapPerConn {
		t.Errorf("each idle keep-alive connection holds %d B of the proxy's heap, want <= %d", per, idleHeapPerConn)
	}
	if got, _ := metricLine(s.metricsText(t), "meshproxy_active_connections", `direction="outbound"`); got != strconv.Itoa(conns+1) {
		t.Errorf("meshproxy_active_connections{outbound} = %s, want %d (the idle connections must stay open)", got, conns+1)
	}
}
