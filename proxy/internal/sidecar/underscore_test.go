package sidecar

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// underscoreRequest is the request of issue 11 defect 4, byte for byte. A
// CGI-style app (PHP, WSGI, Rack) reads both fields as their hyphenated
// namesakes: conflicting framing and a forged client identity.
const underscoreRequest = "GET / HTTP/1.1\r\nHost: echo\r\nTransfer_Encoding: chunked\r\n" +
	"x_forwarded_client_cert: By=spiffe://evil\r\n\r\n"

// cleanRequest follows it on the same connection; its fields sit where the
// underscore fields were, so marks left from the first request would drop them.
const cleanRequest = "GET /next HTTP/1.1\r\nHost: echo\r\nX-After-1: a\r\nX-After-2: b\r\n\r\n"

// headRecorder is a raw upstream that keeps every request head it
// receives, byte for byte, and answers each with a 200.
type headRecorder struct {
	addr  string
	mu    sync.Mutex
	heads []string
}

func startHeadRecorder(t *testing.T) *headRecorder {
	rec := &headRecorder{}
	rec.addr = rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			var head strings.Builder
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				head.WriteString(line)
				if line == "\r\n" {
					break
				}
			}
			// Recorded before answering: once the client has the
			// response, the head is here.
			rec.mu.Lock()
			rec.heads = append(rec.heads, head.String())
			rec.mu.Unlock()
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
	return rec
}

func (r *headRecorder) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.heads...)
}

// exchange writes raw to c and reads one response: status and
// x-meshproxy-error.
func exchange(t *testing.T, c net.Conn, br *bufio.Reader, raw string) (int, string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response to %q: %v", raw, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Meshproxy-Error")
}

// hasUnderscoreField reports whether a received head carries either
// underscore field of underscoreRequest (or its forged value).
func hasUnderscoreField(head string) bool {
	h := strings.ToLower(head)
	return strings.Contains(h, "transfer_encoding") || strings.Contains(h, "x_forwarded_client_cert") ||
		strings.Contains(h, "evil")
}

