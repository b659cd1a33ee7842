package sidecar

// Reliability suite, defect 1 of issue 11: one connection that sends a
// flood of pipelined requests (or draws a flood of interim responses) and
// does not read must not make the proxy hold its replies. Before flow
// control, 1,000,000 pipelined 404s took the proxy from 15 to 170 MB,
// 10,000 pipelined 16 KiB downloads to 211 MB, an mTLS peer flooding a
// server sidecar from 16 to 112 MB, and 100,000 "103" responses to 140 MB.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
)

// floodScale divides the flood sizes under the race detector, which is
// about ten times slower. The smaller floods fit in the kernel's socket
// buffers, so under -race only what arrives is checked, not that the proxy
// paused: make test also runs this suite without -race at full size.
func floodScale(n int) int {
	if testenv.Race {
		return n / 10
	}
	return n
}

// smallWindowDialer connects with a 16 KiB receive buffer, as the defect
// report's client did, so that the responses the client does not read
// back up into the proxy quickly.
func smallWindowDialer(addr string, cfg *tls.Config) dialer {
	return func(t *testing.T) net.Conn {
		d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		var c net.Conn
		var err error
		if cfg != nil {
			c, err = tls.DialWithDialer(&d, "tcp", addr, cfg)
		} else {
			c, err = d.Dial("tcp", addr)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
}

// sendAll writes count copies of req to c from a goroutine and returns a
// channel that yields the write error (nil when everything was written)
// and a counter of the requests written so far.
func sendAll(c net.Conn, req string, count int) (<-chan error, *atomic.Int64) {
	done := make(chan error, 1)
	var written atomic.Int64
	go func() {
		bw := bufio.NewWriterSize(c, 64<<10)
		for i := 0; i < count; i++ {
			if _, err := bw.WriteString(req); err != nil {
				done <- err
				return
			}
			written.Add(1)
		}
		done <- bw.Flush()
	}()
	return done, &written
}

// holdUnread waits, without reading, until the writer has stopped making
// progress for half a second (the proxy stopped reading the client) or has
// written everything, within limit.
func holdUnread(written *atomic.Int64, count int, limit time.Duration) (stalled bool) {
	deadline := time.Now().Add(limit)
	last, since := int64(-1), time.Now()
	for time.Now().Before(deadline) {
		n := written.Load()
		if n >= int64(count) {
			return false
		}
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > 500*time.Millisecond {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// TestReliabilityPipelinedFlood: a client floods pipelined requests and
// does not read its responses; the proxy stops reading it instead of
// queueing the replies, and once the client reads, every response arrives
// whole and in order (each 16 KiB body is checked by its SHA-256).
func TestReliabilityPipelinedFlood(t *testing.T) {
	app := startStreamApp(t)
	plain := startSidecar(t, &mesh{
		services:   []svc{{name: "app", ports: []string{portOf(t, app)}}},
		extraProxy: flowLimits,
	})
	p := pairPKI(t)
	pair := startPair(t, p, pairOpts{app: app, serverExtra: flowLimits})
	peer := &tls.Config{
		InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"},
		Certificates: []tls.Certificate{*loadPair(t, filepath.Join(p.dir, "web.crt"), filepath.Join(p.dir, "web.key"))},
	}
	const body = 16 << 10
	want := expectedSum(1, body)
	cases := []struct {
		name   string
		dial   dialer
		proxy  *started
		req    string
		count  int
		status int
	}{
		{"local 404s", smallWindowDialer(plain.out, nil), plain,
			"GET / HTTP/1.1\r\nHost: nosuch\r\n\r\n", floodScale(300_000), 404},
		{"16 KiB responses", smallWindowDialer(plain.out, nil), plain,
			"GET /download?n=16384&seed=1 HTTP/1.1\r\nHost: app\r\n\r\n", floodScale(10_000), 200},
		{"mTLS peer to a server sidecar", smallWindowDialer(pair.inbound, peer), pair.server,
			"GET /download?n=16384&seed=1 HTTP/1.1\r\nHost: reviews\r\n\r\n", floodScale(10_000), 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proxies := []*started{tc.proxy}
			before := pauses(t, proxies, "downstream")
			c := tc.dial(t)
			_ = c.SetDeadline(time.Now().Add(3 * time.Minute))
			heap := heapWatch()
			sent, written := sendAll(c, tc.req, tc.count)
			stalled := holdUnread(written, tc.count, 10*time.Second)
			grew := heap()
			t.Logf("unread: %d of %d requests written (writer blocked: %v), live heap +%d KiB",
				written.Load(), tc.count, stalled, grew>>10)
			if grew > heapBound {
				t.Errorf("live heap grew by %d MiB while the client did not read, want <= %d MiB", grew>>20, heapBound>>20)
			}
			br := bufio.NewReaderSize(c, 64<<10)
			for i := 0; i < tc.count; i++ {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("response %d of %d: %v", i+1, tc.count, err)
				}
				if resp.StatusCode != tc.status {
					t.Fatalf("response %d: status %d, want %d", i+1, resp.StatusCode, tc.status)
				}
				if tc.status == 200 {
					got, err := io.ReadAll(resp.Body)
					if err != nil || len(got) != body || !bytes.Equal(sum256(got), want) {
						t.Fatalf("response %d: %d body bytes (%v), not the %d the app sent", i+1, len(got), err, body)
					}
				} else if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					t.Fatalf("response %d body: %v", i+1, err)
				}
			}
			if err := <-sent; err != nil {
				t.Fatalf("writing the requests: %v", err)
			}
			if !testenv.Race && pauses(t, proxies, "downstream") == before {
				t.Error("the proxy never paused reading the flooding client")
			}
			noOverflow(t, proxies)
		})
	}
}

// TestReliabilityEarlyHintsFlood: an upstream answers with a flood of
// "103 Early Hints" before its 200, to a client that does not read at
// first; the proxy stops reading the upstream instead of queueing the
// hints, and the client then receives all of them and the final response.
func TestReliabilityEarlyHintsFlood(t *testing.T) {
	app := startStreamApp(t)
	s := startSidecar(t, &mesh{
		services:   []svc{{name: "app", ports: []string{portOf(t, app)}}},
		extraProxy: flowLimits,
	})
	proxies := []*started{s}
	hints := floodScale(100_000)
	before := pauses(t, proxies, "upstream")
	c := smallWindowDialer(s.out, nil)(t)
	_ = c.SetDeadline(time.Now().Add(3 * time.Minute))
	heap := heapWatch()
	if _, err := io.WriteString(c, "GET /early?n="+strconv.Itoa(hints)+" HTTP/1.1\r\nHost: app\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // not reading
	grew := heap()
	if grew > heapBound {
		t.Errorf("live heap grew by %d MiB while the client did not read, want <= %d MiB", grew>>20, heapBound>>20)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	for i := 0; ; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %d of %d hints: %v", i, hints, err)
		}
		if resp.StatusCode == 103 {
			continue
		}
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "ok" || err != nil || i != hints {
			t.Fatalf("final response %d %q (%v) after %d hints, want 200 \"ok\" after %d", resp.StatusCode, b, err, i, hints)
		}
		break
	}
	if !testenv.Race && pauses(t, proxies, "upstream") == before {
		t.Error("the proxy never paused reading the upstream")
	}
	noOverflow(t, proxies)
}

func sum256(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
