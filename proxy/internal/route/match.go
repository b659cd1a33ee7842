package route

import (
	"cmp"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Path match kinds, in precedence order (lower first).
const (
	pathExact uint8 = iota
	pathRegex
	pathPrefix
)

// match is one compiled HTTPRouteMatch of one rule, bound to the precedence
// data of its route.
type match struct {
	pathKind uint8
	// path is the Exact value, or the PathPrefix value without its trailing
	// '/' ("" for "/"), or the original RegularExpression.
	path    string
	pathLen int // precedence: characters in the value as written
	re      *regexp.Regexp
	method  string // "" = any
	headers []valueMatch
	queries []valueMatch

	// grpc is set for a GRPCRoute match, which then matches on grpc and
	// headers only (the path fields above are unused).
	grpc *grpcMatch

	rule *Rule

	// Tie-breakers across and within routes.
	created  time.Time
	routeKey string // "{namespace}/{name}"
	ruleIdx  int
	matchIdx int
}

// valueMatch is a header or query parameter condition. For headers name is
// lower-case; re is set for RegularExpression matches.
type valueMatch struct {
	name  string
	value string
	re    *regexp.Regexp
}

// Kinds of a GRPCRoute match's condition on the service or the method.
const (
	grpcAny uint8 = iota
	grpcExact
	grpcRegex
)

// grpcMatch is a compiled GRPCMethodMatch: conditions on the two parts of a
// gRPC request path, "/<service>/<method>".
type grpcMatch struct {
	service, method grpcPart
}

// grpcPart is the condition on the service or the method.
type grpcPart struct {
	kind  uint8
	value string         // the Exact value, or the RegularExpression as written
	re    *regexp.Regexp // anchored, for grpcRegex
}

// match reports whether a gRPC request path satisfies g. A path that is
// not "/<service>/<method>" satisfies only a match without conditions.
func (g *grpcMatch) match(path []byte) bool {
	if g.service.kind == grpcAny && g.method.kind == grpcAny {
		return true
	}
	svc, meth, ok := splitGRPCPath(path)
	return ok && g.service.match(svc) && g.method.match(meth)
}

func (p *grpcPart) match(v []byte) bool {
	switch p.kind {
	case grpcExact:
		return string(v) == p.value
	case grpcRegex:
		return p.re.Match(v)
	}
	return true
}

// compare orders conditions by GRPCRoute precedence: more characters
// first (none for any); at equal length, and this is meshproxy's choice,
// Exact before RegularExpression, as Exact paths precede regular
// expressions for HTTPRoute.
func (p *grpcPart) compare(q *grpcPart) int {
	if c := cmp.Compare(len(q.value), len(p.value)); c != 0 {
		return c
	}
	return cmp.Compare(p.kind, q.kind)
}

// splitGRPCPath splits "/<service>/<method>" into its non-empty parts, the
// form every gRPC request path has (gRPC over HTTP/2: ":path" is
// "/" Service-Name "/" {method name}).
func splitGRPCPath(path []byte) (service, method []byte, ok bool) {
	if len(path) < 4 || path[0] != '/' {
		return nil, nil, false
	}
	rest := path[1:]
	i := indexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 || indexByte(rest[i+1:], '/') >= 0 {
		return nil, nil, false
	}
	return rest[:i], rest[i+1:], true
}

// compareMatches orders matches by Gateway API precedence (see the package
// doc): negative when a takes precedence over b. The matches of one Service
// port are all HTTPRoute matches or all GRPCRoute matches (one route type
// per port), each kind with its own precedence.
func compareMatches(a, b *match) int {
	if a.grpc != nil && b.grpc != nil {
		return compareGRPC(a, b)
	}
	if c := cmp.Compare(a.pathKind, b.pathKind); c != 0 {
		return c
	}
	if c := cmp.Compare(b.pathLen, a.pathLen); c != 0 { // longer first
		return c
	}
	if am, bm := a.method != "", b.method != ""; am != bm {
		if am {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(len(b.headers), len(a.headers)); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.queries), len(a.queries)); c != 0 {
		return c
	}
	return compareTies(a, b)
}

// compareGRPC orders GRPCRoute matches as the spec's GRPCRouteRule.matches
// requires: more characters in a matching service, then in a matching
// method, then more header matches (the hostname criteria that come first
// do not apply: mesh routes have no hostnames), then the tie-breakers of
// every route type.
func compareGRPC(a, b *match) int {
	if c := a.grpc.service.compare(&b.grpc.service); c != 0 {
		return c
	}
	if c := a.grpc.method.compare(&b.grpc.method); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.headers), len(a.headers)); c != 0 {
		return c
	}
	return compareTies(a, b)
}

