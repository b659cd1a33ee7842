package http1

import (
	"strings"
	"testing"
)

// TestWebSocketHandshake: which request heads ask for WebSocket, what the
// upstream then receives, and which 101 heads agree to it.
func TestWebSocketHandshake(t *testing.T) {
	for _, tc := range []struct {
		name string
		head string
		want bool
	}{
		{"handshake", "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", true},
		{"case and lists", "GET / HTTP/1.1\r\nHost: a\r\nupgrade: foo/1, WebSocket\r\nconnection: keep-alive, UPGRADE\r\n\r\n", true},
		{"no Connection option", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", false},
		{"h2c", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AA\r\n\r\n", false},
		{"versioned name", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket/13\r\nConnection: Upgrade\r\n\r\n", false},
		{"POST", "POST / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false},
		{"with a body", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 1\r\n\r\n", false},
		{"chunked", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			buf := []byte(tc.head)
			if _, err := ParseRequest(buf, 0, &r); err != nil {
				t.Fatal(err)
			}
			if r.WebSocket != tc.want {
				t.Fatalf("WebSocket = %v, want %v", r.WebSocket, tc.want)
			}
			out := strings.ToLower(string(AppendRequestHead(nil, buf, &r, nil, nil)))
			upgrade := strings.Contains(out, "\r\nupgrade:")
			if upgrade != tc.want || strings.Contains(out, "http2-settings") {
				t.Fatalf("forwarded head (Upgrade present %v, want %v):\n%s", upgrade, tc.want, out)
			}
			if tc.want && !strings.HasSuffix(out, "\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n") {
				t.Errorf("forwarded head lacks the canonical handshake fields:\n%s", out)
			}
		})
	}

	for _, tc := range []struct {
		name string
		head string
		want bool
	}{
		{"101 websocket", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n", true},
		{"101 h2c", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", false},
		{"101 without Connection", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", false},
		{"200 with upgrade fields", "HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			buf := []byte(tc.head)
			if _, err := ParseResponse(buf, 0, &r); err != nil {
				t.Fatal(err)
			}
			if r.WebSocket != tc.want {
				t.Fatalf("WebSocket = %v, want %v", r.WebSocket, tc.want)
			}
			out := string(AppendResponseHead(nil, buf, &r, true, false, nil))
			if tc.want != strings.Contains(out, "Upgrade: websocket\r\nConnection: upgrade\r\n") ||
				tc.want == strings.Contains(out, "Connection: close") {
				t.Errorf("forwarded head:\n%s", out)
			}
		})
	}
}
