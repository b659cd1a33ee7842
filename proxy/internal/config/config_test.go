package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every file in testdata/bad must fail with the listed error substring (and,
// where given, at the listed line), so that each rejected construct keeps a
// precise, located message.
func TestParseBadFiles(t *testing.T) {
	tests := []struct {
		file string
		want string
		line int // 0 = not checked
	}{
		{"authorization-empty", "spec.inbound.authorization: must not be empty (omit it to allow any authenticated peer)", 10},
		{"authorization-empty-rule", "spec.inbound.authorization[1]: at least one of principals, paths or methods is required", 12},
		{"authorization-method", `spec.inbound.authorization[0].methods[0]: invalid method "GET, POST": must be an HTTP token`, 11},
		{"authorization-no-identity", "document 1 (Proxy default/reviews): spec.inbound.authorization: requires spec.identity", 9},
		{"authorization-path", `spec.inbound.authorization[0].paths[1]: invalid path prefix "api/": must be an absolute path starting with '/'`, 12},
		{"authorization-principal-scheme", `spec.inbound.authorization[0].principals[0]: invalid principal "default/web": must start with "spiffe://"`, 11},
		{"authorization-principal-trust-domain", `principals[0]: invalid principal "spiffe://cluster.local*": '*' must come after the whole trust domain and a '/'`, 12},
		{"authorization-principal-wildcard", `principals[1]: invalid principal "spiffe://cluster.local/ns/*/sa/web": '*' is allowed only as the last character`, 13},
		{"backend-filters", "spec.rules[0].backendRefs[0].filters: not supported by meshproxy", 25},
		{"backend-kind", "backendRefs[0].kind: backend kind multicluster.x-k8s.io/ServiceImport is not supported by meshproxy", 22},
		{"backend-no-port", "backendRefs[0].port: required for a Service backend", 22},
		{"backend-request-longer", "timeouts.backendRequest: 20s is longer than request timeout 10s", 23},
		{"bad-apiversion", `apiVersion: unsupported apiVersion "gateway.networking.k8s.io/v1alpha2" for kind HTTPRoute`, 15},
		{"bad-name", `document 2 (Service default/Reviews): metadata.name: invalid name "Reviews"`, 10},
		{"creation-timestamp", `metadata.creationTimestamp: invalid timestamp "yesterday"`, 10},
		{"duplicate-object", "duplicate Service default/reviews (first defined in document 2)", 17},
		{"duplicate-parentref", "spec.parentRefs[1]: duplicate of spec.parentRefs[0]", 21},
		{"duplicate-rule-name", `spec.rules[1].name: duplicate rule name "main"`, 24},
		{"duration-format", `spec.rules[0].timeouts.request: invalid duration "1.5s"`, 23},
		{"external-name", "spec.type: ExternalName Services are not supported by meshproxy", 12},
		{"filters", "document 3 (HTTPRoute default/reviews): spec.rules[0].filters: not supported by meshproxy", 22},
		{"gateway-parent", `spec.parentRefs[0]: Gateway parent "my-gateway" is not supported by meshproxy`, 20},
		{"header-name", `headers[0].name: invalid header name "x canary"`, 22},
		{"hostnames", "spec.hostnames: not supported by meshproxy", 21},
		{"method", `matches[0].method: unsupported value "FETCH" (want GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE or PATCH)`, 22},
		{"identity-annotation-service", `document 2 (Service default/reviews): metadata.annotations["meshbench.dev/identity"]: invalid SPIFFE ID "spiffe://cluster.local:8443/ns/default/sa/reviews": trust domain must not have a port`, 13},
		{"identity-annotation-slice", `document 3 (EndpointSlice default/reviews-v2): metadata.annotations["meshbench.dev/identity"]: invalid SPIFFE ID "spiffe://cluster.local/ns/default/sa/reviews-v2/": path must not have empty segments`, 23},
		{"identity-missing-key", "document 1 (Proxy default/web): spec.identity.keyFile: required", 7},
		{"no-rules", "spec.rules: required", 0},
		{"not-a-mapping", "document 2: document is not a mapping", 8},
		{"path-dot-segment", `path.value: invalid path "/a/../b": must not contain '..' segments`, 22},
		{"path-relative", `path.value: invalid path "api": must be an absolute path starting with '/'`, 22},
		// The brief's example, verbatim after the file:line prefix.
		{"path-type", `path-type.yaml:24: document 3 (HTTPRoute default/reviews): spec.rules[0].matches[1].path.type: unsupported value "Foo" (want Exact, PathPrefix or RegularExpression)`, 24},
		{"proxy-app-loop", "spec.inbound.app: app address \"127.0.0.1:15006\" is the proxy's own spec.inbound.address", 7},
		{"proxy-bad-address", `spec.outbound.address: invalid address "example.com:15001": host "example.com" must be an IP address or localhost`, 6},
		{"proxy-bad-duration", "spec.timeouts.connect: cannot unmarshal !!str `fast` (want a Go duration", 7},
		{"proxy-headers-with-underscores", `document 1 (Proxy default/client): spec.http.headersWithUnderscores: unsupported value "Strip" (want drop, reject or allow)`, 7},
		{"proxy-inbound-app-protocol", `document 1 (Proxy default/server): spec.inbound.appProtocol: invalid appProtocol "grpc web"`, 6},
		{"proxy-limits", "spec.limits.maxHeaderBytes: 100 out of range", 7},
		{"proxy-mesh-protocol", `document 1 (Proxy default/client): spec.http.meshProtocol: unsupported value "h2c" (want h2 or http/1.1)`, 7},
		{"proxy-missing", "proxy-missing.yaml: no Proxy document", 0},
		{"proxy-no-app", "document 1 (Proxy default/client): spec.inbound.app: required", 7},
		{"proxy-no-listener", "spec: at least one of outbound or inbound is required", 5},
		{"proxy-port-range", `port "0" must be a number 1-65535`, 6},
		{"proxy-same-address", `spec.outbound.address: address "127.0.0.1:15001" conflicts with spec.admin.address "localhost:15001"`, 6},
		{"proxy-two", "document 2 (Proxy default/other): kind: more than one Proxy document (first is document 1)", 9},
		{"proxy-zero-timeout", "spec.timeouts.headerRead: must be positive", 7},
		{"regex-invalid", "path.value: invalid regular expression (Go RE2 syntax)", 22},
		{"retry", "spec.rules[0].retry: not supported by meshproxy", 22},
		{"service-parent-no-group", `spec.parentRefs[0].group: a Service parent needs group: ""`, 20},
		{"service-port-range", "spec.ports[0].port: invalid port 70000", 13},
		{"session-affinity", "spec.sessionAffinity: ClientIP session affinity is not supported by meshproxy", 12},
		{"session-persistence", "spec.rules[0].sessionPersistence: not supported by meshproxy", 22},
		{"slice-address-family", `endpoints[0].addresses[0]: "fd00::1" is not an IPv4 address`, 22},
		{"slice-bad-address", `endpoints[0].addresses[0]: invalid address "10.0.0.256"`, 22},
		{"slice-fqdn", "addressType: FQDN is not supported by meshproxy", 20},
		{"slice-hints", "endpoints[0].hints: not supported by meshproxy", 23},
		{"slice-no-label", "metadata.labels[kubernetes.io/service-name]: required", 17},
		{"type-mismatch", "spec.ports[0].port: cannot unmarshal !!str `http-port` (want an integer)", 13},
		{"unknown-field", `document 3 (HTTPRoute default/reviews): spec.rules[0].matchez: unknown field "matchez"`, 22},
		{"unknown-kind", `document 3 (Deployment default/reviews): kind: unsupported kind "Deployment"`, 16},
		{"weight-range", "backendRefs[0].weight: 1000001 out of range (want 0-1000000)", 22},
		{"yaml-syntax", "yaml-syntax.yaml:9: invalid YAML in document 2", 9},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file+".yaml"] = true
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("..", "..", "testdata", "bad", tt.file+".yaml")
			cfg, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded: %s", cfg.Summary())
			}
			if cfg != nil {
				t.Error("Load returned a Config along with an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error does not contain %q:\n%v", tt.want, err)
			}
			if !strings.HasPrefix(err.Error(), path) {
				t.Errorf("error does not start with the file name: %v", err)
			}
			if tt.line > 0 {
				var found bool
				for _, e := range Errors(err) {
					if strings.Contains(e.Error(), tt.want) {
						found = true
						if e.Line != tt.line {
							t.Errorf("line = %d, want %d", e.Line, tt.line)
						}
					}
				}
				if !found {
					t.Errorf("no *Error carries the message: %v", err)
				}
			}
		})
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no expectation in this table", f)
		}
	}
}

