package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// notSupported is the message for real-API features meshproxy rejects.
const notSupported = "not supported by meshproxy"

func (p *parser) unsupported(d *doc, field string, u Unsupported, why string) {
	if !u.Set {
		return
	}
	msg := notSupported
	if why != "" {
		msg += " (" + why + ")"
	}
	p.errorf(d, field, "%s", msg)
}

// oneOf formats an enum for messages: "A, B or C".
func oneOf(vals ...string) string {
	if len(vals) == 1 {
		return vals[0]
	}
	return strings.Join(vals[:len(vals)-1], ", ") + " or " + vals[len(vals)-1]
}

func (p *parser) enum(d *doc, field, v string, allowed ...string) bool {
	if slices.Contains(allowed, v) {
		return true
	}
	p.errorf(d, field, "unsupported value %q (want %s)", v, oneOf(allowed...))
	return false
}

func (p *parser) port(d *doc, field string, v int32) {
	if v < 1 || v > 65535 {
		p.errorf(d, field, "invalid port %d (want 1-65535)", v)
	}
}

func idx(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// ---------------------------------------------------------------------------
// Proxy

func (p *parser) validateProxy(d *doc, px *Proxy) {
	p.validateMeta(d, &px.Metadata, dns1123Subdomain)
	s := &px.Spec

	type addr struct{ field, value string }
	var listeners []addr
	check := func(field, value string, listener bool) {
		if value == "" {
			p.errorf(d, field, "required")
			return
		}
		if msg := ValidateListenAddress(value); msg != "" {
			p.errorf(d, field, "invalid address %q: %s", value, msg)
			return
		}
		if listener {
			listeners = append(listeners, addr{field, value})
		}
	}
	if s.Admin != nil {
		check("spec.admin.address", s.Admin.Address, true)
	}
	if s.Outbound != nil {
		check("spec.outbound.address", s.Outbound.Address, true)
	}
	if s.Inbound != nil {
		check("spec.inbound.address", s.Inbound.Address, true)
		check("spec.inbound.app", s.Inbound.App, false)
		p.appProtocol(d, "spec.inbound.appProtocol", s.Inbound.AppProtocol)
	}
	if s.Outbound == nil && s.Inbound == nil {
		p.errorf(d, "spec", "at least one of outbound or inbound is required")
	}
	for i, a := range listeners {
		for _, b := range listeners[:i] {
			if addrsOverlap(a.value, b.value) {
				p.errorf(d, a.field, "address %q conflicts with %s %q (listeners must differ)", a.value, b.field, b.value)
			}
		}
	}
	if s.Inbound != nil && s.Inbound.App != "" && ValidateListenAddress(s.Inbound.App) == "" {
		for _, l := range listeners {
			if addrsOverlap(s.Inbound.App, l.value) {
				p.errorf(d, "spec.inbound.app", "app address %q is the proxy's own %s %q (requests would loop)", s.Inbound.App, l.field, l.value)
			}
		}
	}

	p.validateIdentity(d, s)

	lim := &s.Limits
	if lim.MaxHeaderBytes < 1024 || lim.MaxHeaderBytes > 16<<20 {
		p.errorf(d, "spec.limits.maxHeaderBytes", "%d out of range (want 1024-16777216)", lim.MaxHeaderBytes)
	}
	if lim.MaxBufferedBytes < lim.MaxHeaderBytes || lim.MaxBufferedBytes > 1<<30 {
		p.errorf(d, "spec.limits.maxBufferedBytes", "%d out of range (want maxHeaderBytes (%d) to 1073741824: a request head must fit in the buffer)", lim.MaxBufferedBytes, lim.MaxHeaderBytes)
	}
	if lim.MaxConnections < 0 {
		p.errorf(d, "spec.limits.maxConnections", "%d must not be negative (0 = unlimited)", lim.MaxConnections)
	}

	t := &s.Timeouts
	for _, to := range []struct {
		field    string
		v        int64
		positive bool
	}{
		{"spec.timeouts.headerRead", int64(t.HeaderRead), true},
		{"spec.timeouts.idle", int64(t.Idle), false},
		{"spec.timeouts.upstreamIdle", int64(t.UpstreamIdle), false},
		{"spec.timeouts.connect", int64(t.Connect), true},
		{"spec.timeouts.drain", int64(t.Drain), false},
		{"spec.timeouts.request", int64(t.Request), false},
	} {
		switch {
		case to.v < 0:
			p.errorf(d, to.field, "must not be negative")
		case to.v == 0 && to.positive:
			p.errorf(d, to.field, "must be positive")
		}
	}
	p.enum(d, "spec.http.headersWithUnderscores", s.HTTP.HeadersWithUnderscores,
		HeadersWithUnderscoresDrop, HeadersWithUnderscoresReject, HeadersWithUnderscoresAllow)
	p.enum(d, "spec.http.meshProtocol", s.HTTP.MeshProtocol, MeshProtocolH2, MeshProtocolHTTP1)
	if s.EventLoops < 0 || s.EventLoops > 1024 {
		p.errorf(d, "spec.eventLoops", "%d out of range (want 0-1024; 0 = one per core)", s.EventLoops)
	}
}

// validateIdentity checks spec.identity and spec.inbound.authorization, and
// resolves relative identity file paths against the configuration file's
// directory. It does not read the files.
func (p *parser) validateIdentity(d *doc, s *ProxySpec) {
	if id := s.Identity; id != nil {
		dir := filepath.Dir(p.file)
		for _, f := range []struct {
			field string
			path  *string
		}{
			{"spec.identity.certFile", &id.CertFile},
			{"spec.identity.keyFile", &id.KeyFile},
			{"spec.identity.caFile", &id.CAFile},
		} {
			switch {
			case *f.path == "":
				p.errorf(d, f.field, "required")
			case strings.IndexByte(*f.path, 0) >= 0:
				p.errorf(d, f.field, "must not contain a NUL byte")
			default:
				*f.path = resolvePath(dir, *f.path)
			}
		}
	}
	if s.Inbound == nil || s.Inbound.Authorization == nil {
		return
	}
	const field = "spec.inbound.authorization"
	rules := s.Inbound.Authorization
	switch {
	case len(rules) == 0:
		p.errorf(d, field, "must not be empty (omit it to allow any authenticated peer)")
		return
	case s.Identity == nil:
		p.errorf(d, field, "requires spec.identity (without mutual TLS there is no verified peer to authorize)")
	}
	for i, r := range rules {
		f := idx(field, i)
		if len(r.Principals) == 0 && len(r.Paths) == 0 && len(r.Methods) == 0 {
			p.errorf(d, f, `at least one of principals, paths or methods is required (use principals: ["*"] to allow any authenticated peer)`)
		}
		for j, v := range r.Principals {
			if msg := principal(v); msg != "" {
				p.errorf(d, idx(f+".principals", j), `invalid principal %q: %s (want "*", a SPIFFE ID, or a SPIFFE ID prefix ending in '*')`, v, msg)
			}
		}
		for j, v := range r.Paths {
			if msg := PathValue(v); msg != "" {
				p.errorf(d, idx(f+".paths", j), "invalid path prefix %q: %s", v, msg)
			}
		}
		for j, v := range r.Methods {
			if msg := httpToken(v); msg != "" {
				p.errorf(d, idx(f+".methods", j), "invalid method %q: %s", v, msg)
			}
		}
	}
}

// resolvePath makes path absolute: a relative path is taken relative to dir,
// and a relative result relative to the working directory.
func resolvePath(dir, path string) string {
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// identityAnnotation checks the meshbench.dev/identity annotation of a
// Service or EndpointSlice.
func (p *parser) identityAnnotation(d *doc, m *ObjectMeta) {
	v, ok := m.Annotations[IdentityAnnotation]
	if !ok {
		return
	}
	if msg := ValidateSPIFFEID(v); msg != "" {
		line := d.lineOf("metadata.annotations[" + IdentityAnnotation + "]")
		p.errs = append(p.errs, p.docError(d, IdentityAnnotationField, line,
			fmt.Sprintf("invalid SPIFFE ID %q: %s", v, msg)))
	}
}

// addrsOverlap reports whether two valid host:port addresses would collide
// when both are listened on (or when one is dialled from the other): same
// port and the same host, or either host is a wildcard, or both are names
// for the loopback interface.
func addrsOverlap(a, b string) bool {
	ha, pa, _ := splitHostPort(a)
	hb, pb, _ := splitHostPort(b)
	if pa != pb {
		return false
	}
	ia, erra := netip.ParseAddr(ha)
	ib, errb := netip.ParseAddr(hb)
	loop := func(h string, ip netip.Addr, err error) bool {
		return h == "localhost" || err == nil && ip.IsLoopback()
	}
	switch {
	case ha == hb:
		return true
	case erra == nil && ia.IsUnspecified(), errb == nil && ib.IsUnspecified():
		return true
	case erra == nil && errb == nil:
		return ia.Unmap() == ib.Unmap()
	default: // at least one is localhost
		return loop(ha, ia, erra) && loop(hb, ib, errb)
	}
}

// ---------------------------------------------------------------------------
// Service

func (p *parser) validateService(d *doc, svc *Service) {
	p.validateMeta(d, &svc.Metadata, dns1035Label)
	p.identityAnnotation(d, &svc.Metadata)
	s := &svc.Spec
	switch s.Type {
	case "", ServiceTypeClusterIP, ServiceTypeNodePort, ServiceTypeLoadBalancer:
	case ServiceTypeExternalName:
		p.errorf(d, "spec.type", "ExternalName Services are %s (they resolve to DNS names outside the mesh)", notSupported)
	default:
		p.enum(d, "spec.type", s.Type, ServiceTypeClusterIP, ServiceTypeNodePort, ServiceTypeLoadBalancer)
	}
	p.unsupported(d, "spec.externalName", s.ExternalName, "")
	p.unsupported(d, "spec.sessionAffinityConfig", s.SessionAffinityConfig, "")
	p.unsupported(d, "spec.trafficDistribution", s.TrafficDistribution, "")
	switch s.SessionAffinity {
	case "", "None":
	case "ClientIP":
		p.errorf(d, "spec.sessionAffinity", "ClientIP session affinity is %s", notSupported)
	default:
		p.enum(d, "spec.sessionAffinity", s.SessionAffinity, "None", "ClientIP")
	}
	switch s.InternalTrafficPolicy {
	case "", "Cluster":
	case "Local":
		p.errorf(d, "spec.internalTrafficPolicy", "Local is %s (endpoints carry no node locality meshproxy could use)", notSupported)
	default:
		p.enum(d, "spec.internalTrafficPolicy", s.InternalTrafficPolicy, "Cluster", "Local")
	}
	if s.ExternalTrafficPolicy != "" {
		p.enum(d, "spec.externalTrafficPolicy", s.ExternalTrafficPolicy, "Cluster", "Local")
	}
	if s.IPFamilyPolicy != "" {
		p.enum(d, "spec.ipFamilyPolicy", s.IPFamilyPolicy, "SingleStack", "PreferDualStack", "RequireDualStack")
	}
	for i, f := range s.IPFamilies {
		p.enum(d, idx("spec.ipFamilies", i), f, AddressTypeIPv4, AddressTypeIPv6)
	}

	headless := s.ClusterIP == ClusterIPNone
	if s.ClusterIP != "" && !headless {
		if _, msg := parseIP(s.ClusterIP); msg != "" {
			p.errorf(d, "spec.clusterIP", "invalid IP %q: %s (want an IP address, None or nothing)", s.ClusterIP, msg)
		}
	}
	for i, ip := range s.ClusterIPs {
		if ip == ClusterIPNone && len(s.ClusterIPs) == 1 {
			continue
		}
		if _, msg := parseIP(ip); msg != "" {
			p.errorf(d, idx("spec.clusterIPs", i), "invalid IP %q: %s", ip, msg)
		}
	}
	if len(s.ClusterIPs) > 2 {
		p.errorf(d, "spec.clusterIPs", "at most two IPs (one per family)")
	}
	if s.ClusterIP != "" && len(s.ClusterIPs) > 0 && s.ClusterIPs[0] != s.ClusterIP {
		p.errorf(d, "spec.clusterIPs[0]", "%q must equal spec.clusterIP %q", s.ClusterIPs[0], s.ClusterIP)
	}

	if len(s.Ports) == 0 && !headless && s.Type != ServiceTypeExternalName {
		p.errorf(d, "spec.ports", "required (a Service needs at least one port unless it is headless)")
	}
	names := map[string]int{}
	type pp struct {
		port  int32
		proto string
	}
	ports := map[pp]int{}
	for i, sp := range s.Ports {
		f := idx("spec.ports", i)
		switch {
		case sp.Name == "" && len(s.Ports) > 1:
			p.errorf(d, f+".name", "required when a Service has more than one port")
		case sp.Name != "":
			if msg := dns1123Label(sp.Name); msg != "" {
				p.errorf(d, f+".name", "invalid port name %q: %s", sp.Name, msg)
			} else if j, dup := names[sp.Name]; dup {
				p.errorf(d, f+".name", "duplicate port name %q (also spec.ports[%d])", sp.Name, j)
			}
			names[sp.Name] = i
		}
		proto := sp.Protocol
		if proto == "" {
			proto = "TCP"
		} else {
			p.enum(d, f+".protocol", proto, "TCP", "UDP", "SCTP")
		}
		p.port(d, f+".port", sp.Port)
		if j, dup := ports[pp{sp.Port, proto}]; dup {
			p.errorf(d, f+".port", "duplicate port %d/%s (also spec.ports[%d])", sp.Port, proto, j)
		}
		ports[pp{sp.Port, proto}] = i
		switch tp := sp.TargetPort; {
		case tp.IsString:
			if msg := ianaSvcName(tp.StrVal); msg != "" {
				p.errorf(d, f+".targetPort", "invalid port name %q: %s", tp.StrVal, msg)
			}
		case tp.IntVal != 0:
			p.port(d, f+".targetPort", tp.IntVal)
		}
		if sp.NodePort < 0 || sp.NodePort > 65535 {
			p.errorf(d, f+".nodePort", "invalid port %d (want 0-65535)", sp.NodePort)
		}
		p.appProtocol(d, f+".appProtocol", sp.AppProtocol)
	}
}

// appProtocol checks a Service or EndpointSlice port's appProtocol, which
// Kubernetes validates as a qualified name ("http2", "kubernetes.io/h2c").
// It decides the protocol meshproxy speaks to the port's endpoints (see
// AppProtocolH2C).
func (p *parser) appProtocol(d *doc, field string, v *string) {
	if v == nil {
		return
	}
	if msg := qualifiedName(*v); msg != "" {
		p.errorf(d, field, "invalid appProtocol %q: %s (want a name such as http, http2, grpc or kubernetes.io/h2c)", *v, msg)
	}
}

// parseIP parses a plain IP address (no zone).
func parseIP(s string) (netip.Addr, string) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return ip, "not an IP address"
	}
	if ip.Zone() != "" {
		return ip, "must not have a zone"
	}
	return ip, ""
}

