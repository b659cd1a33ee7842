// Package route compiles a config.Config into an immutable routing table
// that event loops consult for every request: which Service a Host header
// names, which HTTPRoute or GRPCRoute rule a request matches (Gateway API
// semantics and precedence, GAMMA mesh profile), and which weighted backend
// serves it.
//
// A Table is built once per configuration and never modified, so any number
// of event loops may read it concurrently without locks; a reload builds a
// new Table and swaps a pointer. The per-request path (Lookup, Match, Pick)
// does not allocate.
//
// # Semantics
//
// Routes (HTTPRoutes and GRPCRoutes alike) attach to Services through
// parentRefs (kind Service, group ""). A
// parentRef with a port (or sectionName, the port's name) attaches to that
// Service port only, otherwise to all of the Service's TCP ports. A route in
// the Service's own namespace is a producer route and applies to every
// client; a route in another namespace is a consumer route and applies only
// to clients in the route's namespace, i.e. when the Proxy document's
// metadata.namespace equals it, in which case it replaces the producer
// routes for that Service port (GEP-1294 / GAMMA). A Service port with no
// route attached gets an implicit rule that sends all traffic to the
// Service's own endpoints.
//
// Within a Service port all matches of all attached HTTPRoute rules are
// ordered by Gateway API precedence: Exact path; then RegularExpression
// path, longer pattern first (the spec leaves regex precedence to
// implementations; this is Envoy Gateway's order, and puts a hand-written
// regex above generic prefixes); then PathPrefix, longer prefix first; then
// a method match; then more header matches; then more query parameter
// matches; then the older route (creationTimestamp; an unset timestamp
// counts as oldest); then "{namespace}/{name}" alphabetically; then rule
// order and match order within the route. The first match in that order
// that the request satisfies wins.
//
// Matching details: PathPrefix compares whole path elements ("/foo" matches
// "/foo", "/foo/" and "/foo/bar" but not "/foobar") and ignores a trailing
// '/' in the prefix. Paths are compared as received, without normalisation
// or percent-decoding. Header names are case-insensitive and values
// case-sensitive; only the first header field of a name is considered.
// Query parameter names and values are case-sensitive and compared after
// percent-decoding ('+' decodes to a space, as in HTML forms); only the first
// parameter of a name is considered, as the spec recommends. Regular
// expressions are Go RE2 and must match the whole path, header value or
// parameter value (they are anchored), as in Envoy. If a match lists the
// same header (or query parameter) name twice, only the first entry counts,
// as the spec requires.
//
// GRPCRoutes match the gRPC request path "/<service>/<method>": an Exact
// service and method must equal its two parts, a RegularExpression must
// match the whole part (anchored, RE2), and an absent or empty service or
// method matches any; headers match as for HTTPRoute; the HTTP method is
// not checked. Their precedence is the spec's: more characters in the
// matching service, then in the matching method (at equal length an Exact
// value before a regular expression, meshproxy's choice), then more header
// matches, then the older route, "{namespace}/{name}", rule and match
// order. A GRPCRoute rule is a *Rule like an HTTPRoute rule (metric name
// "<ns>/<route>/<rule name or index>"; no timeouts of its own, so the Proxy
// document's spec.timeouts.request applies). If GRPCRoutes and HTTPRoutes
// are both in effect on one Service port, only the GRPCRoutes apply and
// each HTTPRoute left out is a warning (GEP-1294: one route type per
// Service port, GRPCRoute first; the spec forbids merging the two).
//
// backendRefs name Service ports in the route's namespace or, since GAMMA
// allows mesh routes to reference backends in any namespace without a
// ReferenceGrant (GEP-1294), in another namespace. A backendRef whose
// Service or port does not exist is kept as an Invalid backend so that its
// share of the traffic gets 500, as the spec requires, and is reported in
// Table.Warnings.
//
// With mutual TLS, Backend.ExpectedIdentity gives the SPIFFE ID an endpoint
// must present: the meshbench.dev/identity annotation of the EndpointSlice
// the endpoint came from, else of its Service. An endpoint listed in several
// slices of a Service that expect different identities of it is a Compile
// error; two Services expecting different identities of one address are a
// warning (one of them cannot succeed).
//
// Backend.Protocol gives the protocol to speak to an endpoint, HTTP1 or
// H2C, from the appProtocol of the EndpointSlice port the endpoint came
// from, else from the Service port's appProtocol or name (see protocolOf:
// kubernetes.io/h2c, and Istio's "grpc"/"http2" protocol names and
// "grpc-*"/"http2-*" port names, are H2C; the rest HTTP1).
package route