func TestParseExample(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Proxy
	if p.Metadata.Name != "client" || p.Spec.Admin.Address != "127.0.0.1:15000" || p.Spec.Outbound.Address != "127.0.0.1:15001" ||
		p.Spec.Inbound.Address != "127.0.0.1:15006" || p.Spec.Inbound.App != "127.0.0.1:8080" {
		t.Errorf("proxy = %+v", p)
	}
	if len(cfg.Services) != 3 || len(cfg.Slices) != 4 || len(cfg.Routes) != 1 {
		t.Fatalf("counts: %s", cfg.Summary())
	}
	rt := cfg.Routes[0]
	if want := time.Date(2025, 1, 15, 9, 30, 0, 0, time.UTC); !rt.Metadata.Created.Equal(want) {
		t.Errorf("Created = %v, want %v", rt.Metadata.Created, want)
	}
	if w := rt.Spec.Rules[1].BackendRefs[0].Weight; w == nil || *w != 90 {
		t.Errorf("split weight = %v", w)
	}
	if tp := cfg.Services[0].Spec.Ports[0].TargetPort; !tp.IsString || tp.StrVal != "http" {
		t.Errorf("targetPort = %+v, want name http", tp)
	}
	if tp := cfg.Services[1].Spec.Ports[0].TargetPort; tp.IsString || tp.IntVal != 18081 {
		t.Errorf("targetPort = %+v, want 18081", tp)
	}
	want := "proxy/testdata/example.yaml: proxy default/client, 3 services, 4 endpointslices (4 endpoints), 1 httproutes (2 rules)"
	if got := cfg.Summary(); !strings.HasSuffix(got, want[len("proxy/"):]) || strings.Contains(got, "\n") {
		t.Errorf("Summary() = %q", got)
	}
}

