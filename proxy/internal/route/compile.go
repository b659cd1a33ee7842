package route

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/config"
)

// Table is a compiled routing table. It is immutable after Compile and safe
// for concurrent use.
type Table struct {
	// Warnings lists problems worth logging that do not stop the table
	// from being used: routes or backends referring to Services or ports
	// that do not exist, consumer routes that do not apply to this proxy,
	// Services without ready endpoints, and the like.
	Warnings []string

	namespace string                    // the proxy's (client's) namespace
	hosts     map[string]*hostEntry     // every accepted host name form
	addrs     map[netip.Addr]*hostEntry // cluster IPs
	services  []*Service
	inbound   *Backend
	endpoints []*balance.Endpoint
}

// Inbound returns the backend for the inbound listener's application (a
// single endpoint), or nil when the Proxy has no inbound listener.
func (t *Table) Inbound() *Backend { return t.inbound }

// Services returns every routable Service port, sorted by Key.
func (t *Table) Services() []*Service { return t.services }

// Endpoints returns every Endpoint the table can send to (one per backend
// and address), sorted by address then backend: pass it to
// balance.Registry.Retain once the table is in use.
func (t *Table) Endpoints() []*balance.Endpoint { return t.endpoints }

// Namespace returns the namespace the table resolves bare Service names in
// and applies consumer routes for (the Proxy document's metadata.namespace).
func (t *Table) Namespace() string { return t.namespace }

// Compile builds the routing table for cfg, taking endpoints from eps so
// that their live state is shared with earlier tables. cfg is expected to
// come from config.Parse (validated); Compile still re-checks what it
// compiles (regular expressions, durations, duplicate cluster IPs) and
// returns an error naming the object and field rather than build a wrong
// table. References that do not resolve are not errors (see Table.Warnings).
func Compile(cfg *config.Config, eps *balance.Registry, opts Options) (*Table, error) {
	if cfg == nil || eps == nil {
		return nil, errors.New("route: Compile needs a config and an endpoint registry")
	}
	domain := strings.ToLower(strings.Trim(opts.ClusterDomain, "."))
	if opts.ClusterDomain == "" {
		domain = DefaultClusterDomain
	}
	if !validDomain(domain) {
		return nil, fmt.Errorf("route: invalid cluster domain %q", opts.ClusterDomain)
	}
	ns := cfg.Proxy.Metadata.Namespace
	if ns == "" {
		ns = config.DefaultNamespace
	}
	c := &compiler{
		cfg:      cfg,
		eps:      eps,
		domain:   domain,
		t:        &Table{namespace: ns, hosts: map[string]*hostEntry{}, addrs: map[netip.Addr]*hostEntry{}},
		svcs:     map[string]*svcInfo{},
		backends: map[string]*Backend{},
	}
	if err := c.services(); err != nil {
		return nil, err
	}
	if err := c.routes(); err != nil {
		return nil, err
	}
	c.finish()
	return c.t, nil
}

// compiler holds the state of one Compile.
type compiler struct {
	cfg      *config.Config
	eps      *balance.Registry
	domain   string
	t        *Table
	svcs     map[string]*svcInfo // "ns/name" -> Service
	backends map[string]*Backend // Service port key -> its backend
}

// svcInfo is a Service and its routable (TCP) ports.
type svcInfo struct {
	obj   *config.Service
	ports []*Service
	// Routes attached per port (same index as ports), split by role.
	producer [][]*compiledRoute
	consumer [][]*compiledRoute
}

// compiledRoute is an HTTPRoute's or GRPCRoute's rules and matches,
// compiled once and shared by every Service port it attaches to.
type compiledRoute struct {
	kind    string // config.KindHTTPRoute or config.KindGRPCRoute
	key     string // "{namespace}/{name}"
	created time.Time
	matches []*match // rule order, then match order; not yet precedence-sorted
}

// routeObj is what compiling needs of an HTTPRoute or a GRPCRoute besides
// its rules.
type routeObj struct {
	kind    string
	meta    *config.ObjectMeta
	parents []config.ParentReference
}

// String returns "Kind namespace/name", for warnings.
func (o routeObj) String() string { return o.kind + " " + nsOf(o.meta) + "/" + o.meta.Name }

func (c *compiler) warnf(format string, args ...any) {
	c.t.Warnings = append(c.t.Warnings, fmt.Sprintf(format, args...))
}

