package http1

import (
	"net/http"
	"testing"
)

func TestAppendRequestHead(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		clientIP string
		extra    string
		want     string
	}{
		{
			name: "hop-by-hop removal",
			in: "GET /p?q HTTP/1.1\r\nHost: a\r\nConnection: close, X-Foo\r\nX-Foo: 1\r\nKeep-Alive: 5\r\n" +
				"Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic x\r\nProxy-Authenticate: y\r\n" +
				"TE: trailers\r\nUpgrade: h2c\r\nX-Bar: 2\r\nx-foo: 3\r\n\r\n",
			clientIP: "10.0.0.1",
			want:     "GET /p?q HTTP/1.1\r\nHost: a\r\nX-Bar: 2\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
		},
		{
			name:     "connection options over several lines, case-insensitive",
			in:       "GET / HTTP/1.1\r\nX-A: 1\r\nConnection: x-a\r\nHost: a\r\nX-B: 2\r\nX-C: 3\r\nconnection: , X-C ,\r\n\r\n",
			clientIP: "",
			want:     "GET / HTTP/1.1\r\nHost: a\r\nX-B: 2\r\n\r\n",
		},
		{
			name:     "connection cannot remove framing or Host",
			in:       "POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, Host, Transfer-Encoding\r\nContent-Length: 3\r\n\r\n",
			clientIP: "",
			want:     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
		},
		{
			name:     "XFF merged at first position",
			in:       "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Other: o\r\nx-forwarded-for: 2.2.2.2, 3.3.3.3\r\n\r\n",
			clientIP: "10.0.0.1",
			want:     "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.1\r\nX-Other: o\r\n\r\n",
		},
		{
			name:     "XFF empty values skipped",
			in:       "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For:\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n",
			clientIP: "::1",
			want:     "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1, ::1\r\n\r\n",
		},
		{
			name:     "XFF passthrough without client IP",
			in:       "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n",
			clientIP: "",
			want:     "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n",
		},
		{
			name:     "XFF named by Connection is dropped, client IP still added",
			in:       "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Forwarded-For\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n",
			clientIP: "10.0.0.1",
			want:     "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
		},
		{
			name:     "absolute-form rewritten, Host from authority",
			in:       "GET http://example.com:8080/p?q=1 HTTP/1.1\r\nAccept: */*\r\nHost: other\r\n\r\n",
			clientIP: "",
			want:     "GET /p?q=1 HTTP/1.1\r\nAccept: */*\r\nHost: example.com:8080\r\n\r\n",
		},
		{
			name: "absolute-form empty path",
			in:   "GET http://h HTTP/1.1\r\nHost: h\r\n\r\n",
			want: "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		},
		{
			name: "absolute-form query without path",
			in:   "GET http://h?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
			want: "GET /?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
		},
		{
			name: "absolute-form OPTIONS without path",
			in:   "OPTIONS http://h HTTP/1.1\r\nHost: h\r\n\r\n",
			want: "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		},
		{
			name: "absolute-form http10 without Host",
			in:   "GET http://h:81/x HTTP/1.0\r\nAccept: a\r\n\r\n",
			want: "GET /x HTTP/1.0\r\nHost: h:81\r\nAccept: a\r\nConnection: keep-alive\r\n\r\n",
		},
		{
			name: "http10 keeps version, gets keep-alive and empty Host",
			in:   "GET / HTTP/1.0\r\nConnection: close\r\nUser-Agent: u\r\n\r\n",
			want: "GET / HTTP/1.0\r\nHost: \r\nUser-Agent: u\r\nConnection: keep-alive\r\n\r\n",
		},
		{
			name: "framing re-emitted canonically",
			in:   "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 005, 5\r\ncontent-length: 5\r\n\r\n",
			want: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
		},
		{
			name: "chunked re-emitted canonically",
			in:   "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tChunked \r\nTrailer: X\r\n\r\n",
			want: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n",
		},
		{
			name:     "extra lines last",
			in:       "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
			clientIP: "1.2.3.4",
			extra:    "X-Request-Id: r1\r\nX-B3-Sampled: 1\r\n",
			want:     "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Request-Id: r1\r\nX-B3-Sampled: 1\r\n\r\n",
		},
		{
			name: "values trimmed, names kept",
			in:   "GET / HTTP/1.1\r\nhost:a\r\nx-MiXeD:  v  v \t\r\n\r\n",
			want: "GET / HTTP/1.1\r\nhost: a\r\nx-MiXeD: v  v\r\n\r\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte(tc.in)
			r := mustParseRequest(t, buf)
			var extra []byte
			if tc.extra != "" {
				extra = []byte(tc.extra)
			}
			prefix := []byte("prefix")
			got := AppendRequestHead(prefix, buf, r, []byte(tc.clientIP), extra)
			if string(got) != "prefix"+tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, "prefix"+tc.want)
			}
			// The forwarded head must itself be a valid request with the
			// same framing, so the upstream sees the message as we did.
			out := mustParseRequest(t, got[len("prefix"):])
			n1, c1 := r.BodyLength()
			if n2, c2 := out.BodyLength(); n1 != n2 || c1 != c2 {
				t.Fatalf("framing changed: %d,%v -> %d,%v", n1, c1, n2, c2)
			}
		})
	}
}

