package engine

import "github.com/meshbench/meshbench/proxy/internal/balance"

// Multiplexed mesh hops. Between two meshproxies (an outbound request to an
// endpoint over mTLS), the client proxy offers h2 and http/1.1 by ALPN
// (Options.MeshHTTP2). When the peer picks h2, every request to that
// endpoint from this event loop travels as a stream of one connection,
// whatever protocol the app spoke, as linkerd2-proxy does between proxies:
// fewer connections and handshakes, and no head-of-line wait for a free
// pooled connection. When the peer picks http/1.1 (a proxy without HTTP/2,
// or one configured for http/1.1) the connection serves HTTP/1.1 as
// before, and the peer is remembered so later connections do not ask.

// attachMeshH2 attaches ex to a multiplexed mesh connection to ep, opening
// one that offers h2 if there is none with room. It reports false when the
// exchange should take the HTTP/1.1 path instead: the peer speaks only
// HTTP/1.1, or an HTTP/1.1 connection to it is idle in the pool.
func (l *loop) attachMeshH2(ex *exchange, ep *balance.Endpoint, key poolKey) bool {
	hk := key
	hk.proto = protoH2C
	if u := l.h2ups[hk]; u != nil && !u.closed && !u.h2.full() {
		l.attachH2(ex, ep, hk)
		return true
	}
	if l.meshH1[key.addr] {
		return false
	}
	if pl := l.pools[key]; pl != nil && pl.head != nil {
		return false // a warm HTTP/1.1 connection is cheaper than a handshake
	}
	u := l.dial(ep, hk, l.p.opts.Identity.ClientConfigH2(key.identity))
	u.h2 = &h2Client{u: u, tentative: true}
	l.h2ups[hk] = u
	l.attachH2(ex, ep, hk)
	return true
}

// negotiated runs when the handshake of a tentative mesh connection is
// done: h2 makes it multiplexed; otherwise it becomes an HTTP/1.1
// connection, serving the first waiting exchange, and the others attempt
// again on the HTTP/1.1 path.
func (c *h2Client) negotiated(h2 bool) {
	c.tentative = false
	if h2 {
		return
	}
	u, l := c.u, c.u.l
	l.meshH1[u.key.addr] = true
	if l.h2ups[u.key] == u {
		delete(l.h2ups, u.key)
	}
	u.key.proto = protoHTTP1
	u.h2 = nil
	waiting := c.waiting
	c.waiting = nil
	first := true
	for _, st := range waiting {
		ex := st.ex
		c.unlink(st)
		l.putH2UpStream(st)
		if ex == nil {
			continue
		}
		ex.up = nil
		if first {
			first = false
			u.attach(ex) // served once ready() runs, right after this
			continue
		}
		ex.releaseEndpoint()
		ex.attempts-- // not a new try: the same one, on another connection
		ex.attempt(false)
	}
}
