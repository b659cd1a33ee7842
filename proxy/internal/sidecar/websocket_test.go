package sidecar

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// wsApp is a WebSocket-style upstream: it answers a handshake with 101 and
// then echoes every byte until the client closes. It records each
// handshake head it received. With reply set it answers that instead of
// the 101 and closes the connection.
type wsApp struct {
	addr  string
	mu    sync.Mutex
	heads []string
}

func startWSApp(t *testing.T, reply string) *wsApp {
	a := &wsApp{}
	a.addr = rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
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
		a.mu.Lock()
		a.heads = append(a.heads, head.String())
		a.mu.Unlock()
		if reply != "" {
			_, _ = io.WriteString(c, reply)
			return // closes: one exchange per connection
		}
		_, _ = fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			wsAccept(headerOf(head.String(), "sec-websocket-key")))
		_, _ = io.Copy(c, br) // echo, bytes already buffered first
	})
	return a
}

// wsAccept is RFC 6455's Sec-WebSocket-Accept for key, as a WebSocket
// server computes it.
func wsAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// headerOf returns the value of the first field of an HTTP/1.1 head named
// name (case-insensitive), "" if none.
func headerOf(head, name string) string {
	for _, line := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (a *wsApp) lastHead() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.heads) == 0 {
		return ""
	}
	return a.heads[len(a.heads)-1]
}

// wsTopology is a way to reach wsApp: the address and Host a client uses
// and the proxies on the path.
type wsTopology struct {
	name    string
	addr    string
	host    string
	proxies []*started
}

// wsTopologies puts app behind one plaintext hop and behind the mTLS pair
// (default mesh protocol), both buffering at most flowLimits.
func wsTopologies(t *testing.T, app *wsApp) []wsTopology {
	plain := startSidecar(t, &mesh{services: []svc{{name: "chat", ports: []string{portOf(t, app.addr)}}}, extraProxy: flowLimits})
	pair := startPair(t, pairPKI(t), pairOpts{app: app.addr, serverExtra: flowLimits, clientExtra: flowLimits})
	return []wsTopology{
		{"one hop", plain.out, "chat", []*started{plain}},
		{"mtls pair", pair.client.out, "reviews", []*started{pair.client, pair.server}},
	}
}

// randomBytes returns n pseudo-random bytes, the same for the same seed.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

const wsHandshake = "GET /chat HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// TestWebSocket: a WebSocket handshake crosses the proxy (plaintext, and
// the mTLS sidecar pair) with its Upgrade and Connection fields, the 101
// comes back, and then 8 MiB go through the tunnel and come back echoed
// byte for byte while the client writes and reads at once; bytes the
// client sent right behind its handshake are not lost. Closing the client
// ends the tunnel, recorded as one 101.
func TestWebSocket(t *testing.T) {
	app := startWSApp(t, "")
	for _, tc := range wsTopologies(t, app) {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Minute))
			early := []byte("sent right behind the handshake")
			if _, err := fmt.Fprintf(c, wsHandshake+"%s", tc.host, early); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReaderSize(c, 64<<10)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("handshake response: %v", err)
			}
			if resp.StatusCode != 101 || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
				!strings.EqualFold(resp.Header.Get("Connection"), "upgrade") || resp.Header.Get("Sec-WebSocket-Accept") == "" {
				t.Fatalf("handshake answered %d %v, want 101 with Upgrade: websocket, Connection: upgrade and the accept key", resp.StatusCode, resp.Header)
			}
			head := strings.ToLower(app.lastHead())
			for _, want := range []string{"upgrade: websocket\r\n", "connection: upgrade\r\n", "sec-websocket-key: dghlihnhbxbszsbub25jzq==\r\n"} {
				if !strings.Contains(head, want) {
					t.Errorf("the app's handshake lacks %q:\n%s", want, head)
				}
			}

			// Nothing else is sent until they are back: they must not wait
			// in the proxy for the client's next bytes.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got := make([]byte, len(early))
			if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, early) {
				t.Fatalf("early bytes came back as %q (%v), want %q", got, err, early)
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			// Write and read at once, as a WebSocket client does: 8 MiB
			// is eight times the proxies' buffer limit, so flow control
			// must pause rather than buffer or cut.
			const n = 8 << 20
			payload := randomBytes(n, 1)
			errc := make(chan error, 1)
			go func() { _, err := c.Write(payload); errc <- err }()
			h := sha256.New()
			if _, err := io.CopyN(h, br, n); err != nil {
				t.Fatalf("echo cut after the handshake: %v", err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if want := sha256.Sum256(payload); !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatal("echoed bytes differ from the bytes sent")
			}
			c.Close()
			noOverflow(t, tc.proxies)
			for _, p := range tc.proxies {
				waitMetric(t, p, "meshproxy_websocket_upgrades_total")
				waitMetric(t, p, "meshproxy_requests_total", `code="101"`)
			}
		})
	}
}

