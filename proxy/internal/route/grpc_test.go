package route

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/config"
)

// grpcRouteOn renders a GRPCRoute attached to Service echo (port 80 unless
// parentExtra overrides) with the given rules YAML (indented by 2).
func grpcRouteOn(name, extraMeta, parentExtra, rules string) string {
	return strings.Replace(routeOn(name, extraMeta, parentExtra, rules), "kind: HTTPRoute", "kind: GRPCRoute", 1)
}

// grpcReq is a gRPC call of service/method ("pkg.Svc/Method") with headers.
func grpcReq(call string, headers ...string) *testReq {
	return newReq("POST /"+call, headers...)
}

// GRPCRoute precedence (GRPCRouteRule.matches): characters in a matching
// service, then in a matching method, then header matches, then the older
// route, "{namespace}/{name}", rule and match order.
func TestGRPCPrecedence(t *testing.T) {
	tests := []struct {
		name   string
		routes []string
		cases  []routeCase
	}{{
		name: "a matching service beats a method, headers and rule order",
		routes: []string{grpcRouteOn("r", "", "", `
  - matches: [{method: {method: Echo}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{headers: [{name: a, value: "1"}, {name: b, value: "2"}]}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{method: {service: pkg.Svc}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`)},
		cases: []routeCase{
			{grpcReq("pkg.Svc/Echo", "a: 1", "b: 2"), "infra-backend-v2"},
			{grpcReq("other.Svc/Echo", "a: 1", "b: 2"), "infra-backend-v1"}, // method beats headers
			{grpcReq("other.Svc/Other", "a: 1", "b: 2"), "infra-backend-v3"},
			{grpcReq("other.Svc/Other"), "404"},
		},
	}, {
		name: "longer service, then longer method",
		routes: []string{grpcRouteOn("r", "", "", `
  - matches: [{method: {type: RegularExpression, service: "p.*", method: "E.*"}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{method: {service: pkg.Svc, method: Echo}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{method: {service: pkg.Svc, method: EchoTwo}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{method: {service: pkg.SvcLonger}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`)},
		cases: []routeCase{
			{grpcReq("pkg.Svc/EchoTwo"), "infra-backend-v3"},
			{grpcReq("pkg.Svc/Echo"), "infra-backend-v2"},
			{grpcReq("pkg.Svc/EchoThree"), "infra-backend-v1"}, // the regex rule
			{grpcReq("pkg.SvcLonger/Echo"), "infra-backend-v1"},
			{grpcReq("pkg.Svc/Other"), "404"},
		},
	}, {
		// meshproxy's choice where the spec ties: Exact before a regular
		// expression of the same length.
		name: "exact before regex of equal length",
		routes: []string{grpcRouteOn("r", "", "", `
  - matches: [{method: {type: RegularExpression, service: "pkg.Sv.", method: Echo}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{method: {service: pkg.Svc, method: Echo}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`)},
		cases: []routeCase{
			{grpcReq("pkg.Svc/Echo"), "infra-backend-v2"},
			{grpcReq("pkg.Svx/Echo"), "infra-backend-v1"},
		},
	}, {
		name: "more header matches first, then first rule",
		routes: []string{grpcRouteOn("r", "", "", `
  - matches: [{method: {service: s.S}, headers: [{name: a, value: "1"}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{method: {service: s.S}, headers: [{name: a, value: "1"}, {name: b, value: "2"}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{method: {service: s.S}, headers: [{name: c, value: "3"}]}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
`)},
		cases: []routeCase{
			{grpcReq("s.S/M", "a: 1", "b: 2"), "infra-backend-v2"},
			{grpcReq("s.S/M", "a: 1", "c: 3"), "infra-backend-v1"},
			{grpcReq("s.S/M", "c: 3"), "infra-backend-v3"},
		},
	}, {
		name: "older route, then namespace/name",
		routes: []string{
			grpcRouteOn("b-old", "  creationTimestamp: \"2024-01-01T00:00:00Z\"", "", `
  - matches: [{method: {service: s.S}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`),
			grpcRouteOn("a-new", "  creationTimestamp: \"2024-06-01T00:00:00Z\"", "", `
  - matches: [{method: {service: s.S}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{method: {service: t.T}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`),
			grpcRouteOn("a-new-too", "  creationTimestamp: \"2024-06-01T00:00:00Z\"", "", `
  - matches: [{method: {service: t.T}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
`),
		},
		cases: []routeCase{
			{grpcReq("s.S/M"), "infra-backend-v1"},
			{grpcReq("t.T/M"), "infra-backend-v2"},
		},
	}, {
		name: "regular expressions match the whole service or method",
		routes: []string{grpcRouteOn("r", "", "", `
  - matches: [{method: {type: RegularExpression, method: "Echo"}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{method: {type: RegularExpression, service: "pkg\\.v[0-9]+\\.Svc"}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`)},
		cases: []routeCase{
			{grpcReq("x.Y/Echo"), "infra-backend-v1"},
			{grpcReq("x.Y/EchoTwo"), "404"},
			{grpcReq("x.Y/MyEcho"), "404"},
			{grpcReq("pkg.v12.Svc/Get"), "infra-backend-v2"},
			{grpcReq("pkg.v12.Svc.Internal/Get"), "404"},
			{grpcReq("my.pkg.v1.Svc/Get"), "404"},
		},
	}, {
		name: "method alone matches any service; service alone any method",
		routes: []string{grpcRouteOn("r", "", "", `
  - matches: [{method: {method: Check}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{method: {service: grpc.health.v1.Health}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`)},
		cases: []routeCase{
			{grpcReq("grpc.health.v1.Health/Check"), "infra-backend-v2"},
			{grpcReq("grpc.health.v1.Health/Watch"), "infra-backend-v2"},
			{grpcReq("other.Svc/Check"), "infra-backend-v1"},
			{grpcReq("other.Svc/CheckMore"), "404"},
			{grpcReq("grpc.health.v1.HealthX/Watch"), "404"},
		},
	}, {
		name: "paths that are not /service/method match only unconditional matches",
		routes: []string{grpcRouteOn("r", "", "", `
  - matches: [{method: {type: RegularExpression, service: ".*", method: ".*"}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{headers: [{name: x, value: "1"}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - backendRefs: [{name: infra-backend-v3, port: 8080}]
`)},
		cases: []routeCase{
			{grpcReq("a.B/C"), "infra-backend-v1"},
			{newReq("GET /a.B/C"), "infra-backend-v1"}, // the HTTP method is not checked
			{newReq("POST /a.B/C/D"), "infra-backend-v3"},
			{newReq("POST /a.B/"), "infra-backend-v3"},
			{newReq("POST //C"), "infra-backend-v3"},
			{newReq("POST /a.B"), "infra-backend-v3"},
			{newReq("POST /"), "infra-backend-v3"},
			{newReq("POST /a.B", "x: 1"), "infra-backend-v2"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := compile(t, "default", append([]string{conformanceServices}, tt.routes...)...)
			runCases(t, tbl, tt.cases)
		})
	}
}

// GEP-1294: of routes of different types on one Service port only one type
// applies, GRPCRoute before HTTPRoute; and GRPCRoutes and HTTPRoutes are
// never merged. The choice is per port, and made among the routes of the
// role (consumer or producer) in effect.
func TestMixedHTTPAndGRPCRoutes(t *testing.T) {
	httpAll := routeOn("web", "", "# all ports", `
  - matches: [{path: {type: PathPrefix, value: /pkg.Svc}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - backendRefs: [{name: infra-backend-v1, port: 8080}]
`)
	grpc80 := grpcRouteOn("rpc", "", "port: 80", `
  - matches: [{method: {service: pkg.Svc}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`)
	tbl := compile(t, "default", conformanceServices, httpAll, grpc80)
	// Port 80: the GRPCRoute only. Had the two been merged, the
	// HTTPRoute's catch-all would serve /other.
	runCases(t, tbl, []routeCase{
		{grpcReq("pkg.Svc/Get"), "infra-backend-v2"},
		{grpcReq("other.Svc/Get"), "404"},
		{newReq("GET /other"), "404"},
	})
	if svc := tbl.Lookup([]byte("echo:80")); !slices.Equal(svc.Routes, []string{"default/rpc"}) {
		t.Errorf("echo:80 Routes = %v, want [default/rpc]", svc.Routes)
	}
	want := "HTTPRoute default/web: not applied to Service default/echo:80: GRPCRoute default/rpc is attached to that port too"
	if n := countContaining(tbl.Warnings, "not applied to Service"); n != 1 || countContaining(tbl.Warnings, want) != 1 {
		t.Errorf("warnings = %q, want one containing %q", tbl.Warnings, want)
	}
	// Port 8080 has only the HTTPRoute.
	alt := tbl.Lookup([]byte("echo:8080"))
	if r := tbl.Match(alt, newReq("GET /other")); r == nil || r.Name != "default/web/1" {
		t.Errorf("echo:8080 /other: rule %v, want default/web/1", r)
	}

	// A consumer HTTPRoute replaces the producer GRPCRoute for its
	// namespace's clients; it is the only route of its role, so no conflict.
	consumer := strings.Replace(routeOn("mine", "", "port: 80\n    namespace: default", `
  - backendRefs: [{name: infra-backend-v3, namespace: default, port: 8080}]
`), "namespace: default\n", "namespace: client\n", 1) // the route's own namespace
	tbl = compile(t, "client", conformanceServices, grpc80, consumer)
	svc := tbl.Lookup([]byte("echo.default:80"))
	if r := tbl.Match(svc, grpcReq("pkg.Svc/Get")); r == nil || r.Name != "client/mine/0" {
		t.Errorf("client namespace: rule %v, want client/mine/0", r)
	}
	if n := countContaining(tbl.Warnings, "not applied to Service"); n != 0 {
		t.Errorf("conflict warnings across roles: %q", tbl.Warnings)
	}
	// The HTTPRoute alone on a port applies as before.
	tbl = compile(t, "default", conformanceServices, httpAll)
	runCases(t, tbl, []routeCase{{newReq("GET /other"), "infra-backend-v1"}})
}

func countContaining(ss []string, sub string) int {
	n := 0
	for _, s := range ss {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// A GRPCRoute rule is a *Rule like an HTTPRoute rule: metric name
// "<ns>/<route>/<rule>", the Proxy's request timeout, shared backends,
// invalid references warned about and failed for their share.
func TestGRPCRules(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, grpcRouteOn("rpc", "", "", `
  - name: named
    matches: [{method: {service: a.A}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{method: {service: b.B}}]
    backendRefs: [{name: infra-backend-v1, port: 8080, weight: 1}, {name: nosuch, port: 8080, weight: 1}]
  - matches: [{method: {service: c.C}}]
`))
	svc := tbl.Lookup([]byte("echo"))
	a := tbl.Match(svc, grpcReq("a.A/M"))
	b := tbl.Match(svc, grpcReq("b.B/M"))
	if a == nil || a.Name != "default/rpc/named" || b == nil || b.Name != "default/rpc/1" {
		t.Fatalf("rules %v, %v", a, b)
	}
	if a.RequestTimeout != 15e9 || a.BackendRequestTimeout != 0 {
		t.Errorf("timeouts %v/%v, want the Proxy's 15s and none", a.RequestTimeout, a.BackendRequestTimeout)
	}
	if a.Backends[0].Backend != b.Backends[0].Backend || a.Backends[0].Backend != tbl.Lookup([]byte("infra-backend-v1:8080")).Backend {
		t.Error("a GRPCRoute backendRef does not resolve to the Service port's backend")
	}
	if inv := b.Backends[1].Backend; !inv.Invalid {
		t.Errorf("backend %+v, want invalid", inv)
	}
	if got := slices.Collect(func(yield func(string) bool) {
		for _, r := range svc.Rules() {
			if !yield(r.Name) {
				return
			}
		}
	}); !slices.Equal(got, []string{"default/rpc/named", "default/rpc/1", "default/rpc/2"}) {
		t.Errorf("Rules() = %v", got)
	}
	for _, want := range []string{
		"GRPCRoute default/rpc: spec.rules[1].backendRefs[1]: Service default/nosuch not found",
		"GRPCRoute default/rpc: spec.rules[2]: no backendRefs",
	} {
		if countContaining(tbl.Warnings, want) != 1 {
			t.Errorf("no warning %q in %q", want, tbl.Warnings)
		}
	}
}

// Compile re-checks what it compiles of a GRPCRoute, naming the field.
func TestGRPCCompileErrors(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf(proxyDoc, "default")+service("default", "a", "10.96.0.1", "grpc:80:80")))
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		mm   config.GRPCMethodMatch
		want string
	}{
		{config.GRPCMethodMatch{Type: str("RegularExpression"), Method: str("(")}, "GRPCRoute default/g: spec.rules[0].matches[0].method.method: error parsing regexp"},
		{config.GRPCMethodMatch{Service: str("a/b")}, `GRPCRoute default/g: spec.rules[0].matches[0].method.service: Exact value "a/b" must not contain '/'`},
		{config.GRPCMethodMatch{}, "GRPCRoute default/g: spec.rules[0].matches[0].method: at least one of service or method is required"},
		{config.GRPCMethodMatch{Type: str("Prefix"), Service: str("a")}, `method.service: unsupported method match type "Prefix"`},
	} {
		cfg.GRPCRoutes = []config.GRPCRoute{{
			Metadata: config.ObjectMeta{Name: "g", Namespace: "default"},
			Spec:     config.GRPCRouteSpec{Rules: []config.GRPCRouteRule{{Matches: []config.GRPCRouteMatch{{Method: &tc.mm}}}}},
		}}
		if _, err := Compile(cfg, balance.NewRegistry(), Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.mm, err, tc.want)
		}
	}
}

