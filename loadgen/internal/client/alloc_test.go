package client

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var allocResponses = []struct{ name, resp string }{
	{"Content-Length", "HTTP/1.1 200 OK\r\nServer: raw\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"},
	{"chunked with trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n"},
	{"204", "HTTP/1.1 204 No Content\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n"},
	{"100 KiB body", "HTTP/1.1 200 OK\r\nContent-Length: 102400\r\n\r\n" + strings.Repeat("b", 100<<10)},
}

// TestDoZeroAllocs: steady-state HTTP/1.1 keep-alive Do allocates nothing
// (the raw server allocates nothing either: AllocsPerRun counts the
// process).
func TestDoZeroAllocs(t *testing.T) {
	for _, tt := range allocResponses {
		t.Run(tt.name, func(t *testing.T) {
			s := newRawServer(t, fixedResponder([]byte(tt.resp)))
			c := mustNew(t, Options{URL: s.url(), Headers: http.Header{"Accept": {"*/*"}}})
			var err error
			do := func() {
				if _, e := c.Do(); e != nil {
					err = e
				}
			}
			for i := 0; i < 100; i++ {
				do()
			}
			allocs := testing.AllocsPerRun(1000, do)
			if err != nil {
				t.Fatal(err)
			}
			if allocs != 0 {
				t.Errorf("%v allocations per Do, want 0", allocs)
			}
			if c.Reconnects() != 0 || s.conns.Load() != 1 {
				t.Errorf("%d reconnects, %d connections", c.Reconnects(), s.conns.Load())
			}
		})
	}
}

func benchDo(b *testing.B, c Conn) {
	b.Helper()
	for i := 0; i < 100; i++ {
		if _, err := c.Do(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Do(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDoHTTP1 is one keep-alive connection against a raw loopback
// server answering a fixed 13-byte body: request/response round trips.
func BenchmarkDoHTTP1(b *testing.B) {
	s := newRawServer(b, fixedResponder([]byte(allocResponses[0].resp)))
	benchDo(b, mustNew(b, Options{URL: s.url()}))
}

// BenchmarkDoHTTP1Chunked is the same with a chunked body and trailers.
func BenchmarkDoHTTP1Chunked(b *testing.B) {
	s := newRawServer(b, fixedResponder([]byte(allocResponses[1].resp)))
	benchDo(b, mustNew(b, Options{URL: s.url()}))
}

// BenchmarkDoHTTPS1 is HTTP/1.1 over TLS 1.3 against a raw TLS server
// (whose crypto/tls allocations count too).
func BenchmarkDoHTTPS1(b *testing.B) {
	p := getPKI(b)
	cfg := &tls.Config{Certificates: []tls.Certificate{p.server}}
	s := newRawServer(b, func(c net.Conn) {
		fixedResponder([]byte(allocResponses[0].resp))(tls.Server(c, cfg))
	})
	u := s.url()
	u.Scheme = "https"
	benchDo(b, mustNew(b, Options{URL: u, TLS: &tls.Config{RootCAs: p.pool}}))
}

// BenchmarkDoH2C is HTTP/2 with prior knowledge against net/http's server.
func BenchmarkDoH2C(b *testing.B) {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("Hello, World!"))
	}))
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	defer s.Close()
	benchDo(b, mustNew(b, Options{URL: mustURL(b, s.URL), HTTP2: true}))
}