// TestWebSocketRefusals: only a WebSocket handshake forwards Upgrade. A
// request asking for h2c (or a WebSocket handshake with a body, or over
// HTTP/1.0) reaches the upstream without Upgrade; a handshake the upstream
// answers 200 is an ordinary response; a 101 to another protocol is a 502.
func TestWebSocketRefusals(t *testing.T) {
	plainApp := startWSApp(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno")
	h2cApp := startWSApp(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
	s := startSidecar(t, &mesh{services: []svc{
		{name: "plain", ports: []string{portOf(t, plainApp.addr)}},
		{name: "h2c", ports: []string{portOf(t, h2cApp.addr)}},
	}})
	for _, tc := range []struct {
		name, req  string
		app        *wsApp
		wantStatus string
		wantUp     bool // the app saw Upgrade
	}{
		{"h2c upgrade is not forwarded", "GET / HTTP/1.1\r\nHost: plain\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", plainApp, "200", false},
		{"websocket with a body", "GET / HTTP/1.1\r\nHost: plain\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nhi", plainApp, "200", false},
		{"websocket over HTTP/1.0", "GET / HTTP/1.0\r\nHost: plain\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", plainApp, "200", false},
		{"upgrade without connection option", "GET / HTTP/1.1\r\nHost: plain\r\nUpgrade: websocket\r\n\r\n", plainApp, "200", false},
		{"handshake answered 200", fmt.Sprintf(wsHandshake, "plain"), plainApp, "200", true},
		{"101 to another protocol", fmt.Sprintf(wsHandshake, "h2c"), h2cApp, "502", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rawExchange(t, s.out, tc.req, 5*time.Second)
			if !strings.HasPrefix(got, "HTTP/1.1 "+tc.wantStatus+" ") {
				t.Fatalf("got %q, want %s", firstLine(got), tc.wantStatus)
			}
			head := strings.ToLower(tc.app.lastHead())
			if up := strings.Contains(head, "\r\nupgrade:"); up != tc.wantUp {
				t.Errorf("the app saw Upgrade: %v, want %v:\n%s", up, tc.wantUp, head)
			}
			if strings.Contains(head, "http2-settings") {
				t.Errorf("a field named by Connection reached the app:\n%s", head)
			}
		})
	}
}

// TestWebSocketTimeouts: the request timeout bounds the handshake only, so
// a tunnel that keeps moving outlives it; a tunnel in which nothing moves
// for timeouts.idle is closed and recorded as the 101 it was, not as a 504.
func TestWebSocketTimeouts(t *testing.T) {
	app := startWSApp(t, "")
	s := startSidecar(t, &mesh{
		services:   []svc{{name: "chat", ports: []string{portOf(t, app.addr)}}},
		extraProxy: "  timeouts: {request: 300ms, idle: 600ms}\n",
	})
	c, err := net.Dial("tcp", s.out)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, wsHandshake, "chat")
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	// Traffic every 100 ms for 1.2 s: four times the request timeout,
	// twice the idle timeout, never idle for long.
	msg := []byte("ping")
	for end := time.Now().Add(1200 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("write: %v", err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatalf("an active tunnel was ended: %v", err)
		}
	}
	// Now idle: the proxy must close it.
	start := time.Now()
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("read a byte from an idle tunnel")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("an idle tunnel was never closed")
	}
	t.Logf("idle tunnel closed after %v", time.Since(start).Round(time.Millisecond))
	waitMetric(t, s, "meshproxy_requests_total", `code="101"`)
	text := s.metricsText(t)
	for _, code := range []string{"0", "504", "408"} {
		if v, ok := metricLine(text, "meshproxy_requests_total", `code="`+code+`"`); ok && v != "0" {
			t.Errorf("the tunnel was recorded as code %s (%s)", code, v)
		}
	}
}
