package engine

import (
	"crypto/tls"
	"net/netip"
	"time"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/route"
)

// The policies of exchange.go's pipeline, one layer per function.

// route is the logical and concrete layers: it resolves the Service (the
// address the app dialled, else the Host), matches the rule, derives the
// deadline from its timeouts and picks the backend. host and origDst come
// from the downstream codec. It reports false after answering the request
// itself (404, 500).
func (ex *exchange) route(req route.Request, host []byte, origDst netip.AddrPort) bool {
	l, p := ex.l, ex.l.p
	t := ex.table
	timeout := p.opts.RequestTimeout
	if ex.inbound {
		ex.backend = t.Inbound()
	} else {
		// A redirected connection goes to the Service the app dialled
		// (its cluster IP and port); otherwise the Host header names it.
		var svc *route.Service
		if origDst.IsValid() {
			svc = t.LookupAddrPort(origDst)
		} else {
			svc = t.Lookup(host)
		}
		if svc == nil {
			ex.reply(404, "unknown_host")
			return false
		}
		ex.rule = t.Match(svc, req)
		if ex.rule == nil {
			ex.reply(404, "no_route")
			return false
		}
		// The rule's timeout already falls back to the Proxy default, and
		// an explicit "0s" on the rule means none.
		timeout = ex.rule.RequestTimeout
		// Without retries one backend request spans the whole request, so
		// the tighter of the two timeouts governs.
		if bt := ex.rule.BackendRequestTimeout; bt > 0 && (timeout == 0 || bt < timeout) {
			timeout = bt
		}
		ex.backend = ex.rule.Pick(l.rnd)
	}
	if ex.backend == nil {
		ex.series = l.requestSeries(t, ex.inbound, ex.rule, nil)
		ex.reply(500, "no_backend")
		return false
	}
	ex.series = l.requestSeries(t, ex.inbound, ex.rule, ex.backend)
	if ex.backend.Invalid {
		ex.reply(500, "invalid_backend")
		return false
	}
	if timeout > 0 {
		ex.deadline = ex.start + int64(timeout)
	}
	return true
}

// authorize applies the inbound authorization policy to the verified peer
// of an mTLS connection. It reports false after answering 403.
func (ex *exchange) authorize(peerID string, method, path []byte) bool {
	if ex.l.p.opts.Authz.Allow(peerID, method, path) {
		return true
	}
	ex.reply(403, "unauthorized")
	return false
}

// attempt is the endpoint layer: it picks an endpoint (P2C over the healthy
// ones) and attaches a pooled or new connection to it. fresh forbids pooled
// connections (used when retrying after a stale one).
func (ex *exchange) attempt(fresh bool) {
	l := ex.l
	ep := balance.P2C(ex.backend.Endpoints, l.rnd, time.Now())
	if ep == nil {
		ex.reply(503, "no_healthy_endpoint")
		return
	}
	ex.attempts++
	ex.ep = ep
	ep.Begin()
	// Outbound requests cross the mesh: with an identity they use mTLS,
	// verified against the SPIFFE ID the backend expects.
	id := l.p.opts.Identity
	key := poolKey{addr: ep.Addr, tls: id != nil && !ex.inbound}
	if key.tls {
		key.identity = ex.backend.ExpectedIdentity(ep)
		// A WebSocket handshake is an HTTP/1.1 upgrade: it takes an
		// HTTP/1.1 connection (RFC 8441 over the mesh is not offered).
		if l.p.opts.MeshHTTP2 && !ex.websocket && l.attachMeshH2(ex, ep, key) {
			return
		}
	} else if ex.backend.Protocol(ep) == route.H2C {
		// Mesh hops (mTLS) stay HTTP/1.1 until they negotiate h2 by ALPN.
		key.proto = protoH2C
		l.attachH2(ex, ep, key)
		return
	}
	var u *upConn
	if !fresh {
		u = l.idle(key)
	}
	if u == nil {
		var cfg *tls.Config
		if key.tls {
			cfg = id.ClientConfig(key.identity)
		}
		u = l.dial(ep, key, cfg)
	} else {
		u.reused = true
	}
	u.attach(ex)
}

// connectFailed runs when the attempt's connection could not be opened
// (the codec has reported the endpoint's connect failure). Nothing was
// sent, so trying another endpoint once is always safe.
func (ex *exchange) connectFailed(reason string) {
	ex.up = nil
	ex.releaseEndpoint()
	if ex.attempts < 2 && len(ex.backend.Endpoints) > 1 {
		ex.attempt(false)
		return
	}
	ex.reply(503, reason)
}

// upstreamReset runs when the upstream closed the connection before the
// response head. stale says the connection came from the pool and not one
// byte came back: the keep-alive race, where the upstream closed an idle
// connection just as it was reused. A bodiless request then never reached
// the application and is retried once on a new connection, as every HTTP
// client does; anything else is the endpoint's failure.
func (ex *exchange) upstreamReset(stale bool) {
	ex.up = nil
	if stale && ex.bodyless && ex.attempts < 2 {
		ex.releaseEndpoint() // a stale pooled connection, not the endpoint's fault
		ex.attempt(true)
		return
	}
	ex.endpointFailed()
	ex.reply(502, "upstream_reset")
}

// The exchange's endpoint is released in one of three ways, which say what
// passive health checking learns from it (balance.OutlierConsecutive).

// endpointAnswered releases the endpoint after it completed a response with
// status: a success, or a gateway failure if status is 502, 503 or 504.
func (ex *exchange) endpointAnswered(status int) {
	if ex.ep == nil {
		return
	}
	if balance.IsGatewayFailure(status) {
		ex.endpointFailed()
		return
	}
	ex.ep.End()
	ex.ep.ReportSuccess()
	ex.ep = nil
}

// endpointFailed releases the endpoint after it failed the exchange: reset
// before answering, cut or malformed response, or no answer in time.
func (ex *exchange) endpointFailed() {
	if ex.ep == nil {
		return
	}
	ex.ep.End()
	var peers []*balance.Endpoint
	if ex.backend != nil {
		peers = ex.backend.Endpoints
	}
	ex.ep.ReportGatewayFailure(time.Now(), peers)
	ex.ep = nil
}

// releaseEndpoint releases the endpoint when the exchange ended for a
// reason that says nothing about its health (the client left or sent a
// bad body, a pooled connection went stale, or the outcome was already
// reported).
func (ex *exchange) releaseEndpoint() {
	if ex.ep == nil {
		return
	}
	ex.ep.End()
	ex.ep = nil
}
