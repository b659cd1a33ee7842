package route

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/config"
)

// testReq is a Request over pre-built byte slices, so that using it
// allocates nothing (as the proxy's parser-backed implementation).
type testReq struct {
	method, path, query []byte
	headers             []testHeader
}

type testHeader struct{ name, value []byte }

func (r *testReq) Method() []byte { return r.method }
func (r *testReq) Path() []byte   { return r.path }
func (r *testReq) Query() []byte  { return r.query }

func (r *testReq) Header(name string) ([]byte, bool) {
	for _, h := range r.headers {
		if equalFold(h.name, name) {
			return h.value, true
		}
	}
	return nil, false
}

func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// newReq builds a request from "METHOD /path?query" and "Name: value" headers.
func newReq(target string, headers ...string) *testReq {
	method, rest, ok := strings.Cut(target, " ")
	if !ok {
		method, rest = "GET", target
	}
	path, query, _ := strings.Cut(rest, "?")
	r := &testReq{method: []byte(method), path: []byte(path), query: []byte(query)}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		r.headers = append(r.headers, testHeader{[]byte(name), []byte(strings.TrimSpace(value))})
	}
	return r
}

const proxyDoc = `apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: client, namespace: %s}
spec:
  outbound: {address: 127.0.0.1:15001}
  inbound: {address: 127.0.0.1:15006, app: 127.0.0.1:8080}
  timeouts: {request: 15s}
`

// service renders a Service with one EndpointSlice; ports are "name:port:target".
func service(ns, name, clusterIP string, ports ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\nspec:\n", name, ns)
	if clusterIP != "" {
		fmt.Fprintf(&b, "  clusterIP: %s\n", clusterIP)
	}
	b.WriteString("  ports:\n")
	for _, p := range ports {
		f := strings.Split(p, ":")
		fmt.Fprintf(&b, "  - {name: %s, port: %s, targetPort: %s}\n", f[0], f[1], f[2])
	}
	fmt.Fprintf(&b, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: %s-slice\n  namespace: %s\n  labels: {kubernetes.io/service-name: %s}\naddressType: IPv4\n", name, ns, name)
	// A distinct loopback address per Service keeps endpoints apart.
	fmt.Fprintf(&b, "endpoints:\n- addresses: [127.0.%d.%d]\nports:\n", len(name), int(name[len(name)-1]))
	for _, p := range ports {
		f := strings.Split(p, ":")
		fmt.Fprintf(&b, "- {name: %s, port: %s}\n", f[0], f[2])
	}
	return b.String()
}

// conformanceServices are the Services of the Gateway API conformance
// suite's mesh and infra namespaces, folded into one namespace: "echo" is
// the parent the routes attach to, infra-backend-v1..v3 the backends.
var conformanceServices = service("default", "echo", "10.96.0.10", "http:80:8080", "alt:8080:8080") +
	service("default", "infra-backend-v1", "10.96.0.11", "http:8080:3000") +
	service("default", "infra-backend-v2", "10.96.0.12", "http:8080:3000") +
	service("default", "infra-backend-v3", "10.96.0.13", "http:8080:3000")

// compile parses a full config (proxy in namespace proxyNS plus docs) and
// compiles it, failing the test on any error.
func compile(t testing.TB, proxyNS string, docs ...string) *Table {
	t.Helper()
	src := fmt.Sprintf(proxyDoc, proxyNS) + strings.Join(docs, "\n")
	cfg, err := config.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	tbl, err := Compile(cfg, balance.NewRegistry(), Options{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tbl
}

// routeOn renders an HTTPRoute attached to Service echo (port 80 unless
// parentExtra overrides) with the given rules YAML (indented by 2).
func routeOn(name, extraMeta, parentExtra, rules string) string {
	if parentExtra == "" {
		parentExtra = "port: 80"
	}
	return fmt.Sprintf(`---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: %s
  namespace: default
%s
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: echo
    %s
  rules:
%s`, name, extraMeta, parentExtra, rules)
}

// backendOf routes req to echo:80 and returns the single backend's short
// name ("infra-backend-v1"), or "404" if no rule matches.
func backendOf(t *testing.T, tbl *Table, req Request) string {
	t.Helper()
	svc := tbl.Lookup([]byte("echo"))
	if svc == nil {
		t.Fatal("Lookup(echo) = nil")
	}
	rule := tbl.Match(svc, req)
	if rule == nil {
		return "404"
	}
	b := rule.Pick(balance.NewRand(1))
	if b == nil {
		return "no_backend"
	}
	name := strings.TrimPrefix(b.Name, "default/")
	name, _, _ = strings.Cut(name, ":")
	return name
}

type routeCase struct {
	req  *testReq
	want string
}

func runCases(t *testing.T, tbl *Table, cases []routeCase) {
	t.Helper()
	for _, tc := range cases {
		var hs []string
		for _, h := range tc.req.headers {
			hs = append(hs, string(h.name)+":"+string(h.value))
		}
		name := fmt.Sprintf("%s %s?%s %v", tc.req.method, tc.req.path, tc.req.query, hs)
		t.Run(name, func(t *testing.T) {
			if got := backendOf(t, tbl, tc.req); got != tc.want {
				t.Errorf("routed to %s, want %s", got, tc.want)
			}
		})
	}
}