func objErr(kind string, m *config.ObjectMeta, field string, err error) error {
	return fmt.Errorf("route: %s %s/%s: %s: %w", kind, m.Namespace, m.Name, field, err)
}

// services indexes Services, resolves their endpoints and builds the host
// and cluster IP maps.
func (c *compiler) services() error {
	// EndpointSlices by "ns/service".
	slicesBySvc := map[string][]*config.EndpointSlice{}
	for i := range c.cfg.Slices {
		es := &c.cfg.Slices[i]
		name := es.Metadata.Labels[config.LabelServiceName]
		key := nsOf(&es.Metadata) + "/" + name
		slicesBySvc[key] = append(slicesBySvc[key], es)
	}

	ipOwner := map[netip.Addr]string{}
	for i := range c.cfg.Services {
		obj := &c.cfg.Services[i]
		ns, name := nsOf(&obj.Metadata), obj.Metadata.Name
		key := ns + "/" + name
		info := &svcInfo{obj: obj}
		c.svcs[key] = info
		for _, sp := range obj.Spec.Ports {
			if sp.Protocol != "" && sp.Protocol != "TCP" {
				continue // meshproxy proxies HTTP over TCP only
			}
			s := &Service{
				Namespace: ns,
				Name:      name,
				Port:      int(sp.Port),
				PortName:  sp.Name,
				Key:       key + ":" + strconv.Itoa(int(sp.Port)),
			}
			b, err := c.serviceBackend(s, obj, sp, slicesBySvc[key])
			if err != nil {
				return err
			}
			s.Backend = b
			info.ports = append(info.ports, s)
			c.t.services = append(c.t.services, s)
		}
		info.producer = make([][]*compiledRoute, len(info.ports))
		info.consumer = make([][]*compiledRoute, len(info.ports))
		if len(info.ports) == 0 {
			continue
		}
		entry := &hostEntry{ports: info.ports}
		for _, s := range info.ports {
			if s.Port == 80 {
				entry.def = s
			}
		}
		if entry.def == nil && len(info.ports) == 1 {
			entry.def = info.ports[0]
		}
		for _, h := range []string{name + "." + ns, name + "." + ns + ".svc", name + "." + ns + ".svc." + c.domain} {
			c.t.hosts[h] = entry
		}
		if ns == c.t.namespace {
			c.t.hosts[name] = entry
		}
		ips := obj.Spec.ClusterIPs
		if len(ips) == 0 && obj.Spec.ClusterIP != "" {
			ips = []string{obj.Spec.ClusterIP}
		}
		for j, s := range ips {
			if s == config.ClusterIPNone {
				continue
			}
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return objErr("Service", &obj.Metadata, "spec.clusterIPs["+strconv.Itoa(j)+"]", err)
			}
			ip = ip.Unmap()
			if other, dup := ipOwner[ip]; dup && other != key {
				return objErr("Service", &obj.Metadata, "spec.clusterIP",
					fmt.Errorf("%s is also the cluster IP of Service %s", ip, other))
			}
			ipOwner[ip] = key
			c.t.addrs[ip] = entry
		}
	}
	for key := range slicesBySvc {
		if c.svcs[key] == nil {
			c.warnf("EndpointSlices for Service %s: no such Service (endpoints unused)", key)
		}
	}
	return nil
}

