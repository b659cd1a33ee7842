package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// API versions and kinds meshproxy reads. The Kubernetes and Gateway API
// types below are faithful subsets of k8s.io/api and
// sigs.k8s.io/gateway-api (same field names, same YAML/JSON names, same
// optional-pointer shapes): importing those modules would cost a sidecar
// megabytes of heap for types it mostly does not use.
const (
	APIVersionProxy         = "meshbench.dev/v1alpha1"
	APIVersionService       = "v1"
	APIVersionEndpointSlice = "discovery.k8s.io/v1"
	APIVersionHTTPRoute     = "gateway.networking.k8s.io/v1"
	// APIVersionHTTPRouteBeta is accepted too: v1beta1 HTTPRoute has the same schema.
	APIVersionHTTPRouteBeta = "gateway.networking.k8s.io/v1beta1"
	APIVersionGRPCRoute     = "gateway.networking.k8s.io/v1"
	// APIVersionGRPCRouteAlpha is accepted too: v1alpha2 GRPCRoute is the
	// v1 type itself (sigs.k8s.io/gateway-api apis/v1alpha2:
	// "type GRPCRoute v1.GRPCRoute"), served beside v1 until gateway-api
	// #3361 stopped serving it, so exported objects of either version
	// carry the same fields.
	APIVersionGRPCRouteAlpha = "gateway.networking.k8s.io/v1alpha2"

	KindProxy         = "Proxy"
	KindService       = "Service"
	KindEndpointSlice = "EndpointSlice"
	KindHTTPRoute     = "HTTPRoute"
	KindGRPCRoute     = "GRPCRoute"

	// LabelServiceName is the label tying an EndpointSlice to its Service.
	LabelServiceName = "kubernetes.io/service-name"

	// IdentityAnnotation, on a Service or an EndpointSlice, names the
	// SPIFFE ID ("spiffe://<trust domain>/<path>") the proxy requires of
	// the Service's endpoints when it connects to them over mutual TLS. An
	// EndpointSlice's value overrides its Service's for the endpoints of
	// that slice; without either, any identity of the proxy's trust domain
	// is accepted.
	IdentityAnnotation = "meshbench.dev/identity"
	// IdentityAnnotationField is the annotation's field path in errors.
	IdentityAnnotationField = `metadata.annotations["` + IdentityAnnotation + `"]`

	// DefaultNamespace is what an object without metadata.namespace is in.
	DefaultNamespace = "default"
)

// TypeMeta is the apiVersion/kind header of every document.
type TypeMeta struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	Kind       string `yaml:"kind" json:"kind"`
}

// ObjectMeta is the subset of metav1.ObjectMeta meshproxy uses, plus the
// server-populated fields that appear in `kubectl get -o yaml` output
// (uid, resourceVersion, generation, managedFields, ownerReferences,
// finalizers): they are accepted and ignored because they never change
// routing, so exported cluster state loads as is.
type ObjectMeta struct {
	Name        string            `yaml:"name" json:"name"`
	Namespace   string            `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty" json:"annotations,omitempty"`
	// CreationTimestamp is an RFC 3339 time. Gateway API uses it to order
	// matches of equal precedence across routes (oldest first).
	CreationTimestamp string `yaml:"creationTimestamp,omitempty" json:"creationTimestamp,omitempty"`

	UID             string   `yaml:"uid,omitempty" json:"uid,omitempty"`
	ResourceVersion string   `yaml:"resourceVersion,omitempty" json:"resourceVersion,omitempty"`
	Generation      int64    `yaml:"generation,omitempty" json:"generation,omitempty"`
	ManagedFields   Ignored  `yaml:"managedFields,omitempty" json:"managedFields,omitempty"`
	OwnerReferences Ignored  `yaml:"ownerReferences,omitempty" json:"ownerReferences,omitempty"`
	Finalizers      []string `yaml:"finalizers,omitempty" json:"finalizers,omitempty"`

	// Created is CreationTimestamp parsed by Parse; zero when unset.
	Created time.Time `yaml:"-" json:"-"`
}

// Ignored accepts any YAML value and keeps nothing. It is used for fields
// that are legitimately present in exported objects (status, managedFields)
// but carry no configuration.
type Ignored struct{}

