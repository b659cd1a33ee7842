package client

import (
	"strings"
	"testing"
)

// feedAll feeds resp to a fresh parser in pieces of at most step bytes, the
// way a reader receiving it over several reads would, and returns the
// parser, the bytes it consumed and the first error.
func feedAll(resp string, step int, head bool) (*parser, int, error) {
	p := &parser{head: head}
	p.reset()
	buf := make([]byte, 0, len(resp))
	used := 0
	for fed := 0; fed < len(resp) && !p.done(); {
		k := min(step, len(resp)-fed)
		buf = append(buf, resp[fed:fed+k]...)
		fed += k
		n, err := p.feed(buf[used:], false)
		used += n
		if err != nil {
			return p, used, err
		}
	}
	return p, used, nil
}

func TestParserAnySplit(t *testing.T) {
	big := strings.Repeat("x", 5000)
	tests := []struct {
		name       string
		resp       string
		head       bool
		status     int
		keep       bool
		untilClose bool // needs EOF to finish
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 200, true, false},
		{"empty body", "HTTP/1.1 204 No Content\r\n\r\n", false, 204, true, false},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", false, 200, true, false},
		{"chunked with trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", false, 200, true, false},
		{"interim 100 then 200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", false, 201, true, false},
		{"HEAD ignores length", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", true, 200, true, false},
		{"connection close", "HTTP/1.1 500 Oops\r\nConnection: keep-alive, close\r\nContent-Length: 3\r\n\r\nbad", false, 500, false, false},
		{"http/1.0 default close", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", false, 200, false, false},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", false, 200, true, false},
		{"both framings", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, 200, false, false},
		{"close delimited", "HTTP/1.1 200 OK\r\n\r\n" + big, false, 200, false, true},
		{"large body", "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + big, false, 200, true, false},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 2, 3, 7, 64, 1 << 20} {
			p, used, err := feedAll(tt.resp, step, tt.head)
			if err != nil {
				t.Fatalf("%s step %d: %v", tt.name, step, err)
			}
			if tt.untilClose {
				if p.done() || !p.untilClose() || !p.eof() {
					t.Fatalf("%s step %d: want a close-delimited body", tt.name, step)
				}
			} else if !p.done() || used != len(tt.resp) {
				t.Fatalf("%s step %d: done=%v used %d of %d", tt.name, step, p.done(), used, len(tt.resp))
			}
			if p.status != tt.status || p.keep != tt.keep {
				t.Fatalf("%s step %d: status %d keep %v, want %d %v", tt.name, step, p.status, p.keep, tt.status, tt.keep)
			}
		}
	}
}

func TestParserErrors(t *testing.T) {
	tests := []struct {
		name string
		resp string
		want error
	}{
		{"garbage fails before a line end", "SSH-2.0-OpenSSH", errStatusLine},
		{"bad status", "HTTP/1.1 2000 OK\r\n", errStatusLine},
		{"status 099", "HTTP/1.1 099 X\r\n", errStatusLine},
		{"upgrade", "HTTP/1.1 101 Switching Protocols\r\n\r\n", errUpgrade},
		{"obs-fold", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", errObsFold},
		{"no colon", "HTTP/1.1 200 OK\r\nAbc\r\n\r\n", errHeaderLine},
		{"space before colon", "HTTP/1.1 200 OK\r\nA b: c\r\n\r\n", errHeaderLine},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", errContentLength},
		{"signed length", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", errContentLength},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", errChunk},
		{"missing chunk CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", errChunk},
		{"bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n:x\r\n\r\n", errChunk},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 5, 1 << 20} {
			if _, _, err := feedAll(tt.resp, step, false); err != tt.want {
				t.Errorf("%s step %d: err %v, want %v", tt.name, step, err, tt.want)
			}
		}
	}
}

func TestParserLineTooLong(t *testing.T) {
	p := &parser{}
	p.reset()
	buf := []byte("HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 100))
	n, err := p.feed(buf, false)
	if err != nil || n != len("HTTP/1.1 200 OK\r\n") {
		t.Fatalf("partial line: n %d err %v", n, err)
	}
	if _, err := p.feed(buf[n:], true); err != errTooLong {
		t.Fatalf("a full buffer without a line end: %v, want errTooLong", err)
	}
}

func TestParserDoesNotAllocate(t *testing.T) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	p := &parser{}
	allocs := testing.AllocsPerRun(1000, func() {
		p.reset()
		if n, err := p.feed(resp, false); err != nil || n != len(resp) || !p.done() {
			t.Fatalf("feed: %d %v", n, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("parser allocates %.1f per response", allocs)
	}
}
