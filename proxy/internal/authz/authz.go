// Package authz decides which peers may call the inbound listener: the role
// of Istio's AuthorizationPolicy (ALLOW, source principals) and Linkerd's
// MeshTLSAuthentication. A peer is the SPIFFE ID verified by the mutual-TLS
// handshake ("" when there is none); a Policy is a list of rules, any one of
// which admits a request.
//
// Allow runs once per request on the event loop, so it never allocates: the
// request's method and path are compared in place, as bytes.
package authz

// Rule admits a request when all of its non-empty fields match.
type Rule struct {
	// Principals are exact SPIFFE IDs, or prefixes ending in "*"
	// ("spiffe://cluster.local/ns/default/*"), or "*" alone for any
	// authenticated peer. Empty: any peer, authenticated or not.
	Principals []string
	// Paths are prefixes of the raw request path ("/api/"). A trailing "*"
	// is accepted and means the same prefix. Empty: any path.
	Paths []string
	// Methods are exact, case-sensitive request methods ("GET"). Empty: any.
	Methods []string
}

// Policy is a compiled rule list. It is immutable and safe for concurrent
// use.
type Policy struct {
	rules []rule
}

type rule struct {
	anyPeer  bool     // no principals
	anyAuth  bool     // "*": any authenticated peer
	exact    []string // principals
	prefixes []string // principal patterns without their '*'
	paths    []string // path prefixes; nil: any
	methods  []string // nil: any
}

// Allow reports whether a rule of p admits a request from peer ("" when the
// connection has no verified identity). A nil Policy, meaning no
// authorization list is configured, admits every authenticated peer. A rule
// with principals never admits peer "".
//
// Paths are matched on the raw request path, without decoding or
// normalisation. So that a prefix cannot be escaped by a path the upstream
// resolves elsewhere, a rule with paths never matches a path with a "." or
// ".." segment ("/api/../admin"), counting "%2e" as a dot and "\", "%2f" and
// "%5c" as separators, in any case; the query is not examined.
func (p *Policy) Allow(peer string, method, path []byte) bool {
	if p == nil {
		return peer != ""
	}
	for i := range p.rules {
		if p.rules[i].admits(peer, method, path) {
			return true
		}
	}
	return false
}

func (r *rule) admits(peer string, method, path []byte) bool {
	return r.admitsPeer(peer) && r.admitsMethod(method) && r.admitsPath(path)
}

func (r *rule) admitsPeer(peer string) bool {
	if r.anyPeer {
		return true
	}
	if peer == "" {
		return false
	}
	if r.anyAuth {
		return true
	}
	for _, id := range r.exact {
		if peer == id {
			return true
		}
	}
	for _, prefix := range r.prefixes {
		if len(peer) >= len(prefix) && peer[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

func (r *rule) admitsMethod(method []byte) bool {
	if r.methods == nil {
		return true
	}
	for _, m := range r.methods {
		if string(method) == m { // compiled without allocating
			return true
		}
	}
	return false
}

func (r *rule) admitsPath(path []byte) bool {
	if r.paths == nil {
		return true
	}
	if hasDotSegment(path) {
		return false
	}
	for _, prefix := range r.paths {
		if len(path) >= len(prefix) && string(path[:len(prefix)]) == prefix {
			return true
		}
	}
	return false
}

// hasDotSegment reports whether the path part of a request target (up to
// '?') has a segment that is "." or "..", in any spelling a server might
// decode: '.' or "%2e" for a dot; '/', '\', "%2f" or "%5c" for a separator.
func hasDotSegment(p []byte) bool {
	dots, other := 0, 0 // in the current segment
	for i := 0; ; {
		end := i >= len(p) || p[i] == '?' || p[i] == '#'
		sep, dot, width := false, false, 1
		if !end {
			switch c := p[i]; c {
			case '/', '\\':
				sep = true
			case '.':
				dot = true
			case '%':
				if i+2 < len(p) {
					switch decodeHex(p[i+1], p[i+2]) {
					case '/', '\\':
						sep, width = true, 3
					case '.':
						dot, width = true, 3
					}
				}
			}
		}
		if end || sep {
			if other == 0 && (dots == 1 || dots == 2) {
				return true
			}
			if end {
				return false
			}
			dots, other = 0, 0
		} else if dot {
			dots++
		} else {
			other++
		}
		i += width
	}
}

// decodeHex returns the byte two hex digits encode, or 0.
func decodeHex(hi, lo byte) byte {
	h, ok1 := unhex(hi)
	l, ok2 := unhex(lo)
	if !ok1 || !ok2 {
		return 0
	}
	return h<<4 | l
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