// serviceBackend builds the backend of a Service port from its
// EndpointSlices: ready endpoints' first address (the API lets consumers
// use only the first, the others being fungible) on the slice port named
// like the Service port, each with the identity it is expected to present
// (its slice's meshbench.dev/identity annotation, else the Service's) and
// the protocol it speaks (its slice port's appProtocol, else the Service
// port's). An endpoint listed in several slices (as during slice
// rebalancing) is used once; if those slices expect different identities
// of it, that is an error: either choice could let the wrong server in or
// lock the right one out. Different protocols are only a warning (the
// first slice's is used): no choice is a security risk.
func (c *compiler) serviceBackend(s *Service, svc *config.Service, sp config.ServicePort, ess []*config.EndpointSlice) (*Backend, error) {
	svcID, err := identityOf("Service", &svc.Metadata)
	if err != nil {
		return nil, err
	}
	svcProto := protocolOf(sp.AppProtocol, sp.Name)
	b := &Backend{Name: s.Key, identity: svcID, protocol: svcProto}
	c.backends[s.Key] = b
	type entry struct {
		ep    *balance.Endpoint
		id    string
		proto Protocol
		slice *config.EndpointSlice
	}
	var entries []entry
	seen := map[*balance.Endpoint]int{} // -> index in entries
	portFound := false
	for _, es := range ess {
		var target int32
		proto := svcProto
		for _, p := range es.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if name == s.PortName && p.Port != nil && (p.Protocol == nil || *p.Protocol == "TCP") {
				target = *p.Port
				if p.AppProtocol != nil {
					proto = protocolOf(p.AppProtocol, name)
				}
				break
			}
		}
		if target == 0 {
			continue
		}
		portFound = true
		id, err := identityOf("EndpointSlice", &es.Metadata)
		if err != nil {
			return nil, err
		}
		if _, ok := es.Metadata.Annotations[config.IdentityAnnotation]; !ok {
			id = svcID
		}
		for _, ep := range es.Endpoints {
			if !ep.Conditions.IsReady() || len(ep.Addresses) == 0 {
				continue
			}
			ip, err := netip.ParseAddr(ep.Addresses[0])
			if err != nil {
				continue // config.Parse rejects these
			}
			// Per backend: this Service's connect failures must not eject
			// the address for another Service that shares the pod.
			e := c.eps.Get(b.Name, netip.AddrPortFrom(ip.Unmap(), uint16(target)).String())
			if i, dup := seen[e]; dup {
				prev := entries[i]
				if prev.id != id {
					return nil, objErr("EndpointSlice", &es.Metadata, config.IdentityAnnotationField,
						fmt.Errorf("endpoint %s of Service %s is expected to be %s here but %s in EndpointSlice %s/%s",
							e.Addr, s.Key, describeID(id), describeID(prev.id), prev.slice.Metadata.Namespace, prev.slice.Metadata.Name))
				}
				if prev.proto != proto {
					c.warnf("EndpointSlice %s/%s: endpoint %s of Service %s speaks %s here but %s in EndpointSlice %s/%s; %s is used",
						es.Metadata.Namespace, es.Metadata.Name, e.Addr, s.Key, proto, prev.proto,
						prev.slice.Metadata.Namespace, prev.slice.Metadata.Name, prev.proto)
				}
				continue
			}
			seen[e] = len(entries)
			entries = append(entries, entry{e, id, proto, es})
		}
	}
	slices.SortFunc(entries, func(x, y entry) int { return strings.Compare(x.ep.Addr, y.ep.Addr) })
	for i, en := range entries {
		b.Endpoints = append(b.Endpoints, en.ep)
		if en.id != svcID && b.ids == nil {
			b.ids = make([]string, len(entries))
			for j := range i {
				b.ids[j] = svcID
			}
		}
		if b.ids != nil {
			b.ids[i] = en.id
		}
		if en.proto != svcProto && b.protos == nil {
			b.protos = make([]Protocol, len(entries))
			for j := range i {
				b.protos[j] = svcProto
			}
		}
		if b.protos != nil {
			b.protos[i] = en.proto
		}
	}
	switch {
	case len(ess) == 0:
		c.warnf("Service %s: no EndpointSlice (label %s=%s); requests get 503", s.Key, config.LabelServiceName, s.Name)
	case !portFound:
		c.warnf("Service %s: no EndpointSlice port named %q; requests get 503", s.Key, s.PortName)
	case len(b.Endpoints) == 0:
		c.warnf("Service %s: no ready endpoints; requests get 503", s.Key)
	}
	return b, nil
}

// protocolOf maps a Service (or EndpointSlice) port's appProtocol, or its
// name when appProtocol is unset, to the protocol meshproxy speaks to its
// endpoints:
//
//   - the Kubernetes-defined appProtocols (KEP-3726): kubernetes.io/h2c is
//     H2C; kubernetes.io/ws and kubernetes.io/wss (WebSocket) are HTTP1;
//   - otherwise Istio's explicit protocol selection ("Protocol Selection"
//     in Istio's documentation): the port is named "<protocol>[-<suffix>]"
//     or has "appProtocol: <protocol>", appProtocol taking precedence over
//     the name, the protocol being what comes before the first '-',
//     case-insensitively (Istio's kube.ConvertProtocol). "grpc" and
//     "http2" (and so "grpc-web", "grpc-api", "http2-x") are H2C, since
//     Istio's sidecars speak plaintext HTTP/2 to such ports; "http",
//     "http-x" and anything else are HTTP1.
func protocolOf(appProtocol *string, portName string) Protocol {
	name := portName
	if appProtocol != nil {
		switch *appProtocol {
		case config.AppProtocolH2C:
			return H2C
		case config.AppProtocolWS, config.AppProtocolWSS:
			return HTTP1
		}
		name = *appProtocol
	}
	if i := strings.IndexByte(name, '-'); i >= 0 {
		name = name[:i]
	}
	if strings.EqualFold(name, "grpc") || strings.EqualFold(name, "http2") {
		return H2C
	}
	return HTTP1
}

