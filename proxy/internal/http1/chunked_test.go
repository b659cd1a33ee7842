package http1

import (
	"bytes"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
)

const pipelinedNext = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"

var validChunked = []struct {
	name string
	body string
	data string // decoded payload, for the net/http cross-check
}{
	{"last-chunk only", "0\r\n\r\n", ""},
	{"one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello"},
	{"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"},
	{"hex upper", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789"},
	{"hex lower", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789"},
	{"leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello"},
	{"data looks like framing", "7\r\n0\r\n\r\n\r\n\r\n0\r\n\r\n", "0\r\n\r\n\r\n"},
	{"binary data", "4\r\n\x00\r\n\xff\r\n0\r\n\r\n", "\x00\r\n\xff"},
	{"extension", "5;name=value\r\nhello\r\n0;last\r\n\r\n", "hello"},
	{"extension no value", "5;a;b\r\nhello\r\n0\r\n\r\n", "hello"},
	{"extension BWS after name", "5;a ;b\r\nhello\r\n0\r\n\r\n", "hello"},
	{"extension BWS", "5 ;\ta = b ; c\t=\td\r\nhello\r\n0 ; x\r\n\r\n", "hello"},
	{"extension quoted", "5;a=\"x;y=\\\"z\\\" \t\"\r\nhello\r\n0\r\n\r\n", "hello"},
	{"extension quoted obs-text", "5;a=\"\x80\xff\"\r\nhello\r\n0\r\n\r\n", "hello"},
	{"trailer", "5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n", "hello"},
	{"trailers", "0\r\nA: 1\r\nB:\r\nC:  spaced  value\t\r\n\r\n", ""},
	{"big chunk", "1000\r\n" + strings.Repeat("x", 0x1000) + "\r\n0\r\n\r\n", strings.Repeat("x", 0x1000)},
	{"max line", strings.Repeat("0", MaxChunkLineBytes-3) + "1\r\nx\r\n0\r\n\r\n", "x"},
}

func TestChunkedScannerValid(t *testing.T) {
	for _, tc := range validChunked {
		t.Run(tc.name, func(t *testing.T) {
			for _, next := range []string{"", pipelinedNext} {
				var s ChunkedScanner
				n, done, err := s.Scan([]byte(tc.body + next))
				if n != len(tc.body) || !done || err != nil {
					t.Fatalf("Scan = %d, %v, %v; want %d, true, nil", n, done, err, len(tc.body))
				}
				if n, done, err := s.Scan([]byte(next)); n != 0 || !done || err != nil {
					t.Fatalf("Scan after done = %d, %v, %v", n, done, err)
				}
			}
		})
	}
}

// TestChunkedScannerAgreesWithNetHTTP checks that bodies the scanner accepts
// decode to the expected payload with Go's own chunked reader.
func TestChunkedScannerAgreesWithNetHTTP(t *testing.T) {
	for _, tc := range validChunked {
		if strings.Contains(tc.name, "BWS") || strings.Contains(tc.name, "max line") || strings.Contains(tc.name, "leading zeros") {
			continue // net/http is stricter than RFC 9112 about BWS and long lines
		}
		got, err := io.ReadAll(httputil.NewChunkedReader(strings.NewReader(tc.body)))
		if err != nil || string(got) != tc.data {
			t.Errorf("%s: net/http decoded %q, %v; want %q", tc.name, got, err, tc.data)
		}
	}
}

var invalidChunked = []struct {
	name string
	body string
	at   int // offset of the offending byte
	want *Error
}{
	{"empty size", "\r\n", 0, ErrChunkSize},
	{"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", 1, ErrChunkSize},
	{"plus sign", "+5\r\n", 0, ErrChunkSize},
	{"minus sign", "-5\r\n", 0, ErrChunkSize},
	{"leading space", " 5\r\n", 0, ErrChunkSize},
	{"non-hex", "g\r\n", 0, ErrChunkSize},
	{"non-hex after digits", "5g\r\n", 1, ErrChunkSize},
	{"trailing space", "5 \r\nhello\r\n", 2, ErrChunkExtension},
	{"bare LF after size", "5\nhello\r\n", 1, ErrChunkSize},
	{"bare CR after size", "5\rhello\r\n", 2, ErrChunkLineEnd},
	{"missing CRLF after data", "5\r\nhelloX\r\n", 8, ErrChunkDataCRLF},
	{"LF only after data", "5\r\nhello\n0\r\n\r\n", 8, ErrChunkDataCRLF},
	{"CR only after data", "5\r\nhello\r0\r\n\r\n", 9, ErrChunkDataCRLF},
	{"data longer than size", "3\r\nhello\r\n0\r\n\r\n", 6, ErrChunkDataCRLF},
	{"overflow 2^62+1", "4000000000000001\r\n", 15, ErrChunkSizeOverflow},
	{"overflow 17 digits", "10000000000000000\r\n", 16, ErrChunkSizeOverflow},
	{"overflow long", "ffffffffffffffffffff\r\n", 15, ErrChunkSizeOverflow},
	{"empty extension", "5;\r\nhello\r\n", 2, ErrChunkExtension},
	{"extension without name", "5;=x\r\n", 2, ErrChunkExtension},
	{"extension empty value", "5;a=\r\n", 4, ErrChunkExtension},
	{"extension two names", "5;a b\r\n", 4, ErrChunkExtension},
	{"extension value space", "5;a=b c\r\n", 6, ErrChunkExtension},
	{"extension trailing space", "5;a=b \r\n", 6, ErrChunkExtension},
	{"extension unterminated quote", "5;a=\"x\r\n", 6, ErrChunkExtension},
	{"extension char after quote", "5;a=\"x\"y\r\n", 7, ErrChunkExtension},
	{"extension bad quoted-pair", "5;a=\"\\\x00\"\r\n", 6, ErrChunkExtension},
	{"extension CTL in quotes", "5;a=\"\x01\"\r\n", 5, ErrChunkExtension},
	{"extension junk after name", "5;a /\r\n", 4, ErrChunkExtension},
	{"extension NUL", "5;a\x00\r\n", 3, ErrChunkExtension},
	{"extension bare LF", "5;a\n", 3, ErrChunkExtension},
	{"extension too long", "5;" + strings.Repeat("a", MaxChunkLineBytes), MaxChunkLineBytes, ErrChunkLineTooLong},
	{"leading zeros too long", strings.Repeat("0", MaxChunkLineBytes+1), MaxChunkLineBytes, ErrChunkLineTooLong},
	{"trailer obs-fold", "0\r\nX: y\r\n z\r\n\r\n", 9, ErrTrailerObsFold},
	{"trailer leading space", "0\r\n X: y\r\n\r\n", 3, ErrTrailerObsFold},
	{"trailer space before colon", "0\r\nX : y\r\n\r\n", 4, ErrTrailerField},
	{"trailer no colon", "0\r\nX\r\n\r\n", 4, ErrTrailerField},
	{"trailer empty name", "0\r\n: y\r\n\r\n", 3, ErrTrailerField},
	{"trailer NUL", "0\r\nX: \x00\r\n\r\n", 6, ErrTrailerField},
	{"trailer bare LF", "0\r\nX: y\n\r\n", 7, ErrTrailerField},
	{"trailer bare CR", "0\r\nX: y\rZ\r\n\r\n", 8, ErrTrailerField},
	{"bare LF at end", "0\r\n\n", 3, ErrTrailerField},
	{"bare CR at end", "0\r\n\rX", 4, ErrChunkedBodyEndCRLF},
	{"trailer too large", "0\r\nX: " + strings.Repeat("v", MaxTrailerBytes) + "\r\n\r\n", MaxTrailerBytes + 3, ErrTrailerTooLarge},
}

func TestChunkedScannerInvalid(t *testing.T) {
	for _, tc := range invalidChunked {
		t.Run(tc.name, func(t *testing.T) {
			var s ChunkedScanner
			n, done, err := s.Scan([]byte(tc.body))
			if n != tc.at || done || !errIs(err, tc.want) {
				t.Fatalf("Scan = %d, %v, %s; want %d, false, %v", n, done, errString(err), tc.at, tc.want)
			}
			if e := err.(*Error); e.Status != 400 || e.Reason != "bad_chunk" || e.Upstream().Status != 502 {
				t.Fatalf("error %d %q", e.Status, e.Reason)
			}
			if n, done, err2 := s.Scan([]byte("0\r\n\r\n")); n != 0 || done || err2 != err {
				t.Fatalf("error is not sticky: %d, %v, %v", n, done, err2)
			}
			s.Reset()
			if n, done, err := s.Scan([]byte("0\r\n\r\n")); n != 5 || !done || err != nil {
				t.Fatalf("after Reset: %d, %v, %v", n, done, err)
			}
		})
	}
}

func TestChunkedScannerOverflowBoundary(t *testing.T) {
	var s ChunkedScanner
	// Exactly 2^62 is accepted; the data simply has not arrived.
	p := []byte("4000000000000000\r\nabc")
	if n, done, err := s.Scan(p); n != len(p) || done || err != nil {
		t.Fatalf("Scan = %d, %v, %v", n, done, err)
	}
	if s.size != MaxChunkSize-3 {
		t.Fatalf("remaining = %d", s.size)
	}
}

// scanInPieces feeds p to a fresh scanner in the given pieces and returns the
// absolute body end (or error offset).
func scanInPieces(p []byte, cuts ...int) (n int, done bool, err error) {
	var s ChunkedScanner
	prev := 0
	for _, c := range append(cuts, len(p)) {
		m, d, e := s.Scan(p[prev:c])
		if e != nil || d {
			return prev + m, d, e
		}
		if m != c-prev {
			return -1, false, nil // contract violation
		}
		prev = c
	}
	return prev, false, nil
}

// TestChunkedScannerSplits splits every body (followed by a pipelined
// request) at every offset, and also feeds it one byte at a time: the result
// must always be the one-shot result.
func TestChunkedScannerSplits(t *testing.T) {
	type body struct{ name, in string }
	var bodies []body
	for _, tc := range validChunked {
		bodies = append(bodies, body{tc.name, tc.body + pipelinedNext})
	}
	for _, tc := range invalidChunked {
		bodies = append(bodies, body{tc.name, tc.body})
	}
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			p := []byte(b.in)
			wantN, wantDone, wantErr := scanInPieces(p)
			for k := 0; k <= len(p); k = nextSplit(k, len(p)) {
				n, done, err := scanInPieces(p, k)
				if n != wantN || done != wantDone || err != wantErr {
					t.Fatalf("split at %d: %d, %v, %v; want %d, %v, %v", k, n, done, err, wantN, wantDone, wantErr)
				}
			}
			cuts := make([]int, 0, len(p))
			for k := 1; k < len(p); k++ {
				cuts = append(cuts, k)
			}
			if n, done, err := scanInPieces(p, cuts...); n != wantN || done != wantDone || err != wantErr {
				t.Fatalf("byte at a time: %d, %v, %v; want %d, %v, %v", n, done, err, wantN, wantDone, wantErr)
			}
		})
	}
}

// nextSplit returns the split offset after k: every offset for short inputs,
// and for long ones every offset near both ends plus a stride in between,
// which keeps the quadratic split test fast under -race.
func nextSplit(k, n int) int {
	const edge = 256
	if n <= 4*edge || k < edge || k >= n-edge {
		return k + 1
	}
	return min(k+61, n-edge)
}

func TestChunkedScannerIncomplete(t *testing.T) {
	body := []byte("5;x=\"y\"\r\nhello\r\n0\r\nT: v\r\n\r\n")
	for k := 0; k < len(body); k++ {
		var s ChunkedScanner
		n, done, err := s.Scan(body[:k])
		if n != k || done || err != nil {
			t.Fatalf("prefix %d: %d, %v, %v", k, n, done, err)
		}
		if s.Done() {
			t.Fatalf("prefix %d: Done", k)
		}
	}
	var s ChunkedScanner
	if n, done, _ := s.Scan(bytes.Repeat(body, 2)); n != len(body) || !done || !s.Done() {
		t.Fatalf("got %d, %v", n, done)
	}
}
