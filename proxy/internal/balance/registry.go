package balance

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshbench/meshbench/proxy/internal/metrics"
)

// Recovery probing parameters. While an endpoint is ejected, the Registry
// tries a plain TCP connect to it about once per ProbeInterval; the first
// that succeeds ends the ejection, so a restarted pod is back in rotation
// within about a second of listening again instead of at the end of its
// back-off.
const (
	// ProbeInterval is the time between two probe rounds.
	ProbeInterval = time.Second
	// ProbeTimeout bounds one probe connect: an address that does not
	// answer within it counts as still down.
	ProbeTimeout = time.Second
	// ProbeConcurrency is how many probe connects one round runs at once,
	// so a mass ejection (a node gone) costs a few goroutines and sockets,
	// not one per endpoint.
	ProbeConcurrency = 4
)

// Registry owns the Endpoint objects, keyed by backend and canonical
// address, so that successive routing tables built from reloaded
// configurations share them: outstanding-request counts and ejections carry
// over a reload instead of resetting. It is safe for concurrent use; lookups
// happen at table build time, not per request, so a mutex is plenty.
//
// It also runs the recovery prober: one goroutine, started by the first
// ejection and stopped by Close, that probes ejected endpoints (see
// ProbeInterval) off the event loops.
type Registry struct {
	mu  sync.Mutex
	eps map[epKey]*Endpoint

	// Prober lifecycle, under pmu (separate from mu so that an event loop
	// reporting an ejection never waits behind a table build).
	pmu       sync.Mutex
	started   bool
	closed    bool
	wake      chan struct{} // buffered 1: an ejection happened
	stop      context.CancelFunc
	probeDone chan struct{}

	// Injectable for tests; nil means the real thing (see clock, dial,
	// interval).
	now      func() time.Time
	dialer   func(ctx context.Context, addr string) error
	interval time.Duration

	ejections         atomic.Uint64 // connect ejections
	outlierEjections  atomic.Uint64 // response (gateway failure) ejections
	ejectionOverflows atomic.Uint64 // response ejections refused (max ejection)
	probesOK          atomic.Uint64
	probesFailed      atomic.Uint64
}

// epKey identifies one Endpoint: the same address under two backends is two
// Endpoints with independent ejection state.
type epKey struct{ backend, addr string }

// NewRegistry returns an empty Registry. The zero Registry is also ready to use.
func NewRegistry() *Registry { return &Registry{} }

// Get returns the Endpoint of backend (its name, route.Backend.Name) for
// addr, creating it on first use. addr is "ip:port", "[ipv6]:port" or
// "localhost:port" (taken as 127.0.0.1); it is canonicalised first, so
// "[::ffff:10.0.0.1]:80" and "10.0.0.1:80" share one Endpoint. An address
// that cannot be parsed still gets an Endpoint, keyed by the string as given
// and with a nil TCPAddr (never probed); the config package rejects such
// addresses long before they reach here.
func (g *Registry) Get(backend, addr string) *Endpoint {
	canon, tcp := parseAddr(addr)
	key := epKey{backend, canon}
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.eps[key]; ok {
		return e
	}
	if g.eps == nil {
		g.eps = make(map[epKey]*Endpoint)
	}
	e := &Endpoint{Backend: backend, Addr: canon, TCPAddr: tcp, reg: g}
	g.eps[key] = e
	return e
}

// Lookup returns the Endpoint of backend for addr, or nil if the Registry
// has none (it never creates one; for the admin endpoint and tests).
func (g *Registry) Lookup(backend, addr string) *Endpoint {
	canon, _ := parseAddr(addr)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.eps[epKey{backend, canon}]
}

// Retain forgets every Endpoint not in keep. Call it after a new routing
// table has replaced the old one (with the new table's endpoints) so that
// endpoints removed from the configuration do not accumulate forever and
// are no longer probed. Forgotten Endpoints stay valid for whoever still
// holds them (requests in flight on the old table); if the endpoint comes
// back later it starts with fresh state.
func (g *Registry) Retain(keep []*Endpoint) {
	live := make(map[*Endpoint]struct{}, len(keep))
	for _, e := range keep {
		live[e] = struct{}{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, e := range g.eps {
		if _, ok := live[e]; !ok {
			delete(g.eps, k)
		}
	}
}

// Len returns the number of Endpoints the Registry holds.
func (g *Registry) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.eps)
}

// Ejected returns how many of the Registry's Endpoints are ejected at now.
func (g *Registry) Ejected(now time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, e := range g.eps {
		if !e.Available(now) {
			n++
		}
	}
	return n
}