// ---------------------------------------------------------------------------
// EndpointSlice

func (p *parser) validateEndpointSlice(d *doc, es *EndpointSlice) {
	p.validateMeta(d, &es.Metadata, dns1123Subdomain)
	p.identityAnnotation(d, &es.Metadata)
	labelField := "metadata.labels[" + LabelServiceName + "]"
	switch svc, ok := es.Metadata.Labels[LabelServiceName]; {
	case !ok:
		p.errorf(d, labelField, "required: the label names the Service this EndpointSlice belongs to")
	default:
		if msg := dns1035Label(svc); msg != "" {
			p.errorf(d, labelField, "invalid Service name %q: %s", svc, msg)
		}
	}
	switch es.AddressType {
	case AddressTypeIPv4, AddressTypeIPv6:
	case AddressTypeFQDN:
		p.errorf(d, "addressType", "FQDN is %s (it would need DNS resolution in the data path; use IPv4 or IPv6)", notSupported)
	case "":
		p.errorf(d, "addressType", "required (want IPv4 or IPv6)")
	default:
		p.enum(d, "addressType", es.AddressType, AddressTypeIPv4, AddressTypeIPv6)
	}
	if len(es.Endpoints) > 1000 {
		p.errorf(d, "endpoints", "too many endpoints (%d, at most 1000)", len(es.Endpoints))
	}
	for i, ep := range es.Endpoints {
		f := idx("endpoints", i)
		if len(ep.Addresses) == 0 {
			p.errorf(d, f+".addresses", "required (at least one address)")
		}
		if len(ep.Addresses) > 100 {
			p.errorf(d, f+".addresses", "too many addresses (%d, at most 100)", len(ep.Addresses))
		}
		for j, a := range ep.Addresses {
			if es.AddressType != AddressTypeIPv4 && es.AddressType != AddressTypeIPv6 {
				break // already reported
			}
			ip, msg := parseIP(a)
			switch {
			case msg != "":
				p.errorf(d, idx(f+".addresses", j), "invalid address %q: %s", a, msg)
			case es.AddressType == AddressTypeIPv4 && !ip.Is4():
				p.errorf(d, idx(f+".addresses", j), "%q is not an IPv4 address (addressType is IPv4)", a)
			case es.AddressType == AddressTypeIPv6 && (!ip.Is6() || ip.Is4In6()):
				p.errorf(d, idx(f+".addresses", j), "%q is not an IPv6 address (addressType is IPv6)", a)
			}
		}
		if ep.Hostname != nil {
			if msg := dns1123Label(*ep.Hostname); msg != "" {
				p.errorf(d, f+".hostname", "invalid hostname %q: %s", *ep.Hostname, msg)
			}
		}
		p.unsupported(d, f+".hints", ep.Hints, "topology-aware routing")
		p.unsupported(d, f+".deprecatedTopology", ep.DeprecatedTopology, "")
	}
	if len(es.Ports) > 100 {
		p.errorf(d, "ports", "too many ports (%d, at most 100)", len(es.Ports))
	}
	names := map[string]int{}
	for i, ep := range es.Ports {
		f := idx("ports", i)
		name := ""
		if ep.Name != nil {
			name = *ep.Name
		}
		if name != "" {
			if msg := dns1123Label(name); msg != "" {
				p.errorf(d, f+".name", "invalid port name %q: %s", name, msg)
			}
		}
		if j, dup := names[name]; dup {
			p.errorf(d, f+".name", "duplicate port name %q (also ports[%d])", name, j)
		}
		names[name] = i
		if ep.Port == nil {
			p.errorf(d, f+".port", "required")
		} else {
			p.port(d, f+".port", *ep.Port)
		}
		if ep.Protocol != nil {
			p.enum(d, f+".protocol", *ep.Protocol, "TCP", "UDP", "SCTP")
		}
		p.appProtocol(d, f+".appProtocol", ep.AppProtocol)
	}
}

