package http1

import (
	"strings"
	"testing"
)

// underscoreAttack is the request of issue 11 defect 4: neither field is
// what its name looks like to a CGI-style app server, which reads both as
// the hyphenated field ("HTTP_TRANSFER_ENCODING", "HTTP_X_FORWARDED_CLIENT_CERT").
const underscoreAttack = "GET / HTTP/1.1\r\nHost: echo\r\nTransfer_Encoding: chunked\r\n" +
	"x_forwarded_client_cert: By=spiffe://evil\r\n\r\n"

// underscoreBlock returns n distinct "X_Hn: v\r\n" lines.
func underscoreBlock(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("X_H")
		b.WriteString(strings.Repeat("a", i%7))
		b.WriteString(": v\r\n")
	}
	return b.String()
}

// TestUnderscoreNames: the parser counts request field names containing
// '_' (and only names), and DropUnderscoreNames removes exactly those
// fields from the forwarded head while framing, Host and X-Forwarded-For
// stay as they were.
func TestUnderscoreNames(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		count   int
		dropped string // AppendRequestHead after DropUnderscoreNames (clientIP 10.0.0.1)
	}{
		{
			name:    "none",
			in:      "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n",
			dropped: "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
		},
		{
			name:    "underscore only in values and Host",
			in:      "GET /a_b?c_d HTTP/1.1\r\nHost: a_b\r\nX-A: x_y\r\n\r\n",
			dropped: "GET /a_b?c_d HTTP/1.1\r\nHost: a_b\r\nX-A: x_y\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
		},
		{
			name:    "issue 11 request: framing look-alike and forged client cert",
			in:      underscoreAttack,
			count:   2,
			dropped: "GET / HTTP/1.1\r\nHost: echo\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
		},
		{
			name:    "first, last and only character",
			in:      "GET / HTTP/1.1\r\n_x: 1\r\nHost: a\r\nX_: 2\r\n_: 3\r\nX-B: 4\r\n\r\n",
			count:   3,
			dropped: "GET / HTTP/1.1\r\nHost: a\r\nX-B: 4\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
		},
		{
			name:    "real framing and Host stay",
			in:      "POST / HTTP/1.1\r\nContent_Length: 99\r\nHost: a\r\nContent-Length: 2\r\nHost_: evil\r\n\r\n",
			count:   2,
			dropped: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
		},
		{
			name:    "look-alike X-Forwarded-For is not merged",
			in:      "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 6.6.6.6\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n",
			count:   1,
			dropped: "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1, 10.0.0.1\r\n\r\n",
		},
		{
			name:    "also named by Connection",
			in:      "GET / HTTP/1.1\r\nHost: a\r\nConnection: X_A\r\nX_A: 1\r\nX-B: 2\r\n\r\n",
			count:   1,
			dropped: "GET / HTTP/1.1\r\nHost: a\r\nX-B: 2\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
		},
		{
			// Fields 65 and on have their bits in the second word.
			name:    "beyond 64 fields",
			in:      "GET / HTTP/1.1\r\nHost: a\r\n" + headerBlock(60) + underscoreBlock(MaxHeaders-61) + "\r\n",
			count:   MaxHeaders - 61,
			dropped: "GET / HTTP/1.1\r\nHost: a\r\n" + headerBlock(60) + "X-Forwarded-For: 10.0.0.1\r\n\r\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte(tc.in)
			r := mustParseRequest(t, buf)
			if r.NumUnderscoreNames != tc.count {
				t.Fatalf("NumUnderscoreNames = %d, want %d", r.NumUnderscoreNames, tc.count)
			}
			// Counting must not change what is forwarded by itself (allow).
			want := string(AppendRequestHead(nil, buf, mustParseRequest(t, buf), []byte("10.0.0.1"), nil))
			if got := string(AppendRequestHead(nil, buf, r, []byte("10.0.0.1"), nil)); got != want {
				t.Fatalf("before DropUnderscoreNames:\ngot  %q\nwant %q", got, want)
			}
			r.DropUnderscoreNames()
			got := AppendRequestHead(nil, buf, r, []byte("10.0.0.1"), nil)
			if string(got) != tc.dropped {
				t.Fatalf("after DropUnderscoreNames:\ngot  %q\nwant %q", got, tc.dropped)
			}
			// What goes upstream has no underscore name left and the same framing.
			fw := mustParseRequest(t, got)
			if fw.NumUnderscoreNames != 0 {
				t.Errorf("forwarded head still has %d underscore names", fw.NumUnderscoreNames)
			}
			n1, c1 := r.BodyLength()
			if n2, c2 := fw.BodyLength(); n1 != n2 || c1 != c2 {
				t.Errorf("framing changed %d,%v -> %d,%v", n1, c1, n2, c2)
			}
		})
	}
}

