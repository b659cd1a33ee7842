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

// compiledRoute is an HTTPRoute's rules and matches, compiled once and
// shared by every Service port it attaches to.
type compiledRoute struct {
	key     string // "{namespace}/{name}"
	created time.Time
	matches []*match // rule order, then match order; not yet precedence-sorted
}

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
			b, err := c.serviceBackend(s, obj, slicesBySvc[key])
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
// (its slice's meshbench.dev/identity annotation, else the Service's). An
// endpoint listed in several slices (as during slice rebalancing) is used
// once; if those slices expect different identities of it, that is an
// error: either choice could let the wrong server in or lock the right one
// out.
func (c *compiler) serviceBackend(s *Service, svc *config.Service, ess []*config.EndpointSlice) (*Backend, error) {
	svcID, err := identityOf("Service", &svc.Metadata)
	if err != nil {
		return nil, err
	}
	b := &Backend{Name: s.Key, identity: svcID}
	c.backends[s.Key] = b
	type entry struct {
		ep    *balance.Endpoint
		id    string
		slice *config.EndpointSlice
	}
	var entries []entry
	seen := map[*balance.Endpoint]int{} // -> index in entries
	portFound := false
	for _, es := range ess {
		var target int32
		for _, p := range es.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if name == s.PortName && p.Port != nil && (p.Protocol == nil || *p.Protocol == "TCP") {
				target = *p.Port
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
				if prev := entries[i]; prev.id != id {
					return nil, objErr("EndpointSlice", &es.Metadata, config.IdentityAnnotationField,
						fmt.Errorf("endpoint %s of Service %s is expected to be %s here but %s in EndpointSlice %s/%s",
							e.Addr, s.Key, describeID(id), describeID(prev.id), prev.slice.Metadata.Namespace, prev.slice.Metadata.Name))
				}
				continue
			}
			seen[e] = len(entries)
			entries = append(entries, entry{e, id, es})
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

// routes compiles every HTTPRoute and attaches it to its parent Service ports.
func (c *compiler) routes() error {
	for i := range c.cfg.Routes {
		rt := &c.cfg.Routes[i]
		cr, err := c.compileRoute(rt)
		if err != nil {
			return err
		}
		c.attach(rt, cr)
	}
	return nil
}

func (c *compiler) compileRoute(rt *config.HTTPRoute) (*compiledRoute, error) {
	m := &rt.Metadata
	ns := nsOf(m)
	created := m.Created
	if created.IsZero() && m.CreationTimestamp != "" {
		t, err := time.Parse(time.RFC3339, m.CreationTimestamp)
		if err != nil {
			return nil, objErr("HTTPRoute", m, "metadata.creationTimestamp", err)
		}
		created = t
	}
	cr := &compiledRoute{key: ns + "/" + m.Name, created: created}
	for ri := range rt.Spec.Rules {
		r := &rt.Spec.Rules[ri]
		field := "spec.rules[" + strconv.Itoa(ri) + "]"
		rule, err := c.compileRule(rt, ns, ri, r)
		if err != nil {
			return nil, err
		}
		matches := r.Matches
		if len(matches) == 0 {
			matches = []config.HTTPRouteMatch{{}} // no matches = PathPrefix "/"
		}
		for mi := range matches {
			cm, err := c.compileMatch(rt, field+".matches["+strconv.Itoa(mi)+"]", &matches[mi])
			if err != nil {
				return nil, err
			}
			cm.rule, cm.created, cm.routeKey, cm.ruleIdx, cm.matchIdx = rule, created, cr.key, ri, mi
			cr.matches = append(cr.matches, cm)
		}
	}
	return cr, nil
}

func (c *compiler) compileRule(rt *config.HTTPRoute, ns string, ri int, r *config.HTTPRouteRule) (*Rule, error) {
	field := "spec.rules[" + strconv.Itoa(ri) + "]"
	label := strconv.Itoa(ri)
	if r.Name != nil && *r.Name != "" {
		label = *r.Name
	}
	rule := &Rule{
		Name:           ns + "/" + rt.Metadata.Name + "/" + label,
		RequestTimeout: c.cfg.Proxy.Spec.Timeouts.Request,
	}
	if to := r.Timeouts; to != nil {
		if to.Request != nil {
			d, err := to.Request.Parse()
			if err != nil {
				return nil, objErr("HTTPRoute", &rt.Metadata, field+".timeouts.request", err)
			}
			rule.RequestTimeout = d
		}
		if to.BackendRequest != nil {
			d, err := to.BackendRequest.Parse()
			if err != nil {
				return nil, objErr("HTTPRoute", &rt.Metadata, field+".timeouts.backendRequest", err)
			}
			rule.BackendRequestTimeout = d
		}
	}
	for bi, ref := range r.BackendRefs {
		weight := 1
		if ref.Weight != nil {
			weight = int(*ref.Weight)
		}
		if weight < 0 {
			return nil, objErr("HTTPRoute", &rt.Metadata, field+".backendRefs["+strconv.Itoa(bi)+"].weight", fmt.Errorf("negative weight %d", weight))
		}
		b := c.backendFor(rt, ns, field+".backendRefs["+strconv.Itoa(bi)+"]", &ref)
		rule.Backends = append(rule.Backends, WeightedBackend{Backend: b, Weight: weight})
		if weight > 0 {
			rule.total += weight
			rule.picks = append(rule.picks, b)
			rule.cum = append(rule.cum, rule.total)
		}
	}
	if len(r.BackendRefs) == 0 {
		c.warnf("HTTPRoute %s/%s: %s: no backendRefs; matching requests get 500", ns, rt.Metadata.Name, field)
	} else if rule.total == 0 {
		c.warnf("HTTPRoute %s/%s: %s: all backendRef weights are 0; matching requests get 500", ns, rt.Metadata.Name, field)
	}
	return rule, nil
}

// backendFor resolves a backendRef to the referenced Service port's backend,
// or to an Invalid backend (500 for its share) when it does not resolve.
func (c *compiler) backendFor(rt *config.HTTPRoute, routeNS, field string, ref *config.HTTPBackendRef) *Backend {
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
		c.warnf("HTTPRoute %s/%s: %s: %s; its share of requests gets 500", routeNS, rt.Metadata.Name, field, reason)
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

func (c *compiler) compileMatch(rt *config.HTTPRoute, field string, cm *config.HTTPRouteMatch) (*match, error) {
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
				return nil, objErr("HTTPRoute", &rt.Metadata, field+".path.value", err)
			}
			m.pathKind, m.path, m.re = pathRegex, val, re
		default:
			return nil, objErr("HTTPRoute", &rt.Metadata, field+".path.type", fmt.Errorf("unsupported path match type %q", typ))
		}
	}
	if cm.Method != nil {
		m.method = *cm.Method
	}
	seen := map[string]bool{}
	for i, h := range cm.Headers {
		name := strings.ToLower(h.Name)
		if seen[name] {
			c.warnf("HTTPRoute %s/%s: %s.headers[%d]: header %q already matched earlier in this match; ignored as the spec requires",
				nsOf(&rt.Metadata), rt.Metadata.Name, field, i, h.Name)
			continue
		}
		seen[name] = true
		vm, err := valueMatcher(name, h.Type, h.Value)
		if err != nil {
			return nil, objErr("HTTPRoute", &rt.Metadata, fmt.Sprintf("%s.headers[%d]", field, i), err)
		}
		m.headers = append(m.headers, vm)
	}
	clear(seen)
	for i, q := range cm.QueryParams {
		if seen[q.Name] {
			c.warnf("HTTPRoute %s/%s: %s.queryParams[%d]: query parameter %q already matched earlier in this match; ignored as the spec requires",
				nsOf(&rt.Metadata), rt.Metadata.Name, field, i, q.Name)
			continue
		}
		seen[q.Name] = true
		vm, err := valueMatcher(q.Name, q.Type, q.Value)
		if err != nil {
			return nil, objErr("HTTPRoute", &rt.Metadata, fmt.Sprintf("%s.queryParams[%d]", field, i), err)
		}
		m.queries = append(m.queries, vm)
	}
	return m, nil
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
func (c *compiler) attach(rt *config.HTTPRoute, cr *compiledRoute) {
	routeNS := nsOf(&rt.Metadata)
	type slot struct {
		info *svcInfo
		i    int
	}
	done := map[slot]bool{}
	for pi, ref := range rt.Spec.ParentRefs {
		field := "spec.parentRefs[" + strconv.Itoa(pi) + "]"
		if ref.Kind == nil || *ref.Kind != config.KindService || ref.Group == nil || !config.IsCoreGroup(*ref.Group) {
			c.warnf("HTTPRoute %s: %s: parent is not a Service (group \"\", kind Service); ignored", cr.key, field)
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
			c.warnf("HTTPRoute %s: %s: Service %s/%s not found; not attached", cr.key, field, ns, ref.Name)
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
			c.warnf("HTTPRoute %s: %s: Service %s/%s has no %s; not attached", cr.key, field, ns, ref.Name, what)
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
		c.t.inbound = &Backend{Name: "inbound"}
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