// The mTLS sidecar pair of the docs: identity paths are resolved against
// the file's directory (the certificate files need not exist to parse).
func TestParseMTLSExamples(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := Load(filepath.Join("..", "..", "testdata", "mtls-client.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Identity{
		CertFile: filepath.Join(dir, "certs", "default-web.crt"),
		KeyFile:  filepath.Join(dir, "certs", "default-web.key"),
		CAFile:   filepath.Join(dir, "certs", "ca.crt"),
	}
	cs := client.Proxy.Spec
	if !reflect.DeepEqual(cs.Identity, want) {
		t.Errorf("client identity = %+v, want %+v", cs.Identity, want)
	}
	if cs.Admin.Address != "127.0.0.1:15000" || cs.Outbound.Address != "127.0.0.1:15001" || cs.Inbound != nil {
		t.Errorf("client listeners = %+v", cs)
	}
	if len(client.Services) != 1 || len(client.Slices) != 1 {
		t.Fatalf("client: %s", client.Summary())
	}
	if got := client.Services[0].Metadata.Annotations[IdentityAnnotation]; got != "spiffe://cluster.local/ns/default/sa/reviews" {
		t.Errorf("reviews identity annotation = %q", got)
	}
	if ep := client.Slices[0]; ep.Endpoints[0].Addresses[0] != "127.0.0.1" || *ep.Ports[0].Port != 15006 {
		t.Errorf("reviews endpoint = %+v", ep)
	}

	server, err := Load(filepath.Join("..", "..", "testdata", "mtls-server.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ss := server.Proxy.Spec
	if want := filepath.Join(dir, "certs", "default-reviews.key"); ss.Identity == nil || ss.Identity.KeyFile != want {
		t.Errorf("server identity = %+v, want key %s", ss.Identity, want)
	}
	if ss.Admin.Address != "127.0.0.1:15100" || ss.Outbound != nil || ss.Inbound.Address != "127.0.0.1:15006" || ss.Inbound.App != "127.0.0.1:8080" {
		t.Errorf("server listeners = %+v", ss)
	}
	wantAuthz := []AuthorizationRule{{Principals: []string{"spiffe://cluster.local/ns/default/sa/web"}, Paths: []string{"/"}}}
	if !reflect.DeepEqual(ss.Inbound.Authorization, wantAuthz) {
		t.Errorf("authorization = %+v, want %+v", ss.Inbound.Authorization, wantAuthz)
	}
}

func TestParseIdentity(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "pki")
	src := `apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: reviews}
spec:
  identity:
    certFile: certs/../certs/r.crt
    keyFile: ` + abs + `//r.key
    caFile: ../ca.crt
  inbound:
    address: 127.0.0.1:15006
    app: 127.0.0.1:8080
    authorization:
    - principals: ["spiffe://cluster.local/ns/default/sa/web", "spiffe://cluster.local/ns/batch/*", "*"]
    - {paths: [/healthz, /api/], methods: [GET, HEAD, purge]}
---
apiVersion: v1
kind: Service
metadata:
  name: ratings
  annotations: {meshbench.dev/identity: spiffe://cluster.local/ns/default/sa/ratings}
spec:
  ports: [{port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ratings-v2
  labels: {kubernetes.io/service-name: ratings}
  annotations: {meshbench.dev/identity: spiffe://other.domain_1/ns/default/sa/ratings-v2.beta}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{port: 8080}]
`
	cfg, err := Parse(filepath.Join("etc", "meshproxy", "mesh.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	want := &Identity{
		CertFile: filepath.Join(wd, "etc", "meshproxy", "certs", "r.crt"),
		KeyFile:  filepath.Join(abs, "r.key"),
		CAFile:   filepath.Join(wd, "etc", "ca.crt"),
	}
	if got := cfg.Proxy.Spec.Identity; !reflect.DeepEqual(got, want) {
		t.Errorf("identity = %+v, want %+v", got, want)
	}
	rules := cfg.Proxy.Spec.Inbound.Authorization
	if len(rules) != 2 || len(rules[0].Principals) != 3 || rules[0].Paths != nil || !slices.Equal(rules[1].Methods, []string{"GET", "HEAD", "purge"}) {
		t.Errorf("authorization = %+v", rules)
	}
	// Proxy spec changes are detected with reflect.DeepEqual.
	again, err := Parse(filepath.Join("etc", "meshproxy", "mesh.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Proxy.Spec, again.Proxy.Spec) {
		t.Error("the same file parses to specs that are not DeepEqual")
	}
	moved, err := Parse(filepath.Join("elsewhere", "mesh.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(cfg.Proxy.Spec, moved.Proxy.Spec) {
		t.Error("relative identity paths did not follow the file's directory")
	}

	// No identity, no authorization: both stay nil. "authorization: null"
	// is the same as absent.
	cfg, err = Parse("min.yaml", []byte(minimalProxy+"  inbound: {address: 127.0.0.1:15006, app: 127.0.0.1:8080, authorization: null}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Proxy.Spec; s.Identity != nil || s.Inbound.Authorization != nil {
		t.Errorf("identity %+v, authorization %+v; want nil", s.Identity, s.Inbound.Authorization)
	}

	// Every identity file is required, and each problem is reported.
	_, err = Parse("min.yaml", []byte(minimalProxy+"  identity: {}\n"))
	var fields []string
	for _, e := range Errors(err) {
		fields = append(fields, e.Field+": "+e.Msg)
	}
	if want := []string{"spec.identity.certFile: required", "spec.identity.keyFile: required", "spec.identity.caFile: required"}; !slices.Equal(fields, want) {
		t.Errorf("identity: {} errors = %q, want %q", fields, want)
	}
}

const minimalProxy = `apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: p}
spec:
  outbound: {address: "[::1]:15001"}
`

func TestProxyDefaults(t *testing.T) {
	cfg, err := Parse("min.yaml", []byte(minimalProxy+"  timeouts: {request: 5s, idle: 0s}\n  limits: {maxConnections: 100}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Proxy.Spec
	want := DefaultProxySpec()
	want.Outbound = s.Outbound
	want.Timeouts.Request = 5 * time.Second
	want.Timeouts.Idle = 0 // explicitly disabled, not defaulted
	want.Limits.MaxConnections = 100
	if want.HTTP.HeadersWithUnderscores != HeadersWithUnderscoresDrop {
		t.Errorf("default headersWithUnderscores = %q, want drop", want.HTTP.HeadersWithUnderscores)
	}
	if s != want {
		t.Errorf("spec = %+v\nwant   %+v", s, want)
	}
	if cfg.Proxy.Metadata.Namespace != DefaultNamespace {
		t.Errorf("namespace = %q, want default", cfg.Proxy.Metadata.Namespace)
	}
	if s.Admin != nil || s.Inbound != nil {
		t.Error("absent listeners are not nil")
	}
}

// spec.http.headersWithUnderscores: drop when absent (nginx's default, and
// the safe one); any other value than drop, reject or allow is an error
// naming the field and the allowed values.
func TestHeadersWithUnderscores(t *testing.T) {
	const field = "spec.http.headersWithUnderscores"
	tests := []struct {
		name, yaml string
		want       string // the value after parsing, when valid
		err        string // the expected error, when not
	}{
		{name: "absent", want: HeadersWithUnderscoresDrop},
		{name: "empty http", yaml: "  http: {}\n", want: HeadersWithUnderscoresDrop},
		{name: "drop", yaml: "  http: {headersWithUnderscores: drop}\n", want: HeadersWithUnderscoresDrop},
		{name: "reject", yaml: "  http: {headersWithUnderscores: reject}\n", want: HeadersWithUnderscoresReject},
		{name: "allow", yaml: "  http: {headersWithUnderscores: allow}\n", want: HeadersWithUnderscoresAllow},
		{name: "wrong case", yaml: "  http: {headersWithUnderscores: Drop}\n",
			err: field + `: unsupported value "Drop" (want drop, reject or allow)`},
		{name: "empty string", yaml: "  http: {headersWithUnderscores: \"\"}\n",
			err: field + `: unsupported value "" (want drop, reject or allow)`},
		{name: "Envoy spelling", yaml: "  http: {headersWithUnderscores: DROP_HEADER}\n",
			err: field + `: unsupported value "DROP_HEADER" (want drop, reject or allow)`},
		{name: "not a string", yaml: "  http: {headersWithUnderscores: [drop]}\n", err: "cannot unmarshal !!seq (want a string)"},
		{name: "misspelt field", yaml: "  http: {headersWithUnderscore: drop}\n", err: "spec.http.headersWithUnderscore: unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("p.yaml", []byte(minimalProxy+tc.yaml))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := cfg.Proxy.Spec.HTTP.HeadersWithUnderscores; got != tc.want {
					t.Fatalf("%s = %q, want %q", field, got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; %s = %q", field, cfg.Proxy.Spec.HTTP.HeadersWithUnderscores)
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error does not contain %q:\n%v", tc.err, err)
			}
		})
	}
}

// Output of `kubectl get -o yaml` carries server-populated fields and
// status; they must load. v1beta1 HTTPRoutes too.
func TestParseKubectlExport(t *testing.T) {
	src := minimalProxy + `---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  uid: 6f1c0c5e-1d5e-4b7e-9a55-0c1f8e3c1a11
  resourceVersion: "12345"
  creationTimestamp: "2024-03-01T10:00:00Z"
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}"}
  managedFields:
  - manager: kubectl
    operation: Update
    fieldsV1: {f:spec: {}}
spec:
  type: ClusterIP
  clusterIP: 10.96.0.7
  clusterIPs: [10.96.0.7]
  internalTrafficPolicy: Cluster
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  sessionAffinity: None
  selector: {app: web}
  ports:
  - {name: http, port: 80, protocol: TCP, targetPort: 8080}
status:
  loadBalancer: {}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-x7k2p
  namespace: shop
  generation: 3
  labels: {kubernetes.io/service-name: web, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}
  ownerReferences:
  - {apiVersion: v1, kind: Service, name: web, uid: 6f1c0c5e-1d5e-4b7e-9a55-0c1f8e3c1a11, controller: true}
addressType: IPv6
endpoints:
- addresses: ["fd00::10"]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-1
  targetRef: {kind: Pod, namespace: shop, name: web-1, uid: abc}
ports:
- {name: http, port: 8080, protocol: TCP}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 80}]
  rules:
  - filters: []
    backendRefs: [{name: web, port: 80}]
status:
  parents:
  - parentRef: {group: "", kind: Service, name: web}
    controllerName: meshbench.dev/meshproxy
    conditions: [{type: Accepted, status: "True"}]
`
	cfg, err := Parse("export.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) != 1 || len(cfg.Slices) != 1 || len(cfg.Routes) != 1 {
		t.Fatalf("counts: %s", cfg.Summary())
	}
	if cfg.Services[0].Metadata.Namespace != "shop" || cfg.Routes[0].APIVersion != APIVersionHTTPRouteBeta {
		t.Errorf("service ns %q, route apiVersion %q", cfg.Services[0].Metadata.Namespace, cfg.Routes[0].APIVersion)
	}
}

// All problems are reported, in file order, each as an *Error.
func TestParseReportsAllErrors(t *testing.T) {
	src := minimalProxy + `  eventLoops: -1
---
apiVersion: v1
kind: Service
metadata: {name: a}
spec:
  ports: [{name: http, port: 0}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{group: "", kind: Service, name: a}]
  rules:
  - matches: [{path: {type: Exact, value: x}, headers: [{name: "a b", value: v}]}]
    backendRefs: [{name: a, port: 80, weight: -1}]
`
	_, err := Parse("multi.yaml", []byte(src))
	errs := Errors(err)
	want := []string{"spec.eventLoops", "spec.ports[0].port", "path.value", "headers[0].name", "weight"}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, e := range errs {
		if !strings.Contains(e.Field, want[i]) {
			t.Errorf("error %d field = %q, want %q", i, e.Field, want[i])
		}
		if i > 0 && (e.Doc < errs[i-1].Doc || e.Doc == errs[i-1].Doc && e.Line < errs[i-1].Line) {
			t.Errorf("errors out of file order: %v", err)
		}
	}
	var one *Error
	if !errors.As(err, &one) || one.File != "multi.yaml" {
		t.Errorf("errors.As(*Error) = %v", one)
	}
}

func TestParseEmptyDocuments(t *testing.T) {
	src := "---\n# leading comment\n---\n" + minimalProxy + "---\n---\n# trailing\n"
	if _, err := Parse("empty-docs.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("empty.yaml", nil); err == nil || !strings.Contains(err.Error(), "no Proxy document") {
		t.Errorf("empty file: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
}

// Test vectors from GEP-2257.
func TestDuration(t *testing.T) {
	valid := map[string]time.Duration{
		"0h": 0, "0s": 0, "0h0m0s": 0, "1h": time.Hour, "30m": 30 * time.Minute, "10s": 10 * time.Second,
		"500ms": 500 * time.Millisecond, "2h30m": 150 * time.Minute, "150m": 150 * time.Minute,
		"7230s": 2*time.Hour + 30*time.Second, "1h30m10s": time.Hour + 30*time.Minute + 10*time.Second,
		"10s30m1h": time.Hour + 30*time.Minute + 10*time.Second, "100ms200ms300ms": 600 * time.Millisecond,
	}
	for in, want := range valid {
		if got, err := Duration(in).Parse(); err != nil || got != want {
			t.Errorf("Duration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"1", "1m1", "1d", "1h30m10s20ms50h", "999999h", "1.5h", "-15m", "", "1us"} {
		if _, err := Duration(in).Parse(); err == nil {
			t.Errorf("Duration(%q) accepted", in)
		}
	}
}

func TestNameValidators(t *testing.T) {
	tests := []struct {
		fn   func(string) string
		in   string
		good bool
	}{
		{dns1123Label, "a-b-1", true},
		{dns1123Label, "-a", false},
		{dns1123Label, "A", false},
		{dns1123Label, strings.Repeat("a", 64), false},
		{dns1035Label, "1abc", false},
		{dns1035Label, "abc1", true},
		{dns1123Subdomain, "a.b-c.d", true},
		{dns1123Subdomain, "a..b", false},
		{ianaSvcName, "http-alt", true},
		{ianaSvcName, "http--alt", false},
		{ianaSvcName, "8080", false},
		{ianaSvcName, "a-very-long-port-name", false},
		{headerName, "X-Canary", true},
		{headerName, "x:y", false},
		{headerValue, "a b\tc", true},
		{headerValue, " a", false},
		{headerValue, "a  b", false},
		{headerValue, "a\x01", false},
		{PathValue, "/a/b%20c", true},
		{PathValue, "/a//b", false},
		{PathValue, "/a%2Fb", false},
		{PathValue, "/a#b", false},
		{PathValue, "/a b", false},
		{PathValue, "/a/.", false},
		{ValidateSPIFFEID, "spiffe://cluster.local/ns/default/sa/web", true},
		{ValidateSPIFFEID, "spiffe://a_b.c-d/X.y-z_0/1", true},
		{ValidateSPIFFEID, "spiffe://cluster.local", false},
		{ValidateSPIFFEID, "spiffe://cluster.local/", false},
		{ValidateSPIFFEID, "spiffe://cluster.local/ns//sa", false},
		{ValidateSPIFFEID, "spiffe://cluster.local/ns/./sa", false},
		{ValidateSPIFFEID, "spiffe://cluster.local/ns/..", false},
		{ValidateSPIFFEID, "spiffe://cluster.local/ns/a%20b", false},
		{ValidateSPIFFEID, "spiffe://cluster.local/ns/a?b=c", false},
		{ValidateSPIFFEID, "spiffe://cluster.local/ns/a#b", false},
		{ValidateSPIFFEID, "spiffe://Cluster.local/ns/a", false},
		{ValidateSPIFFEID, "spiffe://user@cluster.local/ns/a", false},
		{ValidateSPIFFEID, "spiffe://cluster.local:443/ns/a", false},
		{ValidateSPIFFEID, "spiffe:///ns/a", false},
		{ValidateSPIFFEID, "SPIFFE://cluster.local/ns/a", false},
		{ValidateSPIFFEID, "https://cluster.local/ns/a", false},
		{ValidateSPIFFEID, "spiffe://cluster.local/ns/*", false},
		{ValidateSPIFFEID, "spiffe://cluster.local/" + strings.Repeat("a", 2048), false},
		{principal, "*", true},
		{principal, "spiffe://cluster.local/*", true},
		{principal, "spiffe://cluster.local/ns/default/*", true},
		{principal, "spiffe://cluster.local/ns/default/sa/web*", true},
		{principal, "spiffe://cluster.local/ns/default/sa/web", true},
		{principal, "", false},
		{principal, "**", false},
		{principal, "spiffe://*", false},
		{principal, "spiffe://cluster.local*", false},
		{principal, "spiffe://cluster.*", false},
		{principal, "spiffe://cluster.local/ns//*", false},
		{principal, "spiffe://cluster.local/*/sa/web", false},
		{principal, "spiffe://cluster.local/ns/default/sa/web/", false},
		{principal, "default/web*", false},
		{httpToken, "GET", true},
		{httpToken, "purge", true},
		{httpToken, "M-SEARCH", true},
		{httpToken, "", false},
		{httpToken, "GET POST", false},
		{ValidateListenAddress, "localhost:80", true},
		{ValidateListenAddress, "[::1]:80", true},
		{ValidateListenAddress, "::1:80", false},
		{ValidateListenAddress, "[127.0.0.1]:80", false},
		{ValidateListenAddress, "127.0.0.1:080", false},
		{ValidateListenAddress, "127.0.0.1", false},
		{ValidateListenAddress, "[fe80::1%eth0]:80", false},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in) == ""; got != tt.good {
			t.Errorf("validate(%q) ok = %v, want %v (%s)", tt.in, got, tt.good, tt.fn(tt.in))
		}
	}
}

func TestAddrsOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:1", "127.0.0.1:1", true},
		{"127.0.0.1:1", "127.0.0.1:2", false},
		{"0.0.0.0:1", "10.0.0.1:1", true},
		{"[::]:1", "127.0.0.1:1", true},
		{"localhost:1", "127.0.0.1:1", true},
		{"localhost:1", "[::1]:1", true},
		{"localhost:1", "10.0.0.1:1", false},
		{"127.0.0.1:1", "127.0.0.2:1", false},
		{"[::ffff:127.0.0.1]:1", "127.0.0.1:1", true},
	}
	for _, tt := range tests {
		if got := addrsOverlap(tt.a, tt.b); got != tt.want {
			t.Errorf("addrsOverlap(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// Parse must never panic, and must return exactly one of Config and error.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "*", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "*.yaml"))
	files = append(files, more...)
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned cfg=%v err=%v", cfg != nil, err)
		}
	})
}

// Alias expansion must not make Parse exponential.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString(minimalProxy + "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nstatus:\n  x0: &b0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&b, "  x%d: &b%d [*b%d, *b%d, *b%d, *b%d, *b%d, *b%d, *b%d, *b%d, *b%d, *b%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	b.WriteString("spec:\n  selector: {app: *b11}\n  ports: [{port: 80}]\n")
	done := make(chan error, 1)
	go func() {
		_, err := Parse("bomb.yaml", []byte(b.String()))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("alias bomb accepted")
		}
		t.Log(err)
	case <-time.After(10 * time.Second):
		t.Fatal("Parse did not finish on an alias bomb")
	}
}

// grpcRouteDoc is minimalProxy plus a Service and a GRPCRoute whose spec is
// parentRefs to that Service followed by rules (indented by 2).
func grpcRouteDoc(apiVersion, rules string) string {
	return minimalProxy + `---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  ports: [{name: grpc, port: 7070}]
---
apiVersion: ` + apiVersion + `
kind: GRPCRoute
metadata: {name: g}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, port: 7070}]
` + rules
}

// Every GRPCRoute problem is an error naming the field, at its line, as
// the CRD's schema and CEL rules (or meshproxy's limits) decide.
func TestParseGRPCRouteErrors(t *testing.T) {
	const v1 = APIVersionGRPCRoute
	tests := []struct {
		name, apiVersion, spec string
		field, msg             string
		at                     string // the error's line is the last one containing this
	}{
		{"unknown field timeouts", v1, `  rules:
  - backendRefs: [{name: echo, port: 7070}]
    timeouts: {request: 1s}
`, "spec.rules[0].timeouts", `unknown field "timeouts"`, "timeouts:"},
		{"unknown field in method", v1, `  rules:
  - matches: [{method: {service: a.B, path: /a.B/C}}]
`, "spec.rules[0].matches[0].method.path", `unknown field "path"`, "path:"},
		{"hostnames", v1, `  hostnames: [echo.default.svc.cluster.local]
  rules: [{backendRefs: [{name: echo, port: 7070}]}]
`, "spec.hostnames", "not supported by meshproxy (GAMMA mesh routes SHOULD NOT use hostnames", "hostnames:"},
		{"useDefaultGateways", v1, `  useDefaultGateways: All
  rules: [{backendRefs: [{name: echo, port: 7070}]}]
`, "spec.useDefaultGateways", "not supported by meshproxy", "useDefaultGateways:"},
		{"filters", v1, `  rules:
  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: a, value: b}]}}]
    backendRefs: [{name: echo, port: 7070}]
`, "spec.rules[0].filters", "not supported by meshproxy", "filters:"},
		{"sessionPersistence", v1, `  rules:
  - sessionPersistence: {sessionName: s}
    backendRefs: [{name: echo, port: 7070}]
`, "spec.rules[0].sessionPersistence", "not supported by meshproxy", "sessionPersistence:"},
		{"backendRef filters", v1, `  rules:
  - backendRefs: [{name: echo, port: 7070, filters: [{type: RequestMirror}]}]
`, "spec.rules[0].backendRefs[0].filters", "not supported by meshproxy", "backendRefs:"},
		{"backendRef weight", v1, `  rules:
  - backendRefs:
    - {name: echo, port: 7070, weight: -1}
`, "spec.rules[0].backendRefs[0].weight", "-1 out of range (want 0-1000000)", "weight:"},
		{"backendRef port", v1, `  rules:
  - backendRefs:
    - {name: echo}
`, "spec.rules[0].backendRefs[0].port", "required for a Service backend", "- {name: echo}"},
		{"method without service or method", v1, `  rules:
  - matches:
    - method: {type: Exact}
`, "spec.rules[0].matches[0].method", "at least one of service or method is required", "method:"},
		{"regex method with both empty", v1, `  rules:
  - matches:
    - method: {type: RegularExpression, service: "", method: ""}
`, "spec.rules[0].matches[0].method", "at least one of service or method is required", "method:"},
		{"exact service with a slash", v1, `  rules:
  - matches:
    - method:
        service: foo/Bar
`, "spec.rules[0].matches[0].method.service", `invalid service "foo/Bar": must be a protobuf service name`, "service:"},
		{"exact service empty", v1, `  rules:
  - matches:
    - method:
        service: ""
        method: Login
`, "spec.rules[0].matches[0].method.service", `invalid service ""`, "service:"},
		// The CEL tests of gateway-api (tests/cel/grpcroute_test.go): a
		// regular expression needs type RegularExpression.
		{"exact method regex", v1, `  rules:
  - matches:
    - method:
        method: .*
`, "spec.rules[0].matches[0].method.method", `invalid method ".*": must be a protobuf method name`, "method: .*"},
		{"exact method with a dot", v1, `  rules:
  - matches:
    - method: {type: Exact, service: a.B, method: Say.Hello}
`, "spec.rules[0].matches[0].method.method", `invalid method "Say.Hello"`, "method: {"},
		{"exact service too long", v1, `  rules:
  - matches:
    - method: {service: ` + strings.Repeat("a", 1025) + `}
`, "spec.rules[0].matches[0].method.service", "at most 1024 characters", "method: {"},
		{"regex service invalid", v1, `  rules:
  - matches:
    - method:
        type: RegularExpression
        service: "foo.(Bar"
`, "spec.rules[0].matches[0].method.service", "invalid regular expression (Go RE2 syntax): missing closing )", "service:"},
		{"regex method invalid", v1, `  rules:
  - matches:
    - method: {type: RegularExpression, method: "Get[a-"}
`, "spec.rules[0].matches[0].method.method", "invalid regular expression", "method: {"},
		{"method match type", v1, `  rules:
  - matches:
    - method:
        type: Prefix
        service: foo.Bar
`, "spec.rules[0].matches[0].method.type", `unsupported value "Prefix" (want Exact or RegularExpression)`, "type: Prefix"},
		{"header name", v1, `  rules:
  - matches:
    - headers:
      - {name: "x canary", value: "1"}
`, "spec.rules[0].matches[0].headers[0].name", `invalid header name "x canary"`, "x canary"},
		{"header type", v1, `  rules:
  - matches:
    - headers:
      - {type: Prefix, name: x, value: "1"}
`, "spec.rules[0].matches[0].headers[0].type", `unsupported value "Prefix" (want Exact or RegularExpression)`, "type: Prefix"},
		{"header regex", v1, `  rules:
  - matches:
    - headers:
      - {type: RegularExpression, name: x, value: "a("}
`, "spec.rules[0].matches[0].headers[0].value", "invalid regular expression", "name: x"},
		{"header empty value", v1, `  rules:
  - matches:
    - headers:
      - {name: x, value: ""}
`, "spec.rules[0].matches[0].headers[0].value", "must be 1-4096 characters", "name: x"},
		{"too many headers", v1, `  rules:
  - matches:
    - headers: [` + strings.Repeat(`{name: x, value: "1"}, `, 17) + `]
`, "spec.rules[0].matches[0].headers", "too many header matches (17, at most 16)", "headers:"},
		{"duplicate rule name", v1, `  rules:
  - name: main
    backendRefs: [{name: echo, port: 7070}]
  - name: main
    backendRefs: [{name: echo, port: 7070}]
`, "spec.rules[1].name", `duplicate rule name "main" (also spec.rules[0])`, "- name: main"},
		{"invalid rule name", v1, `  rules:
  - name: Main
    backendRefs: [{name: echo, port: 7070}]
`, "spec.rules[0].name", `invalid rule name "Main"`, "name: Main"},
		{"no rules", v1, "", "spec.rules", "required: at least one rule", "spec:"},
		{"apiVersion v1beta1", "gateway.networking.k8s.io/v1beta1", `  rules: [{backendRefs: [{name: echo, port: 7070}]}]
`, "apiVersion", `unsupported apiVersion "gateway.networking.k8s.io/v1beta1" for kind GRPCRoute (want gateway.networking.k8s.io/v1 or gateway.networking.k8s.io/v1alpha2)`, "apiVersion: gateway"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := grpcRouteDoc(tc.apiVersion, tc.spec)
			_, err := Parse("g.yaml", []byte(src))
			if err == nil {
				t.Fatal("accepted")
			}
			errs := Errors(err)
			var got *Error
			for _, e := range errs {
				if e.Field == tc.field && strings.Contains(e.Msg, tc.msg) {
					got = e
				}
			}
			if got == nil {
				t.Fatalf("no error at %s containing %q:\n%v", tc.field, tc.msg, err)
			}
			if len(errs) != 1 {
				t.Errorf("%d errors, want 1:\n%v", len(errs), err)
			}
			at := strings.LastIndex(src, tc.at)
			if at < 0 {
				t.Fatalf("test bug: %q not in the document", tc.at)
			}
			if line := strings.Count(src[:at], "\n") + 1; got.Line != line {
				t.Errorf("line %d, want %d: %v", got.Line, line, got)
			}
			if want := "(GRPCRoute default/g)"; tc.field != "apiVersion" && !strings.Contains(got.Error(), want) {
				t.Errorf("error does not name the object %s: %v", want, got)
			}
		})
	}
}

// What the GRPCRoute schema allows is accepted, v1alpha2 (the same type)
// included.
func TestParseGRPCRoute(t *testing.T) {
	for _, tc := range []struct{ name, apiVersion, rules string }{
		{"v1alpha2", APIVersionGRPCRouteAlpha, "  rules: [{backendRefs: [{name: echo, port: 7070}]}]\n"},
		{"service only", APIVersionGRPCRoute, "  rules: [{matches: [{method: {service: pkg.v1.Svc}}]}]\n"},
		{"method only", APIVersionGRPCRoute, "  rules: [{matches: [{method: {method: Get_2}}]}]\n"},
		{"leading dot", APIVersionGRPCRoute, "  rules: [{matches: [{method: {type: Exact, service: .foo.Test.Example, method: Login}}]}]\n"},
		{"upper-case service", APIVersionGRPCRoute, "  rules: [{matches: [{method: {service: Foo.BAR_baz}}]}]\n"},
		{"regex, empty service", APIVersionGRPCRoute, "  rules: [{matches: [{method: {type: RegularExpression, service: \"\", method: \"Get.*\"}}]}]\n"},
		{"regex both", APIVersionGRPCRoute, "  rules: [{matches: [{method: {type: RegularExpression, service: \".*\", method: \".*\"}}]}]\n"},
		{"headers only", APIVersionGRPCRoute, "  rules: [{matches: [{headers: [{name: x-b3, value: \"a b\"}, {type: RegularExpression, name: y, value: \"v[0-9]\"}]}]}]\n"},
		{"empty filters and status", APIVersionGRPCRoute, "  rules: [{filters: [], backendRefs: [{name: echo, port: 7070, weight: 0}]}]\nstatus: {parents: []}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("g.yaml", []byte(grpcRouteDoc(tc.apiVersion, tc.rules)))
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.GRPCRoutes) != 1 || len(cfg.Routes) != 0 || cfg.GRPCRoutes[0].APIVersion != tc.apiVersion {
				t.Errorf("routes %+v, httproutes %d", cfg.GRPCRoutes, len(cfg.Routes))
			}
		})
	}
	// A GRPCRoute and an HTTPRoute may share a name: they are different kinds.
	src := grpcRouteDoc(APIVersionGRPCRoute, "  rules: [{backendRefs: [{name: echo, port: 7070}]}]\n") + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: g}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules: [{backendRefs: [{name: echo, port: 7070}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules: [{backendRefs: [{name: echo, port: 7070}]}]
`
	_, err := Parse("g.yaml", []byte(src))
	if errs := Errors(err); len(errs) != 1 || !strings.Contains(errs[0].Error(), "document 5 (GRPCRoute default/g): metadata.name: duplicate GRPCRoute default/g (first defined in document 3)") {
		t.Errorf("want only the duplicate GRPCRoute reported: %v", err)
	}
}

func TestParseGRPCExample(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "testdata", "grpc-example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) != 3 || len(cfg.Slices) != 3 || len(cfg.Routes) != 0 || len(cfg.GRPCRoutes) != 1 {
		t.Fatalf("counts: %s", cfg.Summary())
	}
	if got := cfg.Summary(); !strings.HasSuffix(got, "grpc-example.yaml: proxy default/client, 3 services, 3 endpointslices (3 endpoints), 0 httproutes (0 rules), 1 grpcroutes (3 rules)") {
		t.Errorf("Summary() = %q", got)
	}
	rt := cfg.GRPCRoutes[0]
	if want := time.Date(2025, 1, 15, 9, 30, 0, 0, time.UTC); !rt.Metadata.Created.Equal(want) {
		t.Errorf("Created = %v, want %v", rt.Metadata.Created, want)
	}
	canary := rt.Spec.Rules[1]
	m := canary.Matches[0]
	if *canary.Name != "canary" || *m.Method.Service != "meshbench.echo.v1.Echo" || *m.Method.Method != "Unary" || m.Method.Type != nil ||
		len(m.Headers) != 1 || m.Headers[0].Name != "x-canary" || m.Headers[0].Value != "true" {
		t.Errorf("canary rule = %+v, match %+v", canary, m)
	}
	if w := rt.Spec.Rules[2].BackendRefs[0].Weight; w == nil || *w != 90 {
		t.Errorf("split weight = %v", w)
	}
	if ap := cfg.Services[2].Spec.Ports[0].AppProtocol; ap == nil || *ap != AppProtocolH2C {
		t.Errorf("echo-v2 appProtocol = %v", ap)
	}
}

// appProtocol is a Kubernetes qualified name, on Service and EndpointSlice
// ports alike.
func TestParseAppProtocol(t *testing.T) {
	doc := func(svcAP, sliceAP string) string {
		return minimalProxy + `---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  ports: [{name: grpc, port: 7070, appProtocol: "` + svcAP + `"}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo-1, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{name: grpc, port: 7070, appProtocol: "` + sliceAP + `"}]
`
	}
	for _, v := range []string{"http", "http2", "grpc", "grpc-web", "kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss", "example.com/My_Proto.v2"} {
		if _, err := Parse("a.yaml", []byte(doc(v, v))); err != nil {
			t.Errorf("appProtocol %q rejected: %v", v, err)
		}
	}
	for _, tc := range []struct{ svc, slice, field, msg string }{
		{"", "h2c", "spec.ports[0].appProtocol", `invalid appProtocol "": name must not be empty`},
		{"h2c", "kubernetes.io/h2c/x", "ports[0].appProtocol", `invalid appProtocol "kubernetes.io/h2c/x": must be a name with at most one '/' prefix`},
		{"-grpc", "h2c", "spec.ports[0].appProtocol", "name must start and end with a letter or digit"},
		{"http 2", "h2c", "spec.ports[0].appProtocol", `name must consist of letters, digits, '-', '_' and '.' (' ' is not allowed)`},
		{"h2c", "Kubernetes.io/h2c", "ports[0].appProtocol", `prefix "Kubernetes.io" must consist of lower-case letters`},
		{strings.Repeat("a", 64), "h2c", "spec.ports[0].appProtocol", "name must be at most 63 characters"},
	} {
		_, err := Parse("a.yaml", []byte(doc(tc.svc, tc.slice)))
		errs := Errors(err)
		if len(errs) != 1 || errs[0].Field != tc.field || !strings.Contains(errs[0].Msg, tc.msg) {
			t.Errorf("appProtocol %q / %q: err = %v, want %s: ...%s", tc.svc, tc.slice, err, tc.field, tc.msg)
		}
	}
}