// TestUnderscoreAllowForwardsUnchanged: without DropUnderscoreNames the
// fields go through as before (spec.http.headersWithUnderscores: allow).
func TestUnderscoreAllowForwardsUnchanged(t *testing.T) {
	buf := []byte(underscoreAttack)
	r := mustParseRequest(t, buf)
	got := string(AppendRequestHead(nil, buf, r, nil, nil))
	if got != underscoreAttack {
		t.Fatalf("got  %q\nwant %q", got, underscoreAttack)
	}
	if r.Chunked {
		t.Fatal("Transfer_Encoding was read as Transfer-Encoding")
	}
}

// TestUnderscoreStateDoesNotLeak: the engine reuses one Request per
// connection, so the marks of one request must not drop fields of the next.
func TestUnderscoreStateDoesNotLeak(t *testing.T) {
	var r Request
	first := []byte("GET / HTTP/1.1\r\nHost: a\r\nX_A: 1\r\nX-B: 2\r\n\r\n")
	if _, err := ParseRequest(first, 0, &r); err != nil || r.NumUnderscoreNames != 1 {
		t.Fatalf("first: %v, NumUnderscoreNames %d", err, r.NumUnderscoreNames)
	}
	second := []byte("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\n\r\n")
	if _, err := ParseRequest(second, 0, &r); err != nil {
		t.Fatal(err)
	}
	r.DropUnderscoreNames()
	want := "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\n\r\n"
	if got := string(AppendRequestHead(nil, second, &r, nil, nil)); r.NumUnderscoreNames != 0 || got != want {
		t.Fatalf("second request: NumUnderscoreNames %d, forwarded %q, want %q", r.NumUnderscoreNames, got, want)
	}
	r.Reset()
	if r.NumUnderscoreNames != 0 || r.meta.underscore != [len(r.meta.underscore)]uint64{} {
		t.Fatal("Reset left underscore marks behind")
	}
}

// TestUnderscoreResponseUntouched: the policy is for requests (as Envoy's
// headers_with_underscores_action); a response's fields are not marked and
// are forwarded to the client as received.
func TestUnderscoreResponseUntouched(t *testing.T) {
	buf := []byte("HTTP/1.1 200 OK\r\nX_Resp: 1\r\nContent-Length: 0\r\n\r\n")
	r := mustParseResponse(t, buf)
	if r.meta.underscore != [len(r.meta.underscore)]uint64{} {
		t.Fatal("response fields marked")
	}
	want := "HTTP/1.1 200 OK\r\nX_Resp: 1\r\nContent-Length: 0\r\n\r\n"
	if got := string(AppendResponseHead(nil, buf, r, false, false, nil)); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestZeroAllocDropUnderscoreNames(t *testing.T) {
	buf := []byte(underscoreAttack)
	var r Request
	dst := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseRequest(buf, 0, &r); err != nil {
			t.Fatal(err)
		}
		r.DropUnderscoreNames()
		dst = AppendRequestHead(dst[:0], buf, &r, nil, nil)
	})
	if allocs != 0 {
		t.Fatalf("parse, DropUnderscoreNames and append allocate %.1f times", allocs)
	}
}