// ---------------------------------------------------------------------------
// HTTPRoute

// Limits from the Gateway API CRD validation.
const (
	maxParentRefs   = 32
	maxRules        = 16
	maxMatches      = 64
	maxRouteMatches = 128
	maxHeaderMatch  = 16
	maxQueryMatch   = 16
	maxBackendRefs  = 16
	maxWeight       = 1000000
)

// hostnamesWhy says why route hostnames are rejected, for HTTPRoute and
// GRPCRoute alike.
const hostnamesWhy = "GAMMA mesh routes SHOULD NOT use hostnames; the parentRef Service selects the traffic, or match the Host header with a header match"

// validateRouteCommon checks what HTTPRoute and GRPCRoute share: metadata,
// hostnames, useDefaultGateways and parentRefs (CommonRouteSpec), and the
// number of rules.
func (p *parser) validateRouteCommon(d *doc, m *ObjectMeta, hostnames, useDefaultGateways Unsupported, parents []ParentReference, rules int) {
	p.validateMeta(d, m, dns1123Subdomain)
	p.unsupported(d, "spec.hostnames", hostnames, hostnamesWhy)
	p.unsupported(d, "spec.useDefaultGateways", useDefaultGateways, "mesh routes attach to Services")

	if len(parents) == 0 {
		p.errorf(d, "spec.parentRefs", `required: a mesh route attaches to a Service (parentRefs: [{group: "", kind: Service, name: ...}])`)
	}
	if len(parents) > maxParentRefs {
		p.errorf(d, "spec.parentRefs", "too many parentRefs (%d, at most %d)", len(parents), maxParentRefs)
	}
	seen := map[string]int{}
	for i, ref := range parents {
		f := idx("spec.parentRefs", i)
		p.validateParentRef(d, f, &ref)
		key := fmt.Sprintf("%v/%v/%v/%s/%v/%v", deref(ref.Group, GroupGateway), deref(ref.Kind, KindGateway),
			deref(ref.Namespace, m.Namespace), ref.Name, deref(ref.SectionName, ""), derefInt(ref.Port))
		if j, dup := seen[key]; dup {
			p.errorf(d, f, "duplicate of spec.parentRefs[%d] (parentRefs must be distinct)", j)
		}
		seen[key] = i
	}

	if rules == 0 {
		p.errorf(d, "spec.rules", "required: at least one rule (a route without rules would answer 500 to everything)")
	}
	if rules > maxRules {
		p.errorf(d, "spec.rules", "too many rules (%d, at most %d)", rules, maxRules)
	}
}

