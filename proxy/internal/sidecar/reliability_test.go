package sidecar

// The reliability suite: each test sends the bytes of a defect found by an
// adversarial sweep (issue 11) and asserts the fixed behaviour. make test
// runs it twice: under -race with smaller transfers, and without -race at
// full size (the tests are named TestReliability*).

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
	"github.com/meshbench/meshbench/proxy/internal/engine"
)

// bulk is the size of the large transfers: 200 MB as the defect report
// used, less under the race detector (about 10 times slower).
func bulk() int64 {
	if testenv.Race {
		return 24 << 20
	}
	return 200 << 20
}

// flowLimits makes the proxies buffer at most 1 MiB per direction, so
// flow control engages early (reads pause at 256 KiB queued).
const flowLimits = "  limits: {maxBufferedBytes: 1048576}\n"

// heapBound is what the tests allow the live heap of this process (both
// proxies, the app and the clients) to grow by while a peer misbehaves.
// (Before flow control a slow reader was disconnected at 4 MiB instead.)
const heapBound = 24 << 20

// stream writes n bytes of a seeded ChaCha8 stream to w (in 64 KiB chunks)
// and returns their SHA-256. The same seed gives the same bytes, so a
// receiver can check order and completeness, not only the length.
func stream(w io.Writer, seed uint64, n int64) ([]byte, error) {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 1})
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for n > 0 {
		b := buf[:min(int64(len(buf)), n)]
		_, _ = r.Read(b)
		h.Write(b)
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
		n -= int64(len(b))
	}
	return h.Sum(nil), nil
}

// expectedSum is stream's SHA-256 without writing anything.
func expectedSum(seed uint64, n int64) []byte {
	sum, _ := stream(io.Discard, seed, n)
	return sum
}

// startStreamApp is an HTTP/1.1 app for the flow tests (keep-alive, one
// request at a time per connection):
//
//	GET /download?n=N&seed=S   200 with N bytes of stream(S)
//	POST /upload?pause=MS      reads the body (after MS ms), answers 200
//	                           with the hex SHA-256 of what it read
//	GET /early?n=N             N "103 Early Hints" responses, then 200 "ok"
func startStreamApp(t *testing.T) string {
	t.Helper()
	return rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReaderSize(c, 64<<10)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			q := req.URL.Query()
			num := func(k string) int64 { v, _ := strconv.ParseInt(q.Get(k), 10, 64); return v }
			switch req.URL.Path {
			case "/download":
				n := num("n")
				if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", n); err != nil {
					return
				}
				if _, err := stream(c, uint64(num("seed")), n); err != nil {
					return
				}
			case "/upload":
				time.Sleep(time.Duration(num("pause")) * time.Millisecond)
				h := sha256.New()
				if _, err := io.Copy(h, req.Body); err != nil {
					return
				}
				sum := hex.EncodeToString(h.Sum(nil))
				if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(sum), sum); err != nil {
					return
				}
			case "/early":
				hint := []byte("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
				bw := bufio.NewWriterSize(c, 64<<10)
				for i := num("n"); i > 0; i-- {
					if _, err := bw.Write(hint); err != nil {
						return
					}
				}
				if _, err := bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil || bw.Flush() != nil {
					return
				}
			default:
				_, _ = io.WriteString(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
			}
			_, _ = io.Copy(io.Discard, req.Body)
		}
	})
}

