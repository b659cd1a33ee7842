// Package balance holds the live, shared state of upstream endpoints and the
// power-of-two-choices load balancer that picks among them.
//
// The routing table (package route) is rebuilt on every configuration reload,
// but the Endpoint objects it points at come from a Registry that outlives the
// tables: in-flight request counts and passive-health ejections therefore
// survive a reload, and every event loop sees the same numbers.
package balance

import (
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
)

// Passive health checking parameters. A failed TCP connect is a strong
// signal (connection refused, no route, connect timeout), so, as
// linkerd2-proxy does for endpoints it cannot connect to, an endpoint is taken
// out of rotation on the first failure rather than after a count. Repeated
// failures back off exponentially so a dead endpoint costs one connect attempt
// per back-off period rather than one per request. The back-off only bounds
// how long a dead endpoint stays out without traffic: recovery is noticed by
// the Registry's prober (see ProbeInterval), usually before it ends.
const (
	// EjectBase is how long an endpoint is ejected after its first
	// consecutive connect failure.
	EjectBase = time.Second
	// EjectMax caps the doubling back-off. Probes normally end an
	// ejection first; the cap bounds how long an endpoint stays out when
	// they cannot (probing stopped, or a probe connect fails where a real
	// one would succeed), so a restarted pod is never idle for 30 s.
	EjectMax = 10 * time.Second
)

// Endpoint is one upstream address. Its live state is updated with atomics
// because the same Endpoint is shared by every event loop and by every
// routing table generation that contains its backend and address.
type Endpoint struct {
	// Backend names the backend this Endpoint belongs to (route.Backend.Name,
	// "namespace/service:port"); empty outside a Registry. Ejection state is
	// per (Backend, Addr): one Service's connect failures must not take the
	// same pod out of another Service's rotation. Outstanding counts are
	// per backend too, as Envoy keeps host load per cluster.
	Backend string
	// Addr is the canonical "ip:port" ("[::1]:8080" for IPv6). It is also the
	// key under which the proxy pools upstream connections (shared by every
	// backend that has this address).
	Addr string
	// TCPAddr is Addr resolved, ready for dialing. Nil only if Addr could not
	// be parsed (Registry.Get documents when that happens).
	TCPAddr *net.TCPAddr

	outstanding  atomic.Int64 // requests sent and not yet finished
	ejectedUntil atomic.Int64 // unix nanoseconds; 0 = never ejected
	failures     atomic.Int32 // consecutive connect failures

	reg *Registry // counts ejections and probes recovery; nil from NewEndpoint
}

// NewEndpoint returns an Endpoint for addr outside any Registry (tests and
// one-off upstreams such as the inbound application). Most callers want
// Registry.Get so that state is shared.
func NewEndpoint(addr string) *Endpoint {
	canon, tcp := parseAddr(addr)
	return &Endpoint{Addr: canon, TCPAddr: tcp}
}

// Begin records that a request has been sent to the endpoint. Every Begin
// must be paired with exactly one End.
func (e *Endpoint) Begin() { e.outstanding.Add(1) }

// End records that a request to the endpoint has finished (successfully or not).
func (e *Endpoint) End() { e.outstanding.Add(-1) }

// Outstanding returns the number of requests currently in flight to the
// endpoint across all event loops. It is the load signal P2C compares.
func (e *Endpoint) Outstanding() int64 { return e.outstanding.Load() }

// ReportConnectFailure records a failed connection attempt at now and ejects
// the endpoint for EjectBase doubled for every further consecutive failure,
// capped at EjectMax. Concurrent reports from several event loops may race;
// the outcome is still an ejection of roughly the right length, which is all
// passive health checking needs. An endpoint from a Registry is then probed
// until it accepts connections again (Registry.probeRound).
func (e *Endpoint) ReportConnectFailure(now time.Time) {
	n := e.failures.Add(1)
	prev := e.ejectedUntil.Swap(now.Add(backoff(n)).UnixNano())
	// Only a failure of an endpoint that was in rotation starts an
	// ejection; the others (dials that were already under way) lengthen
	// the running one.
	if e.reg != nil && (prev == 0 || now.UnixNano() >= prev) {
		e.reg.ejected()
	}
}

// backoff returns the ejection period after n consecutive failures (n >= 1).
func backoff(n int32) time.Duration {
	d := EjectBase
	for i := int32(1); i < n && d < EjectMax; i++ {
		d *= 2
	}
	return min(d, EjectMax)
}

// ReportSuccess records a successful connection (or response): the
// endpoint is healthy again, so its failure streak and any ejection end.
func (e *Endpoint) ReportSuccess() {
	// Loads first: the common case (healthy endpoint) then writes nothing
	// and does not bounce the cache line between cores.
	if e.failures.Load() != 0 {
		e.failures.Store(0)
	}
	if e.ejectedUntil.Load() != 0 {
		e.ejectedUntil.Store(0)
	}
}

// Available reports whether the endpoint may receive new requests at now,
// i.e. it is not ejected.
func (e *Endpoint) Available(now time.Time) bool {
	until := e.ejectedUntil.Load()
	return until == 0 || now.UnixNano() >= until
}

// ConsecutiveFailures returns the current connect-failure streak (for the
// admin endpoint and tests).
func (e *Endpoint) ConsecutiveFailures() int { return int(e.failures.Load()) }

// String returns Addr.
func (e *Endpoint) String() string { return e.Addr }

// parseAddr canonicalises "ip:port" (and "localhost:port", which the config
// package allows and which means the IPv4 loopback here, so no resolver is
// ever consulted) into the form netip prints and a dialable *net.TCPAddr.
// Unparsable input is returned unchanged with a nil TCPAddr.
func parseAddr(addr string) (string, *net.TCPAddr) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		host, port, serr := net.SplitHostPort(addr)
		if serr != nil || host != "localhost" {
			return addr, nil
		}
		p, perr := strconv.ParseUint(port, 10, 16)
		if perr != nil {
			return addr, nil
		}
		ap = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(p))
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	return ap.String(), net.TCPAddrFromAddrPort(ap)
}
