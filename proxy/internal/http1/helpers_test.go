package http1

import (
	"strings"
	"testing"
)

// curlRequest is a typical ~300 byte request with 8 header fields.
const curlRequest = "GET /api/v1/users/12345?include=profile&fields=name,email HTTP/1.1\r\n" +
	"Host: users.svc.cluster.local:8080\r\n" +
	"User-Agent: curl/8.5.0\r\n" +
	"Accept: application/json\r\n" +
	"Accept-Encoding: gzip, deflate\r\n" +
	"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc\r\n" +
	"X-Request-Id: 7f0c1d2e-3b4a-5c6d-7e8f-9a0b1c2d3e4f\r\n" +
	"X-Forwarded-For: 10.1.2.3\r\n" +
	"Connection: keep-alive\r\n" +
	"\r\n"

const typicalResponse = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: application/json\r\n" +
	"Content-Length: 27\r\n" +
	"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n" +
	"Server: envoy\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Connection: keep-alive\r\n" +
	"Keep-Alive: timeout=5\r\n" +
	"\r\n"

// mustParseRequest parses a complete request head or fails the test.
func mustParseRequest(t testing.TB, buf []byte) *Request {
	t.Helper()
	r := new(Request)
	n, err := ParseRequest(buf, 0, r)
	if err != nil || n == 0 {
		t.Fatalf("ParseRequest(%q) = %d, %v; want a complete head", buf, n, err)
	}
	return r
}

func mustParseResponse(t testing.TB, buf []byte) *Response {
	t.Helper()
	r := new(Response)
	n, err := ParseResponse(buf, 0, r)
	if err != nil || n == 0 {
		t.Fatalf("ParseResponse(%q) = %d, %v; want a complete head", buf, n, err)
	}
	return r
}

// headerBlock returns n distinct "X-Hn: v\r\n" lines.
func headerBlock(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("X-H")
		b.WriteString(strings.Repeat("a", i%7))
		b.WriteString(": v\r\n")
	}
	return b.String()
}

// errIs compares an error returned by a parser with the expected *Error.
func errIs(err error, want *Error) bool {
	if want == nil {
		return err == nil
	}
	e, ok := err.(*Error)
	return ok && e == want
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// spansWithin reports whether every span of r lies within buf[:n].
func requestSpansWithin(r *Request, n int) bool {
	ok := func(s Span) bool { return s.Start >= 0 && s.Start <= s.End && int(s.End) <= n }
	if !ok(r.Method) || !ok(r.Target) || !ok(r.Path) || !ok(r.Query) || !ok(r.Host) ||
		!ok(r.Connection) || !ok(r.XForwardedFor) {
		return false
	}
	for _, h := range r.Headers[:r.NumHeaders] {
		if !ok(h.Name) || !ok(h.Value) || h.Name.IsEmpty() {
			return false
		}
	}
	return true
}

func responseSpansWithin(r *Response, n int) bool {
	ok := func(s Span) bool { return s.Start >= 0 && s.Start <= s.End && int(s.End) <= n }
	if !ok(r.Reason) || !ok(r.Connection) {
		return false
	}
	for _, h := range r.Headers[:r.NumHeaders] {
		if !ok(h.Name) || !ok(h.Value) || h.Name.IsEmpty() {
			return false
		}
	}
	return true
}

// cleanLineEnds reports whether every CR in b is followed by LF, every LF is
// preceded by CR, and b holds no NUL.
func cleanLineEnds(b []byte) bool {
	for i, c := range b {
		switch c {
		case 0:
			return false
		case '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return false
			}
		case '\n':
			if i == 0 || b[i-1] != '\r' {
				return false
			}
		}
	}
	return true
}
