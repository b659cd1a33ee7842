package http1

import (
	"bufio"
	"bytes"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// fuzzMaxHeaderBytes is small so that the 431 paths are reached too.
const fuzzMaxHeaderBytes = 2048

var requestSeeds = []string{
	curlRequest,
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"\r\nGET /x?y HTTP/1.0\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"GET http://h:8/p?q HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: [::1]:80\r\nExpect: 100-continue\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-encoding: x\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\nHost: a\n\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nConnection: x_a\r\nx_a: 1\r\n_: 2\r\n\r\n",
}

var responseSeeds = []string{
	typicalResponse,
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	"HTTP/1.0 204\r\nConnection: keep-alive, X-T\r\nX-T: 1\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 3, 3\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
	"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
}

var chunkedSeeds = []string{
	"0\r\n\r\n",
	"5\r\nhello\r\n0\r\n\r\n" + pipelinedNext,
	"5;a=b; c = \"d\\\"e\"\r\nhello\r\n0\r\nT: v\r\n\r\n",
	"0x5\r\nhello\r\n0\r\n\r\n",
	"5\r\nhelloX0\r\n\r\n",
	"4000000000000001\r\n",
	"0\r\n X: y\r\n\r\n",
	"5\nhello\n0\n\n",
}

// FuzzParseRequest checks the parser's invariants on arbitrary input and
// that what AppendRequestHead forwards is framed exactly as what was parsed.
func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Request
		n, err := ParseRequest(data, fuzzMaxHeaderBytes, &r)
		if n < 0 || n > len(data) {
			t.Fatalf("n = %d out of range", n)
		}
		if err != nil {
			e, ok := err.(*Error)
			if !ok || n != 0 || (e.Status != 400 && e.Status != 431 && e.Status != 501 && e.Status != 505) {
				t.Fatalf("bad error result %d, %#v", n, err)
			}
		}
		checkRequestPrefixes(t, data, n, err, &r)
		if n == 0 {
			return
		}
		head := data[:n]
		if n != r.HeadLen || !requestSpansWithin(&r, n) {
			t.Fatalf("HeadLen %d / spans out of range", r.HeadLen)
		}
		if !cleanLineEnds(head) {
			t.Fatalf("accepted a head with a bare CR/LF or NUL: %q", head)
		}
		var again Request
		if n2, err2 := ParseRequest(head, fuzzMaxHeaderBytes, &again); n2 != n || err2 != nil || again != r {
			t.Fatalf("re-parse of head differs: %d, %v", n2, err2)
		}
		checkForwardedRequest(t, data, &r)
		checkRequestAgainstNetHTTP(t, head, &r)
		checkUnderscoresDropped(t, data, &r)
	})
}

// checkUnderscoresDropped: NumUnderscoreNames counts the names holding a
// '_', and after DropUnderscoreNames the forwarded head has none left and
// the same framing.
func checkUnderscoresDropped(t *testing.T, buf []byte, parsed *Request) {
	want := 0
	for _, h := range parsed.Headers[:parsed.NumHeaders] {
		if bytes.IndexByte(h.Name.Bytes(buf), '_') >= 0 {
			want++
		}
	}
	if parsed.NumUnderscoreNames != want {
		t.Fatalf("NumUnderscoreNames = %d, want %d: %q", parsed.NumUnderscoreNames, want, buf[:parsed.HeadLen])
	}
	r := *parsed
	r.DropUnderscoreNames()
	out := AppendRequestHead(nil, buf, &r, nil, nil)
	var fw Request
	if n, err := ParseRequest(out, 1<<20, &fw); err != nil || n != len(out) {
		t.Fatalf("head without underscore names does not parse: %v\n%q", err, out)
	}
	n1, c1 := r.BodyLength()
	if n2, c2 := fw.BodyLength(); fw.NumUnderscoreNames != 0 || n1 != n2 || c1 != c2 {
		t.Fatalf("after DropUnderscoreNames: %d underscore names, framing %d,%v -> %d,%v\n%q",
			fw.NumUnderscoreNames, n1, c1, n2, c2, out)
	}
}

// checkRequestPrefixes asserts that prefixes are incomplete or fail the same way.
func checkRequestPrefixes(t *testing.T, data []byte, n int, err error, full *Request) {
	var r Request
	for _, k := range []int{len(data) / 2, len(data) - 1, n - 1} {
		if k < 0 || k >= len(data) {
			continue
		}
		pn, perr := ParseRequest(data[:k], fuzzMaxHeaderBytes, &r)
		switch {
		case perr == nil && pn == 0:
			if err == nil && n > 0 && k >= n {
				t.Fatalf("prefix %d incomplete but head ends at %d", k, n)
			}
		case perr != nil:
			if perr != err {
				t.Fatalf("prefix %d: %v; full input: %d, %v", k, perr, n, err)
			}
		default:
			if pn != n || r != *full {
				t.Fatalf("prefix %d parsed differently (%d vs %d)", k, pn, n)
			}
		}
	}
}

