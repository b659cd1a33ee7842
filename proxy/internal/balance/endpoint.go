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

// Outlier detection on responses. An endpoint that accepts connections but
// fails the exchanges it gets (it answers 502, 503 or 504, resets the
// connection before answering, cuts a response short, sends one that cannot
// be parsed, or lets the request time out) is a gateway failure in Envoy's
// terms (consecutive_gateway_failure, which counts locally originated resets
// and timeouts too) and a failure for linkerd2-proxy's failure accrual.
// After OutlierConsecutive of them in a row the endpoint is ejected. A TCP
// probe cannot tell that it recovered (it accepts connections all along), so
// such an ejection simply expires after the same back-off as a connect
// ejection (1 s doubling per consecutive ejection, capped at EjectMax). The
// streak is kept when it expires: the next request is then a trial, and one
// more failure ejects the endpoint again for twice as long, while one
// success puts it fully back (linkerd2-proxy's probe after a failure-accrual
// back-off works the same way).
//
// Unlike a refused connect, a failing response may be the request's fault
// or a whole backend's trouble, so response ejection never takes out more
// than half of a backend's endpoints (at least one when it has two or more,
// as Envoy's max_ejection_percent always allows one), and never the only
// endpoint of a backend: with nowhere else to send a request, a 503 from
// the proxy would only replace the application's own answer.
const OutlierConsecutive = 5

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
	ejectedUntil atomic.Int64 // unix nanoseconds; 0 = no connect ejection
	failures     atomic.Int32 // consecutive connect failures

	// Outlier detection on responses (see OutlierConsecutive), kept apart
	// from the connect ejection above because the prober must not end it.
	outlierUntil     atomic.Int64 // unix nanoseconds; 0 = never ejected for responses
	gatewayFailures  atomic.Int32 // consecutive gateway failures
	outlierEjections atomic.Int32 // consecutive response ejections (back-off level)

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
		e.reg.connectEjected()
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

// ReportGatewayFailure records that the endpoint failed an exchange at now
// (see OutlierConsecutive for what counts); peers are the endpoints of its
// backend, itself included, as the current routing table lists them. It
// reports whether the endpoint was ejected by this failure. It does not
// allocate; peers are only scanned when a streak reaches the threshold.
func (e *Endpoint) ReportGatewayFailure(now time.Time, peers []*Endpoint) bool {
	if e.gatewayFailures.Add(1) < OutlierConsecutive {
		return false
	}
	if until := e.outlierUntil.Load(); until != 0 && now.UnixNano() < until {
		return false // failures of requests sent before the ejection
	}
	if len(peers) < 2 {
		return false // nowhere else to send: no outlier detection
	}
	if !mayEject(e, peers, now) {
		if e.reg != nil {
			e.reg.ejectionOverflows.Add(1)
		}
		return false
	}
	k := e.outlierEjections.Add(1)
	e.outlierUntil.Store(now.Add(backoff(k)).UnixNano())
	if e.reg != nil {
		e.reg.outlierEjections.Add(1)
	}
	return true
}

// mayEject reports whether taking e out of rotation leaves at least half of
// peers (len >= 2) available: at most len/2 endpoints are out at once,
// counting those out for refused connects.
func mayEject(e *Endpoint, peers []*Endpoint, now time.Time) bool {
	out := 1 // e itself
	for _, p := range peers {
		if p != e && !p.Available(now) {
			out++
		}
	}
	return out <= len(peers)/2
}

// ReportSuccess records a complete response that was not a gateway failure
// (any status but 502, 503 and 504): the endpoint is healthy, so both
// failure streaks end, and with them a connect ejection. A response
// ejection is not cut short (a request sent before it may still succeed);
// it expires, and the endpoint returns with a clean record.
func (e *Endpoint) ReportSuccess() {
	// Loads first: the common case (healthy endpoint) then writes nothing
	// and does not bounce the cache line between cores.
	e.connectRecovered()
	if e.gatewayFailures.Load() != 0 {
		e.gatewayFailures.Store(0)
	}
	if e.outlierEjections.Load() != 0 {
		e.outlierEjections.Store(0)
	}
}

// connectRecovered ends a connect failure streak and its ejection (a
// connection or a response succeeded, or a probe connected).
func (e *Endpoint) connectRecovered() {
	if e.failures.Load() != 0 {
		e.failures.Store(0)
	}
	if e.ejectedUntil.Load() != 0 {
		e.ejectedUntil.Store(0)
	}
}

// IsGatewayFailure reports whether an upstream response status counts as a
// gateway failure for outlier detection: 502, 503 and 504, as Envoy's
// consecutive_gateway_failure counts them.
func IsGatewayFailure(status int) bool { return status >= 502 && status <= 504 }

// Available reports whether the endpoint may receive new requests at now,
// i.e. it is ejected neither for refused connects nor for failed responses.
func (e *Endpoint) Available(now time.Time) bool {
	t := now.UnixNano()
	until, outlier := e.ejectedUntil.Load(), e.outlierUntil.Load()
	return (until == 0 || t >= until) && (outlier == 0 || t >= outlier)
}

// connectEjected reports whether a connect ejection runs at now: the
// ejections a probe can end.
func (e *Endpoint) connectEjected(now time.Time) bool {
	until := e.ejectedUntil.Load()
	return until != 0 && now.UnixNano() < until
}

// ConsecutiveFailures returns the current connect-failure streak (for the
// admin endpoint and tests).
func (e *Endpoint) ConsecutiveFailures() int { return int(e.failures.Load()) }

// ConsecutiveGatewayFailures returns the current gateway-failure streak.
func (e *Endpoint) ConsecutiveGatewayFailures() int { return int(e.gatewayFailures.Load()) }

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
