package route

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/config"
)

// Precedence rules beyond what the conformance tests cover.
func TestPrecedence(t *testing.T) {
	tests := []struct {
		name   string
		routes []string
		cases  []routeCase
	}{{
		name: "older route wins a full tie",
		routes: []string{
			routeOn("b-old", "  creationTimestamp: \"2024-01-01T00:00:00Z\"", "", `
  - matches: [{path: {value: /api}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`),
			routeOn("a-new", "  creationTimestamp: \"2024-06-01T00:00:00Z\"", "", `
  - matches: [{path: {value: /api}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`),
		},
		cases: []routeCase{{newReq("/api/x"), "infra-backend-v1"}},
	}, {
		name: "alphabetical namespace/name on equal timestamps",
		routes: []string{
			routeOn("zeta", "  creationTimestamp: \"2024-01-01T00:00:00Z\"", "", `
  - matches: [{path: {value: /api}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`),
			routeOn("alpha", "  creationTimestamp: \"2024-01-01T00:00:00Z\"", "", `
  - matches: [{path: {value: /api}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`),
		},
		cases: []routeCase{{newReq("/api"), "infra-backend-v2"}},
	}, {
		name: "first rule and first match within a route",
		routes: []string{routeOn("r", "", "", `
  - matches: [{path: {value: /x}}, {headers: [{name: a, value: "1"}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {value: /x}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`)},
		cases: []routeCase{{newReq("/x"), "infra-backend-v1"}},
	}, {
		name: "path precedence beats creation time",
		routes: []string{
			routeOn("old", "  creationTimestamp: \"2020-01-01T00:00:00Z\"", "", `
  - matches: [{path: {value: /a}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`),
			routeOn("new", "  creationTimestamp: \"2024-01-01T00:00:00Z\"", "", `
  - matches: [{path: {value: /a/b}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`),
		},
		cases: []routeCase{{newReq("/a/b/c"), "infra-backend-v2"}, {newReq("/a/c"), "infra-backend-v1"}},
	}, {
		name: "method beats headers; headers beat query params",
		routes: []string{routeOn("r", "", "", `
  - matches: [{headers: [{name: a, value: "1"}, {name: b, value: "2"}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{method: GET}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{queryParams: [{name: q, value: "1"}, {name: r, value: "2"}]}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{headers: [{name: c, value: "3"}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`)},
		cases: []routeCase{
			{newReq("GET /", "a: 1", "b: 2"), "infra-backend-v2"},
			{newReq("POST /?q=1&r=2", "a: 1", "b: 2"), "infra-backend-v1"},
			{newReq("POST /?q=1&r=2", "c: 3"), "infra-backend-v1"},
			{newReq("POST /?r=2&q=1"), "infra-backend-v3"},
		},
	}, {
		name: "trailing slash in prefix is ignored",
		routes: []string{routeOn("r", "", "", `
  - matches: [{path: {type: PathPrefix, value: /foo/}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`)},
		cases: []routeCase{
			{newReq("/foo"), "infra-backend-v1"},
			{newReq("/foo/"), "infra-backend-v1"},
			{newReq("/foo/bar"), "infra-backend-v1"},
			{newReq("/foobar"), "404"},
			{newReq("/"), "404"},
		},
	}, {
		// Implementation-specific: Exact > RegularExpression (longer
		// pattern first) > PathPrefix; regexes are anchored.
		name: "regular expression precedence",
		routes: []string{routeOn("r", "", "", `
  - matches: [{path: {type: PathPrefix, value: /api/v1/users}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: RegularExpression, value: "/api/v[0-9]+/.*"}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{path: {type: RegularExpression, value: "/api/v[0-9]+/users/[0-9]+"}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{path: {type: Exact, value: /api/v1/users/42}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`)},
		cases: []routeCase{
			{newReq("/api/v1/users/42"), "infra-backend-v1"}, // Exact
			{newReq("/api/v1/users/7"), "infra-backend-v3"},  // longer regex
			{newReq("/api/v1/users"), "infra-backend-v2"},    // regex over prefix
			{newReq("/api/v1"), "404"},                       // anchored: /api/v1 is not /api/v1/...
			{newReq("/x/api/v1/users/7"), "404"},             // anchored at the start too
		},
	}, {
		name: "regex header and query matches are full matches",
		routes: []string{routeOn("r", "", "", `
  - matches: [{headers: [{type: RegularExpression, name: x-version, value: "v[12]"}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{queryParams: [{type: RegularExpression, name: id, value: "[0-9]+ [a-z]+"}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`)},
		cases: []routeCase{
			{newReq("/", "X-Version: v2"), "infra-backend-v1"},
			{newReq("/", "X-Version: v23"), "404"},
			{newReq("/?id=42+abc"), "infra-backend-v2"},   // '+' decodes to space
			{newReq("/?id=42%20abc"), "infra-backend-v2"}, // %20 too
			{newReq("/?id=42abc"), "404"},
		},
	}, {
		name: "query parameters: first occurrence, percent-decoding, no value",
		routes: []string{routeOn("r", "", "", `
  - matches: [{queryParams: [{name: q, value: "a b/c"}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{queryParams: [{name: "flag", value: "on"}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`)},
		cases: []routeCase{
			{newReq("/?q=a%20b%2Fc"), "infra-backend-v1"},
			{newReq("/?q=a+b/c"), "infra-backend-v1"},
			{newReq("/?x=1&&q=a+b%2fc&"), "infra-backend-v1"},
			{newReq("/?q=other&q=a+b/c"), "404"}, // only the first q counts
			{newReq("/?%66lag=on"), "infra-backend-v2"},
			{newReq("/?flag"), "404"},
			{newReq("/?q=a%2"), "404"},
		},
	}, {
		name: "duplicate header names in a match: only the first counts",
		routes: []string{routeOn("r", "", "", `
  - matches: [{headers: [{name: x, value: "1"}, {name: X, value: "2"}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`)},
		cases: []routeCase{
			{newReq("/", "x: 1"), "infra-backend-v1"},
			{newReq("/", "x: 2"), "404"},
		},
	}, {
		name: "rule without matches matches everything",
		routes: []string{routeOn("r", "", "", `
  - backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{path: {type: Exact, value: /e}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`)},
		cases: []routeCase{
			{newReq("/anything/at/all"), "infra-backend-v3"},
			{newReq("OPTIONS *"), "infra-backend-v3"},
			{newReq("/e"), "infra-backend-v1"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := compile(t, "default", append([]string{conformanceServices}, tt.routes...)...)
			runCases(t, tbl, tt.cases)
		})
	}
}

// MeshPorts: a parentRef port (or sectionName) limits the route to that
// Service port; other ports keep the implicit rule.
func TestParentRefPorts(t *testing.T) {
	tbl := compile(t, "default", conformanceServices,
		routeOn("by-port", "", "port: 80", `
  - backendRefs: [{name: infra-backend-v1, port: 8080}]
`),
		strings.Replace(routeOn("by-name", "", "sectionName: alt", `
  - matches: [{path: {value: /named}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`), "name: by-name", "name: by-name", 1),
		routeOn("missing-port", "", "port: 9999", `
  - backendRefs: [{name: infra-backend-v3, port: 8080}]
`))
	pick := func(host, path string) string {
		svc := tbl.Lookup([]byte(host))
		if svc == nil {
			return "no service"
		}
		r := tbl.Match(svc, newReq(path))
		if r == nil {
			return "404"
		}
		return r.Name + " -> " + r.Pick(balance.NewRand(1)).Name
	}
	for _, tc := range []struct{ host, path, want string }{
		{"echo", "/", "default/by-port/0 -> default/infra-backend-v1:8080"},
		{"echo:80", "/x", "default/by-port/0 -> default/infra-backend-v1:8080"},
		{"echo:8080", "/named/x", "default/by-name/0 -> default/infra-backend-v2:8080"},
		{"echo:8080", "/other", "404"},
		{"infra-backend-v1:8080", "/", "default/infra-backend-v1/default -> default/infra-backend-v1:8080"},
	} {
		if got := pick(tc.host, tc.path); got != tc.want {
			t.Errorf("%s%s: got %q, want %q", tc.host, tc.path, got, tc.want)
		}
	}
	if !slices.ContainsFunc(tbl.Warnings, func(w string) bool {
		return strings.Contains(w, "missing-port") && strings.Contains(w, "no TCP port 9999")
	}) {
		t.Errorf("no warning for parentRef to a missing port: %q", tbl.Warnings)
	}
}

// GAMMA producer and consumer routes (GEP-1294, conformance MeshConsumerRoute).
func TestConsumerRoutes(t *testing.T) {
	docs := []string{
		service("prod", "echo", "10.96.1.10", "http:80:8080"),
		service("prod", "echo-v2", "10.96.1.11", "http:80:8080"),
		service("consumer", "local", "10.96.1.12", "http:80:8080"),
		`---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: producer, namespace: prod}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules:
  - backendRefs: [{name: echo, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: consumer-override, namespace: consumer}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, namespace: prod}]
  rules:
  - backendRefs: [{name: echo-v2, namespace: prod, port: 80}]
`,
	}
	for _, tc := range []struct{ proxyNS, wantRule, wantBackend string }{
		// A client in the consumer namespace gets the consumer route, whose
		// cross-namespace backendRef is valid in a mesh without a ReferenceGrant.
		{"consumer", "consumer/consumer-override/0", "prod/echo-v2:80"},
		// Everyone else gets the producer route.
		{"prod", "prod/producer/0", "prod/echo:80"},
		{"default", "prod/producer/0", "prod/echo:80"},
	} {
		t.Run(tc.proxyNS, func(t *testing.T) {
			tbl := compile(t, tc.proxyNS, docs...)
			svc := tbl.Lookup([]byte("echo.prod"))
			r := tbl.Match(svc, newReq("/"))
			if r == nil || r.Name != tc.wantRule {
				t.Fatalf("rule = %v, want %s", r, tc.wantRule)
			}
			if b := r.Pick(balance.NewRand(1)); b.Name != tc.wantBackend || b.Invalid {
				t.Errorf("backend = %s (invalid %v), want valid %s", b.Name, b.Invalid, tc.wantBackend)
			}
		})
	}
}

func TestBackends(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, routeOn("r", "", "", `
  - matches: [{path: {value: /missing}}]
    backendRefs:
    - {name: infra-backend-v1, port: 8080, weight: 1}
    - {name: no-such-service, port: 8080, weight: 1}
  - matches: [{path: {value: /bad-port}}]
    backendRefs: [{name: infra-backend-v1, port: 9}]
  - matches: [{path: {value: /zero}}]
    backendRefs:
    - {name: infra-backend-v1, port: 8080, weight: 0}
    - {name: infra-backend-v2, port: 8080}
  - matches: [{path: {value: /all-zero}}]
    backendRefs: [{name: infra-backend-v1, port: 8080, weight: 0}]
  - matches: [{path: {value: /none}}]
`))
	svc := tbl.Lookup([]byte("echo"))
	rnd := balance.NewRand(9)
	rule := func(path string) *Rule {
		r := tbl.Match(svc, newReq(path))
		if r == nil {
			t.Fatalf("no rule for %s", path)
		}
		return r
	}

	// Half the traffic to an unresolvable backend is failed, not rerouted.
	invalid := 0
	for range 10000 {
		if b := rule("/missing").Pick(rnd); b.Invalid {
			invalid++
			if b.Name != "default/no-such-service:8080" || !strings.Contains(b.Reason, "not found") {
				t.Fatalf("invalid backend = %+v", b)
			}
		}
	}
	if invalid < 4700 || invalid > 5300 {
		t.Errorf("%d of 10000 picks hit the invalid backend, want ~5000", invalid)
	}
	if b := rule("/bad-port").Pick(rnd); !b.Invalid || !strings.Contains(b.Reason, "no TCP port 9") {
		t.Errorf("backendRef to a missing port: %+v", b)
	}
	for range 1000 {
		if b := rule("/zero").Pick(rnd); b.Name != "default/infra-backend-v2:8080" {
			t.Fatalf("weight 0 backend picked: %s", b.Name)
		}
	}
	if b := rule("/all-zero").Pick(rnd); b != nil {
		t.Errorf("all weights 0: Pick = %s, want nil", b.Name)
	}
	if b := rule("/none").Pick(rnd); b != nil {
		t.Errorf("no backendRefs: Pick = %s, want nil", b.Name)
	}
	for _, want := range []string{"no-such-service not found", "all backendRef weights are 0", "no backendRefs"} {
		if !slices.ContainsFunc(tbl.Warnings, func(w string) bool { return strings.Contains(w, want) }) {
			t.Errorf("no warning containing %q in %q", want, tbl.Warnings)
		}
	}
	// Backends of one Service port are shared objects.
	if a, b := rule("/missing").Backends[0].Backend, rule("/zero").Backends[0].Backend; a != b {
		t.Error("two references to infra-backend-v1:8080 got different Backend objects")
	}
}