// UnmarshalYAML implements yaml.Unmarshaler.
func (*Ignored) UnmarshalYAML(*yaml.Node) error { return nil }

// Unsupported stands for a field that exists in the real API but that
// meshproxy does not implement. Decoding records whether it was set (and
// where) so validation can reject it with "not supported by meshproxy"
// instead of either failing with a confusing "unknown field" or, worse,
// silently ignoring configuration the user relies on.
type Unsupported struct {
	Set  bool // a non-null, non-empty value was given
	Line int
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (u *Unsupported) UnmarshalYAML(n *yaml.Node) error {
	u.Line = n.Line
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		u.Set = false
	case (n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode) && len(n.Content) == 0:
		// "filters: []" asks for nothing; only "retry: {}" style
		// empty mappings still request implementation defaults.
		u.Set = n.Kind == yaml.MappingNode
	default:
		u.Set = true
	}
	return nil
}

// ---------------------------------------------------------------------------
// Proxy (meshbench.dev/v1alpha1): meshproxy's own settings.

// Proxy configures one meshproxy instance. Its metadata.namespace is the
// namespace of the workload the sidecar serves: bare Service names in Host
// headers resolve in it, and consumer HTTPRoutes from it apply.
type Proxy struct {
	TypeMeta `yaml:",inline"`
	Metadata ObjectMeta `yaml:"metadata"`
	Spec     ProxySpec  `yaml:"spec"`
}

// ProxySpec holds the listeners and knobs. Zero-valued knobs are filled with
// the defaults documented on each field before decoding, so a field that is
// absent keeps its default and one that is present overrides it.
type ProxySpec struct {
	// Admin serves metrics, health and config dumps. Optional.
	Admin *Listener `yaml:"admin,omitempty"`
	// Outbound accepts the local application's requests to other Services.
	Outbound *Listener `yaml:"outbound,omitempty"`
	// Inbound accepts requests from other proxies for the local application.
	Inbound *InboundListener `yaml:"inbound,omitempty"`
	// Identity is the proxy's own SPIFFE identity. Optional; when set, the
	// proxy speaks mutual TLS on mesh hops: the inbound listener accepts
	// only TLS clients presenting a certificate of the trust domain, and
	// upstream connections to Service endpoints present this identity and
	// verify the server's (see IdentityAnnotation).
	Identity *Identity `yaml:"identity,omitempty"`

	Limits   Limits   `yaml:"limits"`
	Timeouts Timeouts `yaml:"timeouts"`
	HTTP     HTTP     `yaml:"http"`
	// EventLoops is the number of gnet event loops; 0 = one per core.
	EventLoops int `yaml:"eventLoops"`
}

// Listener is a TCP listen address, "ip:port" or "localhost:port".
type Listener struct {
	Address string `yaml:"address"`
}

// InboundListener is the inbound listen address plus the local application
// it forwards to.
type InboundListener struct {
	Address string `yaml:"address"`
	// App is the local application's "ip:port"; required.
	App string `yaml:"app"`
	// AppProtocol is what the application speaks, as a Service port's
	// appProtocol says it (kubernetes.io/h2c, grpc or http2: HTTP/2 with
	// prior knowledge; absent or anything else: HTTP/1.1). A gRPC app
	// behind the inbound listener needs it.
	AppProtocol *string `yaml:"appProtocol,omitempty"`
	// Authorization restricts which peers may call the application. A
	// request is allowed when any rule matches it and denied otherwise.
	// Absent (or null) means any authenticated peer is allowed; an empty
	// list is rejected rather than read as "deny everything". Requires
	// spec.identity: without mutual TLS there is no verified peer.
	Authorization []AuthorizationRule `yaml:"authorization,omitempty"`
}

// Identity names the PEM files holding the proxy's SPIFFE identity. All
// three are required. A relative path is relative to the directory of the
// configuration file (the name given to Parse, made absolute with the
// working directory when that name is relative itself); Parse stores the
// resolved, cleaned absolute path. Parse does not read the files: they are
// loaded when the proxy starts, and changing them (or these paths) takes a
// restart.
type Identity struct {
	// CertFile is the certificate chain, leaf first; the leaf carries the
	// proxy's SPIFFE ID as its URI SAN.
	CertFile string `yaml:"certFile"`
	// KeyFile is the leaf certificate's private key.
	KeyFile string `yaml:"keyFile"`
	// CAFile is the trust bundle: the CA certificates of the trust domain
	// that peers' certificates must chain to.
	CAFile string `yaml:"caFile"`
}

