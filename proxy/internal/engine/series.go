package engine

import (
	"github.com/meshbench/meshbench/proxy/internal/metrics"
	"github.com/meshbench/meshbench/proxy/internal/route"
)

// Metric series labelled by config objects — request series by (direction,
// route, backend), connect-error counters by endpoint address — live as
// long as the current table names them. A config that churns (a rolling
// deployment renaming EndpointSlice addresses on every reload) would
// otherwise add series to every scrape and to the heap without bound.
// SetTable prunes the registry and p.connectErr after each swap; each
// loop drops its own cache of series when it sees the new table (loop.go).
// A series that comes back in a later config starts from zero, which
// Prometheus reads as a counter reset.

const connectErrorsName = "meshproxy_upstream_connect_errors_total"

// seriesLabels is a request series' label set.
type seriesLabels struct{ direction, route, backend string }

// labelsOf is the one mapping from a request's routing outcome to its
// series' labels, used both to record (loop.requestSeries) and to decide
// what a table keeps (tableSeries), so the two cannot drift apart. A nil
// rule or backend is the empty label.
func labelsOf(inbound bool, r *route.Rule, b *route.Backend) seriesLabels {
	l := seriesLabels{direction: direction(inbound)}
	if r != nil {
		l.route = r.Name
	}
	if b != nil {
		l.backend = b.Name
	}
	return l
}

// tableSeries lists the label sets of the request series that requests
// routed on t can be recorded in (downstream.go, dispatch).
func tableSeries(t *route.Table) map[seriesLabels]struct{} {
	keep := map[seriesLabels]struct{}{
		// Every exchange starts on the empty series (resetExchange); a
		// request for an unknown host or without a matching rule stays there.
		labelsOf(false, nil, nil): {},
		labelsOf(true, nil, nil):  {},
	}
	if in := t.Inbound(); in != nil {
		keep[labelsOf(true, nil, in)] = struct{}{}
	}
	for _, svc := range t.Services() {
		for _, r := range svc.Rules() {
			picked := false
			for _, wb := range r.Backends {
				if wb.Weight > 0 && wb.Backend != nil { // what Rule.Pick can return
					keep[labelsOf(false, r, wb.Backend)] = struct{}{}
					picked = true
				}
			}
			if !picked { // Pick returns nil: 500 no_backend, no backend label
				keep[labelsOf(false, r, nil)] = struct{}{}
			}
		}
	}
	return keep
}

// endpointAddrs is the set of endpoint addresses t can connect to.
func endpointAddrs(t *route.Table) map[string]struct{} {
	addrs := make(map[string]struct{}, len(t.Endpoints()))
	for _, e := range t.Endpoints() {
		addrs[e.Addr] = struct{}{}
	}
	return addrs
}

// setLiveAddrs records t's endpoint addresses: from now on connectErrors
// registers counters for those only. The caller holds p.tableMu.
func (p *Proxy) setLiveAddrs(t *route.Table) {
	addrs := endpointAddrs(t)
	p.connectErrMu.Lock()
	p.liveAddrs = addrs
	p.connectErrMu.Unlock()
}

// pruneSeries removes the series t cannot produce. The caller holds
// p.tableMu and has just made t current (and called setLiveAddrs).
func (p *Proxy) pruneSeries(t *route.Table) {
	keep := tableSeries(t)
	p.reg.RetainRequests(func(direction, route, backend string) bool {
		_, ok := keep[seriesLabels{direction, route, backend}]
		return ok
	})

	p.connectErrMu.Lock()
	defer p.connectErrMu.Unlock()
	kept := make(map[string]*metrics.Counter, len(p.connectErr))
	for addr, c := range p.connectErr {
		if _, ok := p.liveAddrs[addr]; ok {
			kept[addr] = c
		} else {
			p.reg.Remove(connectErrorsName, "endpoint", addr)
		}
	}
	// A new map rather than deletes, so that it shrinks after churn.
	p.connectErr = kept
}

// requestSeries resolves the series of a request routed on t; a loop calls
// it on a cache miss only. It holds p.tableMu so that it never registers a
// series for a table SetTable has already replaced and pruned: that series
// would be exported again, stale, until the next reload.
func (p *Proxy) requestSeries(t *route.Table, direction, rule, backend string) *metrics.RequestSeries {
	p.tableMu.RLock()
	defer p.tableMu.RUnlock()
	if p.table.Load() == t {
		return p.reg.Requests(direction, rule, backend)
	}
	// t was replaced while this request was being routed. A series the new
	// table kept goes on counting; one it dropped is replaced by a detached
	// series (rare, and it allocates) that nothing exports.
	if s := p.reg.LookupRequests(direction, rule, backend); s != nil {
		return s
	}
	return new(metrics.RequestSeries)
}

// connectErrors is the connect-failure counter of an endpoint address
// (a failure path: it locks and may allocate).
func (p *Proxy) connectErrors(addr string) *metrics.Counter {
	p.connectErrMu.Lock()
	defer p.connectErrMu.Unlock()
	c := p.connectErr[addr]
	if c == nil {
		if _, live := p.liveAddrs[addr]; !live {
			// An attempt routed on a table a reload has replaced, to an
			// endpoint the current one dropped: count it unexported
			// rather than register a removed endpoint again.
			return new(metrics.Counter)
		}
		c = p.reg.Counter(connectErrorsName, "Failed connection attempts to endpoints.", "endpoint", addr)
		p.connectErr[addr] = c
	}
	return c
}