// The example configuration: 90/10 split and a header match to v2.
func TestExampleSplit(t *testing.T) {
	cfg, err := config.Load("../../testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := Compile(cfg, balance.NewRegistry(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tbl.Warnings) != 0 {
		t.Errorf("warnings for the example: %q", tbl.Warnings)
	}
	svc := tbl.Lookup([]byte("reviews:9080"))
	if svc == nil {
		t.Fatal("reviews:9080 not found")
	}
	split := tbl.Match(svc, newReq("/reviews/1"))
	if split == nil || split.Name != "default/reviews/split" {
		t.Fatalf("rule = %v, want default/reviews/split", split)
	}
	if split.RequestTimeout != 10*time.Second || split.BackendRequestTimeout != 3*time.Second {
		t.Errorf("timeouts = %v/%v, want 10s/3s", split.RequestTimeout, split.BackendRequestTimeout)
	}
	rnd := balance.NewRand(2024)
	counts := map[string]int{}
	const n = 10000
	for range n {
		counts[split.Pick(rnd).Name]++
	}
	for name, want := range map[string]float64{"default/reviews-v1:9080": 0.90, "default/reviews-v2:9080": 0.10} {
		if got := float64(counts[name]) / n; math.Abs(got-want) > 0.015 {
			t.Errorf("%s got %.2f%% of picks, want %.0f%% ± 1.5%%", name, got*100, want*100)
		}
	}
	canary := tbl.Match(svc, newReq("/reviews/1", "X-Canary: true"))
	if canary == nil || canary.Name != "default/reviews/canary" {
		t.Fatalf("canary rule = %v", canary)
	}
	for range 100 {
		if b := canary.Pick(rnd); b.Name != "default/reviews-v2:9080" {
			t.Fatalf("canary request sent to %s", b.Name)
		}
	}
	if tbl.Match(svc, newReq("/", "X-Canary: false")) != split {
		t.Error("x-canary: false should take the split rule")
	}
	v2 := canary.Pick(rnd)
	if len(v2.Endpoints) != 1 || v2.Endpoints[0].Addr != "127.0.0.1:18082" {
		t.Errorf("reviews-v2 endpoints = %v, want [127.0.0.1:18082]", v2.Endpoints)
	}
	in := tbl.Inbound()
	if in == nil || len(in.Endpoints) != 1 || in.Endpoints[0].Addr != "127.0.0.1:8080" {
		t.Errorf("Inbound = %+v", in)
	}
}

