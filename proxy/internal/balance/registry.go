package balance

import "sync"

// Registry owns the Endpoint objects, keyed by canonical address, so that
// successive routing tables built from reloaded configurations share them:
// outstanding-request counts and ejections carry over a reload instead of
// resetting. It is safe for concurrent use; lookups happen at table build
// time, not per request, so a mutex is plenty.
type Registry struct {
	mu  sync.Mutex
	eps map[string]*Endpoint
}

// NewRegistry returns an empty Registry. The zero Registry is also ready to use.
func NewRegistry() *Registry { return &Registry{} }

// Get returns the Endpoint for addr, creating it on first use. addr is
// "ip:port", "[ipv6]:port" or "localhost:port" (taken as 127.0.0.1); it is
// canonicalised first, so "[::ffff:10.0.0.1]:80" and "10.0.0.1:80" share one
// Endpoint. An address that cannot be parsed still gets an Endpoint, keyed
// by the string as given and with a nil TCPAddr; the config package rejects
// such addresses long before they reach here.
func (g *Registry) Get(addr string) *Endpoint {
	canon, tcp := parseAddr(addr)
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.eps[canon]; ok {
		return e
	}
	if g.eps == nil {
		g.eps = make(map[string]*Endpoint)
	}
	e := &Endpoint{Addr: canon, TCPAddr: tcp}
	g.eps[canon] = e
	return e
}

// Retain forgets every Endpoint not in keep. Call it after a new routing
// table has replaced the old one (with the new table's endpoints) so that
// addresses removed from the configuration do not accumulate forever.
// Forgotten Endpoints stay valid for whoever still holds them (requests in
// flight on the old table); if the address comes back later it starts with
// fresh state.
func (g *Registry) Retain(keep []*Endpoint) {
	live := make(map[*Endpoint]struct{}, len(keep))
	for _, e := range keep {
		live[e] = struct{}{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for addr, e := range g.eps {
		if _, ok := live[e]; !ok {
			delete(g.eps, addr)
		}
	}
}

// Len returns the number of Endpoints the Registry holds.
func (g *Registry) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.eps)
}
