package echo

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkEcho drives the server closed-loop over 16 keep-alive connections
// with a minimal raw-socket HTTP/1.1 client (net/http's client would cost more
// than the server and hide it). It reports req/s; allocs/op cover client and
// server together, and the client allocates nothing per request.
//
// Client and server share the machine's cores, so on a proxy benchmark host,
// where they do not, the server alone goes faster still.
func BenchmarkEcho(b *testing.B) {
	for _, bc := range []struct {
		name   string
		target string
		size   int
	}{
		{"size=0", "/", 0},
		{"size=1KiB", "/", 1024},
		{"size=16KiB", "/", 16 << 10},
		{"size=1KiB/chunked", "/?chunked=1", 1024},
		{"echo=headers", "/?echo=headers", 0},
	} {
		b.Run(bc.name, func(b *testing.B) { benchEcho(b, bc.target, bc.size, 16) })
	}
}

func benchEcho(b *testing.B, target string, size, conns int) {
	s := start(b, Options{Size: size})
	req := []byte("GET " + target + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: meshbench\r\n\r\n")
	clients := make([]*rawClient, conns)
	for i := range clients {
		c, err := dialRaw(s.Addr())
		if err != nil {
			b.Fatal(err)
		}
		defer c.conn.Close()
		clients[i] = c
		if err := c.roundTrip(req); err != nil { // warm up the connection
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	begin := time.Now()
	for _, c := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := c.roundTrip(req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(0, "ns/op") // req/s says it better for a concurrent closed loop
}

// rawClient is one keep-alive connection that sends a request and reads the
// response (Content-Length or chunked) without allocating.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(addr string) (*rawClient, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawClient{conn: conn, br: bufio.NewReaderSize(conn, 64<<10)}, nil
}

var (
	hdrContentLength    = []byte("content-length:")
	hdrTransferEncoding = []byte("transfer-encoding:")
)

func (c *rawClient) roundTrip(req []byte) error {
	if _, err := c.conn.Write(req); err != nil {
		return err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
		return fmt.Errorf("bad status line %q", line)
	}
	length, chunked := -1, false
	for {
		line, err = c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if hasPrefixFold(line, hdrContentLength) {
			if length, err = fasthttp.ParseUint(bytes.TrimSpace(line[len(hdrContentLength):])); err != nil {
				return err
			}
		} else if hasPrefixFold(line, hdrTransferEncoding) {
			chunked = true
		}
	}
	if !chunked {
		if length < 0 {
			return fmt.Errorf("response without Content-Length")
		}
		_, err = c.br.Discard(length)
		return err
	}
	for {
		line, err = c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		n, err := parseHex(bytes.TrimSpace(line))
		if err != nil {
			return err
		}
		if _, err := c.br.Discard(n + 2); err != nil { // data and CRLF
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

func hasPrefixFold(s, prefix []byte) bool {
	return len(s) >= len(prefix) && bytes.EqualFold(s[:len(prefix)], prefix)
}

func parseHex(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("empty chunk size")
	}
	n := 0
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return 0, fmt.Errorf("bad chunk size %q", b)
		}
	}
	return n, nil
}

// TestRawClient checks the benchmark's client against the server, so a
// broken parser cannot make BenchmarkEcho measure garbage.
func TestRawClient(t *testing.T) {
	s := start(t, Options{Size: 3000})
	c, err := dialRaw(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.conn.Close()
	for _, target := range []string{"/", "/?chunked=1", "/?size=0&chunked=1", "/?size=100000", "/?echo=headers", "/"} {
		if err := c.roundTrip([]byte("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
	}
	if c.br.Buffered() != 0 {
		t.Errorf("%d unread bytes after the last response", c.br.Buffered())
	}
	if n := s.Requests(); n != 6 {
		t.Errorf("Requests() = %d, want 6", n)
	}
}

// BenchmarkHandler measures the request handler alone, without sockets or
// HTTP parsing: the part of the server's per-request cost that is ours.
func BenchmarkHandler(b *testing.B) {
	for _, uri := range []string{"/", "/?size=100&status=201"} {
		b.Run(uri, func(b *testing.B) {
			s := start(b, Options{Size: 1024})
			var ctx fasthttp.RequestCtx
			ctx.Request.SetRequestURI(uri)
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				s.handle(&ctx)
			}
		})
	}
}