// ruleName checks rules[i].name: an RFC 1123 subdomain, unique within the
// route (names maps each name to its first rule).
func (p *parser) ruleName(d *doc, f string, i int, name *string, names map[string]int) {
	if name == nil {
		return
	}
	if msg := dns1123Subdomain(*name); msg != "" {
		p.errorf(d, f+".name", "invalid rule name %q: %s", *name, msg)
	} else if j, dup := names[*name]; dup {
		p.errorf(d, f+".name", "duplicate rule name %q (also spec.rules[%d]); rule names must be unique within a route", *name, j)
	}
	names[*name] = i
}

func (p *parser) validateHTTPRoute(d *doc, rt *HTTPRoute) {
	s := &rt.Spec
	p.validateRouteCommon(d, &rt.Metadata, s.Hostnames, s.UseDefaultGateways, s.ParentRefs, len(s.Rules))
	total := 0
	ruleNames := map[string]int{}
	for i := range s.Rules {
		r := &s.Rules[i]
		f := idx("spec.rules", i)
		total += len(r.Matches)
		p.ruleName(d, f, i, r.Name, ruleNames)
		if len(r.Matches) > maxMatches {
			p.errorf(d, f+".matches", "too many matches (%d, at most %d)", len(r.Matches), maxMatches)
		}
		for j := range r.Matches {
			p.validateMatch(d, idx(f+".matches", j), &r.Matches[j])
		}
		p.unsupported(d, f+".filters", r.Filters, "")
		p.unsupported(d, f+".retry", r.Retry, "")
		p.unsupported(d, f+".sessionPersistence", r.SessionPersistence, "")
		if len(r.BackendRefs) > maxBackendRefs {
			p.errorf(d, f+".backendRefs", "too many backendRefs (%d, at most %d)", len(r.BackendRefs), maxBackendRefs)
		}
		for j := range r.BackendRefs {
			p.validateBackendRef(d, idx(f+".backendRefs", j), &r.BackendRefs[j])
		}
		if r.Timeouts != nil {
			p.validateTimeouts(d, f+".timeouts", r.Timeouts)
		}
	}
	if total > maxRouteMatches {
		p.errorf(d, "spec.rules", "too many matches in total (%d, at most %d across all rules)", total, maxRouteMatches)
	}
}