func TestAppendResponseHead(t *testing.T) {
	const upstream = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, X-Trace\r\nKeep-Alive: timeout=5\r\n" +
		"X-Trace: t\r\nServer: s\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic\r\n\r\n"
	tests := []struct {
		name                    string
		in                      string
		closeAfter, keepAlive10 bool
		extra                   string
		want                    string
	}{
		{"hop-by-hop removed", upstream, false, false, "",
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: s\r\n\r\n"},
		{"close", upstream, true, false, "",
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: s\r\nConnection: close\r\n\r\n"},
		{"close wins over keep-alive", upstream, true, true, "",
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: s\r\nConnection: close\r\n\r\n"},
		{"keep-alive for 1.0 client", upstream, false, true, "",
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: s\r\nConnection: keep-alive\r\n\r\n"},
		{"extra", upstream, false, false, "X-Mesh: 1\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: s\r\nX-Mesh: 1\r\n\r\n"},
		{"http10 upstream, reason kept", "HTTP/1.0 404 Nope\r\nContent-Length: 0\r\n\r\n", false, false, "",
			"HTTP/1.1 404 Nope\r\nContent-Length: 0\r\n\r\n"},
		{"empty reason filled in", "HTTP/1.1 503\r\n\r\n", true, false, "",
			"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n"},
		{"unknown code without reason", "HTTP/1.1 299 \r\n\r\n", false, false, "",
			"HTTP/1.1 299 \r\n\r\n"},
		{"framing canonical", "HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\nConnection: Transfer-Encoding\r\n\r\n", false, false, "",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"duplicate CL collapsed", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX: y\r\ncontent-length: 3, 3\r\n\r\n", false, false, "",
			"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX: y\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte(tc.in)
			r := mustParseResponse(t, buf)
			var extra []byte
			if tc.extra != "" {
				extra = []byte(tc.extra)
			}
			got := AppendResponseHead(nil, buf, r, tc.closeAfter, tc.keepAlive10, extra)
			if string(got) != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
			out := mustParseResponse(t, got)
			k1, l1 := r.Framing(false)
			if k2, l2 := out.Framing(false); k1 != k2 || l1 != l2 {
				t.Fatalf("framing changed: %v,%d -> %v,%d", k1, l1, k2, l2)
			}
		})
	}
}

func TestAppendLocalReply(t *testing.T) {
	got := AppendLocalReply([]byte("x"), ErrHeaderTooLarge.Status, ErrHeaderTooLarge.Reason, true)
	want := "xHTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\ncontent-length: 17\r\n" +
		"x-meshproxy-error: header_too_large\r\nconnection: close\r\n\r\nheader_too_large\n"
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	got = AppendLocalReply(nil, 502, "bad_response", false)
	want = "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n" +
		"x-meshproxy-error: bad_response\r\n\r\nbad_response\n"
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	// The reply must be a response this package accepts, with the right length.
	r := mustParseResponse(t, got)
	if kind, n := r.Framing(false); kind != BodyLength || n != int64(len(got)-r.HeadLen) {
		t.Fatalf("framing %v %d", kind, n)
	}
}

func TestStatusText(t *testing.T) {
	for code, want := range map[int]string{
		200: "OK", 404: "Not Found", 400: "Bad Request", 431: "Request Header Fields Too Large",
		501: "Not Implemented", 502: "Bad Gateway", 505: "HTTP Version Not Supported", 0: "Unknown", 299: "Unknown",
	} {
		if got := StatusText(code); got != want {
			t.Errorf("StatusText(%d) = %q; want %q", code, got, want)
		}
	}
}

// TestStatusTextMatchesNetHTTP checks every code against net/http, which
// still uses the RFC 7231 names for 413, 414, 416 and 422.
func TestStatusTextMatchesNetHTTP(t *testing.T) {
	renamed := map[int]string{413: "Content Too Large", 414: "URI Too Long", 416: "Range Not Satisfiable", 422: "Unprocessable Content"}
	for code := 0; code < 1000; code++ {
		want := http.StatusText(code)
		if r, ok := renamed[code]; ok {
			want = r
		}
		if want == "" {
			want = "Unknown"
		}
		if got := StatusText(code); got != want {
			t.Errorf("StatusText(%d) = %q; want %q", code, got, want)
		}
	}
}

func TestDropRemovesFields(t *testing.T) {
	raw := "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Client-Cert: By=evil\r\nA: 1\r\nx-forwarded-client-cert: URI=spoof\r\nContent-Length: 0\r\n\r\n"
	var r Request
	if _, err := ParseRequest([]byte(raw), 0, &r); err != nil {
		t.Fatal(err)
	}
	r.Drop([]byte(raw), "x-forwarded-client-cert")
	r.Drop([]byte(raw), "content-length") // framing: never dropped
	extra := []byte("x-forwarded-client-cert: By=me;URI=peer\r\n")
	got := string(AppendRequestHead(nil, []byte(raw), &r, nil, extra))
	want := "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nContent-Length: 0\r\nx-forwarded-client-cert: By=me;URI=peer\r\n\r\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if a := testing.AllocsPerRun(100, func() { r.Drop([]byte(raw), "x-forwarded-client-cert") }); a != 0 {
		t.Fatalf("Drop allocates %v", a)
	}
}
