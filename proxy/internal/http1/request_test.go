package http1

import (
	"strings"
	"testing"
)

// reqSummary is the observable result of parsing a request head.
type reqSummary struct {
	Method, Target, Path, Query, Host string
	Minor                             int
	ContentLength                     int64
	Chunked, KeepAlive                bool
	Expect, HEAD, Absolute            bool
	NumHeaders                        int
}

func summarizeRequest(buf []byte, r *Request) reqSummary {
	return reqSummary{
		Method: string(r.Method.Bytes(buf)), Target: string(r.Target.Bytes(buf)),
		Path: string(r.Path.Bytes(buf)), Query: string(r.Query.Bytes(buf)), Host: string(r.Host.Bytes(buf)),
		Minor: r.Minor, ContentLength: r.ContentLength, Chunked: r.Chunked, KeepAlive: r.KeepAlive,
		Expect: r.ExpectContinue, HEAD: r.IsHEAD, Absolute: r.AbsoluteForm, NumHeaders: r.NumHeaders,
	}
}

// get11 returns a reqSummary for "GET / HTTP/1.1" with Host h and n fields.
func get11(h string, n int) reqSummary {
	return reqSummary{Method: "GET", Target: "/", Path: "/", Host: h, Minor: 1, ContentLength: -1, KeepAlive: true, NumHeaders: n}
}

func with(s reqSummary, f func(*reqSummary)) reqSummary { f(&s); return s }