import (
	"slices"
	"strconv"
	"time"

	"github.com/meshbench/meshbench/proxy/internal/balance"
)

// Request is what routing reads from a request. The proxy implements it
// over its parser's buffer, returning sub-slices, so routing allocates
// nothing.
type Request interface {
	Method() []byte
	// Path is the request target's path as received, without the query.
	Path() []byte
	// Query is the raw query string without the leading '?'.
	Query() []byte
	// Header returns the value of the first header field whose name equals
	// name case-insensitively; name is lower-case.
	Header(name string) ([]byte, bool)
}

// Options tunes Compile.
type Options struct {
	// ClusterDomain is the cluster DNS suffix accepted in Host headers
	// (name.ns.svc.<ClusterDomain>). Default "cluster.local".
	ClusterDomain string
}

// DefaultClusterDomain is the Kubernetes default cluster domain.
const DefaultClusterDomain = "cluster.local"

// Service is one routable port of a Kubernetes Service: the unit that Host
// headers and cluster IPs resolve to and that routes attach to.
type Service struct {
	Namespace, Name string
	Port            int
	PortName        string // "" for an unnamed single port
	// Key is "<namespace>/<name>:<port>", for logs and metrics.
	Key string
	// Backend is the Service port's own endpoints, what the implicit rule
	// (no HTTPRoute attached) sends to.
	Backend *Backend
	// Routes lists the "<namespace>/<name>" of the HTTPRoutes, or of the
	// GRPCRoutes, in effect on this port, oldest first; empty when the
	// implicit rule applies.
	Routes []string

	matches []*match // in precedence order
}

// Rules returns the distinct rules requests to s can match (the implicit
// rule when no route is attached), in precedence order of their first
// match. It allocates: it is for reloads (the proxy lists the metric series
// a table can produce), not for requests.
func (s *Service) Rules() []*Rule {
	var rules []*Rule
	for _, m := range s.matches {
		if !slices.Contains(rules, m.rule) {
			rules = append(rules, m.rule)
		}
	}
	return rules
}

// Rule is one compiled HTTPRoute or GRPCRoute rule, or the implicit rule of
// a Service port without routes.
type Rule struct {
	// Name is the metric label "<ns>/<route>/<rule name or index>", or
	// "<ns>/<svc>/default" for the implicit rule.
	Name string
	// RequestTimeout bounds the whole request; 0 = none. It is the rule's
	// timeouts.request if set (where "0s" disables it), else the Proxy
	// document's spec.timeouts.request.
	RequestTimeout time.Duration
	// BackendRequestTimeout bounds each request to a backend; 0 = none.
	BackendRequestTimeout time.Duration
	// Backends are the rule's backendRefs in order, weights defaulted.
	Backends []WeightedBackend

	// Pick tables: only backends with weight > 0; cum[i] is the running
	// sum of their weights.
	picks []*Backend
	cum   []int
	total int
}

// WeightedBackend is a backend and its share of a rule's traffic.
type WeightedBackend struct {
	Backend *Backend
	Weight  int
}

// Backend is a set of endpoints requests can be sent to: a Service port's
// ready endpoints, the inbound application, or an unresolvable reference.
type Backend struct {
	// Name is the metric label "<ns>/<svc>:<port>" ("inbound" for the
	// inbound application).
	Name string
	// Endpoints are the ready endpoints (conditions.ready unset or true) of
	// the Service's EndpointSlices, on the target port whose EndpointSlice
	// port name equals the Service port's name, sorted by address. Empty
	// means no endpoint is ready: the proxy answers 503.
	Endpoints []*balance.Endpoint
	// Invalid marks an unresolvable backendRef (Service or port not
	// found): the proxy answers 500 "invalid_backend" for its share.
	Invalid bool
	// Reason says why the backend is Invalid.
	Reason string

	// identity is the Service's meshbench.dev/identity annotation. ids,
	// when not nil, is parallel to Endpoints (same length and order) and
	// holds each endpoint's expected identity; it is nil when every
	// endpoint expects identity, the common case.
	identity string
	ids      []string
	// protocol is the Service port's (from its appProtocol or name);
	// protos, like ids, is parallel to Endpoints when an EndpointSlice's
	// appProtocol gives some endpoints another one, else nil.
	protocol Protocol
	protos   []Protocol
}

