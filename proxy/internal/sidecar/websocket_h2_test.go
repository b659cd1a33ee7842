package sidecar

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// wsOverH2 opens a WebSocket over HTTP/2 (RFC 8441 extended CONNECT) with
// x/net's client, which waits for the proxy's SETTINGS_ENABLE_CONNECT_PROTOCOL
// before it sends the request. The returned writer is the client's side
// of the tunnel (closing it sends END_STREAM).
// early, when set, is written before the handshake's answer arrives (x/net
// sends request DATA as soon as the HEADERS are out).
func wsOverH2(t *testing.T, addr, host, protocol string, early []byte) (*http.Response, *io.PipeWriter) {
	t.Helper()
	pr, pw := io.Pipe()
	if early != nil {
		go func() { _, _ = pw.Write(early) }()
	}
	req, err := http.NewRequest("CONNECT", "http://"+host+"/chat?room=1", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header[":protocol"] = []string{protocol}
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Protocol", "chat.v1")
	c := h2cClient(addr)
	c.Timeout = 0 // the tunnel outlives any request timeout; reads have their own
	resp, err := c.Transport.RoundTrip(req)
	if err != nil {
		t.Fatalf("extended CONNECT: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close(); pw.Close() })
	return resp, pw
}

// TestWebSocketOverH2: an HTTP/2 client's WebSocket handshake (extended
// CONNECT, :protocol websocket) reaches an HTTP/1.1 app as the GET
// handshake RFC 6455 defines, with a key the proxy drew; the app's 101 comes
// back as 200 and the stream then carries 8 MiB both ways at once, eight
// times the proxy's buffer limit, byte for byte. One hop and across the
// mTLS pair (whose mesh hop carries WebSocket in HTTP/1.1). Resetting the
// stream ends the tunnel, recorded as a 101.
func TestWebSocketOverH2(t *testing.T) {
	app := startWSApp(t, "")
	for _, tc := range wsTopologies(t, app) {
		t.Run(tc.name, func(t *testing.T) {
			early := []byte("sent before the handshake's answer")
			resp, up := wsOverH2(t, tc.addr, tc.host, "websocket", early)
			if resp.StatusCode != 200 || resp.Header.Get("Sec-WebSocket-Accept") != "" || resp.Header.Get("Upgrade") != "" {
				t.Fatalf("extended CONNECT answered %d %v, want 200 without the HTTP/1.1 handshake's fields", resp.StatusCode, resp.Header)
			}
			head := app.lastHead()
			low := strings.ToLower(head)
			if !strings.HasPrefix(head, "GET /chat?room=1 HTTP/1.1\r\n") {
				t.Errorf("the app's handshake starts %q, want the GET it stands for", firstLine(head))
			}
			for _, want := range []string{"upgrade: websocket\r\n", "connection: upgrade\r\n", "sec-websocket-version: 13\r\n", "sec-websocket-protocol: chat.v1\r\n"} {
				if !strings.Contains(low, want) {
					t.Errorf("the app's handshake lacks %q:\n%s", want, head)
				}
			}
			if key := headerOf(head, "sec-websocket-key"); len(key) != 24 || key == "dGhlIHNhbXBsZSBub25jZQ==" {
				t.Errorf("Sec-WebSocket-Key %q, want a fresh 16-byte nonce in base64", key)
			}

			// Nothing else is sent until they are back: they must not wait
			// in the proxy for the client's next DATA.
			gotEarly := make(chan []byte, 1)
			go func() {
				b := make([]byte, len(early))
				_, _ = io.ReadFull(resp.Body, b)
				gotEarly <- b
			}()
			select {
			case b := <-gotEarly:
				if !bytes.Equal(b, early) {
					t.Fatalf("early bytes came back as %q, want %q", b, early)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the bytes sent before the handshake's answer did not come back")
			}

			const n = 8 << 20
			payload := randomBytes(n, 3)
			errc := make(chan error, 1)
			go func() { _, err := up.Write(payload); errc <- err }()
			h := sha256.New()
			got := make(chan error, 1)
			go func() { _, err := io.CopyN(h, resp.Body, n); got <- err }()
			select {
			case err := <-got:
				if err != nil {
					t.Fatalf("echo cut: %v", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("the echo did not come back in a minute")
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if want := sha256.Sum256(payload); !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatal("echoed bytes differ from the bytes sent")
			}
			resp.Body.Close() // RST_STREAM: the tunnel ends
			noOverflow(t, tc.proxies)
			for _, p := range tc.proxies {
				waitMetric(t, p, "meshproxy_websocket_upgrades_total")
				waitMetric(t, p, "meshproxy_requests_total", `code="101"`)
			}
		})
	}
}

// TestWebSocketOverH2Refusals: an extended CONNECT for another protocol is
// refused (501) without reaching the app; a 101 whose Sec-WebSocket-Accept
// does not match the key the proxy sent is a 502, as a WebSocket client
// would fail it; a handshake the app answers 200 is an ordinary response.
func TestWebSocketOverH2Refusals(t *testing.T) {
	// refuser answers the handshake 403 after 300 ms and records whether
	// any byte followed the handshake's head meanwhile: the client's early
	// DATA must wait for a 101, or the app would read it as its next
	// request.
	var smuggled sync.Map
	refuser := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, _ := br.Read(make([]byte, 64)); n > 0 {
			smuggled.Store(n, true)
		}
		_, _ = io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno")
	})
	bad := startWSApp(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
	plainApp := startWSApp(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno")
	s := startSidecar(t, &mesh{services: []svc{
		{name: "bad", ports: []string{portOf(t, bad.addr)}},
		{name: "plain", ports: []string{portOf(t, plainApp.addr)}},
		{name: "refuser", ports: []string{portOf(t, refuser)}},
	}})
	t.Run("early data before a refusal", func(t *testing.T) {
		resp, _ := wsOverH2(t, s.out, "refuser", "websocket", []byte("GET /admin HTTP/1.1\r\nHost: refuser\r\n\r\n"))
		_, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != 403 {
			t.Fatalf("answered %d, want the app's 403", resp.StatusCode)
		}
		smuggled.Range(func(k, _ any) bool {
			t.Errorf("%d bytes of the client's DATA reached the app before its answer to the handshake", k)
			return true
		})
	})
	for _, tc := range []struct {
		name, host, protocol string
		app                  *wsApp
		want                 int
		reason               string
	}{
		{"another protocol", "plain", "connect-udp", plainApp, 501, "connect_unsupported"},
		{"wrong accept value", "bad", "websocket", bad, 502, "bad_websocket_accept"},
		{"handshake answered 200", "plain", "websocket", plainApp, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.app.mu.Lock()
			before := len(tc.app.heads)
			tc.app.mu.Unlock()
			resp, _ := wsOverH2(t, s.out, tc.host, tc.protocol, nil)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || resp.Header.Get("X-Meshproxy-Error") != tc.reason {
				t.Fatalf("answered %d %q (%q), want %d %q", resp.StatusCode, resp.Header.Get("X-Meshproxy-Error"), body, tc.want, tc.reason)
			}
			tc.app.mu.Lock()
			reached := len(tc.app.heads) > before
			tc.app.mu.Unlock()
			if reached != (tc.want != 501) {
				t.Errorf("the app saw the handshake: %v", reached)
			}
		})
	}
}