// RegisterMetrics exposes ejection and probe counts in reg. The series are
// aggregates on purpose: one series per endpoint would grow with every pod
// ever seen.
func (g *Registry) RegisterMetrics(reg *metrics.Registry) {
	const ejectHelp = "Endpoints taken out of rotation (per backend and address), by reason: a failed connect, or consecutive gateway failures (502/503/504, resets, cut or malformed responses, timeouts)."
	reg.CounterFunc("meshproxy_endpoint_ejections_total", ejectHelp,
		func() float64 { return float64(g.ejections.Load()) }, "reason", "connect_failure")
	reg.CounterFunc("meshproxy_endpoint_ejections_total", ejectHelp,
		func() float64 { return float64(g.outlierEjections.Load()) }, "reason", "gateway_failures")
	reg.CounterFunc("meshproxy_endpoint_ejections_overflow_total",
		"Response ejections not made because half of the backend's endpoints were already out.",
		func() float64 { return float64(g.ejectionOverflows.Load()) })
	const probeHelp = "TCP connect probes of ejected endpoints, by result; a success ends the ejection."
	reg.CounterFunc("meshproxy_endpoint_probes_total", probeHelp,
		func() float64 { return float64(g.probesOK.Load()) }, "result", "success")
	reg.CounterFunc("meshproxy_endpoint_probes_total", probeHelp,
		func() float64 { return float64(g.probesFailed.Load()) }, "result", "failure")
	reg.GaugeFunc("meshproxy_endpoints_ejected",
		"Endpoints (per backend and address) currently out of rotation.",
		func() float64 { return float64(g.Ejected(time.Now())) })
}

// Close stops the prober and waits for it to finish; in-flight probe
// connects are abandoned. Ejections reported afterwards last their back-off.
// Close is safe to call more than once.
func (g *Registry) Close() {
	g.pmu.Lock()
	g.closed = true
	stop, done := g.stop, g.probeDone
	g.pmu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// connectEjected counts a new connect ejection and makes sure the prober is
// running. It runs on an event loop: it only takes pmu, briefly, and never
// blocks.
func (g *Registry) connectEjected() {
	g.ejections.Add(1)
	g.pmu.Lock()
	defer g.pmu.Unlock()
	if g.closed {
		return
	}
	if !g.started {
		g.started = true
		g.wake = make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		g.stop, g.probeDone = cancel, make(chan struct{})
		go g.probeLoop(ctx, g.wake, g.probeDone)
		return
	}
	select {
	case g.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// probeLoop runs a probe round every interval while anything is ejected,
// and parks (no timer, no wake-ups) while nothing is.
func (g *Registry) probeLoop(ctx context.Context, wake <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(g.probeInterval())
	defer t.Stop()
	for {
		// Wait an interval first: the connect that caused the ejection has
		// just failed, an immediate probe would almost surely fail too.
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if g.probeRound(ctx) {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
			t.Reset(g.probeInterval())
		}
	}
}

// probeRound connects once to every address that has an ejected Endpoint,
// at most ProbeConcurrency at a time, and ends the ejection of those whose
// address accepted the connection. It reports whether anything was ejected.
//
// One dial per address, not per (backend, address): whether an address
// accepts TCP connections does not depend on which backend asks, and a pod
// behind several Services would otherwise get one probe per Service each
// second just when it is starting. The result is applied only to the
// Endpoints that were ejected, so backends that never failed are untouched.
func (g *Registry) probeRound(ctx context.Context) bool {
	now := g.clock()
	byAddr := map[string][]*Endpoint{}
	var addrs []string
	g.mu.Lock()
	for _, e := range g.eps {
		if e.TCPAddr == nil || !e.connectEjected(now) {
			continue // response ejections expire; a connect proves nothing
		}
		if _, ok := byAddr[e.Addr]; !ok {
			addrs = append(addrs, e.Addr)
		}
		byAddr[e.Addr] = append(byAddr[e.Addr], e)
	}
	g.mu.Unlock()
	if len(addrs) == 0 {
		return false
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(ProbeConcurrency, len(addrs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(addrs) || ctx.Err() != nil {
					return
				}
				err := g.dial(ctx, addrs[i])
				switch {
				case ctx.Err() != nil:
					return // closing: the outcome means nothing
				case err != nil:
					g.probesFailed.Add(1)
				default:
					g.probesOK.Add(1)
					for _, e := range byAddr[addrs[i]] {
						e.connectRecovered()
					}
				}
			}
		})
	}
	wg.Wait()
	return true
}

func (g *Registry) clock() time.Time {
	if g.now != nil {
		return g.now()
	}
	return time.Now()
}

func (g *Registry) probeInterval() time.Duration {
	if g.interval > 0 {
		return g.interval
	}
	return ProbeInterval
}

// dial is one probe: a TCP connect, closed at once. Nothing is sent: the
// application sees a connection that closes, as with a kubelet TCP probe.
func (g *Registry) dial(ctx context.Context, addr string) error {
	if g.dialer != nil {
		return g.dialer(ctx, addr)
	}
	d := net.Dialer{Timeout: ProbeTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}