// checkForwardedRequest re-parses the head produced for the upstream: it must
// be valid and agree on method, version, Host and framing, and must not
// carry hop-by-hop fields.
func checkForwardedRequest(t *testing.T, buf []byte, r *Request) {
	out := AppendRequestHead(nil, buf, r, []byte("192.0.2.1"), []byte("X-Request-Id: f\r\n"))
	var fw Request
	n, err := ParseRequest(out, 1<<20, &fw)
	if err != nil || n != len(out) {
		t.Fatalf("forwarded head does not parse: %v\n%q\nfrom\n%q", err, out, buf[:r.HeadLen])
	}
	if string(fw.Method.Bytes(out)) != string(r.Method.Bytes(buf)) || fw.Minor != r.Minor ||
		string(fw.Host.Bytes(out)) != string(r.Host.Bytes(buf)) || fw.AbsoluteForm {
		t.Fatalf("forwarded request-line/Host differ:\n%q\nfrom\n%q", out, buf[:r.HeadLen])
	}
	n1, c1 := r.BodyLength()
	if n2, c2 := fw.BodyLength(); n1 != n2 || c1 != c2 {
		t.Fatalf("framing changed %d,%v -> %d,%v", n1, c1, n2, c2)
	}
	if !fw.KeepAlive {
		t.Fatalf("forwarded request is not keep-alive: %q", out)
	}
	for i := 0; i < fw.NumHeaders; i++ {
		k := fw.meta.kinds[i]
		if k.hopByHop() && !(k == kindConnection && fw.Minor == 0) {
			t.Fatalf("hop-by-hop field %q forwarded", fw.Headers[i].Name.Bytes(out))
		}
	}
	if fw.NumXForwardedFor != 1 || !bytes.HasSuffix(fw.XForwardedFor.Bytes(out), []byte("192.0.2.1")) {
		t.Fatalf("X-Forwarded-For not merged: %q", out)
	}
}

// checkRequestAgainstNetHTTP compares framing with net/http when both accept
// the head: a disagreement on body length is exactly a smuggling bug.
func checkRequestAgainstNetHTTP(t *testing.T, head []byte, r *Request) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return // net/http is stricter about some targets; that is fine
	}
	n, chunked := r.BodyLength()
	goChunked := len(req.TransferEncoding) > 0 && req.TransferEncoding[0] == "chunked"
	if chunked != goChunked || (!chunked && req.ContentLength != n) {
		t.Fatalf("framing disagrees with net/http: ours %d,%v; net/http CL=%d TE=%v\n%q",
			n, chunked, req.ContentLength, req.TransferEncoding, head)
	}
	if req.Method != string(r.Method.Bytes(head)) || req.ProtoMinor != r.Minor {
		t.Fatalf("request-line disagrees with net/http: %q", head)
	}
}

// FuzzParseResponse checks the response parser's invariants and that
// AppendResponseHead preserves framing.
func FuzzParseResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Response
		n, err := ParseResponse(data, fuzzMaxHeaderBytes, &r)
		if n < 0 || n > len(data) {
			t.Fatalf("n = %d out of range", n)
		}
		if err != nil {
			if e, ok := err.(*Error); !ok || n != 0 || e.Status != 502 || e.Reason != "bad_response" {
				t.Fatalf("bad error result %d, %#v", n, err)
			}
		}
		for _, k := range []int{len(data) / 2, len(data) - 1, n - 1} {
			if k < 0 || k >= len(data) {
				continue
			}
			var p Response
			pn, perr := ParseResponse(data[:k], fuzzMaxHeaderBytes, &p)
			if perr != nil && perr != err || pn != 0 && (pn != n || p != r) || pn == 0 && perr == nil && err == nil && n > 0 && k >= n {
				t.Fatalf("prefix %d: %d, %v; full: %d, %v", k, pn, perr, n, err)
			}
		}
		if n == 0 {
			return
		}
		head := data[:n]
		if n != r.HeadLen || !responseSpansWithin(&r, n) || !cleanLineEnds(head) {
			t.Fatalf("bad accepted head %q", head)
		}
		var again Response
		if n2, err2 := ParseResponse(head, fuzzMaxHeaderBytes, &again); n2 != n || err2 != nil || again != r {
			t.Fatalf("re-parse of head differs")
		}
		for _, closeAfter := range []bool{false, true} {
			out := AppendResponseHead(nil, data, &r, closeAfter, !closeAfter, nil)
			var fw Response
			if n, err := ParseResponse(out, 1<<20, &fw); err != nil || n != len(out) {
				t.Fatalf("forwarded head does not parse: %v\n%q", err, out)
			}
			for _, head := range []bool{false, true} {
				k1, l1 := r.Framing(head)
				if k2, l2 := fw.Framing(head); k1 != k2 || l1 != l2 || fw.Status != r.Status {
					t.Fatalf("framing changed %v,%d -> %v,%d: %q", k1, l1, k2, l2, out)
				}
			}
			if fw.KeepAlive == closeAfter {
				t.Fatalf("KeepAlive %v with closeAfter %v", fw.KeepAlive, closeAfter)
			}
		}
	})
}

