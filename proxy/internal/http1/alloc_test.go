package http1

import "testing"

// The parsers and serialisers run once per request on the event loop; any
// allocation there is a regression.

func TestZeroAllocParseRequest(t *testing.T) {
	buf := []byte(curlRequest)
	bad := []byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
	var r Request
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := ParseRequest(buf, 8192, &r); n != len(buf) || err != nil {
			t.Fatal(n, err)
		}
		if _, err := ParseRequest(bad, 8192, &r); err == nil {
			t.Fatal("expected an error")
		}
		if n, err := ParseRequest(buf[:100], 8192, &r); n != 0 || err != nil {
			t.Fatal(n, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ParseRequest allocates %.1f times", allocs)
	}
}

func TestZeroAllocParseResponse(t *testing.T) {
	buf := []byte(typicalResponse)
	bad := []byte("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n")
	var r Response
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := ParseResponse(buf, 8192, &r); n != len(buf) || err != nil {
			t.Fatal(n, err)
		}
		if _, err := ParseResponse(bad, 8192, &r); err == nil {
			t.Fatal("expected an error")
		}
	})
	if allocs != 0 {
		t.Fatalf("ParseResponse allocates %.1f times", allocs)
	}
}

func TestZeroAllocScan(t *testing.T) {
	body := []byte("5;ext=\"v\"\r\nhello\r\n1000\r\n" + string(make([]byte, 0x1000)) + "\r\n0\r\nX-T: v\r\n\r\n")
	bad := []byte("5\r\nhelloX")
	var s ChunkedScanner
	allocs := testing.AllocsPerRun(100, func() {
		s.Reset()
		if n, done, err := s.Scan(body[:7]); n != 7 || done || err != nil {
			t.Fatal(n, done, err)
		}
		if n, done, err := s.Scan(body[7:]); n != len(body)-7 || !done || err != nil {
			t.Fatal(n, done, err)
		}
		s.Reset()
		if _, _, err := s.Scan(bad); err == nil {
			t.Fatal("expected an error")
		}
	})
	if allocs != 0 {
		t.Fatalf("Scan allocates %.1f times", allocs)
	}
}

func TestZeroAllocAppend(t *testing.T) {
	reqBuf := []byte("GET http://h/p?q HTTP/1.0\r\nHost: h\r\nConnection: close, X-A\r\nX-A: 1\r\nX-Forwarded-For: 1.1.1.1\r\n" +
		"Content-Length: 5\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n")
	respBuf := []byte("HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\nConnection: X-B\r\nX-B: 2\r\nServer: s\r\n\r\n")
	req := mustParseRequest(t, reqBuf)
	resp := mustParseResponse(t, respBuf)
	clientIP := []byte("10.0.0.1")
	extra := []byte("X-Request-Id: abc\r\n")
	dst := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		out := AppendRequestHead(dst[:0], reqBuf, req, clientIP, extra)
		out = AppendResponseHead(out, respBuf, resp, true, false, extra)
		out = AppendLocalReply(out, 400, "bad_request_line", true)
		_ = StatusText(404)
		if len(out) == 0 {
			t.Fatal("empty output")
		}
	})
	if allocs != 0 {
		t.Fatalf("Append* allocates %.1f times", allocs)
	}
}