// identityOf returns the object's meshbench.dev/identity annotation,
// re-checked as a SPIFFE ID; "" when it has none.
func identityOf(kind string, m *config.ObjectMeta) (string, error) {
	id, ok := m.Annotations[config.IdentityAnnotation]
	if !ok {
		return "", nil
	}
	if msg := config.ValidateSPIFFEID(id); msg != "" {
		return "", objErr(kind, m, config.IdentityAnnotationField, fmt.Errorf("invalid SPIFFE ID %q: %s", id, msg))
	}
	return id, nil
}

// describeID quotes an expected identity for messages.
func describeID(id string) string {
	if id == "" {
		return "any identity (no annotation)"
	}
	return strconv.Quote(id)
}

// routes compiles every HTTPRoute and GRPCRoute and attaches it to its
// parent Service ports.
func (c *compiler) routes() error {
	for i := range c.cfg.Routes {
		rt := &c.cfg.Routes[i]
		o := routeObj{config.KindHTTPRoute, &rt.Metadata, rt.Spec.ParentRefs}
		cr, err := c.compileRoute(o)
		if err != nil {
			return err
		}
		for ri := range rt.Spec.Rules {
			if err := c.compileHTTPRule(o, cr, ri, &rt.Spec.Rules[ri]); err != nil {
				return err
			}
		}
		c.attach(o, cr)
	}
	for i := range c.cfg.GRPCRoutes {
		rt := &c.cfg.GRPCRoutes[i]
		o := routeObj{config.KindGRPCRoute, &rt.Metadata, rt.Spec.ParentRefs}
		cr, err := c.compileRoute(o)
		if err != nil {
			return err
		}
		for ri := range rt.Spec.Rules {
			if err := c.compileGRPCRule(o, cr, ri, &rt.Spec.Rules[ri]); err != nil {
				return err
			}
		}
		c.attach(o, cr)
	}
	return nil
}

// compileRoute starts the compiled form of a route, without its rules.
func (c *compiler) compileRoute(o routeObj) (*compiledRoute, error) {
	m := o.meta
	created := m.Created
	if created.IsZero() && m.CreationTimestamp != "" {
		t, err := time.Parse(time.RFC3339, m.CreationTimestamp)
		if err != nil {
			return nil, objErr(o.kind, m, "metadata.creationTimestamp", err)
		}
		created = t
	}
	return &compiledRoute{kind: o.kind, key: nsOf(m) + "/" + m.Name, created: created}, nil
}

// add appends a rule's compiled match to the route.
func (cr *compiledRoute) add(m *match, rule *Rule, ri, mi int) {
	m.rule, m.created, m.routeKey, m.ruleIdx, m.matchIdx = rule, cr.created, cr.key, ri, mi
	cr.matches = append(cr.matches, m)
}

func (c *compiler) compileHTTPRule(o routeObj, cr *compiledRoute, ri int, r *config.HTTPRouteRule) error {
	field := "spec.rules[" + strconv.Itoa(ri) + "]"
	rule, err := c.compileRule(o, ri, r.Name, r.Timeouts, r.BackendRefs)
	if err != nil {
		return err
	}
	matches := r.Matches
	if len(matches) == 0 {
		matches = []config.HTTPRouteMatch{{}} // no matches = PathPrefix "/"
	}
	for mi := range matches {
		cm, err := c.compileMatch(o, field+".matches["+strconv.Itoa(mi)+"]", &matches[mi])
		if err != nil {
			return err
		}
		cr.add(cm, rule, ri, mi)
	}
	return nil
}