// AuthorizationRule matches a request when every field that is set matches
// (an unset or empty field matches anything); at least one must be set.
// Within a field, any entry may match.
type AuthorizationRule struct {
	// Principals are peer SPIFFE IDs, as verified from the peer's client
	// certificate: an exact ID ("spiffe://cluster.local/ns/default/sa/web"),
	// a prefix ending in '*' ("spiffe://cluster.local/ns/default/*"; the
	// '*' may only come last and only after the trust domain and a '/'), or
	// "*" for any authenticated peer.
	Principals []string `yaml:"principals,omitempty"`
	// Paths are prefixes of the request path as received (before any '?'),
	// compared byte for byte: "/api" also matches "/apix", so end a prefix
	// with '/' to allow a subtree only. Each must be an absolute path. A
	// request path with a "." or ".." segment (also percent-encoded) never
	// matches a rule with paths, so "/api/../admin" cannot pass an "/api/"
	// rule in an app that normalises paths.
	Paths []string `yaml:"paths,omitempty"`
	// Methods are request methods, compared case-sensitively as HTTP
	// methods are ("GET", not "get"). Any HTTP token is accepted.
	Methods []string `yaml:"methods,omitempty"`
}

// Limits bound per-connection and global resource use.
type Limits struct {
	// MaxHeaderBytes caps a request or response head (start line + headers);
	// larger heads get 431 / 502. Default 65536.
	MaxHeaderBytes int `yaml:"maxHeaderBytes"`
	// MaxBufferedBytes caps bytes buffered per connection direction. The
	// proxy stops reading a side once a quarter of it is queued for the
	// other side and resumes at a sixteenth (flow control: a slow reader
	// slows its peer through TCP, nothing is cut); only a single oversized
	// write can still exceed it, which disconnects. Default 4 MiB.
	MaxBufferedBytes int `yaml:"maxBufferedBytes"`
	// MaxConnections caps accepted downstream connections; 0 = unlimited.
	MaxConnections int `yaml:"maxConnections"`
}

// Timeouts are Go duration strings ("10s", "1m30s"). For every timeout 0
// means none, except HeaderRead and Connect which must be positive: an
// unbounded header read is a slowloris hole and an unbounded connect hangs
// requests on a blackholed endpoint.
type Timeouts struct {
	HeaderRead   time.Duration `yaml:"headerRead"`   // default 10s: client must send a full request head within
	Idle         time.Duration `yaml:"idle"`         // default 60s: idle downstream keep-alive connection
	UpstreamIdle time.Duration `yaml:"upstreamIdle"` // default 30s: idle pooled upstream connection
	Connect      time.Duration `yaml:"connect"`      // default 2s: upstream TCP connect
	Drain        time.Duration `yaml:"drain"`        // default 15s: graceful shutdown grace period
	// Request is the per-request timeout for routes whose rule sets no
	// timeouts.request (and for the implicit per-Service rule). Default 0 = none.
	Request time.Duration `yaml:"request"`
}

// HTTP is request-handling policy, applied on both listeners.
type HTTP struct {
	// HeadersWithUnderscores is what a request header field whose name
	// contains '_' gets: "drop" (default) forwards the request without it,
	// "reject" answers 400 underscore_header_name, "allow" forwards it.
	// Such names are valid HTTP, but CGI-style app servers (PHP, WSGI,
	// Rack, ...) read '_' and '-' alike, so "x_forwarded_client_cert"
	// would reach the app as the client identity the proxy vouches for.
	// nginx drops them by default; Envoy's equivalent is
	// headers_with_underscores_action.
	HeadersWithUnderscores string `yaml:"headersWithUnderscores"`
	// MeshProtocol is what the proxy offers on mesh hops (mTLS to other
	// proxies' inbound listeners): "h2" offers h2 and http/1.1 by ALPN, and
	// requests to an endpoint share one multiplexed HTTP/2 connection per
	// event loop when the peer agrees (default, as Linkerd does); "http/1.1"
	// offers only HTTP/1.1 (one request per connection at a time).
	MeshProtocol string `yaml:"meshProtocol"`
}