// compareTies breaks ties of equal precedence as the spec does for every
// route type: the older route, then "{namespace}/{name}", then the first
// rule and match within the route.
func compareTies(a, b *match) int {
	if c := a.created.Compare(b.created); c != 0 { // older first
		return c
	}
	if c := strings.Compare(a.routeKey, b.routeKey); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ruleIdx, b.ruleIdx); c != 0 {
		return c
	}
	return cmp.Compare(a.matchIdx, b.matchIdx)
}

// match reports whether req satisfies every condition of m. Cheap checks
// run first.
func (m *match) match(req Request) bool {
	if m.grpc != nil {
		return m.grpc.match(req.Path()) && m.matchHeaders(req)
	}
	if m.method != "" && string(req.Method()) != m.method {
		return false
	}
	path := req.Path()
	switch m.pathKind {
	case pathExact:
		if string(path) != m.path {
			return false
		}
	case pathPrefix:
		if !hasPathPrefix(path, m.path) {
			return false
		}
	case pathRegex:
		if !m.re.Match(path) {
			return false
		}
	}
	if !m.matchHeaders(req) {
		return false
	}
	if len(m.queries) > 0 {
		q := req.Query()
		for i := range m.queries {
			if !m.queries[i].matchQuery(q) {
				return false
			}
		}
	}
	return true
}

// matchHeaders reports whether req satisfies every header condition of m.
func (m *match) matchHeaders(req Request) bool {
	for i := range m.headers {
		h := &m.headers[i]
		v, ok := req.Header(h.name)
		if !ok {
			return false
		}
		v = trimOWS(v)
		if h.re != nil {
			if !h.re.Match(v) {
				return false
			}
		} else if string(v) != h.value {
			return false
		}
	}
	return true
}

// hasPathPrefix reports whether path starts with the path elements of
// prefix (given without a trailing '/'): "/foo" matches "/foo", "/foo/" and
// "/foo/bar", not "/foobar". The empty prefix (from "/") matches anything.
func hasPathPrefix(path []byte, prefix string) bool {
	if prefix == "" {
		return true
	}
	if len(path) < len(prefix) || string(path[:len(prefix)]) != prefix {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}

// trimOWS strips the optional whitespace HTTP allows around field values,
// in case the parser left any.
func trimOWS(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// matchQuery reports whether the first parameter named q.name in the raw
// query string has a matching value.
func (q *valueMatch) matchQuery(query []byte) bool {
	raw, ok := queryParam(query, q.name)
	if !ok {
		return false
	}
	if q.re == nil {
		return decodedEqual(raw, q.value)
	}
	if !needsDecoding(raw) {
		return q.re.Match(raw)
	}
	bp := decodeBufs.Get().(*[]byte)
	buf := appendDecoded((*bp)[:0], raw)
	ok = q.re.Match(buf)
	*bp = buf
	decodeBufs.Put(bp)
	return ok
}

// decodeBufs holds scratch buffers for percent-decoding query values before
// a regular expression match. A sync.Pool keeps the steady state
// allocation-free without tying a buffer to each event loop.
var decodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// queryParam returns the raw value of the first parameter whose decoded name
// is name ("" for a parameter without '=').
func queryParam(query []byte, name string) ([]byte, bool) {
	for len(query) > 0 {
		var pair []byte
		if i := indexByte(query, '&'); i >= 0 {
			pair, query = query[:i], query[i+1:]
		} else {
			pair, query = query, nil
		}
		if len(pair) == 0 {
			continue
		}
		key, val := pair, []byte(nil)
		if i := indexByte(pair, '='); i >= 0 {
			key, val = pair[:i], pair[i+1:]
		}
		if decodedEqual(key, name) {
			return val, true
		}
	}
	return nil, false
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// decodedEqual reports whether the URL-query-decoded form of raw equals
// want, without materialising the decoded bytes. A '%' not followed by two
// hex digits stands for itself, as browsers treat it.
func decodedEqual(raw []byte, want string) bool {
	j := 0
	for i := 0; i < len(raw); j++ {
		c, n := decodeAt(raw, i)
		if j >= len(want) || want[j] != c {
			return false
		}
		i += n
	}
	return j == len(want)
}

// decodeAt decodes the query byte at raw[i], returning it and how many raw
// bytes it used.
func decodeAt(raw []byte, i int) (byte, int) {
	switch c := raw[i]; c {
	case '+':
		return ' ', 1
	case '%':
		if i+2 < len(raw) {
			if h, ok := unhex(raw[i+1]); ok {
				if l, ok := unhex(raw[i+2]); ok {
					return h<<4 | l, 3
				}
			}
		}
		return c, 1
	default:
		return c, 1
	}
}

func needsDecoding(raw []byte) bool {
	for _, c := range raw {
		if c == '%' || c == '+' {
			return true
		}
	}
	return false
}

func appendDecoded(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c, n := decodeAt(raw, i)
		dst = append(dst, c)
		i += n
	}
	return dst
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