// FuzzChunkedScanner checks that Scan is independent of how the input is
// split and agrees with a simple whole-buffer reference implementation.
func FuzzChunkedScanner(f *testing.F) {
	for i, s := range chunkedSeeds {
		f.Add([]byte(s), uint(i*3))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint) {
		var s ChunkedScanner
		n, done, err := s.Scan(data)
		if n < 0 || n > len(data) || (err == nil && !done && n != len(data)) || (err != nil && done) {
			t.Fatalf("bad result %d, %v, %v", n, done, err)
		}
		k := int(cut % uint(len(data)+1))
		if n2, done2, err2 := scanInPieces(data, k); n2 != n || done2 != done || err2 != err {
			t.Fatalf("split at %d: %d, %v, %v; whole: %d, %v, %v", k, n2, done2, err2, n, done, err)
		}
		if len(data) <= 512 {
			cuts := make([]int, 0, len(data))
			for i := 1; i < len(data); i++ {
				cuts = append(cuts, i)
			}
			if n2, done2, err2 := scanInPieces(data, cuts...); n2 != n || done2 != done || err2 != err {
				t.Fatalf("byte at a time: %d, %v, %v; whole: %d, %v, %v", n2, done2, err2, n, done, err)
			}
		}
		refN, refDone := referenceChunked(data)
		if refDone != done || (done && refN != n) {
			t.Fatalf("reference: %d, %v; scanner: %d, %v, %v\n%q", refN, refDone, n, done, err, data)
		}
	})
}

// The reference implementation reads whole lines and matches them against
// the RFC 9112 grammar written as regular expressions over Latin-1 text.
const (
	reTchar = "[!#$%&'*+.^_`|~0-9A-Za-z-]"
	reQuote = `"(?:[\t \x21\x23-\x5b\x5d-\x7e\x{80}-\x{ff}]|\\[\t \x21-\x7e\x{80}-\x{ff}])*"`
)

var (
	chunkLineRE = regexp.MustCompile(`^([0-9A-Fa-f]+)(?:[ \t]*;[ \t]*` + reTchar + `+(?:[ \t]*=[ \t]*(?:` + reTchar + `+|` + reQuote + `))?)*$`)
	trailerRE   = regexp.MustCompile(`^` + reTchar + `+:[\t \x21-\x7e\x{80}-\x{ff}]*$`)
)

func latin1(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// referenceChunked returns the end of the chunked body at the start of p and
// whether a complete valid body is there.
func referenceChunked(p []byte) (int, bool) {
	pos := 0
	for {
		i := bytes.Index(p[pos:], []byte("\r\n"))
		if i < 0 || i+2 > MaxChunkLineBytes {
			return 0, false
		}
		m := chunkLineRE.FindStringSubmatch(latin1(p[pos : pos+i]))
		if m == nil {
			return 0, false
		}
		digits := strings.TrimLeft(m[1], "0")
		size, perr := strconv.ParseUint("0"+digits, 16, 64)
		if perr != nil || len(digits) > 16 || size > MaxChunkSize {
			return 0, false
		}
		pos += i + 2
		if size == 0 {
			break
		}
		if uint64(len(p)-pos) < size+2 || string(p[pos+int(size):pos+int(size)+2]) != "\r\n" {
			return 0, false
		}
		pos += int(size) + 2
	}
	start := pos
	for {
		i := bytes.Index(p[pos:], []byte("\r\n"))
		if i < 0 || pos+i+2-start > MaxTrailerBytes {
			return 0, false
		}
		if i == 0 {
			return pos + 2, true
		}
		if !trailerRE.MatchString(latin1(p[pos : pos+i])) {
			return 0, false
		}
		pos += i + 2
	}
}