// Values of HTTP.MeshProtocol.
const (
	MeshProtocolH2    = "h2"
	MeshProtocolHTTP1 = "http/1.1"
)

// Values of HTTP.HeadersWithUnderscores.
const (
	HeadersWithUnderscoresDrop   = "drop"
	HeadersWithUnderscoresReject = "reject"
	HeadersWithUnderscoresAllow  = "allow"
)

// Default knob values; see the field docs.
const (
	DefaultMaxHeaderBytes   = 64 << 10
	DefaultMaxBufferedBytes = 4 << 20
	DefaultHeaderRead       = 10 * time.Second
	DefaultIdle             = 60 * time.Second
	DefaultUpstreamIdle     = 30 * time.Second
	DefaultConnect          = 2 * time.Second
	DefaultDrain            = 15 * time.Second

	DefaultHeadersWithUnderscores = HeadersWithUnderscoresDrop
	DefaultMeshProtocol           = MeshProtocolH2
)

// DefaultProxySpec returns a ProxySpec with every knob at its default and
// no listeners.
func DefaultProxySpec() ProxySpec {
	return ProxySpec{
		Limits: Limits{
			MaxHeaderBytes:   DefaultMaxHeaderBytes,
			MaxBufferedBytes: DefaultMaxBufferedBytes,
		},
		Timeouts: Timeouts{
			HeaderRead:   DefaultHeaderRead,
			Idle:         DefaultIdle,
			UpstreamIdle: DefaultUpstreamIdle,
			Connect:      DefaultConnect,
			Drain:        DefaultDrain,
		},
		HTTP: HTTP{HeadersWithUnderscores: DefaultHeadersWithUnderscores, MeshProtocol: DefaultMeshProtocol},
	}
}

// ---------------------------------------------------------------------------
// Service (v1).

// Service is a subset of core/v1 Service.
type Service struct {
	TypeMeta `yaml:",inline"`
	Metadata ObjectMeta  `yaml:"metadata"`
	Spec     ServiceSpec `yaml:"spec"`
	Status   Ignored     `yaml:"status,omitempty"`
}

// Service types.
const (
	ServiceTypeClusterIP    = "ClusterIP"
	ServiceTypeNodePort     = "NodePort"
	ServiceTypeLoadBalancer = "LoadBalancer"
	ServiceTypeExternalName = "ExternalName"

	// ClusterIPNone marks a headless Service.
	ClusterIPNone = "None"
)

// ServiceSpec is a subset of core/v1 ServiceSpec. Fields that are purely
// informational for an in-mesh client (ipFamilies, ipFamilyPolicy,
// externalTrafficPolicy, publishNotReadyAddresses, selector) are accepted;
// fields that would change behaviour meshproxy does not implement are
// rejected at validation.
type ServiceSpec struct {
	Type       string            `yaml:"type,omitempty"` // ClusterIP (default), NodePort, LoadBalancer
	ClusterIP  string            `yaml:"clusterIP,omitempty"`
	ClusterIPs []string          `yaml:"clusterIPs,omitempty"`
	Selector   map[string]string `yaml:"selector,omitempty"`
	Ports      []ServicePort     `yaml:"ports,omitempty"`

	IPFamilies               []string `yaml:"ipFamilies,omitempty"`
	IPFamilyPolicy           string   `yaml:"ipFamilyPolicy,omitempty"`
	ExternalTrafficPolicy    string   `yaml:"externalTrafficPolicy,omitempty"`
	PublishNotReadyAddresses bool     `yaml:"publishNotReadyAddresses,omitempty"`
	// SessionAffinity: only "None" (the default) is supported.
	SessionAffinity string `yaml:"sessionAffinity,omitempty"`
	// InternalTrafficPolicy: only "Cluster" (the default) is supported.
	InternalTrafficPolicy string `yaml:"internalTrafficPolicy,omitempty"`

	SessionAffinityConfig Unsupported `yaml:"sessionAffinityConfig,omitempty"`
	ExternalName          Unsupported `yaml:"externalName,omitempty"`
	TrafficDistribution   Unsupported `yaml:"trafficDistribution,omitempty"`
}