func (c *compiler) compileGRPCRule(o routeObj, cr *compiledRoute, ri int, r *config.GRPCRouteRule) error {
	field := "spec.rules[" + strconv.Itoa(ri) + "]"
	refs := make([]config.HTTPBackendRef, len(r.BackendRefs))
	for i, ref := range r.BackendRefs {
		refs[i] = config.HTTPBackendRef(ref)
	}
	// GRPCRoute rules have no timeouts: the Proxy's default applies.
	rule, err := c.compileRule(o, ri, r.Name, nil, refs)
	if err != nil {
		return err
	}
	matches := r.Matches
	if len(matches) == 0 {
		matches = []config.GRPCRouteMatch{{}} // no matches = every gRPC request
	}
	for mi := range matches {
		cm, err := c.compileGRPCMatch(o, field+".matches["+strconv.Itoa(mi)+"]", &matches[mi])
		if err != nil {
			return err
		}
		cr.add(cm, rule, ri, mi)
	}
	return nil
}

func (c *compiler) compileRule(o routeObj, ri int, name *string, to *config.HTTPRouteTimeouts, refs []config.HTTPBackendRef) (*Rule, error) {
	field := "spec.rules[" + strconv.Itoa(ri) + "]"
	label := strconv.Itoa(ri)
	if name != nil && *name != "" {
		label = *name
	}
	ns := nsOf(o.meta)
	rule := &Rule{
		Name:           ns + "/" + o.meta.Name + "/" + label,
		RequestTimeout: c.cfg.Proxy.Spec.Timeouts.Request,
	}
	if to != nil {
		if to.Request != nil {
			d, err := to.Request.Parse()
			if err != nil {
				return nil, objErr(o.kind, o.meta, field+".timeouts.request", err)
			}
			rule.RequestTimeout = d
		}
		if to.BackendRequest != nil {
			d, err := to.BackendRequest.Parse()
			if err != nil {
				return nil, objErr(o.kind, o.meta, field+".timeouts.backendRequest", err)
			}
			rule.BackendRequestTimeout = d
		}
	}
	for bi, ref := range refs {
		weight := 1
		if ref.Weight != nil {
			weight = int(*ref.Weight)
		}
		if weight < 0 {
			return nil, objErr(o.kind, o.meta, field+".backendRefs["+strconv.Itoa(bi)+"].weight", fmt.Errorf("negative weight %d", weight))
		}
		b := c.backendFor(o, field+".backendRefs["+strconv.Itoa(bi)+"]", &ref)
		rule.Backends = append(rule.Backends, WeightedBackend{Backend: b, Weight: weight})
		if weight > 0 {
			rule.total += weight
			rule.picks = append(rule.picks, b)
			rule.cum = append(rule.cum, rule.total)
		}
	}
	if len(refs) == 0 {
		c.warnf("%s: %s: no backendRefs; matching requests get 500", o, field)
	} else if rule.total == 0 {
		c.warnf("%s: %s: all backendRef weights are 0; matching requests get 500", o, field)
	}
	return rule, nil
}

// backendFor resolves a backendRef to the referenced Service port's backend,
// or to an Invalid backend (500 for its share) when it does not resolve.
func (c *compiler) backendFor(o routeObj, field string, ref *config.HTTPBackendRef) *Backend {
	routeNS := nsOf(o.meta)
	ns := routeNS
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = *ref.Namespace
	}
	port := 0
	if ref.Port != nil {
		port = int(*ref.Port)
	}
	name := ns + "/" + ref.Name + ":" + strconv.Itoa(port)
	invalid := func(reason string) *Backend {
		c.warnf("%s: %s: %s; its share of requests gets 500", o, field, reason)
		return &Backend{Name: name, Invalid: true, Reason: reason}
	}
	group, kind := "", config.KindService
	if ref.Group != nil {
		group = *ref.Group
	}
	if ref.Kind != nil {
		kind = *ref.Kind
	}
	if !config.IsCoreGroup(group) || kind != config.KindService {
		return invalid(fmt.Sprintf("backend kind %s/%s is not supported", group, kind))
	}
	if ref.Port == nil {
		return invalid("no port (required for a Service backend)")
	}
	info := c.svcs[ns+"/"+ref.Name]
	if info == nil {
		return invalid("Service " + ns + "/" + ref.Name + " not found")
	}
	if b := c.backends[name]; b != nil {
		return b
	}
	return invalid(fmt.Sprintf("Service %s/%s has no TCP port %d", ns, ref.Name, port))
}

