package http1

import (
	"strings"
	"testing"
)

type respSummary struct {
	Status, Minor      int
	Reason             string
	ContentLength      int64
	Chunked, KeepAlive bool
	NumHeaders         int
}

func summarizeResponse(buf []byte, r *Response) respSummary {
	return respSummary{Status: r.Status, Minor: r.Minor, Reason: string(r.Reason.Bytes(buf)),
		ContentLength: r.ContentLength, Chunked: r.Chunked, KeepAlive: r.KeepAlive, NumHeaders: r.NumHeaders}
}

var validResponses = []struct {
	name string
	in   string
	want respSummary
}{
	{"typical", typicalResponse, respSummary{200, 1, "OK", 27, false, true, 7}},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", respSummary{200, 1, "OK", -1, true, true, 1}},
	{"no length", "HTTP/1.1 200 OK\r\n\r\n", respSummary{200, 1, "OK", -1, false, true, 0}},
	{"empty reason", "HTTP/1.1 404 \r\n\r\n", respSummary{404, 1, "", -1, false, true, 0}},
	{"missing SP after code", "HTTP/1.1 204\r\n\r\n", respSummary{204, 1, "", -1, false, true, 0}},
	{"reason with spaces and obs-text", "HTTP/1.1 500 Internal \tServer \xe9rror\r\n\r\n",
		respSummary{500, 1, "Internal \tServer \xe9rror", -1, false, true, 0}},
	{"http10", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", respSummary{200, 0, "OK", 2, false, false, 1}},
	{"http10 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", respSummary{200, 0, "OK", -1, false, true, 1}},
	{"close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", respSummary{200, 1, "OK", 0, false, false, 2}},
	{"CL list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\n", respSummary{200, 1, "OK", 3, false, true, 2}},
	{"100 continue", "HTTP/1.1 100 Continue\r\n\r\n", respSummary{100, 1, "Continue", -1, false, true, 0}},
	{"599", "HTTP/1.1 599 Whatever\r\n\r\n", respSummary{599, 1, "Whatever", -1, false, true, 0}},
	{"host header not special", "HTTP/1.1 200 OK\r\nHost: a b\r\nHost: c\r\n\r\n", respSummary{200, 1, "OK", -1, false, true, 2}},
	{"pipelined body after head", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", respSummary{200, 1, "OK", 5, false, true, 1}},
}

func TestParseResponseValid(t *testing.T) {
	for _, tc := range validResponses {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte(tc.in)
			var r Response
			n, err := ParseResponse(buf, 0, &r)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if want := strings.Index(tc.in, "\r\n\r\n") + 4; n != want || r.HeadLen != n {
				t.Errorf("n = %d, HeadLen = %d; want %d", n, r.HeadLen, want)
			}
			if got := summarizeResponse(buf, &r); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if !responseSpansWithin(&r, n) {
				t.Errorf("span out of range")
			}
		})
	}
}