// ServicePort is core/v1 ServicePort.
type ServicePort struct {
	Name        string      `yaml:"name,omitempty"`
	Protocol    string      `yaml:"protocol,omitempty"` // TCP (default), UDP, SCTP
	AppProtocol *string     `yaml:"appProtocol,omitempty"`
	Port        int32       `yaml:"port"`
	TargetPort  IntOrString `yaml:"targetPort,omitempty"`
	NodePort    int32       `yaml:"nodePort,omitempty"`
}

// The Kubernetes-defined appProtocol values (KEP-3726; core/v1
// ServicePort.appProtocol). Any other value is an IANA service name ("http",
// "http2", "grpc", ...) or an implementation-defined prefixed name. The
// route package maps appProtocol, and the port name when it is unset, to
// the protocol meshproxy speaks to the port's endpoints.
const (
	AppProtocolH2C = "kubernetes.io/h2c" // HTTP/2 over cleartext with prior knowledge
	AppProtocolWS  = "kubernetes.io/ws"  // WebSocket over cleartext
	AppProtocolWSS = "kubernetes.io/wss" // WebSocket over TLS
)

// IntOrString is k8s.io/apimachinery's intstr.IntOrString: a port number or
// a port name.
type IntOrString struct {
	IsString bool
	IntVal   int32
	StrVal   string
}

// UnmarshalYAML implements yaml.Unmarshaler: an !!int scalar is a number,
// anything else scalar a name.
func (v *IntOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{lineMsg(n.Line, "cannot unmarshal "+n.Tag+" into an integer or string")}}
	}
	if n.Tag == "!!int" {
		var i int32
		if err := n.Decode(&i); err != nil {
			return err
		}
		*v = IntOrString{IntVal: i}
		return nil
	}
	*v = IntOrString{IsString: true, StrVal: n.Value}
	return nil
}

// IsZero reports whether no value was given.
func (v IntOrString) IsZero() bool { return !v.IsString && v.IntVal == 0 }

// String returns the number or the name.
func (v IntOrString) String() string {
	if v.IsString {
		return v.StrVal
	}
	return itoa(int(v.IntVal))
}

// ---------------------------------------------------------------------------
// EndpointSlice (discovery.k8s.io/v1).

// Address types.
const (
	AddressTypeIPv4 = "IPv4"
	AddressTypeIPv6 = "IPv6"
	AddressTypeFQDN = "FQDN"
)

// EndpointSlice is a subset of discovery/v1 EndpointSlice. It is tied to its
// Service by the kubernetes.io/service-name label.
type EndpointSlice struct {
	TypeMeta    `yaml:",inline"`
	Metadata    ObjectMeta     `yaml:"metadata"`
	AddressType string         `yaml:"addressType"`
	Endpoints   []Endpoint     `yaml:"endpoints"`
	Ports       []EndpointPort `yaml:"ports"`
}

// Endpoint is discovery/v1 Endpoint.
type Endpoint struct {
	Addresses  []string           `yaml:"addresses"`
	Conditions EndpointConditions `yaml:"conditions,omitempty"`
	Hostname   *string            `yaml:"hostname,omitempty"`
	TargetRef  *ObjectReference   `yaml:"targetRef,omitempty"`
	NodeName   *string            `yaml:"nodeName,omitempty"`
	Zone       *string            `yaml:"zone,omitempty"`

	// Hints drive topology-aware routing, which meshproxy does not do.
	Hints Unsupported `yaml:"hints,omitempty"`
	// DeprecatedTopology is accepted only when empty.
	DeprecatedTopology Unsupported `yaml:"deprecatedTopology,omitempty"`
}

// EndpointConditions is discovery/v1 EndpointConditions. A nil Ready means
// ready (the API's "unknown state" is interpreted as ready).
type EndpointConditions struct {
	Ready       *bool `yaml:"ready,omitempty"`
	Serving     *bool `yaml:"serving,omitempty"`
	Terminating *bool `yaml:"terminating,omitempty"`
}

// IsReady reports whether the endpoint should receive traffic.
func (c EndpointConditions) IsReady() bool { return c.Ready == nil || *c.Ready }

// ObjectReference is core/v1 ObjectReference (an endpoint's targetRef).
type ObjectReference struct {
	Kind            string `yaml:"kind,omitempty"`
	Namespace       string `yaml:"namespace,omitempty"`
	Name            string `yaml:"name,omitempty"`
	UID             string `yaml:"uid,omitempty"`
	APIVersion      string `yaml:"apiVersion,omitempty"`
	ResourceVersion string `yaml:"resourceVersion,omitempty"`
	FieldPath       string `yaml:"fieldPath,omitempty"`
}