// The gRPC example configuration: streams and canaries to v2, the rest of
// the Echo service split 90/10, other services unmatched; protocols from
// port names and appProtocol.
func TestGRPCExample(t *testing.T) {
	cfg, err := config.Load("../../testdata/grpc-example.yaml")
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
	svc := tbl.Lookup([]byte("echo:7070"))
	for _, tc := range []struct {
		req  *testReq
		want string
	}{
		{grpcReq("meshbench.echo.v1.Echo/Stream"), "default/echo/stream"},
		{grpcReq("meshbench.echo.v1.Echo/Stream", "x-canary: true"), "default/echo/stream"},
		{grpcReq("meshbench.echo.v1.Echo/Unary", "x-canary: true"), "default/echo/canary"},
		{grpcReq("meshbench.echo.v1.Echo/Unary"), "default/echo/split"},
		{grpcReq("meshbench.echo.v1.Echo/Unary", "x-canary: false"), "default/echo/split"},
		{grpcReq("grpc.health.v1.Health/Check"), ""},
	} {
		r := tbl.Match(svc, tc.req)
		if got := ""; r != nil {
			got = r.Name
			if got != tc.want {
				t.Errorf("%s %v: rule %s, want %s", tc.req.path, tc.req.headers, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("%s: no rule, want %s", tc.req.path, tc.want)
		}
	}
	for host, want := range map[string]Protocol{"echo:7070": H2C, "echo-v1:7070": H2C, "echo-v2:7070": H2C} {
		b := tbl.Lookup([]byte(host)).Backend
		if got := b.Protocol(b.Endpoints[0]); got != want {
			t.Errorf("%s: Protocol = %s, want %s", host, got, want)
		}
	}
}

// zeroAllocGRPCTable has GRPCRoute rules of every kind on one Service.
func zeroAllocGRPCTable(t testing.TB) *Table {
	var rules strings.Builder
	for i := range 10 {
		fmt.Fprintf(&rules, "  - matches: [{method: {service: pkg.v%d.Svc, method: Get}, headers: [{name: x-tenant, value: t%d}]}]\n", i, i)
		rules.WriteString("    backendRefs: [{name: infra-backend-v1, port: 8080, weight: 50}, {name: infra-backend-v2, port: 8080, weight: 50}]\n")
	}
	rules.WriteString(`  - matches: [{method: {type: RegularExpression, service: "pkg\\.v[0-9]+\\.Admin", method: "(Get|List).*"}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{method: {method: Check}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{headers: [{type: RegularExpression, name: user-agent, value: "grpc-go/.*"}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - backendRefs: [{name: infra-backend-v1, port: 8080, weight: 90}, {name: infra-backend-v2, port: 8080, weight: 10}]
`)
	return compile(t, "default", conformanceServices, grpcRouteOn("rpc", "", "", rules.String()))
}

func TestGRPCLookupMatchPickZeroAllocs(t *testing.T) {
	tbl := zeroAllocGRPCTable(t)
	rnd := balance.NewRand(1)
	for _, tc := range []struct {
		req  *testReq
		want string
	}{
		{grpcReq("pkg.v9.Svc/Get", "X-Tenant: t9"), "rpc/9"},
		{grpcReq("pkg.v3.Admin/ListUsers"), "rpc/10"},
		{grpcReq("grpc.health.v1.Health/Check"), "rpc/11"},
		{grpcReq("pkg.v9.Svc/Get", "User-Agent: grpc-go/1.70", "X-Tenant: other"), "rpc/12"},
		{grpcReq("pkg.v9.Svc/Put"), "rpc/13"},
		{newReq("POST /not-grpc"), "rpc/13"},
	} {
		host := []byte("echo.default.svc.cluster.local:80")
		run := func() {
			r := tbl.Match(tbl.Lookup(host), tc.req)
			if r == nil || r.Pick(rnd) == nil || !strings.HasSuffix(r.Name, tc.want) {
				panic(fmt.Sprintf("%s: rule %v", tc.req.path, r))
			}
		}
		run() // warm the regexp machine pools
		if allocs := testing.AllocsPerRun(200, run); allocs != 0 {
			t.Errorf("%s: %v allocations per Lookup+Match+Pick, want 0", tc.req.path, allocs)
		}
	}
}

func BenchmarkGRPCMatch(b *testing.B) {
	tbl := zeroAllocGRPCTable(b)
	svc := tbl.Lookup([]byte("echo"))
	req := grpcReq("pkg.v9.Svc/Get", "X-Tenant: t9")
	b.ReportAllocs()
	for b.Loop() {
		tbl.Match(svc, req)
	}
}