func (p *parser) validateGRPCRoute(d *doc, rt *GRPCRoute) {
	s := &rt.Spec
	p.validateRouteCommon(d, &rt.Metadata, s.Hostnames, s.UseDefaultGateways, s.ParentRefs, len(s.Rules))
	total := 0
	ruleNames := map[string]int{}
	for i := range s.Rules {
		r := &s.Rules[i]
		f := idx("spec.rules", i)
		total += len(r.Matches)
		p.ruleName(d, f, i, r.Name, ruleNames)
		if len(r.Matches) > maxMatches {
			p.errorf(d, f+".matches", "too many matches (%d, at most %d)", len(r.Matches), maxMatches)
		}
		for j := range r.Matches {
			p.validateGRPCMatch(d, idx(f+".matches", j), &r.Matches[j])
		}
		p.unsupported(d, f+".filters", r.Filters, "")
		p.unsupported(d, f+".sessionPersistence", r.SessionPersistence, "")
		if len(r.BackendRefs) > maxBackendRefs {
			p.errorf(d, f+".backendRefs", "too many backendRefs (%d, at most %d)", len(r.BackendRefs), maxBackendRefs)
		}
		for j := range r.BackendRefs {
			b := HTTPBackendRef(r.BackendRefs[j])
			p.validateBackendRef(d, idx(f+".backendRefs", j), &b)
		}
	}
	if total > maxRouteMatches {
		p.errorf(d, "spec.rules", "too many matches in total (%d, at most %d across all rules)", total, maxRouteMatches)
	}
}