func (c *compiler) compileMatch(o routeObj, field string, cm *config.HTTPRouteMatch) (*match, error) {
	m := &match{pathKind: pathPrefix, path: "", pathLen: 1} // default PathPrefix "/"
	if p := cm.Path; p != nil {
		typ, val := config.PathMatchPathPrefix, "/"
		if p.Type != nil {
			typ = *p.Type
		}
		if p.Value != nil {
			val = *p.Value
		}
		m.pathLen = len(val)
		switch typ {
		case config.PathMatchExact:
			m.pathKind, m.path = pathExact, val
		case config.PathMatchPathPrefix:
			m.pathKind, m.path = pathPrefix, strings.TrimRight(val, "/")
		case config.PathMatchRegularExpression:
			re, err := anchored(val)
			if err != nil {
				return nil, objErr(o.kind, o.meta, field+".path.value", err)
			}
			m.pathKind, m.path, m.re = pathRegex, val, re
		default:
			return nil, objErr(o.kind, o.meta, field+".path.type", fmt.Errorf("unsupported path match type %q", typ))
		}
	}
	if cm.Method != nil {
		m.method = *cm.Method
	}
	var err error
	if m.headers, err = c.headerMatchers(o, field, cm.Headers); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, q := range cm.QueryParams {
		if seen[q.Name] {
			c.warnf("%s: %s.queryParams[%d]: query parameter %q already matched earlier in this match; ignored as the spec requires",
				o, field, i, q.Name)
			continue
		}
		seen[q.Name] = true
		vm, err := valueMatcher(q.Name, q.Type, q.Value)
		if err != nil {
			return nil, objErr(o.kind, o.meta, fmt.Sprintf("%s.queryParams[%d]", field, i), err)
		}
		m.queries = append(m.queries, vm)
	}
	return m, nil
}

// headerMatchers compiles a match's header conditions. Of several entries
// for one name only the first counts, as both route types require.
func (c *compiler) headerMatchers(o routeObj, field string, hs []config.HTTPHeaderMatch) ([]valueMatch, error) {
	var out []valueMatch
	seen := map[string]bool{}
	for i, h := range hs {
		name := strings.ToLower(h.Name)
		if seen[name] {
			c.warnf("%s: %s.headers[%d]: header %q already matched earlier in this match; ignored as the spec requires",
				o, field, i, h.Name)
			continue
		}
		seen[name] = true
		vm, err := valueMatcher(name, h.Type, h.Value)
		if err != nil {
			return nil, objErr(o.kind, o.meta, fmt.Sprintf("%s.headers[%d]", field, i), err)
		}
		out = append(out, vm)
	}
	return out, nil
}

// compileGRPCMatch compiles a GRPCRouteMatch. The gRPC request path is
// "/<service>/<method>", so an Exact service and method is the Exact path
// "/<service>/<method>", a service alone the paths under "/<service>/",
// and a method alone "/<any service>/<method>", as Istio translates them;
// the HTTP method is not checked (gRPC always uses POST, and the spec
// matches on service, method and headers only).
func (c *compiler) compileGRPCMatch(o routeObj, field string, gm *config.GRPCRouteMatch) (*match, error) {
	m := &match{grpc: &grpcMatch{}}
	if mm := gm.Method; mm != nil {
		typ := config.GRPCMethodMatchExact
		if mm.Type != nil {
			typ = *mm.Type
		}
		var err error
		if m.grpc.service, err = grpcCondition(typ, mm.Service); err != nil {
			return nil, objErr(o.kind, o.meta, field+".method.service", err)
		}
		if m.grpc.method, err = grpcCondition(typ, mm.Method); err != nil {
			return nil, objErr(o.kind, o.meta, field+".method.method", err)
		}
		if m.grpc.service.kind == grpcAny && m.grpc.method.kind == grpcAny {
			return nil, objErr(o.kind, o.meta, field+".method", errors.New("at least one of service or method is required"))
		}
	}
	hs := make([]config.HTTPHeaderMatch, len(gm.Headers))
	for i, h := range gm.Headers {
		hs[i] = config.HTTPHeaderMatch(h)
	}
	var err error
	if m.headers, err = c.headerMatchers(o, field, hs); err != nil {
		return nil, err
	}
	return m, nil
}

