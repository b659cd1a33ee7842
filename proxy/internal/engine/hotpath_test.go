package engine

import (
	"net/netip"
	"testing"
	"time"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/config"
	"github.com/meshbench/meshbench/proxy/internal/http1"
	"github.com/meshbench/meshbench/proxy/internal/metrics"
	"github.com/meshbench/meshbench/proxy/internal/route"
)

// hotPathConfig has a realistic route set: a 90/10 split, header and path
// matches, and a regular expression, so matching walks several rules.
const hotPathConfig = `apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: bench}
spec:
  outbound: {address: 127.0.0.1:15001}
---
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: reviews-v1}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: reviews-v2}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: v1, labels: {kubernetes.io/service-name: reviews-v1}}
addressType: IPv4
ports: [{name: http, port: 8081}]
endpoints: [{addresses: [127.0.0.1, 127.0.0.2, 127.0.0.3]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: v2, labels: {kubernetes.io/service-name: reviews-v2}}
addressType: IPv4
ports: [{name: http, port: 8082}]
endpoints: [{addresses: [127.0.0.1, 127.0.0.2]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews}]
  rules:
    - matches: [{path: {type: Exact, value: /healthz}}]
      backendRefs: [{name: reviews-v1, port: 80}]
    - matches: [{path: {type: RegularExpression, value: "/api/v[0-9]+/admin"}}]
      backendRefs: [{name: reviews-v2, port: 80}]
    - matches:
        - headers: [{name: x-canary, value: "true"}]
          queryParams: [{name: debug, value: "1"}]
        - method: DELETE
      backendRefs: [{name: reviews-v2, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /api}}]
      backendRefs:
        - {name: reviews-v1, port: 80, weight: 90}
        - {name: reviews-v2, port: 80, weight: 10}
`

// A typical request, the shape curl or a Go client sends.
var hotPathRequest = []byte("GET /api/reviews/42?lang=en HTTP/1.1\r\n" +
	"Host: reviews.default.svc.cluster.local:80\r\n" +
	"User-Agent: meshload/1.0\r\n" +
	"Accept: application/json\r\n" +
	"Accept-Encoding: gzip\r\n" +
	"X-Request-Id: 3f1c2a9e-1d2b-4c5d-9e8f-0a1b2c3d4e5f\r\n" +
	"Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n" +
	"Connection: keep-alive\r\n\r\n")

type hotPath struct {
	table *route.Table
	rnd   *balance.Rand
	req   http1.Request
	view  reqView
	head  []byte
	ip    []byte
	reg   *metrics.Registry
	// origDst, when valid, selects the Service as for an iptables-redirected
	// connection instead of by the Host header.
	origDst netip.AddrPort
}

func newHotPath(t testing.TB) *hotPath {
	cfg, err := config.Parse("hotpath.yaml", []byte(hotPathConfig))
	if err != nil {
		t.Fatal(err)
	}
	table, err := route.Compile(cfg, balance.NewRegistry(), route.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &hotPath{table: table, rnd: balance.NewRand(1), head: make([]byte, 0, 4096), ip: []byte("10.1.2.3"), reg: metrics.NewRegistry()}
}

// step is what the engine does per request before touching a socket:
// parse, find the Service, match a rule, split to a backend, pick an
// endpoint, and write the upstream head.
func (h *hotPath) step(t testing.TB, now time.Time) *balance.Endpoint {
	n, err := http1.ParseRequest(hotPathRequest, 65536, &h.req)
	if err != nil || n != len(hotPathRequest) {
		t.Fatalf("parse: %d %v", n, err)
	}
	var svc *route.Service
	if h.origDst.IsValid() {
		svc = h.table.LookupAddrPort(h.origDst)
	} else {
		svc = h.table.Lookup(h.req.Host.Bytes(hotPathRequest))
	}
	if svc == nil {
		t.Fatal("no service")
	}
	h.view.buf, h.view.req = hotPathRequest, &h.req
	rule := h.table.Match(svc, &h.view)
	if rule == nil {
		t.Fatal("no rule")
	}
	b := rule.Pick(h.rnd)
	if b == nil {
		t.Fatal("no backend")
	}
	ep := balance.P2C(b.Endpoints, h.rnd, now)
	if ep == nil {
		t.Fatal("no endpoint")
	}
	ep.Begin()
	ep.End()
	h.head = http1.AppendRequestHead(h.head[:0], hotPathRequest, &h.req, h.ip, nil)
	return ep
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	h := newHotPath(t)
	series := h.reg.Requests("outbound", "default/reviews/3", "default/reviews-v1:80")
	now := time.Now()
	h.step(t, now) // warm regexp caches
	allocs := testing.AllocsPerRun(1000, func() {
		h.step(t, now)
		series.Observe(200, 420*time.Microsecond)
	})
	if allocs != 0 {
		t.Fatalf("parse + route + split + balance + head rewrite + metrics: %v allocs per request, want 0", allocs)
	}
}

// The transparent-capture path: the Service comes from the connection's
// original destination (cluster IP and port), looked up per request.
func TestHotPathOriginalDstDoesNotAllocate(t *testing.T) {
	h := newHotPath(t)
	h.origDst = netip.MustParseAddrPort("10.96.0.20:80")
	series := h.reg.Requests("outbound", "default/reviews/3", "default/reviews-v1:80")
	now := time.Now()
	h.step(t, now)
	allocs := testing.AllocsPerRun(1000, func() {
		h.step(t, now)
		series.Observe(200, 420*time.Microsecond)
	})
	if allocs != 0 {
		t.Fatalf("original-destination lookup + route + split + balance + head rewrite + metrics: %v allocs per request, want 0", allocs)
	}
}

func BenchmarkParse(b *testing.B) {
	var r http1.Request
	b.ReportAllocs()
	b.SetBytes(int64(len(hotPathRequest)))
	for b.Loop() {
		if _, err := http1.ParseRequest(hotPathRequest, 65536, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRoute(b *testing.B) {
	h := newHotPath(b)
	if _, err := http1.ParseRequest(hotPathRequest, 65536, &h.req); err != nil {
		b.Fatal(err)
	}
	h.view.buf, h.view.req = hotPathRequest, &h.req
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		svc := h.table.Lookup(h.req.Host.Bytes(hotPathRequest))
		rule := h.table.Match(svc, &h.view)
		_ = balance.P2C(rule.Pick(h.rnd).Endpoints, h.rnd, now)
	}
}

func BenchmarkParseRouteRewrite(b *testing.B) {
	h := newHotPath(b)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		h.step(b, now)
	}
}