// EndpointPort is discovery/v1 EndpointPort. Name matches the Service
// port's name; Port is the target (container) port.
type EndpointPort struct {
	Name        *string `yaml:"name,omitempty"`
	Port        *int32  `yaml:"port,omitempty"`
	Protocol    *string `yaml:"protocol,omitempty"`
	AppProtocol *string `yaml:"appProtocol,omitempty"`
}

// ---------------------------------------------------------------------------
// HTTPRoute (gateway.networking.k8s.io/v1).

// HTTPRoute is a subset of Gateway API v1 HTTPRoute, attached to Services
// (GAMMA) rather than Gateways.
type HTTPRoute struct {
	TypeMeta `yaml:",inline"`
	Metadata ObjectMeta    `yaml:"metadata"`
	Spec     HTTPRouteSpec `yaml:"spec"`
	Status   Ignored       `yaml:"status,omitempty"`
}

// HTTPRouteSpec is Gateway API HTTPRouteSpec.
type HTTPRouteSpec struct {
	ParentRefs []ParentReference `yaml:"parentRefs,omitempty"`
	// Hostnames: GAMMA implementations SHOULD NOT infer functionality from
	// hostnames, so meshproxy rejects them rather than ignore them.
	Hostnames          Unsupported     `yaml:"hostnames,omitempty"`
	UseDefaultGateways Unsupported     `yaml:"useDefaultGateways,omitempty"`
	Rules              []HTTPRouteRule `yaml:"rules,omitempty"`
}

// Well-known groups and kinds of references.
const (
	GroupGateway = "gateway.networking.k8s.io"
	// GroupCore is "", the core API group. "core" is accepted as an alias.
	GroupCore   = ""
	KindGateway = "Gateway"
)

// ParentReference is Gateway API ParentReference. Note the API defaults:
// Group defaults to gateway.networking.k8s.io and Kind to Gateway, so a mesh
// route must say `group: ""` and `kind: Service` explicitly.
type ParentReference struct {
	Group       *string `yaml:"group,omitempty"`
	Kind        *string `yaml:"kind,omitempty"`
	Namespace   *string `yaml:"namespace,omitempty"`
	Name        string  `yaml:"name"`
	SectionName *string `yaml:"sectionName,omitempty"`
	Port        *int32  `yaml:"port,omitempty"`
}

// HTTPRouteRule is Gateway API HTTPRouteRule.
type HTTPRouteRule struct {
	Name        *string            `yaml:"name,omitempty"`
	Matches     []HTTPRouteMatch   `yaml:"matches,omitempty"`
	Filters     Unsupported        `yaml:"filters,omitempty"`
	BackendRefs []HTTPBackendRef   `yaml:"backendRefs,omitempty"`
	Timeouts    *HTTPRouteTimeouts `yaml:"timeouts,omitempty"`

	Retry              Unsupported `yaml:"retry,omitempty"`
	SessionPersistence Unsupported `yaml:"sessionPersistence,omitempty"`
}

// Path match types.
const (
	PathMatchExact             = "Exact"
	PathMatchPathPrefix        = "PathPrefix"
	PathMatchRegularExpression = "RegularExpression"
)

// Header and query parameter match types.
const (
	MatchExact             = "Exact"
	MatchRegularExpression = "RegularExpression"
)

// HTTPRouteMatch is Gateway API HTTPRouteMatch: all conditions must hold.
type HTTPRouteMatch struct {
	Path        *HTTPPathMatch        `yaml:"path,omitempty"`
	Headers     []HTTPHeaderMatch     `yaml:"headers,omitempty"`
	QueryParams []HTTPQueryParamMatch `yaml:"queryParams,omitempty"`
	Method      *string               `yaml:"method,omitempty"`
}

// HTTPPathMatch is Gateway API HTTPPathMatch. Type defaults to PathPrefix
// and Value to "/".
type HTTPPathMatch struct {
	Type  *string `yaml:"type,omitempty"`
	Value *string `yaml:"value,omitempty"`
}