// The syntax of Exact gRPC service and method names, from the GRPCMethodMatch
// CEL rules of the Gateway API CRD (a fully qualified protobuf service name,
// optionally with a leading '.', and a protobuf method name).
var (
	grpcServiceRE = regexp.MustCompile(`^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$`)
	grpcMethodRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]*$`)
)

// maxGRPCName is the CRD's maxLength of GRPCMethodMatch service and method.
const maxGRPCName = 1024

func (p *parser) validateGRPCMatch(d *doc, f string, m *GRPCRouteMatch) {
	if mm := m.Method; mm != nil {
		mf := f + ".method"
		typ := deref(mm.Type, GRPCMethodMatchExact)
		svc, meth := deref(mm.Service, ""), deref(mm.Method, "")
		switch typ {
		case GRPCMethodMatchExact:
			// The CRD checks a present value against the pattern, so an
			// empty Exact service or method is invalid, not "any".
			if mm.Service != nil && (len(svc) > maxGRPCName || !grpcServiceRE.MatchString(svc)) {
				p.errorf(d, mf+".service", "invalid service %q: must be a protobuf service name such as pkg.v1.Service (matching %s), at most %d characters", svc, grpcServiceRE, maxGRPCName)
			}
			if mm.Method != nil && (len(meth) > maxGRPCName || !grpcMethodRE.MatchString(meth)) {
				p.errorf(d, mf+".method", "invalid method %q: must be a protobuf method name such as GetUser (matching %s), at most %d characters", meth, grpcMethodRE, maxGRPCName)
			}
		case GRPCMethodMatchRegularExpression:
			// An empty value matches any service (or method), as the
			// API documents it.
			if svc != "" {
				if msg := compileRegexp(svc); msg != "" {
					p.errorf(d, mf+".service", "%s", msg)
				}
			}
			if meth != "" {
				if msg := compileRegexp(meth); msg != "" {
					p.errorf(d, mf+".method", "%s", msg)
				}
			}
		default:
			p.enum(d, mf+".type", typ, GRPCMethodMatchExact, GRPCMethodMatchRegularExpression)
		}
		if svc == "" && meth == "" {
			p.errorf(d, mf, "at least one of service or method is required (omit method to match every gRPC method)")
		}
	}
	if len(m.Headers) > maxHeaderMatch {
		p.errorf(d, f+".headers", "too many header matches (%d, at most %d)", len(m.Headers), maxHeaderMatch)
	}
	for i, h := range m.Headers {
		hf := idx(f+".headers", i)
		if msg := headerName(h.Name); msg != "" {
			p.errorf(d, hf+".name", "invalid header name %q: %s", h.Name, msg)
		}
		switch typ := deref(h.Type, MatchExact); typ {
		case MatchExact:
			// GRPCHeaderMatch.value has no pattern in the CRD, only a length.
			if h.Value == "" || len(h.Value) > 4096 {
				p.errorf(d, hf+".value", "must be 1-4096 characters")
			}
		case MatchRegularExpression:
			if msg := compileRegexp(h.Value); msg != "" {
				p.errorf(d, hf+".value", "%s", msg)
			}
		default:
			p.enum(d, hf+".type", typ, MatchExact, MatchRegularExpression)
		}
	}
}

func deref(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

func derefInt(v *int32) int32 {
	if v == nil {
		return 0
	}
	return *v
}

// IsCoreGroup reports whether group names the core API group: "" (the
// Gateway API spelling) or "core" (accepted as an alias).
func IsCoreGroup(group string) bool { return group == "" || group == "core" }

func (p *parser) validateParentRef(d *doc, f string, ref *ParentReference) {
	group := deref(ref.Group, GroupGateway)
	kind := deref(ref.Kind, KindGateway)
	switch {
	case kind == KindGateway && group == GroupGateway:
		p.errorf(d, f, "Gateway parent %q is %s: meshproxy implements the GAMMA mesh profile, where routes attach to a Service (group: \"\", kind: Service)", ref.Name, notSupported)
	case kind == KindService && ref.Group == nil:
		p.errorf(d, f+".group", `a Service parent needs group: "" (group defaults to %s, which has no Service kind)`, GroupGateway)
	case kind == KindService && !IsCoreGroup(group):
		p.errorf(d, f+".group", `unsupported group %q for kind Service (want "")`, group)
	case kind != KindService:
		p.errorf(d, f+".kind", "parent kind %s/%s is %s (want kind Service in group \"\")", group, kind, notSupported)
	}
	if ref.Name == "" {
		p.errorf(d, f+".name", "required")
	} else if msg := dns1035Label(ref.Name); msg != "" {
		p.errorf(d, f+".name", "invalid Service name %q: %s", ref.Name, msg)
	}
	if ref.Namespace != nil {
		if msg := dns1123Label(*ref.Namespace); msg != "" {
			p.errorf(d, f+".namespace", "invalid namespace %q: %s", *ref.Namespace, msg)
		}
	}
	if ref.SectionName != nil {
		if msg := dns1123Subdomain(*ref.SectionName); msg != "" {
			p.errorf(d, f+".sectionName", "invalid sectionName %q: %s", *ref.SectionName, msg)
		}
	}
	if ref.Port != nil {
		p.port(d, f+".port", *ref.Port)
	}
}

var pathCharsRE = regexp.MustCompile(`^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$`)

// PathValue checks an Exact or PathPrefix value against the Gateway API
// HTTPPathMatch validation rules.
func PathValue(v string) string {
	switch {
	case !strings.HasPrefix(v, "/"):
		return "must be an absolute path starting with '/'"
	case len(v) > 1024:
		return "must be at most 1024 characters"
	case strings.Contains(v, "//"):
		return "must not contain '//'"
	case strings.Contains(v, "/./"), strings.HasSuffix(v, "/."):
		return "must not contain '.' segments"
	case strings.Contains(v, "/../"), strings.HasSuffix(v, "/.."):
		return "must not contain '..' segments"
	case strings.Contains(v, "%2f"), strings.Contains(v, "%2F"):
		return "must not contain an encoded '/' (%2F)"
	case strings.Contains(v, "#"):
		return "must not contain '#'"
	case !pathCharsRE.MatchString(v):
		return "must contain only URL path characters (RFC 3986 pchar or %XX escapes)"
	}
	return ""
}

// compileRegexp checks a RegularExpression match value. meshproxy uses Go's
// RE2 syntax (linear-time, no backreferences), as the Gateway API lets
// implementations choose their dialect.
func compileRegexp(v string) string {
	if v == "" {
		return "must not be empty"
	}
	if len(v) > 1024 {
		return "must be at most 1024 characters"
	}
	if _, err := regexp.Compile(v); err != nil {
		return "invalid regular expression (Go RE2 syntax): " + strings.TrimPrefix(err.Error(), "error parsing regexp: ")
	}
	return ""
}

func (p *parser) validateMatch(d *doc, f string, m *HTTPRouteMatch) {
	if m.Path != nil {
		typ := deref(m.Path.Type, PathMatchPathPrefix)
		val := deref(m.Path.Value, "/")
		switch typ {
		case PathMatchExact, PathMatchPathPrefix:
			if msg := PathValue(val); msg != "" {
				p.errorf(d, f+".path.value", "invalid path %q: %s", val, msg)
			}
		case PathMatchRegularExpression:
			if msg := compileRegexp(val); msg != "" {
				p.errorf(d, f+".path.value", "%s", msg)
			}
		default:
			p.enum(d, f+".path.type", typ, PathMatchExact, PathMatchPathPrefix, PathMatchRegularExpression)
		}
	}
	if len(m.Headers) > maxHeaderMatch {
		p.errorf(d, f+".headers", "too many header matches (%d, at most %d)", len(m.Headers), maxHeaderMatch)
	}
	for i, h := range m.Headers {
		hf := idx(f+".headers", i)
		if msg := headerName(h.Name); msg != "" {
			p.errorf(d, hf+".name", "invalid header name %q: %s", h.Name, msg)
		}
		switch typ := deref(h.Type, MatchExact); typ {
		case MatchExact:
			if msg := headerValue(h.Value); msg != "" {
				p.errorf(d, hf+".value", "invalid header value %q: %s", h.Value, msg)
			}
		case MatchRegularExpression:
			if msg := compileRegexp(h.Value); msg != "" {
				p.errorf(d, hf+".value", "%s", msg)
			}
		default:
			p.enum(d, hf+".type", typ, MatchExact, MatchRegularExpression)
		}
	}
	if len(m.QueryParams) > maxQueryMatch {
		p.errorf(d, f+".queryParams", "too many query param matches (%d, at most %d)", len(m.QueryParams), maxQueryMatch)
	}
	for i, q := range m.QueryParams {
		qf := idx(f+".queryParams", i)
		if msg := headerName(q.Name); msg != "" {
			p.errorf(d, qf+".name", "invalid query parameter name %q: %s", q.Name, msg)
		}
		switch typ := deref(q.Type, MatchExact); typ {
		case MatchExact:
			if q.Value == "" || len(q.Value) > 1024 {
				p.errorf(d, qf+".value", "must be 1-1024 characters")
			}
		case MatchRegularExpression:
			if msg := compileRegexp(q.Value); msg != "" {
				p.errorf(d, qf+".value", "%s", msg)
			}
		default:
			p.enum(d, qf+".type", typ, MatchExact, MatchRegularExpression)
		}
	}
	if m.Method != nil {
		p.enum(d, f+".method", *m.Method, httpMethods...)
	}
}

func (p *parser) validateBackendRef(d *doc, f string, b *HTTPBackendRef) {
	group := deref(b.Group, GroupCore)
	kind := deref(b.Kind, KindService)
	if !IsCoreGroup(group) || kind != KindService {
		p.errorf(d, f+".kind", "backend kind %s/%s is %s (want a Service: group \"\", kind Service)", group, kind, notSupported)
	}
	if b.Name == "" {
		p.errorf(d, f+".name", "required")
	} else if msg := dns1035Label(b.Name); msg != "" {
		p.errorf(d, f+".name", "invalid Service name %q: %s", b.Name, msg)
	}
	if b.Namespace != nil {
		if msg := dns1123Label(*b.Namespace); msg != "" {
			p.errorf(d, f+".namespace", "invalid namespace %q: %s", *b.Namespace, msg)
		}
	}
	if b.Port == nil {
		p.errorf(d, f+".port", "required for a Service backend (the Service port, not the target port)")
	} else {
		p.port(d, f+".port", *b.Port)
	}
	if b.Weight != nil && (*b.Weight < 0 || *b.Weight > maxWeight) {
		p.errorf(d, f+".weight", "%d out of range (want 0-%d)", *b.Weight, maxWeight)
	}
	p.unsupported(d, f+".filters", b.Filters, "")
}

func (p *parser) validateTimeouts(d *doc, f string, t *HTTPRouteTimeouts) {
	var req, back int64 = -1, -1
	if t.Request != nil {
		if v, err := t.Request.Parse(); err != nil {
			p.errorf(d, f+".request", "%v", err)
		} else {
			req = int64(v)
		}
	}
	if t.BackendRequest != nil {
		if v, err := t.BackendRequest.Parse(); err != nil {
			p.errorf(d, f+".backendRequest", "%v", err)
		} else {
			back = int64(v)
		}
	}
	// Gateway API: backendRequest must not exceed request, unless request
	// is 0s (disabled, i.e. unbounded).
	if req > 0 && back > req {
		p.errorf(d, f+".backendRequest", "%s is longer than request timeout %s (backendRequest must be <= request)", *t.BackendRequest, *t.Request)
	}
}