func TestLookup(t *testing.T) {
	tbl := compile(t, "default",
		service("default", "web", "10.96.0.1", "http:80:8080", "admin:9090:9090"),
		service("default", "api", "10.96.0.2", "grpc:50051:50051"),
		service("default", "multi", "", "a:81:81", "b:82:82"),
		service("other", "web", "fd00::1", "http:80:8080"),
	)
	web80 := tbl.LookupAddr(net.ParseIP("10.96.0.1"), 80)
	web9090 := tbl.LookupAddr(net.ParseIP("10.96.0.1"), 9090)
	api := tbl.LookupAddr(net.ParseIP("10.96.0.2"), 50051)
	otherWeb := tbl.LookupAddr(net.ParseIP("fd00::1"), 80)
	if web80 == nil || web9090 == nil || api == nil || otherWeb == nil {
		t.Fatalf("LookupAddr: %v %v %v %v", web80, web9090, api, otherWeb)
	}
	if web80.Key != "default/web:80" || otherWeb.Key != "other/web:80" || api.PortName != "grpc" {
		t.Fatalf("LookupAddr keys: %s %s %s", web80.Key, otherWeb.Key, api.Key)
	}
	for _, tc := range []struct {
		host string
		want *Service
	}{
		{"web", web80},
		{"web:80", web80},
		{"web:9090", web9090},
		{"WEB", web80},
		{"web.", web80},
		{"web.default", web80},
		{"web.default:9090", web9090},
		{"web.default.svc", web80},
		{"Web.Default.SVC.cluster.local", web80},
		{"web.default.svc.cluster.local.", web80},
		{"web.default.svc.cluster.local.:80", web80},
		{"web.other", otherWeb},
		{"web.other.svc.cluster.local:80", otherWeb},
		{"api", api},        // no port: the only port
		{"api:50051", api},  // explicit
		{"multi", nil},      // no port, no port 80, several ports
		{"multi:82", nil},   // headless with no clusterIP still resolves by name...
		{"web:81", nil},     // no such port
		{"nosuch", nil},     // no such Service
		{"web.nosuch", nil}, // no such namespace
		{"web.default.svc.other.domain", nil},
		{"10.96.0.1", web80}, // cluster IP literals
		{"10.96.0.1:9090", web9090},
		{"10.96.0.2", api},
		{"[fd00::1]:80", otherWeb},
		{"[fd00::1]", otherWeb},
		{"[fd00::2]:80", nil},
		{"10.96.0.9", nil},
		{"", nil},
		{":80", nil},
		{"web:", nil},
		{"web:0", nil},
		{"web:65536", nil},
		{"web:8x", nil},
		{"fd00::1", nil}, // unbracketed IPv6 is not a valid Host
		{"[fd00::1", nil},
		{strings.Repeat("a", 300), nil},
	} {
		got := tbl.Lookup([]byte(tc.host))
		if tc.host == "multi:82" {
			// Correct the expectation: named lookup works without a cluster IP.
			if got == nil || got.Key != "default/multi:82" {
				t.Errorf("Lookup(%q) = %v, want default/multi:82", tc.host, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("Lookup(%q) = %v, want %v", tc.host, key(got), key(tc.want))
		}
	}
	if tbl.LookupAddr(net.ParseIP("::ffff:10.96.0.1"), 80) != web80 {
		t.Error("IPv4-mapped IPv6 cluster IP not matched")
	}
	if tbl.LookupAddr(net.IP{1, 2, 3}, 80) != nil || tbl.LookupAddr(net.ParseIP("10.96.0.1"), 0) != nil {
		t.Error("LookupAddr accepted a bad IP or port")
	}
	for _, tc := range []struct {
		ap   netip.AddrPort
		want *Service
	}{
		{netip.MustParseAddrPort("10.96.0.1:80"), web80},
		{netip.MustParseAddrPort("10.96.0.1:9090"), web9090},
		{netip.MustParseAddrPort("[::ffff:10.96.0.1]:80"), web80},
		{netip.MustParseAddrPort("[fd00::1]:80"), otherWeb},
		{netip.MustParseAddrPort("10.96.0.1:81"), nil},
		{netip.MustParseAddrPort("10.96.0.9:80"), nil},
		{netip.MustParseAddrPort("10.96.0.1:0"), nil},
		{netip.AddrPort{}, nil},
	} {
		if got := tbl.LookupAddrPort(tc.ap); got != tc.want {
			t.Errorf("LookupAddrPort(%v) = %v, want %v", tc.ap, key(got), key(tc.want))
		}
	}
	for _, s := range []string{"10.96.0.1:9090", "[fd00::1]:80", "[::ffff:10.96.0.1]:80"} {
		ap := netip.MustParseAddrPort(s)
		if allocs := testing.AllocsPerRun(100, func() { tbl.LookupAddrPort(ap) }); allocs != 0 {
			t.Errorf("LookupAddrPort(%s) allocates %v times", s, allocs)
		}
	}

	// IP-literal and name lookups do not allocate.
	for _, h := range []string{"[fd00::1]:80", "10.96.0.1:9090", "Web.Default.Svc.Cluster.Local."} {
		host := []byte(h)
		if allocs := testing.AllocsPerRun(100, func() { tbl.Lookup(host) }); allocs != 0 {
			t.Errorf("Lookup(%q) allocates %v times", h, allocs)
		}
	}

	// Bare names resolve in the Proxy's namespace.
	other := compile(t, "other",
		service("default", "web", "10.96.0.1", "http:80:8080"),
		service("other", "web", "fd00::1", "http:80:8080"))
	if s := other.Lookup([]byte("web")); s == nil || s.Namespace != "other" {
		t.Errorf("bare name in proxy namespace other = %v", key(s))
	}

	// A custom cluster domain.
	cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf(proxyDoc, "default")+service("default", "web", "", "http:80:80")))
	if err != nil {
		t.Fatal(err)
	}
	custom, err := Compile(cfg, balance.NewRegistry(), Options{ClusterDomain: "Corp.Example."})
	if err != nil {
		t.Fatal(err)
	}
	if custom.Lookup([]byte("web.default.svc.corp.example")) == nil || custom.Lookup([]byte("web.default.svc.cluster.local")) != nil {
		t.Error("custom cluster domain not honoured")
	}
	if _, err := Compile(cfg, balance.NewRegistry(), Options{ClusterDomain: "bad domain"}); err == nil {
		t.Error("invalid cluster domain accepted")
	}
}