// HTTPHeaderMatch is Gateway API HTTPHeaderMatch. Type defaults to Exact.
type HTTPHeaderMatch struct {
	Type  *string `yaml:"type,omitempty"`
	Name  string  `yaml:"name"`
	Value string  `yaml:"value"`
}

// HTTPQueryParamMatch is Gateway API HTTPQueryParamMatch. Type defaults to Exact.
type HTTPQueryParamMatch struct {
	Type  *string `yaml:"type,omitempty"`
	Name  string  `yaml:"name"`
	Value string  `yaml:"value"`
}

// HTTPBackendRef is Gateway API HTTPBackendRef (BackendRef inlined).
type HTTPBackendRef struct {
	Group     *string `yaml:"group,omitempty"`
	Kind      *string `yaml:"kind,omitempty"`
	Name      string  `yaml:"name"`
	Namespace *string `yaml:"namespace,omitempty"`
	// Port is the Service port (not the target port); required for Services.
	Port *int32 `yaml:"port,omitempty"`
	// Weight defaults to 1; 0 sends no traffic.
	Weight  *int32      `yaml:"weight,omitempty"`
	Filters Unsupported `yaml:"filters,omitempty"`
}

// HTTPRouteTimeouts is Gateway API HTTPRouteTimeouts.
type HTTPRouteTimeouts struct {
	Request        *Duration `yaml:"request,omitempty"`
	BackendRequest *Duration `yaml:"backendRequest,omitempty"`
}

// ---------------------------------------------------------------------------
// GRPCRoute (gateway.networking.k8s.io/v1).

// GRPCRoute is a subset of Gateway API v1 GRPCRoute, attached to Services
// (GAMMA) rather than Gateways.
type GRPCRoute struct {
	TypeMeta `yaml:",inline"`
	Metadata ObjectMeta    `yaml:"metadata"`
	Spec     GRPCRouteSpec `yaml:"spec"`
	Status   Ignored       `yaml:"status,omitempty"`
}

// GRPCRouteSpec is Gateway API GRPCRouteSpec.
type GRPCRouteSpec struct {
	ParentRefs []ParentReference `yaml:"parentRefs,omitempty"`
	// Hostnames are rejected as HTTPRoute's are: GAMMA implementations
	// SHOULD NOT infer functionality from them (GEP-1294).
	Hostnames          Unsupported     `yaml:"hostnames,omitempty"`
	UseDefaultGateways Unsupported     `yaml:"useDefaultGateways,omitempty"`
	Rules              []GRPCRouteRule `yaml:"rules,omitempty"`
}

// GRPCRouteRule is Gateway API GRPCRouteRule. It has no timeouts: the
// Proxy document's spec.timeouts.request applies to its requests.
type GRPCRouteRule struct {
	Name        *string          `yaml:"name,omitempty"`
	Matches     []GRPCRouteMatch `yaml:"matches,omitempty"`
	Filters     Unsupported      `yaml:"filters,omitempty"`
	BackendRefs []GRPCBackendRef `yaml:"backendRefs,omitempty"`

	SessionPersistence Unsupported `yaml:"sessionPersistence,omitempty"`
}

// GRPCRouteMatch is Gateway API GRPCRouteMatch: all conditions must hold.
type GRPCRouteMatch struct {
	// Method absent matches every service and method.
	Method  *GRPCMethodMatch  `yaml:"method,omitempty"`
	Headers []GRPCHeaderMatch `yaml:"headers,omitempty"`
}

// GRPCMethodMatch is Gateway API GRPCMethodMatch. Type defaults to Exact;
// at least one of Service and Method must be a non-empty string, and an
// empty or absent one matches anything.
type GRPCMethodMatch struct {
	Type    *string `yaml:"type,omitempty"`
	Service *string `yaml:"service,omitempty"`
	Method  *string `yaml:"method,omitempty"`
}

// GRPC method match types.
const (
	GRPCMethodMatchExact             = "Exact"
	GRPCMethodMatchRegularExpression = "RegularExpression"
)

// GRPCHeaderMatch is Gateway API GRPCHeaderMatch, the same shape as
// HTTPHeaderMatch. Type defaults to Exact.
type GRPCHeaderMatch HTTPHeaderMatch

// GRPCBackendRef is Gateway API GRPCBackendRef, the same shape as
// HTTPBackendRef (BackendRef inlined, plus filters).
type GRPCBackendRef HTTPBackendRef