// invalidResponses lists malformed response heads and the request-side error
// describing the rule; ParseResponse must return its Upstream (502) twin.
var invalidResponses = []struct {
	name string
	in   string
	want *Error
}{
	{"empty line first", "\r\nHTTP/1.1 200 OK\r\n\r\n", ErrBadStatusLine},
	{"http2", "HTTP/2.0 200 OK\r\n\r\n", ErrBadStatusLine},
	{"http12", "HTTP/1.2 200 OK\r\n\r\n", ErrBadStatusLine},
	{"lower-case version", "http/1.1 200 OK\r\n\r\n", ErrBadStatusLine},
	{"two-digit code", "HTTP/1.1 20 OK\r\n\r\n", ErrBadStatusLine},
	{"four-digit code", "HTTP/1.1 2000 OK\r\n\r\n", ErrBadStatusLine},
	{"code below 100", "HTTP/1.1 099 X\r\n\r\n", ErrBadStatusLine},
	{"code 600", "HTTP/1.1 600 X\r\n\r\n", ErrBadStatusLine},
	{"non-digit code", "HTTP/1.1 2x0 OK\r\n\r\n", ErrBadStatusLine},
	{"double space", "HTTP/1.1  200 OK\r\n\r\n", ErrBadStatusLine},
	{"no code", "HTTP/1.1\r\n\r\n", ErrBadStatusLine},
	{"reason NUL", "HTTP/1.1 200 O\x00K\r\n\r\n", ErrBadStatusLine},
	{"bare LF status-line", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", ErrBadStatusLine},
	{"bare CR status-line", "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", ErrBadStatusLine},
	{"bare LF field", "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", ErrInvalidHeaderChar},
	{"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", ErrObsFold},
	{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", ErrBadHeaderName},
	{"NUL in value", "HTTP/1.1 200 OK\r\nX: \x00\r\n\r\n", ErrInvalidHeaderChar},
	{"CL.TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", ErrContentLengthWithTransferEncoding},
	{"bad CL", "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", ErrBadContentLength},
	{"conflicting CL", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", ErrConflictingContentLength},
	{"TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", ErrBadTransferEncoding},
	{"TE gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ErrUnsupportedTransferEncoding},
	{"TE xchunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n", ErrBadTransferEncoding},
	{"TE http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTransferEncodingHTTP10},
	{"too many headers", "HTTP/1.1 200 OK\r\n" + headerBlock(MaxHeaders+1) + "\r\n", ErrTooManyHeaders},
}

func TestParseResponseInvalid(t *testing.T) {
	for _, tc := range invalidResponses {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			n, err := ParseResponse([]byte(tc.in), 0, &r)
			want := tc.want.Upstream()
			if n != 0 || !errIs(err, want) {
				t.Fatalf("ParseResponse(%q) = %d, %s; want 0, %s", tc.in, n, errString(err), want)
			}
			if e := err.(*Error); e.Status != 502 || e.Reason != "bad_response" || e.Detail() != tc.want.Detail() {
				t.Fatalf("got %d %q %q", e.Status, e.Reason, e.Detail())
			}
		})
	}
}

func TestParseResponseHeaderLimit(t *testing.T) {
	var r Response
	head := typicalResponse
	if n, err := ParseResponse([]byte(head), len(head), &r); n != len(head) || err != nil {
		t.Fatalf("at limit: %d, %v", n, err)
	}
	if n, err := ParseResponse([]byte(head), len(head)-1, &r); n != 0 || !errIs(err, ErrHeaderTooLarge.Upstream()) {
		t.Fatalf("over limit: %d, %v", n, err)
	}
	if n, err := ParseResponse([]byte("HTTP/1.1 200 OK"), 10, &r); n != 0 || !errIs(err, ErrHeaderTooLarge.Upstream()) {
		t.Fatalf("long status-line: %d, %v", n, err)
	}
	if n, err := ParseResponse(nil, 10, &r); n != 0 || err != nil {
		t.Fatalf("empty: %d, %v", n, err)
	}
}

func TestParseResponseIncremental(t *testing.T) {
	var msgs []string
	for _, tc := range validResponses {
		msgs = append(msgs, tc.in)
	}
	for _, tc := range invalidResponses {
		msgs = append(msgs, tc.in)
	}
	for _, in := range msgs {
		buf := []byte(in)
		var full, r Response
		wantN, wantErr := ParseResponse(buf, 0, &full)
		for k := 0; k <= len(buf); k++ {
			n, err := ParseResponse(buf[:k], 0, &r)
			switch {
			case err == nil && n == 0:
				if wantErr == nil && k >= wantN {
					t.Fatalf("%q prefix %d: incomplete, head ends at %d", in, k, wantN)
				}
			case err != nil:
				if err != wantErr {
					t.Fatalf("%q prefix %d: %v; full gives %v", in, k, err, wantErr)
				}
			default:
				if n != wantN || summarizeResponse(buf, &r) != summarizeResponse(buf, &full) || r.Headers != full.Headers {
					t.Fatalf("%q prefix %d: differs from full parse", in, k)
				}
			}
		}
	}
}

func TestBodyKindString(t *testing.T) {
	for k, want := range map[BodyKind]string{BodyNone: "BodyNone", BodyLength: "BodyLength",
		BodyChunked: "BodyChunked", BodyUntilClose: "BodyUntilClose", 9: "BodyKind(?)"} {
		if k.String() != want {
			t.Errorf("%d: %q", k, k.String())
		}
	}
}

func TestResponseFraming(t *testing.T) {
	for _, tc := range []struct {
		in     string
		head   bool
		kind   BodyKind
		length int64
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, BodyLength, 5},
		{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, BodyLength, 0},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, BodyNone, 0},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, BodyChunked, -1},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, BodyNone, 0},
		{"HTTP/1.1 200 OK\r\n\r\n", false, BodyUntilClose, -1},
		{"HTTP/1.0 200 OK\r\n\r\n", false, BodyUntilClose, -1},
		{"HTTP/1.1 100 Continue\r\n\r\n", false, BodyNone, 0},
		{"HTTP/1.1 101 Switching Protocols\r\n\r\n", false, BodyNone, 0},
		{"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, BodyNone, 0},
		{"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", false, BodyNone, 0},
		{"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false, BodyNone, 0},
		{"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n", false, BodyLength, 9},
	} {
		r := mustParseResponse(t, []byte(tc.in))
		if kind, length := r.Framing(tc.head); kind != tc.kind || length != tc.length {
			t.Errorf("%q head=%v: Framing = %v, %d; want %v, %d", tc.in, tc.head, kind, length, tc.kind, tc.length)
		}
	}
}
