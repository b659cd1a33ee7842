package http1

import (
	"strings"
	"testing"
)

func BenchmarkParseRequest(b *testing.B) {
	buf := []byte(curlRequest)
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := ParseRequest(buf, 8192, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseResponse(b *testing.B) {
	buf := []byte(typicalResponse)
	var r Response
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := ParseResponse(buf, 8192, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChunkedScan(b *testing.B) {
	// 16 chunks of 1 KiB followed by a trailer: a typical streamed body.
	var sb strings.Builder
	for range 16 {
		sb.WriteString("400\r\n")
		sb.WriteString(strings.Repeat("x", 1024))
		sb.WriteString("\r\n")
	}
	sb.WriteString("0\r\nX-Checksum: 1234\r\n\r\n")
	body := []byte(sb.String())
	var s ChunkedScanner
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		s.Reset()
		if _, done, err := s.Scan(body); !done || err != nil {
			b.Fatal(done, err)
		}
	}
}

func BenchmarkChunkedScanSmallChunks(b *testing.B) {
	body := []byte(strings.Repeat("a;x=y\r\n0123456789\r\n", 64) + "0\r\n\r\n")
	var s ChunkedScanner
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		s.Reset()
		if _, done, err := s.Scan(body); !done || err != nil {
			b.Fatal(done, err)
		}
	}
}

func BenchmarkAppendRequestHead(b *testing.B) {
	buf := []byte(curlRequest)
	r := mustParseRequest(b, buf)
	clientIP := []byte("10.244.1.17")
	extra := []byte("X-Request-Id: 7f0c1d2e\r\n")
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		dst = AppendRequestHead(dst[:0], buf, r, clientIP, extra)
	}
}

func BenchmarkAppendResponseHead(b *testing.B) {
	buf := []byte(typicalResponse)
	r := mustParseResponse(b, buf)
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendResponseHead(dst[:0], buf, r, false, false, nil)
	}
}

// BenchmarkParseAndForward is the per-request work of the proxy: parse the
// client's head and produce the upstream head.
func BenchmarkParseAndForward(b *testing.B) {
	buf := []byte(curlRequest)
	var r Request
	clientIP := []byte("10.244.1.17")
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(buf, 8192, &r); err != nil {
			b.Fatal(err)
		}
		dst = AppendRequestHead(dst[:0], buf, &r, clientIP, nil)
	}
}