// grpcCondition compiles the service or the method of a GRPCMethodMatch;
// absent or empty matches anything.
func grpcCondition(typ string, v *string) (grpcPart, error) {
	if v == nil || *v == "" {
		return grpcPart{}, nil
	}
	switch typ {
	case config.GRPCMethodMatchExact:
		if strings.IndexByte(*v, '/') >= 0 {
			return grpcPart{}, fmt.Errorf("Exact value %q must not contain '/'", *v)
		}
		return grpcPart{kind: grpcExact, value: *v}, nil
	case config.GRPCMethodMatchRegularExpression:
		// Anchored like every regular expression here: "Echo" must not
		// route "EchoTwo".
		re, err := anchored(*v)
		if err != nil {
			return grpcPart{}, err
		}
		return grpcPart{kind: grpcRegex, value: *v, re: re}, nil
	}
	return grpcPart{}, fmt.Errorf("unsupported method match type %q", typ)
}

func valueMatcher(name string, typ *string, value string) (valueMatch, error) {
	vm := valueMatch{name: name, value: value}
	if typ == nil || *typ == config.MatchExact {
		return vm, nil
	}
	if *typ != config.MatchRegularExpression {
		return vm, fmt.Errorf("unsupported match type %q", *typ)
	}
	re, err := anchored(value)
	if err != nil {
		return vm, err
	}
	vm.re = re
	return vm, nil
}

// anchored compiles a RegularExpression match so that it must match the
// whole input, as Envoy's safe_regex does: a pattern "/v[0-9]+" should not
// route "/api/v1/x".
func anchored(expr string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// attach binds a compiled route to the Service ports its parentRefs select.
func (c *compiler) attach(o routeObj, cr *compiledRoute) {
	routeNS := nsOf(o.meta)
	type slot struct {
		info *svcInfo
		i    int
	}
	done := map[slot]bool{}
	for pi, ref := range o.parents {
		field := "spec.parentRefs[" + strconv.Itoa(pi) + "]"
		if ref.Kind == nil || *ref.Kind != config.KindService || ref.Group == nil || !config.IsCoreGroup(*ref.Group) {
			c.warnf("%s: %s: parent is not a Service (group \"\", kind Service); ignored", o, field)
			continue
		}
		ns := routeNS
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = *ref.Namespace
		}
		consumer := ns != routeNS
		if consumer && routeNS != c.t.namespace {
			// Consumer routes apply only to clients in their own namespace.
			continue
		}
		info := c.svcs[ns+"/"+ref.Name]
		if info == nil {
			c.warnf("%s: %s: Service %s/%s not found; not attached", o, field, ns, ref.Name)
			continue
		}
		matched := false
		for i, s := range info.ports {
			if ref.Port != nil && s.Port != int(*ref.Port) {
				continue
			}
			if ref.SectionName != nil && s.PortName != *ref.SectionName {
				continue
			}
			matched = true
			if done[slot{info, i}] {
				continue
			}
			done[slot{info, i}] = true
			if consumer {
				info.consumer[i] = append(info.consumer[i], cr)
			} else {
				info.producer[i] = append(info.producer[i], cr)
			}
		}
		if !matched {
			what := "TCP port"
			if ref.Port != nil {
				what += " " + strconv.Itoa(int(*ref.Port))
			}
			if ref.SectionName != nil {
				what += " named " + strconv.Quote(*ref.SectionName)
			}
			c.warnf("%s: %s: Service %s/%s has no %s; not attached", o, field, ns, ref.Name, what)
		}
	}
}