// heapWatch samples the live heap (after a GC) every 100 ms until stop,
// which returns the largest growth over the heap at the start.
func heapWatch() (stop func() uint64) {
	live := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := live()
	done := make(chan struct{})
	var peak uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := live(); v > base && v-base > peak {
				peak = v - base
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// reader says how a test client reads a response body.
type reader struct {
	name string
	read func(dst io.Writer, src io.Reader) error
}

var readers = []reader{
	{"fast", func(dst io.Writer, src io.Reader) error {
		_, err := io.Copy(dst, src)
		return err
	}},
	// About 50 MB/s, as curl --limit-rate 50M (cut at 15.5 MB before).
	{"throttled", func(dst io.Writer, src io.Reader) error {
		buf := make([]byte, 256<<10)
		for {
			n, err := io.ReadFull(src, buf)
			_, _ = dst.Write(buf[:n])
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			if err != nil {
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
	}},
	// Stops reading for a second after 4 MiB (cut after about 20 ms before).
	{"paused", func(dst io.Writer, src io.Reader) error {
		if _, err := io.CopyN(dst, src, 4<<20); err != nil {
			return err
		}
		time.Sleep(time.Second)
		_, err := io.Copy(dst, src)
		return err
	}},
}

// dialer opens a client connection to a listener under test.
type dialer func(t *testing.T) net.Conn

func plainDialer(addr string) dialer {
	return func(t *testing.T) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
}

// flowTarget is one way through meshproxy to a stream app: a client
// sidecar (plaintext upstream), or a client sidecar whose upstream is a
// server sidecar over mTLS.
type flowTarget struct {
	name  string
	dial  dialer
	host  string
	proxy []*started // whose metrics to check
}

func flowTargets(t *testing.T) []flowTarget {
	app := startStreamApp(t)
	plain := startSidecar(t, &mesh{
		services:   []svc{{name: "app", ports: []string{portOf(t, app)}}},
		extraProxy: flowLimits,
	})
	pair := startPair(t, pairPKI(t), pairOpts{app: app, serverExtra: flowLimits, clientExtra: flowLimits})
	return []flowTarget{
		{"plaintext", plainDialer(plain.out), "app", []*started{plain}},
		{"mtls", plainDialer(pair.client.out), "reviews", []*started{pair.client, pair.server}},
	}
}

// pairPKI is a PKI with the pair's two identities issued.
func pairPKI(t *testing.T) *pki {
	p := newPKI(t)
	p.issue("web", spiffeID("default", "web"))
	p.issue("reviews", spiffeID("default", "reviews"))
	return p
}

// readResponse reads one response head from br and returns it with the
// body reader.
func readResponse(t *testing.T, br *bufio.Reader) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp
}

// noOverflow fails if a proxy disconnected a peer for buffering: with flow
// control it never has to.
func noOverflow(t *testing.T, proxies []*started) {
	t.Helper()
	for _, p := range proxies {
		if v, _ := metricLine(p.metricsText(t), "meshproxy_buffer_overflow_total"); v != "0" {
			t.Errorf("meshproxy_buffer_overflow_total = %s, want 0", v)
		}
	}
}

// pauses sums meshproxy_read_pauses_total of side over proxies.
func pauses(t *testing.T, proxies []*started, side string) int {
	t.Helper()
	total := 0
	for _, p := range proxies {
		v, _ := metricLine(p.metricsText(t), "meshproxy_read_pauses_total", `side="`+side+`"`)
		n, _ := strconv.Atoi(v)
		total += n
	}
	return total
}

// TestReliabilityDownload: a large response reaches fast, throttled and
// pausing readers whole and in order (SHA-256), plaintext and mTLS, while
// the proxies pause the upstream instead of buffering or cutting.
func TestReliabilityDownload(t *testing.T) {
	n := bulk()
	for _, ft := range flowTargets(t) {
		for i, rd := range readers {
			t.Run(ft.name+"/"+rd.name, func(t *testing.T) {
				seed := uint64(i + 1)
				want := expectedSum(seed, n)
				before := pauses(t, ft.proxy, "upstream")
				c := ft.dial(t)
				_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
				heap := heapWatch()
				fmt.Fprintf(c, "GET /download?n=%d&seed=%d HTTP/1.1\r\nHost: %s\r\n\r\n", n, seed, ft.host)
				resp := readResponse(t, bufio.NewReaderSize(c, 64<<10))
				if resp.StatusCode != 200 || resp.ContentLength != n {
					t.Fatalf("status %d, length %d; want 200, %d", resp.StatusCode, resp.ContentLength, n)
				}
				h := sha256.New()
				cw := &countWriter{w: h}
				err := rd.read(cw, resp.Body)
				grew := heap()
				if err != nil || cw.n != n {
					t.Fatalf("received %d of %d bytes: %v", cw.n, n, err)
				}
				if got := h.Sum(nil); !bytes.Equal(got, want) {
					t.Fatalf("SHA-256 of the %d bytes received differs from what the app sent", n)
				}
				if grew > heapBound {
					t.Errorf("live heap grew by %d MiB during the transfer, want <= %d MiB", grew>>20, heapBound>>20)
				}
				if rd.name != "fast" && pauses(t, ft.proxy, "upstream") == before {
					t.Errorf("a %s reader never made a proxy pause its upstream", rd.name)
				}
				noOverflow(t, ft.proxy)
			})
		}
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}

// TestReliabilityUpload: a large request body reaches an app that reads it
// at once or only after a pause, whole (SHA-256), and the client gets the
// app's answer; the proxies pause the client instead of resetting it.
func TestReliabilityUpload(t *testing.T) {
	n := bulk()
	for _, ft := range flowTargets(t) {
		for _, pause := range []int{0, 1000} {
			t.Run(fmt.Sprintf("%s/app-pause-%dms", ft.name, pause), func(t *testing.T) {
				before := pauses(t, ft.proxy, "downstream")
				c := ft.dial(t)
				_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
				heap := heapWatch()
				sent := make(chan []byte, 1)
				go func() {
					fmt.Fprintf(c, "POST /upload?pause=%d HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", pause, ft.host, n)
					sum, _ := stream(c, 7, n)
					sent <- sum
				}()
				resp := readResponse(t, bufio.NewReader(c))
				body, err := io.ReadAll(resp.Body)
				grew := heap()
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("status %d, body %q: %v", resp.StatusCode, body, err)
				}
				want := hex.EncodeToString(<-sent)
				if string(body) != want {
					t.Fatalf("the app read a body with SHA-256 %s, the client sent %s", body, want)
				}
				if grew > heapBound {
					t.Errorf("live heap grew by %d MiB during the upload, want <= %d MiB", grew>>20, heapBound>>20)
				}
				if pause > 0 && pauses(t, ft.proxy, "downstream") == before {
					t.Error("an app that paused never made a proxy pause its client")
				}
				noOverflow(t, ft.proxy)
			})
		}
	}
}

// TestReliabilityDataBehindHandshake: a TLS 1.3 client may send its request
// right behind its Finished, before the server sidecar's handshake
// goroutine has handed the connection back to the loop. Those bytes are
// legitimate: the server sidecar pauses the connection beyond its
// handshake bound and serves the request once the handshake is done. (It
// used to close the connection as a flood: a large upload through the mTLS
// pair then got 502 upstream_reset from the client sidecar, intermittently,
// on a freshly dialled connection.) The server's handshake result is held
// back so that the 2 MiB body arrives inside that window every time.
func TestReliabilityDataBehindHandshake(t *testing.T) {
	engine.TestInboundHandshakeDelay.Store(int64(300 * time.Millisecond))
	t.Cleanup(func() { engine.TestInboundHandshakeDelay.Store(0) })
	app := startStreamApp(t)
	p := pairPKI(t)
	pair := startPair(t, p, pairOpts{app: app, serverExtra: flowLimits})
	peer := &tls.Config{
		InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"},
		Certificates: []tls.Certificate{*loadPair(t, filepath.Join(p.dir, "web.crt"), filepath.Join(p.dir, "web.key"))},
	}
	c, err := tls.Dial("tcp", pair.inbound, peer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	const n = 2 << 20
	sent := make(chan []byte, 1)
	go func() {
		fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: reviews\r\nContent-Length: %d\r\n\r\n", n)
		sum, _ := stream(c, 9, n)
		sent <- sum
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response to a request sent right behind the handshake: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, body %q: %v", resp.StatusCode, body, err)
	}
	if want := hex.EncodeToString(<-sent); string(body) != want {
		t.Fatalf("the app read a body with SHA-256 %s, the client sent %s", body, want)
	}
}