func key(s *Service) string {
	if s == nil {
		return "<nil>"
	}
	return s.Key
}

func TestEndpointResolution(t *testing.T) {
	tbl := compile(t, "default", `---
apiVersion: v1
kind: Service
metadata: {name: app}
spec:
  ports:
  - {name: http, port: 80, targetPort: web}
  - {name: metrics, port: 9090}
  - {name: dns, port: 53, protocol: UDP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: app-1, labels: {kubernetes.io/service-name: app}}
addressType: IPv4
endpoints:
- {addresses: [10.0.0.1], conditions: {ready: true}}
- {addresses: [10.0.0.2], conditions: {ready: false, serving: true, terminating: true}}
- {addresses: [10.0.0.3]}
ports:
- {name: http, port: 8080}
- {name: metrics, port: 9091}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: app-2, labels: {kubernetes.io/service-name: app}}
addressType: IPv6
endpoints:
- {addresses: ["fd00::5"]}
ports:
- {name: http, port: 8080}
---
# The same endpoint listed twice (as during slice rebalancing) is used once.
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: app-3, labels: {kubernetes.io/service-name: app}}
addressType: IPv4
endpoints:
- {addresses: [10.0.0.1]}
ports:
- {name: http, port: 8080}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: orphan-1, labels: {kubernetes.io/service-name: orphan}}
addressType: IPv4
endpoints: []
ports: []
`)
	addrs := func(host string) []string {
		s := tbl.Lookup([]byte(host))
		if s == nil {
			t.Fatalf("Lookup(%s) = nil", host)
		}
		var out []string
		for _, e := range s.Backend.Endpoints {
			out = append(out, e.Addr)
		}
		return out
	}
	if got, want := addrs("app:80"), []string{"10.0.0.1:8080", "10.0.0.3:8080", "[fd00::5]:8080"}; !slices.Equal(got, want) {
		t.Errorf("app:80 endpoints = %v, want %v", got, want)
	}
	if got, want := addrs("app:9090"), []string{"10.0.0.1:9091", "10.0.0.3:9091"}; !slices.Equal(got, want) {
		t.Errorf("app:9090 endpoints = %v, want %v", got, want)
	}
	if tbl.Lookup([]byte("app:53")) != nil {
		t.Error("UDP port is routable")
	}
	if !slices.ContainsFunc(tbl.Warnings, func(w string) bool { return strings.Contains(w, "default/orphan: no such Service") }) {
		t.Errorf("no warning for the orphan EndpointSlice: %q", tbl.Warnings)
	}
	// Endpoints() feeds Registry.Retain: every Endpoint (backend, address) once, plus the inbound app.
	var all []string
	for _, e := range tbl.Endpoints() {
		all = append(all, e.Addr)
	}
	want := []string{"10.0.0.1:8080", "10.0.0.1:9091", "10.0.0.3:8080", "10.0.0.3:9091", "127.0.0.1:8080", "[fd00::5]:8080"}
	if !slices.Equal(all, want) {
		t.Errorf("Endpoints() = %v, want %v", all, want)
	}
}