// finish builds every Service port's ordered match list and collects the
// table's endpoints.
func (c *compiler) finish() {
	for _, info := range c.svcs {
		for i, s := range info.ports {
			routes := info.producer[i]
			if len(info.consumer[i]) > 0 {
				routes = info.consumer[i] // consumer routes take priority (GEP-1294)
			}
			routes = c.oneRouteType(s, routes)
			if len(routes) == 0 {
				s.matches = []*match{c.implicit(s)}
				continue
			}
			slices.SortFunc(routes, func(a, b *compiledRoute) int {
				if x := a.created.Compare(b.created); x != 0 {
					return x
				}
				return strings.Compare(a.key, b.key)
			})
			for _, r := range routes {
				s.Routes = append(s.Routes, r.key)
				s.matches = append(s.matches, r.matches...)
			}
			slices.SortFunc(s.matches, compareMatches)
		}
	}
	slices.SortFunc(c.t.services, func(a, b *Service) int { return strings.Compare(a.Key, b.Key) })

	if in := c.cfg.Proxy.Spec.Inbound; in != nil {
		c.t.inbound = &Backend{Name: "inbound", protocol: protocolOf(in.AppProtocol, "")}
		c.t.inbound.Endpoints = []*balance.Endpoint{c.eps.Get(c.t.inbound.Name, in.App)}
	}
	seen := map[*balance.Endpoint]bool{}
	add := func(b *Backend) {
		for _, e := range b.Endpoints {
			if !seen[e] {
				seen[e] = true
				c.t.endpoints = append(c.t.endpoints, e)
			}
		}
	}
	for _, b := range c.backends {
		add(b)
	}
	c.identityConflicts()
	if c.t.inbound != nil {
		add(c.t.inbound)
	}
	slices.SortFunc(c.t.endpoints, func(x, y *balance.Endpoint) int {
		if d := strings.Compare(x.Addr, y.Addr); d != 0 {
			return d
		}
		return strings.Compare(x.Backend, y.Backend)
	})
	slices.Sort(c.t.Warnings)
}

// oneRouteType keeps the routes of one type among those in effect on a
// Service port. GEP-1294 (GAMMA): "If multiple routes with different types
// both bind to the same Service and Port pair, only a single route type
// should be applied", GRPCRoute before HTTPRoute; and GRPCRouteRule:
// "Merging MUST not be done between GRPCRoutes and HTTPRoutes". The
// HTTPRoutes dropped are warned about (the spec's Accepted=False, reason
// Conflicted). The choice is made after consumer routes replaced producer
// routes, as the route types of one role conflict only among themselves.
func (c *compiler) oneRouteType(s *Service, routes []*compiledRoute) []*compiledRoute {
	var grpc *compiledRoute
	for _, r := range routes {
		if r.kind == config.KindGRPCRoute && (grpc == nil || r.key < grpc.key) {
			grpc = r
		}
	}
	if grpc == nil {
		return routes
	}
	kept := routes[:0:0]
	for _, r := range routes {
		if r.kind == config.KindGRPCRoute {
			kept = append(kept, r)
			continue
		}
		c.warnf("%s %s: not applied to Service %s: %s %s is attached to that port too, and of two route types on one Service port only GRPCRoute applies (GEP-1294)",
			r.kind, r.key, s.Key, grpc.kind, grpc.key)
	}
	return kept
}

// identityConflicts warns about an endpoint that two Services expect to
// present different SPIFFE IDs: one address serves one certificate, so
// connections for one of them will fail verification.
func (c *compiler) identityConflicts() {
	type first struct{ key, id string }
	// By address: each backend has its own Endpoint for a shared address,
	// but the address still serves one certificate.
	expected := map[string]first{}
	for _, s := range c.t.services { // sorted by Key: deterministic messages
		b := s.Backend
		for _, e := range b.Endpoints {
			id := b.ExpectedIdentity(e)
			if id == "" {
				continue
			}
			f, ok := expected[e.Addr]
			switch {
			case !ok:
				expected[e.Addr] = first{s.Key, id}
			case f.id != id:
				c.warnf("endpoint %s: Service %s expects identity %q but Service %s expects %q; one of them cannot verify it", e.Addr, f.key, f.id, s.Key, id)
			}
		}
	}
}

// implicit is the rule of a Service port without routes: everything to the
// Service's own endpoints.
func (c *compiler) implicit(s *Service) *match {
	rule := &Rule{
		Name:           s.Namespace + "/" + s.Name + "/default",
		RequestTimeout: c.cfg.Proxy.Spec.Timeouts.Request,
		Backends:       []WeightedBackend{{Backend: s.Backend, Weight: 1}},
		picks:          []*Backend{s.Backend},
		cum:            []int{1},
		total:          1,
	}
	return &match{pathKind: pathPrefix, pathLen: 1, rule: rule, routeKey: s.Key}
}

func nsOf(m *config.ObjectMeta) string {
	if m.Namespace == "" {
		return config.DefaultNamespace
	}
	return m.Namespace
}

// validDomain accepts a lower-case DNS name.
func validDomain(d string) bool {
	if d == "" || len(d) > 200 {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
