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
	// is accepted and means the same prefix. Empty: any path. Whatever the
	// prefix, a path that cannot be matched safely (a dot segment, double
	// encoding; see Policy.Allow) is refused.
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
// Paths are matched on the raw request path, as the app will receive it:
// the proxy does not rewrite the path, so it must not match a normalised
// copy either. Instead a rule with paths matches only a path whose meaning
// no server can disagree about once it has matched the prefix, and refuses
// (does not match) any path with
//   - a dot segment: a segment whose name, the part before its first ';'
//     (path parameters, which Java servlet containers strip), is "." or
//     "..", counting "%2e" as a dot, "%3b" as ';', and '\', "%2f" and
//     "%5c" as separators, in any case ("/api/..;/admin"); an encoded '?'
//     or '#' also ends the name, for servers that decode before they cut
//     off the query or fragment ("/api/..%3f");
//   - an encoded '%' ("%25"), or a '%' not followed by two hex digits: a
//     server that decodes twice turns "%252e" or "%%32%65" into '.';
//   - an encoded control character ("%00" to "%1f", "%7f"), which C
//     servers truncate at or strip;
//   - overlong UTF-8 ("%c0%ae"), which lax decoders read as '.' or '/'.
//
// Empty segments ("/api//x") are matched as written, not merged: a rule's
// paths only ever admit, and an empty segment after a matched prefix
// cannot move the path out of it, while merging them for the match alone
// would admit "//api/x", a different path to an app that does not merge.
// The query is not examined.
func (p *Policy) Allow(peer string, method, path []byte) bool {
	if p == nil {
		return peer != ""
	}
	// The path is checked at most once per request, and only when a rule
	// with paths gets that far.
	var checked pathCheck
	for i := range p.rules {
		if p.rules[i].admits(peer, method, path, &checked) {
			return true
		}
	}
	return false
}

// pathCheck caches pathRefusal for one request: 0 not yet checked,
// pathSafe or pathRefused.
type pathCheck uint8

const (
	pathSafe pathCheck = 1 + iota
	pathRefused
)

func (r *rule) admits(peer string, method, path []byte, checked *pathCheck) bool {
	return r.admitsPeer(peer) && r.admitsMethod(method) && r.admitsPath(path, checked)
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

func (r *rule) admitsPath(path []byte, checked *pathCheck) bool {
	if r.paths == nil {
		return true
	}
	if *checked == 0 {
		*checked = pathSafe
		if pathRefusal(path) != "" {
			*checked = pathRefused
		}
	}
	if *checked == pathRefused {
		return false
	}
	for _, prefix := range r.paths {
		if len(path) >= len(prefix) && string(path[:len(prefix)]) == prefix {
			return true
		}
	}
	return false
}

// Why a rule with paths refuses a request path (see Policy.Allow).
const (
	refusedDotSegment     = "a dot segment"
	refusedEncodedPercent = "an encoded '%' (%25)"
	refusedBadEscape      = "a '%' not followed by two hex digits"
	refusedControl        = "an encoded control character"
	refusedOverlong       = "overlong UTF-8"
)

// pathRefusal returns why the path part of a request target (up to '?')
// cannot be matched by prefix safely, or "" when it can. It decodes each
// byte once, as a server would, and looks at what the decoded byte could
// become in a server that treats it more loosely.
func pathRefusal(p []byte) string {
	dots, other := 0, 0 // in the current segment's name
	params := false     // past the end of the current segment's name
	var prev byte       // the previous byte, decoded
	for i := 0; ; {
		// Most bytes are letters and digits, which need no more than
		// counting.
		if i < len(p) && plain[p[i]] {
			if !params {
				other++
			}
			prev = p[i]
			i++
			continue
		}
		// A raw '#' never gets here (the parser refuses it in a
		// request-target); were it to, what follows is checked too.
		end := i >= len(p) || p[i] == '?'
		var c byte
		width := 1
		if !end {
			c = p[i]
			if c == '%' {
				if i+2 >= len(p) {
					return refusedBadEscape
				}
				hi, ok1 := unhex(p[i+1])
				lo, ok2 := unhex(p[i+2])
				if !ok1 || !ok2 {
					return refusedBadEscape
				}
				c, width = hi<<4|lo, 3
				if c == '%' {
					return refusedEncodedPercent
				}
			}
			switch {
			case c < 0x20 || c == 0x7f:
				return refusedControl
			// 0xc0 and 0xc1 only ever start an overlong two-byte form
			// (0xc0 0xae is '.'); 0xe0 0x80-0x9f and 0xf0 0x80-0x8f start
			// overlong three- and four-byte forms.
			case c == 0xc0 || c == 0xc1,
				prev == 0xe0 && c >= 0x80 && c <= 0x9f,
				prev == 0xf0 && c >= 0x80 && c <= 0x8f:
				return refusedOverlong
			}
		}
		if end || c == '/' || c == '\\' {
			if other == 0 && (dots == 1 || dots == 2) {
				return refusedDotSegment
			}
			if end {
				return ""
			}
			dots, other, params = 0, 0, false
		} else if !params {
			switch c {
			case '.':
				dots++
			case ';', '?', '#': // decoded '?' or '#', or either ';'
				params = true
			default:
				other++
			}
		}
		prev = c
		i += width
	}
}

// plain marks the bytes that pathRefusal only counts: printable ASCII with
// no role in a path's syntax or its decoding.
var plain = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range "%/\\.;?#" {
		t[c] = false
	}
	return t
}()

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