// Endpoint state survives a recompile because both tables share the registry.
func TestRegistrySharedAcrossCompiles(t *testing.T) {
	cfg, err := config.Load("../../testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := balance.NewRegistry()
	t1, err := Compile(cfg, reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t2, err := Compile(cfg, reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e1 := t1.Lookup([]byte("reviews-v1")).Backend.Endpoints[0]
	e2 := t2.Lookup([]byte("reviews-v1")).Backend.Endpoints[0]
	if e1 != e2 {
		t.Fatal("recompiled table has a different Endpoint object for the same address")
	}
}

// Two Services with the same pod get their own Endpoint for its address:
// connect failures seen through one must not eject it from the other
// (ejection state is per backend), while the address, the connection pool
// key, stays the same.
func TestEndpointStatePerBackend(t *testing.T) {
	cfg, err := config.Load("../../testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := balance.NewRegistry()
	defer reg.Close() // the failure below starts its prober
	tbl, err := Compile(cfg, reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const addr = "127.0.0.1:18081" // reviews-v1's pod, also behind reviews
	find := func(host string) (*Backend, *balance.Endpoint) {
		b := tbl.Lookup([]byte(host)).Backend
		for _, e := range b.Endpoints {
			if e.Addr == addr {
				return b, e
			}
		}
		t.Fatalf("%s has no endpoint %s", host, addr)
		return nil, nil
	}
	all, viaAll := find("reviews")
	v1, viaV1 := find("reviews-v1")
	if viaAll == viaV1 {
		t.Fatal("reviews and reviews-v1 share one Endpoint for " + addr)
	}
	if viaAll.Backend != all.Name || viaV1.Backend != v1.Name {
		t.Errorf("Endpoint backends %q, %q; want %q, %q", viaAll.Backend, viaV1.Backend, all.Name, v1.Name)
	}
	now := time.Now()
	viaAll.ReportConnectFailure(now)
	if viaAll.Available(now) || !viaV1.Available(now) {
		t.Errorf("after a failure via reviews: available via reviews %v, via reviews-v1 %v; want false, true",
			viaAll.Available(now), viaV1.Available(now))
	}
	n := 0
	for _, e := range tbl.Endpoints() {
		if e == viaAll || e == viaV1 {
			n++
		}
	}
	if n != 2 {
		t.Errorf("Endpoints() lists %d of the two Endpoints for %s; Retain would forget the other", n, addr)
	}
}

func TestTimeouts(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, routeOn("r", "", "", `
  - matches: [{path: {value: /default}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {value: /disabled}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
    timeouts: {request: 0s, backendRequest: 1s}
  - matches: [{path: {value: /set}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
    timeouts: {request: 1m30s, backendRequest: 500ms}
`))
	svc := tbl.Lookup([]byte("echo"))
	for _, tc := range []struct {
		path          string
		req, backend  time.Duration
		implicitCheck bool
	}{
		{"/default", 15 * time.Second, 0, false}, // the Proxy's spec.timeouts.request
		{"/disabled", 0, time.Second, false},
		{"/set", 90 * time.Second, 500 * time.Millisecond, false},
	} {
		r := tbl.Match(svc, newReq(tc.path))
		if r.RequestTimeout != tc.req || r.BackendRequestTimeout != tc.backend {
			t.Errorf("%s: timeouts %v/%v, want %v/%v", tc.path, r.RequestTimeout, r.BackendRequestTimeout, tc.req, tc.backend)
		}
	}
	implicit := tbl.Match(tbl.Lookup([]byte("infra-backend-v1:8080")), newReq("/"))
	if implicit.RequestTimeout != 15*time.Second || implicit.Name != "default/infra-backend-v1/default" {
		t.Errorf("implicit rule %s timeout %v", implicit.Name, implicit.RequestTimeout)
	}
}

func TestCompileErrors(t *testing.T) {
	base := func() *config.Config {
		cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf(proxyDoc, "default")+
			service("default", "a", "10.96.0.1", "http:80:80")+service("default", "b", "10.96.0.2", "http:80:80")))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := base()
	cfg.Services[1].Spec.ClusterIP = "10.96.0.1"
	if _, err := Compile(cfg, balance.NewRegistry(), Options{}); err == nil || !strings.Contains(err.Error(), "Service default/b: spec.clusterIP: 10.96.0.1 is also the cluster IP of Service default/a") {
		t.Errorf("duplicate cluster IP: err = %v", err)
	}
	cfg = base()
	re := "RegularExpression"
	bad := "("
	cfg.Routes = []config.HTTPRoute{{
		Metadata: config.ObjectMeta{Name: "r", Namespace: "default"},
		Spec: config.HTTPRouteSpec{Rules: []config.HTTPRouteRule{{
			Matches: []config.HTTPRouteMatch{{Path: &config.HTTPPathMatch{Type: &re, Value: &bad}}},
		}}},
	}}
	if _, err := Compile(cfg, balance.NewRegistry(), Options{}); err == nil || !strings.Contains(err.Error(), "HTTPRoute default/r: spec.rules[0].matches[0].path.value") {
		t.Errorf("bad regex: err = %v", err)
	}
	if _, err := Compile(nil, balance.NewRegistry(), Options{}); err == nil {
		t.Error("nil config accepted")
	}
}

func TestUnresolvedParent(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: orphan}
spec:
  parentRefs: [{group: "", kind: Service, name: nosuch}]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
`)
	if !slices.ContainsFunc(tbl.Warnings, func(w string) bool {
		return strings.Contains(w, "HTTPRoute default/orphan: spec.parentRefs[0]: Service default/nosuch not found")
	}) {
		t.Errorf("warnings = %q", tbl.Warnings)
	}
}

// zeroAllocTable has ~20 rules of every kind on one Service, for the
// allocation test and the benchmarks.
func zeroAllocTable(t testing.TB) *Table {
	var rules strings.Builder
	for i := range 14 {
		fmt.Fprintf(&rules, "  - matches: [{path: {type: PathPrefix, value: /api/v%d}, headers: [{name: x-tenant, value: t%d}]}]\n", i, i)
		fmt.Fprintf(&rules, "    backendRefs: [{name: infra-backend-v1, port: 8080, weight: 50}, {name: infra-backend-v2, port: 8080, weight: 50}]\n")
	}
	var other strings.Builder
	other.WriteString(`  - matches: [{path: {type: Exact, value: /healthz}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{path: {type: RegularExpression, value: "/users/[0-9]+/orders"}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{headers: [{type: RegularExpression, name: user-agent, value: "curl/.*"}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{queryParams: [{name: debug, value: "1"}, {type: RegularExpression, name: q, value: "a b.*"}]}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{method: POST, path: {value: /submit}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - backendRefs: [{name: infra-backend-v1, port: 8080, weight: 90}, {name: infra-backend-v2, port: 8080, weight: 10}]
`)
	return compile(t, "default", conformanceServices, routeOn("bench-a", "", "", rules.String()), routeOn("bench-b", "", "", other.String()))
}

var allocCases = []struct {
	host string
	req  *testReq
	want string // rule name suffix
}{
	{"echo.default.svc.cluster.local:80", newReq("GET /api/v13/items?x=1", "Host: echo", "X-Tenant: t13"), "bench-a/13"},
	{"echo", newReq("GET /healthz"), "bench-b/0"},
	{"ECHO.default", newReq("GET /users/42/orders"), "bench-b/1"},
	{"10.96.0.10", newReq("GET /", "User-Agent: curl/8.0"), "bench-b/2"},
	{"echo:80", newReq("GET /search?debug=1&q=a+b%20c"), "bench-b/3"},
	{"echo", newReq("POST /submit"), "bench-b/4"},
	{"echo", newReq("GET /api/v13/items", "X-Tenant: other"), "bench-b/5"},
}

func TestLookupMatchPickZeroAllocs(t *testing.T) {
	tbl := zeroAllocTable(t)
	rnd := balance.NewRand(1)
	for _, tc := range allocCases {
		host := []byte(tc.host)
		run := func() {
			svc := tbl.Lookup(host)
			r := tbl.Match(svc, tc.req)
			if r == nil || r.Pick(rnd) == nil || !strings.HasSuffix(r.Name, tc.want) {
				panic(fmt.Sprintf("%s %s: rule %v", tc.host, tc.req.path, r))
			}
		}
		run() // warm the regexp machine and decode buffer pools
		if allocs := testing.AllocsPerRun(200, run); allocs != 0 {
			t.Errorf("%s %s: %v allocations per Lookup+Match+Pick, want 0", tc.host, tc.req.path, allocs)
		}
	}
}

func BenchmarkLookupMatchPick(b *testing.B) {
	tbl := zeroAllocTable(b)
	for _, tc := range allocCases {
		b.Run(strings.ReplaceAll(tc.want, "/", "_")+"_"+strings.ReplaceAll(string(tc.req.path), "/", "_"), func(b *testing.B) {
			host := []byte(tc.host)
			rnd := balance.NewRand(1)
			b.ReportAllocs()
			for b.Loop() {
				svc := tbl.Lookup(host)
				r := tbl.Match(svc, tc.req)
				r.Pick(rnd)
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	tbl := zeroAllocTable(b)
	host := []byte("echo.default.svc.cluster.local:80")
	b.ReportAllocs()
	for b.Loop() {
		tbl.Lookup(host)
	}
}

// parseIPv4/parseIPv6 must agree with net/netip on what is an address.
func TestParseIPAgreesWithNetip(t *testing.T) {
	inputs := []string{
		"::", "::1", "1::", "fd00::1", "fd00:0:0:0:0:0:0:1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
		"1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3", ":::", ":1", "1:", "1:::2", "12345::", "g::",
		"::ffff:10.0.0.1", "::10.0.0.1", "1:2:3:4:5:6:10.0.0.1", "1:2:3:4:5:6:7:10.0.0.1", "::ffff:10.0.0",
		"::ffff:010.0.0.1", "FD00::ABCD", "fe80::1%eth0", "", "::1:", "a:b:c:d:e:f:0:0",
		"1.2.3.4", "255.255.255.255", "256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "0.0.0.0", "1..2.3", "1.2.3.",
	}
	for _, in := range inputs {
		want, err := netip.ParseAddr(in)
		wantOK := err == nil && want.Zone() == ""
		var got netip.Addr
		var ok bool
		if strings.Contains(in, ":") {
			got, ok = parseIPv6([]byte(in))
		} else {
			got, ok = parseIPv4([]byte(in))
		}
		if ok != wantOK || ok && got != want {
			t.Errorf("parse(%q) = %v, %v; netip says %v, %v", in, got, ok, want, wantOK)
		}
	}
}

func FuzzParseIP(f *testing.F) {
	for _, s := range []string{"::", "fd00::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1.2.3.4", "1::2::3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		want, err := netip.ParseAddr(in)
		wantOK := err == nil && want.Zone() == ""
		got, ok := parseIPv6([]byte(in))
		if !strings.Contains(in, ":") {
			got, ok = parseIPv4([]byte(in))
		}
		if ok != wantOK || ok && got != want {
			t.Errorf("parse(%q) = %v, %v; netip says %v, %v", in, got, ok, want, wantOK)
		}
	})
}

func FuzzLookup(f *testing.F) {
	tbl := compile(f, "default", conformanceServices)
	for _, s := range []string{"echo", "echo:80", "[::1]:80", "10.96.0.10", "ECHO.default.svc.cluster.local.:8080"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		tbl.Lookup([]byte(host)) // must not panic
	})
}

// Event loops share one Table; run with -race.
func TestConcurrentReads(t *testing.T) {
	tbl := zeroAllocTable(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rnd := balance.NewRand(uint64(g))
			for i := range 2000 {
				tc := allocCases[i%len(allocCases)]
				svc := tbl.Lookup([]byte(tc.host))
				r := tbl.Match(svc, tc.req)
				if r == nil || !strings.HasSuffix(r.Name, tc.want) {
					t.Errorf("%s %s: rule %v", tc.host, tc.req.path, r)
					return
				}
				b := r.Pick(rnd)
				if e := balance.P2C(b.Endpoints, rnd, time.Now()); e != nil {
					e.Begin()
					e.End()
				}
			}
		})
	}
	wg.Wait()
}

func FuzzMatch(f *testing.F) {
	tbl := zeroAllocTable(f)
	svc := tbl.Lookup([]byte("echo"))
	f.Add("GET", "/api/v1/x", "debug=1&q=a+b%2", "curl/1", "t1")
	f.Add("POST", "/users/1/orders", "%%%", "", "")
	f.Fuzz(func(t *testing.T, method, path, query, ua, tenant string) {
		req := newReq(method+" "+path, "User-Agent: "+ua, "X-Tenant: "+tenant)
		req.query = []byte(query)
		if r := tbl.Match(svc, req); r == nil {
			t.Fatalf("catch-all rule did not match %q %q %q", method, path, query)
		}
	})
}
