package route

import (
	"slices"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/proxy/internal/balance"
)

func TestProtocolOf(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		appProtocol *string
		portName    string
		want        Protocol
	}{
		// Kubernetes-defined appProtocols (KEP-3726).
		{str("kubernetes.io/h2c"), "", H2C},
		{str("kubernetes.io/h2c"), "http", H2C},
		{str("kubernetes.io/ws"), "grpc", HTTP1},
		{str("kubernetes.io/wss"), "http2", HTTP1},
		// Istio's protocol names as appProtocol, which wins over the name.
		{str("grpc"), "http", H2C},
		{str("http2"), "web", H2C},
		{str("GRPC"), "", H2C},
		{str("grpc-web"), "", H2C},
		{str("http"), "grpc", HTTP1},
		{str("tcp"), "grpc", HTTP1},
		{str("example.com/grpc"), "grpc", HTTP1},
		{str("kubernetes.io/h2"), "", HTTP1},
		// Istio's port names: <protocol>[-<suffix>].
		{nil, "grpc", H2C},
		{nil, "grpc-api", H2C},
		{nil, "grpc-web", H2C},
		{nil, "http2", H2C},
		{nil, "http2-internal", H2C},
		{nil, "http", HTTP1},
		{nil, "http-web", HTTP1},
		{nil, "grpcx", HTTP1},
		{nil, "my-grpc", HTTP1},
		{nil, "h2c", HTTP1},
		{nil, "", HTTP1},
	}
	for _, tc := range tests {
		ap := "<unset>"
		if tc.appProtocol != nil {
			ap = *tc.appProtocol
		}
		if got := protocolOf(tc.appProtocol, tc.portName); got != tc.want {
			t.Errorf("appProtocol %s, port name %q: %s, want %s", ap, tc.portName, got, tc.want)
		}
	}
	if HTTP1.String() != "http/1.1" || H2C.String() != "h2c" || Protocol(7).String() != "protocol(7)" {
		t.Errorf("String() = %s, %s, %s", HTTP1, H2C, Protocol(7))
	}
}

// protocolDocs: api's port is named grpc (H2C); its slice "api-legacy"
// says appProtocol http for its endpoints, interleaved by address with
// those of the other slice, and shares one endpoint with it (10.0.3.3)
// while disagreeing. web's port is named http but has appProtocol
// kubernetes.io/h2c; plain's port is unnamed.
var protocolDocs = `---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  ports: [{name: grpc, port: 7070}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
endpoints: [{addresses: [10.0.3.2]}, {addresses: [10.0.3.4]}, {addresses: [10.0.3.3]}]
ports: [{name: grpc, port: 7070}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-legacy, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
endpoints: [{addresses: [10.0.3.5]}, {addresses: [10.0.3.1]}, {addresses: [10.0.3.3]}]
ports: [{name: grpc, port: 7070, appProtocol: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{name: http, port: 80, appProtocol: kubernetes.io/h2c}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.0.4.1]}]
ports: [{name: http, port: 8080, appProtocol: kubernetes.io/h2c}]
` + service("default", "plain", "", ":80:8080")

func TestBackendProtocol(t *testing.T) {
	tbl := compile(t, "default", protocolDocs)
	api := tbl.Lookup([]byte("api")).Backend
	var addrs []string
	var got []Protocol
	for _, e := range api.Endpoints {
		addrs = append(addrs, e.Addr)
		got = append(got, api.Protocol(e))
	}
	if want := []string{"10.0.3.1:7070", "10.0.3.2:7070", "10.0.3.3:7070", "10.0.3.4:7070", "10.0.3.5:7070"}; !slices.Equal(addrs, want) {
		t.Fatalf("api endpoints %v, want %v", addrs, want)
	}
	// The slice's appProtocol for its endpoints; the first slice's for
	// the shared one.
	if want := []Protocol{HTTP1, H2C, H2C, H2C, HTTP1}; !slices.Equal(got, want) {
		t.Errorf("api protocols %v, want %v", got, want)
	}
	if want := "EndpointSlice default/api-legacy: endpoint 10.0.3.3:7070 of Service default/api:7070 speaks http/1.1 here but h2c in EndpointSlice default/api-1; h2c is used"; countContaining(tbl.Warnings, want) != 1 {
		t.Errorf("warnings %q, want %q", tbl.Warnings, want)
	}
	// Not an endpoint, or none: the Service port's.
	for _, ep := range []*balance.Endpoint{balance.NewEndpoint("10.0.9.9:7070"), nil} {
		if p := api.Protocol(ep); p != H2C {
			t.Errorf("Protocol(%v) = %s, want the Service's h2c", ep, p)
		}
	}
	// An Endpoint of another registry is found by address.
	if p := api.Protocol(balance.NewEndpoint("10.0.3.5:7070")); p != HTTP1 {
		t.Errorf("Protocol(other registry's 10.0.3.5) = %s", p)
	}
	web := tbl.Lookup([]byte("web")).Backend
	plain := tbl.Lookup([]byte("plain")).Backend
	if p := web.Protocol(web.Endpoints[0]); p != H2C || web.protos != nil {
		t.Errorf("web: %s (per-endpoint table %v), want h2c for all", p, web.protos)
	}
	if p := plain.Protocol(plain.Endpoints[0]); p != HTTP1 {
		t.Errorf("plain: %s", p)
	}
	// The inbound application, an invalid backend and a nil one: HTTP1.
	var nilB *Backend
	in := tbl.Inbound()
	invalid := &Backend{Name: "x", Invalid: true}
	if in.Protocol(in.Endpoints[0]) != HTTP1 || invalid.Protocol(api.Endpoints[0]) != HTTP1 || nilB.Protocol(nil) != HTTP1 {
		t.Error("inbound, invalid or nil backend is not HTTP1")
	}
	// A route's backendRef resolves to the same Backend, protocols and all.
	tbl = compile(t, "default", protocolDocs, strings.ReplaceAll(grpcRouteOn("r", "", "port: 80", `
  - backendRefs: [{name: api, port: 7070}]
`), "name: echo", "name: web"))
	r := tbl.Match(tbl.Lookup([]byte("web")), grpcReq("a.B/C"))
	if b := r.Pick(balance.NewRand(1)); b != tbl.Lookup([]byte("api")).Backend || b.Protocol(b.Endpoints[0]) != HTTP1 {
		t.Errorf("route backend %v", b)
	}
}

func TestBackendProtocolZeroAllocs(t *testing.T) {
	tbl := compile(t, "default", protocolDocs)
	api := tbl.Lookup([]byte("api")).Backend
	web := tbl.Lookup([]byte("web")).Backend
	other := balance.NewEndpoint("10.0.9.9:7070")
	var sink Protocol
	for _, tc := range []struct {
		name string
		b    *Backend
		ep   *balance.Endpoint
		want Protocol
	}{
		{"slice override", api, api.Endpoints[0], HTTP1},
		{"service port", api, api.Endpoints[1], H2C},
		{"not an endpoint", api, other, H2C},
		{"uniform", web, web.Endpoints[0], H2C},
	} {
		allocs := testing.AllocsPerRun(1000, func() { sink = tc.b.Protocol(tc.ep) })
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Protocol, want 0", tc.name, allocs)
		}
		if sink != tc.want {
			t.Errorf("%s: Protocol = %s, want %s", tc.name, sink, tc.want)
		}
	}
}
