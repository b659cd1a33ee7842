package balance

import "time"

// P2C picks an endpoint with the power-of-two-choices algorithm used by
// Envoy's LEAST_REQUEST balancer and linkerd2-proxy: choose two distinct
// endpoints uniformly at random among the available ones and return the one
// with fewer outstanding requests (the first choice on a tie, which keeps
// equal load evenly spread). Compared with least-loaded over all endpoints it
// needs no global scan in the common case and avoids herding every event loop
// onto the same momentarily idle endpoint.
//
// With exactly one available endpoint it is returned; with none (all ejected,
// or eps empty) P2C returns nil and the proxy answers 503
// "no_healthy_endpoint". Ejected endpoints are never used as a fallback:
// ejection is short and exponential, so a dead endpoint is retried soon
// anyway, and sending traffic to it meanwhile only converts a 503 into a
// slower 502.
//
// P2C does not allocate.
func P2C(eps []*Endpoint, r *Rand, now time.Time) *Endpoint {
	switch len(eps) {
	case 0:
		return nil
	case 1:
		if eps[0].Available(now) {
			return eps[0]
		}
		return nil
	}
	// Fast path: two distinct random indices, both available.
	i := r.Intn(len(eps))
	j := r.Intn(len(eps) - 1)
	if j >= i {
		j++
	}
	a, b := eps[i], eps[j]
	if a.Available(now) && b.Available(now) {
		return lessLoaded(a, b)
	}
	return p2cSlow(eps, r, now)
}

// lessLoaded returns a unless b has strictly fewer outstanding requests.
func lessLoaded(a, b *Endpoint) *Endpoint {
	if b.Outstanding() < a.Outstanding() {
		return b
	}
	return a
}

// p2cSlow handles the case where some endpoints are ejected: it draws the two
// choices by rank among the available endpoints only, so ejections do not
// skew the distribution over the remaining ones.
func p2cSlow(eps []*Endpoint, r *Rand, now time.Time) *Endpoint {
	n := 0
	for _, e := range eps {
		if e.Available(now) {
			n++
		}
	}
	switch n {
	case 0:
		return nil
	case 1:
		for _, e := range eps {
			if e.Available(now) {
				return e
			}
		}
	}
	i := r.Intn(n)
	j := r.Intn(n - 1)
	if j >= i {
		j++
	}
	var a, b *Endpoint
	k := 0
	for _, e := range eps {
		if !e.Available(now) {
			continue
		}
		if k == i {
			a = e
		}
		if k == j {
			b = e
		}
		k++
	}
	return lessLoaded(a, b)
}
