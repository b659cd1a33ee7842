package sidecar

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/meshbench/meshbench/scenarios/certs"
)

// rawClient sends one pre-built request at a time over a keep-alive
// connection and reads the Content-Length response into a fixed buffer, so
// the client itself allocates nothing and allocs/op measures the process's
// other parties: the proxy's event loops and the echo upstream.
type rawClient struct {
	c   net.Conn
	req []byte
	buf []byte
}

func newRawClient(tb testing.TB, addr, host, path string) *rawClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &rawClient{c: c, req: []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: bench\r\n\r\n"), buf: make([]byte, 64<<10)}
}

var clKey = []byte("\r\ncontent-length: ")

// roundTrip returns the response's status code.
func (r *rawClient) roundTrip(tb testing.TB) int {
	if _, err := r.c.Write(r.req); err != nil {
		tb.Fatal(err)
	}
	n, headEnd, bodyLen := 0, -1, -1
	for {
		m, err := r.c.Read(r.buf[n:])
		if err != nil {
			tb.Fatal(err)
		}
		n += m
		if headEnd < 0 {
			if i := bytes.Index(r.buf[:n], []byte("\r\n\r\n")); i >= 0 {
				headEnd = i + 4
				j := indexFold(r.buf[:headEnd], clKey)
				if j < 0 {
					tb.Fatalf("no content-length in %q", r.buf[:headEnd])
				}
				k := j + len(clKey)
				bodyLen = 0
				for ; r.buf[k] >= '0' && r.buf[k] <= '9'; k++ {
					bodyLen = bodyLen*10 + int(r.buf[k]-'0')
				}
			}
		}
		if headEnd >= 0 && n >= headEnd+bodyLen {
			return int(r.buf[9]-'0')*100 + int(r.buf[10]-'0')*10 + int(r.buf[11]-'0')
		}
	}
}

// indexFold finds lower-case key in b ignoring the case of b.
func indexFold(b, key []byte) int {
outer:
	for i := 0; i+len(key) <= len(b); i++ {
		for j := 0; j < len(key); j++ {
			c := b[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != key[j] {
				continue outer
			}
		}
		return i
	}
	return -1
}

func benchForward(b *testing.B, size int) {
	e := startEcho(b, "bench", size)
	s := startSidecar(b, &mesh{services: []svc{{name: "echo", ports: []string{portOf(b, e.Addr())}}}})
	for _, target := range []struct{ name, addr string }{{"direct", e.Addr()}, {"meshproxy", s.out}} {
		b.Run(target.name, func(b *testing.B) { benchTarget(b, target.addr, size) })
	}
}

// benchTarget runs the serial and 16-connection variants against addr.
func benchTarget(b *testing.B, addr string, size int) {
	b.Run("serial", func(b *testing.B) {
		c := newRawClient(b, addr, "echo", "/")
		c.roundTrip(b) // connect upstream, warm pools
		b.ReportAllocs()
		b.SetBytes(int64(size))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if code := c.roundTrip(b); code != 200 {
				b.Fatalf("status %d", code)
			}
		}
	})
	b.Run("parallel16", func(b *testing.B) {
		b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 connections
		b.ReportAllocs()
		b.SetBytes(int64(size))
		b.RunParallel(func(pb *testing.PB) {
			c := newRawClient(b, addr, "echo", "/")
			for pb.Next() {
				if code := c.roundTrip(b); code != 200 {
					b.Errorf("status %d", code)
					return
				}
			}
		})
	})
}

// BenchmarkForward measures one whole request through the proxy's event
// loop: client -> meshproxy -> echo -> meshproxy -> client, on loopback,
// beside the same client talking to the echo server directly. Compare the
// two in one run; absolute times on a shared 2-core VM drift.
func BenchmarkForward1KiB(b *testing.B) { benchForward(b, 1024) }

// BenchmarkForwardPair1KiB: client -> client sidecar -> server sidecar ->
// echo, plaintext and mTLS between the sidecars, in one run. allocs/op
// counts the whole process, so it includes crypto/tls's own allocations
// on the mTLS hop (see BENCHMARKS.md for which they are).
func BenchmarkForwardPair1KiB(b *testing.B) {
	for _, mode := range []string{"plaintext", "mtls"} {
		b.Run(mode, func(b *testing.B) {
			app := startEcho(b, "app", 1024)
			inbound := fmt.Sprintf("127.0.0.1:%d", freePort(b))
			var serverID, clientID string
			if mode == "mtls" {
				dir := b.TempDir()
				if _, err := certs.Generate(certs.Options{Dir: dir, Identities: []string{"default/web", "default/reviews"}}); err != nil {
					b.Fatal(err)
				}
				idYAML := func(name string) string {
					return fmt.Sprintf("  identity: {certFile: %q, keyFile: %q, caFile: %q}\n",
						filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), filepath.Join(dir, "ca.crt"))
				}
				serverID, clientID = idYAML("default-reviews"), idYAML("default-web")
			}
			startSidecar(b, &mesh{inbound: inbound, app: app.Addr(), extraProxy: serverID})
			client := startSidecar(b, &mesh{extraProxy: clientID, services: []svc{{name: "echo", ports: []string{portOf(b, inbound)}}}})
			benchTarget(b, client.out, 1024)
		})
	}
}