var validRequests = []struct {
	name string
	in   string
	want reqSummary
}{
	{"minimal", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", get11("a", 1)},
	{"query", "GET /p/q?x=1&y=%20 HTTP/1.1\r\nHost: a\r\n\r\n",
		with(get11("a", 1), func(s *reqSummary) { s.Target, s.Path, s.Query = "/p/q?x=1&y=%20", "/p/q", "x=1&y=%20" })},
	{"empty query", "GET /p? HTTP/1.1\r\nHost: a\r\n\r\n",
		with(get11("a", 1), func(s *reqSummary) { s.Target, s.Path = "/p?", "/p" })},
	{"curl", curlRequest, reqSummary{Method: "GET", Target: "/api/v1/users/12345?include=profile&fields=name,email",
		Path: "/api/v1/users/12345", Query: "include=profile&fields=name,email", Host: "users.svc.cluster.local:8080",
		Minor: 1, ContentLength: -1, KeepAlive: true, NumHeaders: 8}},
	{"http10 no host", "GET / HTTP/1.0\r\n\r\n",
		with(get11("", 0), func(s *reqSummary) { s.Minor, s.KeepAlive = 0, false })},
	{"http10 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
		with(get11("", 1), func(s *reqSummary) { s.Minor = 0 })},
	{"http10 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
		with(get11("", 1), func(s *reqSummary) { s.Minor, s.KeepAlive = 0, false })},
	{"connection close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		with(get11("a", 2), func(s *reqSummary) { s.KeepAlive = false })},
	{"connection close second line", "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-a\r\nconnection: ,CLOSE,\r\n\r\n",
		with(get11("a", 3), func(s *reqSummary) { s.KeepAlive = false })},
	{"content-length", "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n",
		reqSummary{Method: "POST", Target: "/u", Path: "/u", Host: "a", Minor: 1, ContentLength: 42, KeepAlive: true, NumHeaders: 2}},
	{"content-length zero", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		with(get11("a", 2), func(s *reqSummary) { s.Method, s.ContentLength = "POST", 0 })},
	{"content-length leading zeros", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n",
		with(get11("a", 2), func(s *reqSummary) { s.Method, s.ContentLength = "POST", 7 })},
	{"content-length OWS", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\t 5 \t\r\n\r\n",
		with(get11("a", 2), func(s *reqSummary) { s.Method, s.ContentLength = "POST", 5 })},
	{"content-length list of identical", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5,5\r\n\r\n",
		with(get11("a", 2), func(s *reqSummary) { s.Method, s.ContentLength = "POST", 5 })},
	{"content-length repeated identical", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
		with(get11("a", 3), func(s *reqSummary) { s.Method, s.ContentLength = "POST", 5 })},
	{"content-length upper case", "POST / HTTP/1.1\r\nHost: a\r\nCONTENT-LENGTH: 3\r\n\r\n",
		with(get11("a", 2), func(s *reqSummary) { s.Method, s.ContentLength = "POST", 3 })},
	{"content-length max int64", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n",
		with(get11("a", 2), func(s *reqSummary) { s.Method, s.ContentLength = "POST", 1<<63-1 })},
	{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		with(get11("a", 2), func(s *reqSummary) { s.Method, s.Chunked = "POST", true })},
	{"chunked tab OWS", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n",
		with(get11("a", 2), func(s *reqSummary) { s.Method, s.Chunked = "POST", true })},
	{"chunked mixed case and trailing OWS", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: ChUnKeD \t\r\n\r\n",
		with(get11("a", 2), func(s *reqSummary) { s.Method, s.Chunked = "POST", true })},
	{"absolute-form", "GET http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: ignored\r\n\r\n",
		with(get11("example.com:8080", 1), func(s *reqSummary) {
			s.Target, s.Path, s.Query, s.Absolute = "http://example.com:8080/p?q=1", "/p", "q=1", true
		})},
	{"absolute-form https upper-case scheme", "GET HTTPS://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
		with(get11("h", 1), func(s *reqSummary) { s.Target, s.Absolute = "HTTPS://h/", true })},
	{"absolute-form no path", "GET http://h HTTP/1.1\r\nHost: h\r\n\r\n",
		with(get11("h", 1), func(s *reqSummary) { s.Target, s.Path, s.Absolute = "http://h", "", true })},
	{"absolute-form query no path", "GET http://h?x HTTP/1.1\r\nHost: h\r\n\r\n",
		with(get11("h", 1), func(s *reqSummary) { s.Target, s.Path, s.Query, s.Absolute = "http://h?x", "", "x", true })},
	{"absolute-form http10 without host", "GET http://h/x HTTP/1.0\r\n\r\n",
		with(get11("h", 0), func(s *reqSummary) {
			s.Target, s.Path, s.Absolute, s.Minor, s.KeepAlive = "http://h/x", "/x", true, 0, false
		})},
	{"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		with(get11("a", 1), func(s *reqSummary) { s.Method, s.Target, s.Path = "OPTIONS", "*", "*" })},
	{"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", get11("a", 1)},
	{"HEAD", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", with(get11("a", 1), func(s *reqSummary) { s.Method, s.HEAD = "HEAD", true })},
	{"expect 100-continue", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
		with(get11("a", 3), func(s *reqSummary) { s.Method, s.Expect, s.ContentLength = "PUT", true, 1 })},
	{"expect ignored on http10", "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
		with(get11("", 1), func(s *reqSummary) { s.Method, s.Minor, s.KeepAlive = "PUT", 0, false })},
	{"extension method", "M-SEARCH /x HTTP/1.1\r\nHost: a\r\n\r\n",
		with(get11("a", 1), func(s *reqSummary) { s.Method, s.Target, s.Path = "M-SEARCH", "/x", "/x" })},
	{"obs-text and OWS in value", "GET / HTTP/1.1\r\nHost: a\r\nX-T: \t caf\xc3\xa9 \x80\xff\t \r\n\r\n", get11("a", 2)},
	{"empty value", "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Blank:   \r\n\r\n", get11("a", 3)},
	{"empty host http11", "GET / HTTP/1.1\r\nHost:\r\n\r\n", get11("", 1)},
	{"ipv6 host", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", get11("[::1]:8080", 1)},
	{"host pct-encoded and sub-delims", "GET / HTTP/1.1\r\nHost: a%2Db.c-d_e~f!$&'()*+,;=:\r\n\r\n", get11("a%2Db.c-d_e~f!$&'()*+,;=:", 1)},
	{"pipelined bytes after head", "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\n", get11("a", 1)},
	{"underscore header is not Transfer-Encoding", "GET / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n", get11("a", 2)},
	{"max headers", "GET / HTTP/1.1\r\nHost: a\r\n" + headerBlock(MaxHeaders-1) + "\r\n", get11("a", MaxHeaders)},
	{"target with sub-delims", "GET /a;b=c/d,e!$&'()*+@:~|{}^`\"<>\\ HTTP/1.1\r\nHost: a\r\n\r\n",
		with(get11("a", 1), func(s *reqSummary) {
			s.Target = "/a;b=c/d,e!$&'()*+@:~|{}^`\"<>\\"
			s.Path = s.Target
		})},
}

func TestParseRequestValid(t *testing.T) {
	for _, tc := range validRequests {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte(tc.in)
			var r Request
			n, err := ParseRequest(buf, 0, &r)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if wantLen := expectedHeadLen(tc.in); n != wantLen || r.HeadLen != n {
				t.Errorf("n = %d, HeadLen = %d; want %d", n, r.HeadLen, wantLen)
			}
			if got := summarizeRequest(buf, &r); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if !requestSpansWithin(&r, n) {
				t.Errorf("span out of range: %+v", r)
			}
		})
	}
}

var invalidRequests = []struct {
	name string
	in   string
	want *Error
}{
	// request-line
	{"double space after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"double space before version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"leading space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"missing version", "GET /\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"http09", "GET /\r\n\r\n", ErrBadRequestLine},
	{"empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"method non-token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"method NUL", "G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"version garbage", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"version two digits", "GET / HTTP/11\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"version 2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", ErrUnsupportedVersion},
	{"version 1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", ErrUnsupportedVersion},
	{"version 0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", ErrUnsupportedVersion},
	{"bare LF request-line", "GET / HTTP/1.1\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"bare CR request-line", "GET / HTTP/1.1\rHost: a\r\n\r\n", ErrBadRequestLine},
	{"CR CR LF request-line", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"bare LF leading line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"bare CR leading line", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"target NUL", "GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestTarget},
	{"target DEL", "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestTarget},
	{"target tab", "GET /\tx HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestTarget},
	{"target non-ASCII", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestTarget},
	{"target fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestTarget},
	{"target space", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestLine},
	{"asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestTarget},
	{"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestTarget},
	{"authority-form without CONNECT", "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadRequestTarget},
	{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", ErrConnectUnsupported},
	{"unknown scheme", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", ErrBadRequestTarget},
	{"absolute-form empty host", "GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n", ErrBadRequestTarget},
	{"absolute-form userinfo", "GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n", ErrBadRequestTarget},
	{"absolute-form bad port", "GET http://h:8x/ HTTP/1.1\r\nHost: h\r\n\r\n", ErrBadRequestTarget},
	{"absolute-form single slash", "GET http:/h/ HTTP/1.1\r\nHost: h\r\n\r\n", ErrBadRequestTarget},

	// field lines
	{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo : bar\r\n\r\n", ErrBadHeaderName},
	{"tab before colon", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo\t: bar\r\n\r\n", ErrBadHeaderName},
	{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: bar\r\n\r\n", ErrBadHeaderName},
	{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo\r\n\r\n", ErrBadHeaderName},
	{"name with slash", "GET / HTTP/1.1\r\nHost: a\r\nX/Foo: bar\r\n\r\n", ErrBadHeaderName},
	{"NUL in name", "GET / HTTP/1.1\r\nHost: a\r\nX-\x00: bar\r\n\r\n", ErrBadHeaderName},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo: b\x00r\r\n\r\n", ErrInvalidHeaderChar},
	{"CTL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo: b\x01r\r\n\r\n", ErrInvalidHeaderChar},
	{"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo: b\x7fr\r\n\r\n", ErrInvalidHeaderChar},
	{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo: b\rr\r\n\r\n", ErrInvalidHeaderChar},
	{"bare LF ends field", "GET / HTTP/1.1\r\nHost: a\nX-Foo: bar\r\n\r\n", ErrInvalidHeaderChar},
	{"bare LF ends head", "GET / HTTP/1.1\r\nHost: a\r\n\n", ErrInvalidHeaderChar},
	{"bare LF smuggled TE", "GET / HTTP/1.1\r\nHost: a\r\nX: y\nTransfer-Encoding: chunked\r\n\r\n", ErrInvalidHeaderChar},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo: a\r\n b\r\n\r\n", ErrObsFold},
	{"obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX-Foo: a\r\n\tb\r\n\r\n", ErrObsFold},
	{"obs-fold TE", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n chunked\r\n\r\n", ErrObsFold},
	{"whitespace before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", ErrObsFold},
	{"too many headers", "GET / HTTP/1.1\r\nHost: a\r\n" + headerBlock(MaxHeaders) + "\r\n", ErrTooManyHeaders},

	// Content-Length
	{"CL plus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", ErrBadContentLength},
	{"CL minus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n", ErrBadContentLength},
	{"CL hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", ErrBadContentLength},
	{"CL trailing junk", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n", ErrBadContentLength},
	{"CL inner space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n", ErrBadContentLength},
	{"CL empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", ErrBadContentLength},
	{"CL trailing comma", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", ErrBadContentLength},
	{"CL leading comma", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n", ErrBadContentLength},
	{"CL overflow", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", ErrBadContentLength},
	{"CL huge", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", ErrBadContentLength},
	{"CL differing lines", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", ErrConflictingContentLength},
	{"CL differing list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", ErrConflictingContentLength},
	{"CL differing case-variant names", "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\nCONTENT-LENGTH: 50\r\n\r\n", ErrConflictingContentLength},

	// Transfer-Encoding and smuggling
	{"CL.TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n", ErrContentLengthWithTransferEncoding},
	{"TE.CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n", ErrContentLengthWithTransferEncoding},
	{"TE.CL zero", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", ErrContentLengthWithTransferEncoding},
	{"TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", ErrBadTransferEncoding},
	{"TE space before colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", ErrBadHeaderName},
	{"TE chunked then x", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-encoding: x\r\n\r\n", ErrBadTransferEncoding},
	{"TE x then chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x\r\nTransfer-encoding: chunked\r\n\r\n", ErrUnsupportedTransferEncoding},
	{"TE chunked twice lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ErrUnsupportedTransferEncoding},
	{"TE chunked, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", ErrUnsupportedTransferEncoding},
	{"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ErrUnsupportedTransferEncoding},
	{"TE chunked, gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", ErrBadTransferEncoding},
	{"TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", ErrBadTransferEncoding},
	{"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", ErrBadTransferEncoding},
	{"TE empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", ErrBadTransferEncoding},
	{"TE trailing comma", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", ErrBadTransferEncoding},
	{"TE parameters", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", ErrBadTransferEncoding},
	{"TE quoted", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", ErrBadTransferEncoding},
	{"TE vertical tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n", ErrInvalidHeaderChar},
	{"TE NUL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x00\r\n\r\n", ErrInvalidHeaderChar},
	{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTransferEncodingHTTP10},

	// Host
	{"missing host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", ErrMissingHost},
	{"missing host absolute-form", "GET http://h/ HTTP/1.1\r\n\r\n", ErrMissingHost},
	{"duplicate host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", ErrDuplicateHost},
	{"duplicate host case", "GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n", ErrDuplicateHost},
	{"duplicate host http10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", ErrDuplicateHost},
	{"host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ErrBadHost},
	{"host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ErrBadHost},
	{"host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", ErrBadHost},
	{"host bad port", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", ErrBadHost},
	{"host only port", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", ErrBadHost},
	{"host unterminated ipv6", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", ErrBadHost},
	{"host bad pct", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", ErrBadHost},
	{"host list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", ErrBadHost},
	{"host junk after ipv6", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", ErrBadHost},
	{"host slash in ipv6", "GET / HTTP/1.1\r\nHost: [::1/8]\r\n\r\n", ErrBadHost},
	{"host empty ipv6", "GET / HTTP/1.1\r\nHost: []\r\n\r\n", ErrBadHost},

	// Connection
	{"connection non-token", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close;x\r\n\r\n", ErrBadConnection},
	{"too many connection options", "GET / HTTP/1.1\r\nHost: a\r\nConnection: " + strings.Repeat("x, ", MaxConnectionOptions) + "y\r\n\r\n", ErrBadConnection},
}

// expectedHeadLen is the head length of a test message: leading CRLFs plus
// everything up to the first CRLFCRLF after them.
func expectedHeadLen(in string) int {
	rest := in
	for strings.HasPrefix(rest, "\r\n") {
		rest = rest[2:]
	}
	return len(in) - len(rest) + strings.Index(rest, "\r\n\r\n") + 4
}

func TestParseRequestInvalid(t *testing.T) {
	for _, tc := range invalidRequests {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			n, err := ParseRequest([]byte(tc.in), 0, &r)
			if n != 0 || !errIs(err, tc.want) {
				t.Fatalf("ParseRequest(%q) = %d, %s; want 0, %s", tc.in, n, errString(err), tc.want)
			}
			if e := err.(*Error); e.Status != tc.want.Status || e.Reason != tc.want.Reason {
				t.Fatalf("status/reason = %d %s", e.Status, e.Reason)
			}
		})
	}
}

func TestParseRequestStatusCodes(t *testing.T) {
	for _, tc := range []struct {
		err    *Error
		status int
		reason string
	}{
		{ErrBadRequestLine, 400, "bad_request_line"},
		{ErrUnsupportedVersion, 505, "unsupported_version"},
		{ErrConnectUnsupported, 501, "connect_unsupported"},
		{ErrUnsupportedTransferEncoding, 501, "unsupported_transfer_encoding"},
		{ErrHeaderTooLarge, 431, "header_too_large"},
		{ErrTooManyHeaders, 431, "too_many_headers"},
		{ErrContentLengthWithTransferEncoding, 400, "content_length_with_transfer_encoding"},
		{ErrObsFold, 400, "obs_fold"},
		{ErrChunkSize, 400, "bad_chunk"},
	} {
		if tc.err.Status != tc.status || tc.err.Reason != tc.reason {
			t.Errorf("%v: got %d %q", tc.err, tc.err.Status, tc.err.Reason)
		}
		if up := tc.err.Upstream(); up.Status != 502 || up.Reason != "bad_response" || up.Detail() != tc.err.Detail() {
			t.Errorf("%v: upstream %d %q %q", tc.err, up.Status, up.Reason, up.Detail())
		}
	}
}

func TestParseRequestHeaderLimit(t *testing.T) {
	head := "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + strings.Repeat("p", 100) + "\r\n\r\n"
	var r Request
	tests := []struct {
		name string
		buf  string
		max  int
		n    int
		err  *Error
	}{
		{"exactly max", head, len(head), len(head), nil},
		{"one over max", head, len(head) - 1, 0, ErrHeaderTooLarge},
		{"complete head beyond max with body", head + "body", len(head) - 1, 0, ErrHeaderTooLarge},
		{"incomplete at max", head[:50], 50, 0, nil},
		{"incomplete beyond max", head[:51], 50, 0, ErrHeaderTooLarge},
		{"CR at limit, LF beyond", head, len(head) - 1, 0, ErrHeaderTooLarge},
		{"leading empty lines count", "\r\n\r\n" + head, len(head) + 3, 0, ErrHeaderTooLarge},
		{"leading empty lines fit", "\r\n\r\n" + head, len(head) + 4, len(head) + 4, nil},
		{"default limit", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("p", DefaultMaxHeaderBytes) + "\r\n\r\n", 0, 0, ErrHeaderTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseRequest([]byte(tc.buf), tc.max, &r)
			if n != tc.n || !errIs(err, tc.err) {
				t.Fatalf("got %d, %s; want %d, %v", n, errString(err), tc.n, tc.err)
			}
		})
	}
}

// TestParseRequestIncremental feeds every message in the tables split at
// every byte: a prefix must yield "incomplete" or the final result.
func TestParseRequestIncremental(t *testing.T) {
	type msg struct{ name, in string }
	var msgs []msg
	for _, tc := range validRequests {
		msgs = append(msgs, msg{tc.name, tc.in})
	}
	for _, tc := range invalidRequests {
		msgs = append(msgs, msg{tc.name, tc.in})
	}
	for _, m := range msgs {
		t.Run(m.name, func(t *testing.T) {
			buf := []byte(m.in)
			var full Request
			wantN, wantErr := ParseRequest(buf, 0, &full)
			var r Request
			for k := 0; k <= len(buf); k++ {
				n, err := ParseRequest(buf[:k], 0, &r)
				switch {
				case err == nil && n == 0:
					if wantErr == nil && k >= wantN {
						t.Fatalf("prefix %d: incomplete, but the head ends at %d", k, wantN)
					}
				case err != nil:
					if err != wantErr {
						t.Fatalf("prefix %d: %v; full message gives %d, %v", k, err, wantN, wantErr)
					}
				default:
					if n != wantN || summarizeRequest(buf, &r) != summarizeRequest(buf, &full) ||
						r.Headers != full.Headers || r.NumHeaders != full.NumHeaders {
						t.Fatalf("prefix %d: result differs from full parse", k)
					}
				}
			}
		})
	}
}

func TestParseRequestHeaders(t *testing.T) {
	buf := []byte("GET / HTTP/1.1\r\nHost: a\r\nX-A:  one two \t\r\nx-b:\r\nConnection: close, X-A\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\n\r\n")
	r := mustParseRequest(t, buf)
	want := [][2]string{{"Host", "a"}, {"X-A", "one two"}, {"x-b", ""}, {"Connection", "close, X-A"},
		{"X-Forwarded-For", "1.1.1.1"}, {"x-forwarded-for", "2.2.2.2"}}
	if r.NumHeaders != len(want) {
		t.Fatalf("NumHeaders = %d", r.NumHeaders)
	}
	for i, w := range want {
		h := r.Headers[i]
		if string(h.Name.Bytes(buf)) != w[0] || string(h.Value.Bytes(buf)) != w[1] {
			t.Errorf("header %d = %q: %q; want %q: %q", i, h.Name.Bytes(buf), h.Value.Bytes(buf), w[0], w[1])
		}
	}
	if got := string(r.Connection.Bytes(buf)); got != "close, X-A" {
		t.Errorf("Connection = %q", got)
	}
	if got := string(r.XForwardedFor.Bytes(buf)); got != "1.1.1.1" || r.NumXForwardedFor != 2 {
		t.Errorf("XForwardedFor = %q, %d", got, r.NumXForwardedFor)
	}
	if n, chunked := r.BodyLength(); n != 0 || chunked {
		t.Errorf("BodyLength = %d, %v", n, chunked)
	}
}

func TestRequestBodyLength(t *testing.T) {
	for _, tc := range []struct {
		in      string
		n       int64
		chunked bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, false},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n", 12, false},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", -1, true},
	} {
		r := mustParseRequest(t, []byte(tc.in))
		if n, c := r.BodyLength(); n != tc.n || c != tc.chunked {
			t.Errorf("%q: BodyLength = %d, %v", tc.in, n, c)
		}
	}
}

func TestRequestReset(t *testing.T) {
	r := mustParseRequest(t, []byte("POST http://h/x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: x\r\n\r\n"))
	r.Reset()
	if r.NumHeaders != 0 || r.ContentLength != -1 || r.AbsoluteForm || !r.Host.IsEmpty() || r.meta.drop != [2]uint64{} {
		t.Fatal("Reset left parse state behind")
	}
}

func TestSpan(t *testing.T) {
	buf := []byte("hello world")
	s := Span{Start: 6, End: 11}
	if s.Len() != 5 || string(s.Bytes(buf)) != "world" || s.IsEmpty() {
		t.Fatalf("span %+v", s)
	}
	if !(Span{3, 3}).IsEmpty() {
		t.Fatal("empty span not empty")
	}
}

func TestErrorBuiltOutsidePackage(t *testing.T) {
	e := &Error{Status: 400, Reason: "custom"}
	if e.Error() != "http1: custom" || e.Detail() != "custom" {
		t.Fatalf("Error() = %q, Detail() = %q", e.Error(), e.Detail())
	}
	if up := e.Upstream(); up.Status != 502 || up.Reason != "bad_response" || up.Detail() != "custom" {
		t.Fatalf("Upstream() = %+v", up)
	}
	if ErrChunkSize.Error() != "http1: bad_chunk: chunk_size" || ErrBadHost.Error() != "http1: bad_host" {
		t.Fatalf("messages %q %q", ErrChunkSize.Error(), ErrBadHost.Error())
	}
}
