package engine

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"time"

	"github.com/meshbench/meshbench/proxy/internal/http1"
)

// WebSocket (RFC 6455) through the proxy. A GET that asks to switch
// (http1.Request.WebSocket) is routed, authorized and forwarded like any
// request, with "Upgrade: websocket" and "Connection: upgrade" kept. If the
// upstream answers 101 agreeing to WebSocket, the exchange becomes a tunnel:
// the 101 goes to the client and from then on bytes are copied both ways
// unparsed, with the same flow control as bodies (reads of one side pause
// while the other side has more than the high-water mark queued), until
// either side closes, which closes the other. The route's request timeout
// bounds the handshake only; an open tunnel ends when no byte has moved
// either way for timeouts.idle, as nginx's proxy_read_timeout and Envoy's
// stream idle timeout end idle WebSockets. Any other answer to the
// handshake (a 200, a 403, ...) is an ordinary response; a 101 the request
// did not ask for, or to another protocol, is still a 502
// unexpected_upgrade. The tunnel is recorded once, as a 101, when it ends.
//
// WebSocket over HTTP/2 (RFC 8441): the HTTP/2 listeners advertise
// SETTINGS_ENABLE_CONNECT_PROTOCOL, and an extended CONNECT with :protocol
// websocket is the same handshake in HTTP/2 terms. It is routed as the GET
// it becomes for an HTTP/1.1 endpoint, which gets "Upgrade: websocket",
// "Connection: upgrade" and a Sec-WebSocket-Key the proxy draws (an HTTP/2
// client sends none); the endpoint's 101 must carry the matching
// Sec-WebSocket-Accept (else 502 bad_websocket_accept, as a WebSocket
// client would fail it), and the HTTP/2 client gets 200 without
// END_STREAM, after which the stream's DATA carries the tunnel both ways
// under the stream's flow-control window.

// switchToWebSocket handles a 101 that agrees to the WebSocket handshake
// of the current request: the upstream connection becomes one side of a
// tunnel. It reports whether the upstream's onTraffic loop should continue
// (with the first tunnelled bytes, if any).
func (u *upConn) switchToWebSocket(head []byte) bool {
	ex := u.ex
	u.kind, u.left = http1.BodyUntilClose, 0
	u.noReuse, u.headDone = true, true
	u.rh = respHead{raw: head, resp: &u.resp}
	if !ex.startTunnel(&u.rh) || u.closed {
		return false
	}
	u.io.discard(len(head))
	return !u.closed && u.ex == ex
}

// startTunnel passes the 101 on and turns the exchange into a tunnel:
// from now on only the idle timeout applies (checkTimeouts).
func (ex *exchange) startTunnel(h *respHead) bool {
	ex.l.p.webSocketUpgrades.Inc()
	ex.respStarted, ex.tunnel = true, true
	return ex.down.startTunnel(ex, h)
}

// startTunnel writes the 101; bytes the client sent behind its handshake
// are forwarded at once.
func (d *downConn) startTunnel(ex *exchange, h *respHead) bool {
	d.closeAfter = true
	d.out = http1.AppendResponseHead(d.out[:0], h.raw, h.resp, false, false, nil)
	if !d.write(d.out) {
		return false
	}
	d.state, ex.reqDone = dsBody, false
	d.onTraffic() // bytes the client sent behind its handshake
	return !d.closed
}

// tunnelEnded records a tunnel that ended because either side closed or
// it idled out: it is the 101 exchange, completed.
func (ex *exchange) tunnelEnded() {
	ex.tunnel = false
	ex.series.Observe(101, time.Duration(monotime()-ex.start))
	ex.endpointAnswered(101)
}

// tunnelClosedByUpstream ends a tunnel from the upstream's side: the
// client connection closes once what it has been sent is flushed.
func (ex *exchange) tunnelClosedByUpstream() {
	ex.tunnelEnded()
	ex.down.responseEnd(ex)
}

// webSocketAcceptLen is the length of a Sec-WebSocket-Accept value: the
// base64 of a SHA-1.
const webSocketAcceptLen = 28

// webSocketGUID is RFC 6455's key suffix for the accept value.
const webSocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// newWebSocketKey draws a Sec-WebSocket-Key for a handshake the proxy makes
// on a client's behalf into key and records the accept value the upstream
// must answer with.
func (ex *exchange) newWebSocketKey(key *[24]byte) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:]) // never fails (crypto/rand panics rather)
	base64.StdEncoding.Encode(key[:], nonce[:])
	var in [24 + len(webSocketGUID)]byte
	copy(in[copy(in[:], key[:]):], webSocketGUID)
	sum := sha1.Sum(in[:])
	base64.StdEncoding.Encode(ex.wsAccept[:], sum[:])
	ex.wsCheck = true
}

// upgradeAccepted reports whether a 101 agreeing to WebSocket may open the
// tunnel: always when the client made the handshake (it checks the accept
// value itself), else when Sec-WebSocket-Accept matches the proxy's key.
func (ex *exchange) upgradeAccepted(r *http1.Response, raw []byte) bool {
	if !ex.wsCheck {
		return true
	}
	for i := 0; i < r.NumHeaders; i++ {
		h := &r.Headers[i]
		if equalFoldLower(h.Name.Bytes(raw), "sec-websocket-accept") {
			return bytes.Equal(h.Value.Bytes(raw), ex.wsAccept[:])
		}
	}
	return false
}