// Protocol is the protocol meshproxy speaks to a backend's endpoints.
type Protocol uint8

// Protocols. The zero value is HTTP1, what a port says nothing about.
const (
	// HTTP1 is HTTP/1.1 (WebSocket included).
	HTTP1 Protocol = iota
	// H2C is HTTP/2 with prior knowledge (RFC 9113 section 3.3), the way
	// gRPC servers listen: in cleartext, or inside the mutual TLS of a
	// mesh hop.
	H2C
)

// String returns "http/1.1" or "h2c".
func (p Protocol) String() string {
	switch p {
	case HTTP1:
		return "http/1.1"
	case H2C:
		return "h2c"
	}
	return "protocol(" + strconv.Itoa(int(p)) + ")"
}

// Protocol returns the protocol to speak to ep for this backend: that of
// the appProtocol of the EndpointSlice port ep came from, when set, else
// that of the Service port (see the package doc for the mapping). An ep
// that is not one of b's Endpoints gets the Service port's. The inbound
// backend, Invalid backends and a nil b return HTTP1. It does not
// allocate: it is called per new upstream connection, whose pool is keyed
// by endpoint, identity and protocol.
func (b *Backend) Protocol(ep *balance.Endpoint) Protocol {
	if b == nil {
		return HTTP1
	}
	if b.protos == nil || ep == nil {
		return b.protocol
	}
	if i := b.index(ep); i >= 0 {
		return b.protos[i]
	}
	return b.protocol
}

// index returns the position of ep's address in b.Endpoints, or -1.
func (b *Backend) index(ep *balance.Endpoint) int {
	// Endpoints are sorted by address, and addresses are unique in them.
	eps := b.Endpoints
	lo, hi := 0, len(eps)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if eps[m].Addr < ep.Addr {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(eps) && eps[lo].Addr == ep.Addr {
		return lo
	}
	return -1
}

// ExpectedIdentity returns the SPIFFE ID required of ep when connecting to
// it for this backend: the meshbench.dev/identity annotation of the
// EndpointSlice ep came from, else that of the Service, else "" (any
// identity of the trust domain). An ep that is not one of b's Endpoints
// gets the Service's annotation. The inbound backend, Invalid backends and
// a nil b return "". It does not allocate: it is called per new upstream
// connection.
func (b *Backend) ExpectedIdentity(ep *balance.Endpoint) string {
	if b == nil {
		return ""
	}
	if b.ids == nil || ep == nil {
		return b.identity
	}
	if i := b.index(ep); i >= 0 {
		return b.ids[i]
	}
	return b.identity
}

// Pick chooses one of the rule's backends at random in proportion to the
// weights. Backends with weight 0 are never chosen; if all weights are 0 (or
// there are no backendRefs) Pick returns nil and the proxy answers 500
// "no_backend". An Invalid backend is returned like any other so that the
// proxy fails exactly its share of requests. Pick does not allocate.
func (r *Rule) Pick(rnd *balance.Rand) *Backend {
	switch len(r.picks) {
	case 0:
		return nil
	case 1:
		return r.picks[0]
	}
	x := rnd.Intn(r.total)
	for i, c := range r.cum {
		if x < c {
			return r.picks[i]
		}
	}
	return r.picks[len(r.picks)-1] // unreachable: x < total == cum[len-1]
}

// Match returns the rule that serves req on svc: the first of svc's matches,
// in precedence order, that req satisfies. It returns nil if none does (the
// proxy answers 404 "no_route") or if svc is nil. It does not allocate in
// steady state: Go's regexp keeps its matching machines in sync.Pools, as
// does the scratch buffer a RegularExpression query parameter match uses to
// percent-decode a value, so only first uses (and uses after a GC has
// emptied the pools) allocate.
func (t *Table) Match(svc *Service, req Request) *Rule {
	if svc == nil {
		return nil
	}
	for _, m := range svc.matches {
		if m.match(req) {
			return m.rule
		}
	}
	return nil
}