// TestHeadersWithUnderscores sends underscoreRequest, then a clean request
// on the same connection, through a real sidecar (config file -> engine)
// to a raw upstream, on the outbound and the inbound listener, for each
// value of spec.http.headersWithUnderscores:
//   - drop (and absent): the upstream gets the request without either field;
//   - reject: the client gets 400 underscore_header_name and the upstream
//     nothing but the clean request that follows;
//   - allow: the upstream gets both fields as sent.
//
// Each action is counted in meshproxy_headers_with_underscores_total.
func TestHeadersWithUnderscores(t *testing.T) {
	for _, action := range []string{"", "drop", "reject", "allow"} {
		for _, inbound := range []bool{false, true} {
			name := action
			if name == "" {
				name = "default"
			}
			if inbound {
				name += "/inbound"
			} else {
				name += "/outbound"
			}
			t.Run(name, func(t *testing.T) {
				up := startHeadRecorder(t)
				m := &mesh{}
				if action != "" {
					m.extraProxy = fmt.Sprintf("  http: {headersWithUnderscores: %s}\n", action)
				}
				if inbound {
					m.inbound = fmt.Sprintf("127.0.0.1:%d", freePort(t))
					m.app = up.addr
				} else {
					m.services = []svc{{name: "echo", ports: []string{portOf(t, up.addr)}}}
				}
				s := startSidecar(t, m)
				addr := s.out
				if inbound {
					addr = m.inbound
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				br := bufio.NewReader(c)

				code, reason := exchange(t, c, br, underscoreRequest)
				heads := up.received()
				switch action {
				case "", "drop":
					if code != 200 || len(heads) != 1 {
						t.Fatalf("got %d %q, upstream received %d heads; want 200 and 1", code, reason, len(heads))
					}
					if hasUnderscoreField(heads[0]) {
						t.Fatalf("upstream received an underscore field:\n%s", heads[0])
					}
					if strings.Contains(strings.ToLower(heads[0]), "transfer-encoding") {
						t.Fatalf("upstream received a Transfer-Encoding the client never sent:\n%s", heads[0])
					}
				case "reject":
					if code != 400 || reason != "underscore_header_name" || len(heads) != 0 {
						t.Fatalf("got %d %q, upstream received %q; want 400 underscore_header_name and nothing", code, reason, heads)
					}
				case "allow":
					h := ""
					if len(heads) == 1 {
						h = heads[0]
					}
					if code != 200 || !strings.Contains(h, "\r\nTransfer_Encoding: chunked\r\n") ||
						!strings.Contains(h, "\r\nx_forwarded_client_cert: By=spiffe://evil\r\n") {
						t.Fatalf("got %d %q, upstream received %q; want 200 and both fields as sent", code, reason, heads)
					}
				}

				// The connection goes on, and nothing of the first
				// request's handling sticks to the next one.
				if code, reason := exchange(t, c, br, cleanRequest); code != 200 {
					t.Fatalf("clean request after it: %d %q", code, reason)
				}
				heads = up.received()
				if last := heads[len(heads)-1]; !strings.HasPrefix(last, "GET /next ") || hasUnderscoreField(last) ||
					!strings.Contains(last, "\r\nX-After-1: a\r\nX-After-2: b\r\n") {
					t.Fatalf("upstream's last head is not the clean request as sent:\n%s", last)
				}

				want := map[string]string{"drop": "0", "reject": "0"}
				switch action {
				case "", "drop":
					want["drop"] = "1"
				case "reject":
					want["reject"] = "1"
				}
				text := s.metricsText(t)
				for a, v := range want {
					if got, ok := metricLine(text, "meshproxy_headers_with_underscores_total", `action="`+a+`"`); !ok || got != v {
						t.Errorf(`meshproxy_headers_with_underscores_total{action=%q} = %q (found %v), want %s`, a, got, ok, v)
					}
				}
				if action == "reject" {
					dir := "outbound"
					if inbound {
						dir = "inbound"
					}
					if got, ok := metricLine(text, "meshproxy_local_replies_total", `direction="`+dir+`"`,
						`code="400"`, `reason="underscore_header_name"`); !ok || got != "1" {
						t.Errorf("local reply not counted: %q (found %v)", got, ok)
					}
				}
			})
		}
	}
}

// TestHeadersWithUnderscoresMTLSInbound is the case of issue 11: on an mTLS
// server sidecar only the hyphenated x-forwarded-client-cert used to be
// stripped, so an app that folds '_' into '-' saw the peer's forged
// identity. By default the app now sees exactly one client cert header, the
// proxy's.
func TestHeadersWithUnderscoresMTLSInbound(t *testing.T) {
	p := newPKI(t)
	crt, key := p.issue("web", spiffeID("default", "web"))
	p.issue("reviews", spiffeID("default", "reviews"))
	app := startHeadRecorder(t)
	inbound := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startSidecar(t, &mesh{inbound: inbound, app: app.addr, extraProxy: p.identityYAML("reviews")})

	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"},
		Certificates: []tls.Certificate{*loadPair(t, crt, key)}}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", inbound, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code, reason := exchange(t, c, bufio.NewReader(c), underscoreRequest); code != 200 {
		t.Fatalf("got %d %q, want 200", code, reason)
	}
	heads := app.received()
	if len(heads) != 1 {
		t.Fatalf("app received %d heads, want 1", len(heads))
	}
	h := strings.ToLower(heads[0])
	want := strings.ToLower("\r\nx-forwarded-client-cert: By=" + spiffeID("default", "reviews") + ";URI=" + spiffeID("default", "web") + "\r\n")
	// What a CGI-style app reads as HTTP_X_FORWARDED_CLIENT_CERT.
	folded := strings.Count(strings.ReplaceAll(h, "_", "-"), "x-forwarded-client-cert:")
	if hasUnderscoreField(h) || !strings.Contains(h, want) || folded != 1 {
		t.Fatalf("app received:\n%s\nwant exactly one client cert header, %q", heads[0], want)
	}
	if v, ok := metricLine(s.metricsText(t), "meshproxy_headers_with_underscores_total", `action="drop"`); !ok || v != "1" {
		t.Errorf(`meshproxy_headers_with_underscores_total{action="drop"} = %q (found %v), want 1`, v, ok)
	}
}
