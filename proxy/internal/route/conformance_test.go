package route

import (
	"math"
	"testing"

	"github.com/meshbench/meshbench/proxy/internal/balance"
)

// The tests in this file replay the Gateway API conformance suite's
// expectations (conformance/tests/*.go and their YAML) against meshproxy's
// table, with the routes attached to a Service (GAMMA) instead of a Gateway.

// MeshHTTPRouteMatching / HTTPRouteMatching: ORed matches, PathPrefix element semantics.
func TestConformanceHTTPRouteMatching(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, routeOn("mesh-matching", "", "", `
  - matches:
    - path: {type: PathPrefix, value: /}
    - headers: [{name: version, value: one}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /v2}
    - headers: [{name: version, value: two}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`))
	runCases(t, tbl, []routeCase{
		{newReq("/"), "infra-backend-v1"},
		{newReq("/example"), "infra-backend-v1"},
		{newReq("/", "Version: one"), "infra-backend-v1"},
		{newReq("/v2"), "infra-backend-v2"},
		{newReq("/v2/example"), "infra-backend-v2"},
		{newReq("/", "Version: two"), "infra-backend-v2"},
		{newReq("/v2/"), "infra-backend-v2"},
		{newReq("/v2example"), "infra-backend-v1"}, // not a path element prefix
		{newReq("/foo/v2/example"), "infra-backend-v1"},
	})
}

// HTTPRouteMatchingAcrossRoutes (without the hostnames, which GAMMA does not use):
// matches of several routes on one parent are merged and ordered together.
func TestConformanceHTTPRouteMatchingAcrossRoutes(t *testing.T) {
	tbl := compile(t, "default", conformanceServices,
		routeOn("matching-part1", "", "", `
  - matches:
    - path: {type: PathPrefix, value: /}
    - headers: [{name: version, value: one}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`),
		routeOn("matching-part2", "", "", `
  - matches:
    - path: {type: PathPrefix, value: /v2}
    - headers: [{name: version, value: two}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`))
	runCases(t, tbl, []routeCase{
		{newReq("/"), "infra-backend-v1"},
		{newReq("/example"), "infra-backend-v1"},
		{newReq("/example", "Version: one"), "infra-backend-v1"},
		{newReq("/v2"), "infra-backend-v2"},
		{newReq("/v2/example"), "infra-backend-v2"},
		{newReq("/", "Version: two"), "infra-backend-v2"},
	})
	svc := tbl.Lookup([]byte("echo"))
	if want := []string{"default/matching-part1", "default/matching-part2"}; len(svc.Routes) != 2 || svc.Routes[0] != want[0] || svc.Routes[1] != want[1] {
		t.Errorf("Routes = %v, want %v", svc.Routes, want)
	}
}

// HTTPRoutePathMatchOrder: Exact beats PathPrefix; longer prefixes beat shorter.
func TestConformanceHTTPRoutePathMatchOrder(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, routeOn("path-matching-order", "", "", `
  - matches: [{path: {type: Exact, value: /match}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: Exact, value: /match/exact}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{path: {type: Exact, value: /match/exact/one}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /match/}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /match/prefix/}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /match/prefix/one}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`))
	runCases(t, tbl, []routeCase{
		{newReq("/match/exact/one"), "infra-backend-v3"},
		{newReq("/match/exact"), "infra-backend-v2"},
		{newReq("/match"), "infra-backend-v1"},
		{newReq("/match/prefix/one/any"), "infra-backend-v2"},
		{newReq("/match/prefix/any"), "infra-backend-v1"},
		{newReq("/match/any"), "infra-backend-v3"},
	})
}

// HTTPRouteExactPathMatching: Exact is whole-path and case-sensitive.
func TestConformanceHTTPRouteExactPathMatching(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, routeOn("exact-matching", "", "", `
  - matches: [{path: {type: Exact, value: /one}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: Exact, value: /two}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`))
	runCases(t, tbl, []routeCase{
		{newReq("/one"), "infra-backend-v1"},
		{newReq("/two"), "infra-backend-v2"},
		{newReq("/"), "404"},
		{newReq("/one/example"), "404"},
		{newReq("/two/"), "404"},
		{newReq("/Two"), "404"},
	})
}

// HTTPRouteHeaderMatching: names case-insensitive, ANDed within a match,
// more header matches win.
func TestConformanceHTTPRouteHeaderMatching(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, routeOn("header-matching", "", "", `
  - matches: [{headers: [{name: version, value: one}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{headers: [{name: version, value: two}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{headers: [{name: version, value: two}, {name: color, value: orange}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{headers: [{name: color, value: blue}]}, {headers: [{name: color, value: green}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{headers: [{name: color, value: red}]}, {headers: [{name: color, value: yellow}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`))
	runCases(t, tbl, []routeCase{
		{newReq("/", "Version: one"), "infra-backend-v1"},
		{newReq("/", "Version: two"), "infra-backend-v2"},
		{newReq("/", "Version: two", "Color: orange"), "infra-backend-v1"},
		{newReq("/", "Version: two", "Color: blue"), "infra-backend-v2"},
		{newReq("/", "Color: orange"), "404"},
		{newReq("/", "Some-Other-Header: one"), "404"},
		{newReq("/", "Color: blue"), "infra-backend-v1"},
		{newReq("/", "Color: green"), "infra-backend-v1"},
		{newReq("/", "Color: red"), "infra-backend-v2"},
		{newReq("/", "Color: yellow"), "infra-backend-v2"},
		{newReq("/", "Color: purple"), "404"},
		// Values are case-sensitive.
		{newReq("/", "version: ONE"), "404"},
	})
}

// HTTPRouteQueryParamMatching: names and values exact and case-sensitive,
// combinations, precedence (path > header > query).
func TestConformanceHTTPRouteQueryParamMatching(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, routeOn("query-param-matching", "", "", `
  - matches: [{queryParams: [{name: animal, value: whale}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{queryParams: [{name: animal, value: dolphin}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches:
    - queryParams: [{name: animal, value: dolphin}, {name: color, value: blue}]
    - queryParams: [{name: ANIMAL, value: Whale}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /path1}
      queryParams: [{name: animal, value: whale}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches:
    - headers: [{name: version, value: one}]
      queryParams: [{name: animal, value: whale}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /path2}
      headers: [{name: version, value: two}]
      queryParams: [{name: animal, value: whale}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /path3}
      queryParams: [{name: animal, value: shark}]
    - path: {type: PathPrefix, value: /path4}
      headers: [{name: version, value: three}]
      queryParams: [{name: animal, value: kraken}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /path5}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{queryParams: [{name: animal, value: hydra}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{headers: [{name: version, value: four}]}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
`))
	runCases(t, tbl, []routeCase{
		{newReq("/?animal=whale"), "infra-backend-v1"},
		{newReq("/?animal=dolphin"), "infra-backend-v2"},
		{newReq("/?animal=dolphin&color=blue"), "infra-backend-v3"},
		{newReq("/?ANIMAL=Whale"), "infra-backend-v3"},
		{newReq("/?animal=whale&otherparam=irrelevant"), "infra-backend-v1"},
		{newReq("/?animal=dolphin&color=yellow"), "infra-backend-v2"},
		{newReq("/?color=blue"), "404"},
		{newReq("/?animal=dog"), "404"},
		{newReq("/?animal=whaledolphin"), "404"},
		{newReq("/"), "404"},
		{newReq("/path1?animal=whale"), "infra-backend-v1"},
		{newReq("/?animal=whale", "version: one"), "infra-backend-v2"},
		{newReq("/path2?animal=whale", "version: two"), "infra-backend-v3"},
		{newReq("/path3?animal=shark"), "infra-backend-v1"},
		{newReq("/path4?animal=kraken", "version: three"), "infra-backend-v1"},
		{newReq("/?animal=shark"), "404"},
		{newReq("/path4?animal=kraken"), "404"},
		{newReq("/path5?animal=hydra"), "infra-backend-v1"},
		{newReq("/?animal=hydra", "version: four"), "infra-backend-v3"},
	})
}

// HTTPRouteMethodMatching: method matches, combinations, and precedence
// (path > method > header).
func TestConformanceHTTPRouteMethodMatching(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, routeOn("method-matching", "", "", `
  - matches: [{method: POST}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{method: GET}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /path1}, method: GET}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{headers: [{name: version, value: one}], method: PUT}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /path2}, headers: [{name: version, value: two}], method: POST}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches:
    - {path: {type: PathPrefix, value: /path3}, method: PATCH}
    - {path: {type: PathPrefix, value: /path4}, headers: [{name: version, value: three}], method: DELETE}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /path5}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{method: PATCH}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{headers: [{name: version, value: four}]}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
`))
	runCases(t, tbl, []routeCase{
		{newReq("POST /"), "infra-backend-v1"},
		{newReq("GET /"), "infra-backend-v2"},
		{newReq("HEAD /"), "404"},
		{newReq("GET /path1"), "infra-backend-v1"},
		{newReq("PUT /", "version: one"), "infra-backend-v2"},
		{newReq("POST /path2", "version: two"), "infra-backend-v3"},
		{newReq("PATCH /path3"), "infra-backend-v1"},
		{newReq("DELETE /path4", "version: three"), "infra-backend-v1"},
		{newReq("PUT /"), "404"},
		{newReq("DELETE /path4"), "404"},
		{newReq("PATCH /path5"), "infra-backend-v1"},
		{newReq("PATCH /", "version: four"), "infra-backend-v2"},
	})
}

// MeshSplit: Exact matches on one Service send to different backends.
func TestConformanceMeshSplit(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, routeOn("mesh-split", "", "# no port: all ports", `
  - matches: [{path: {type: Exact, value: /v1}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: Exact, value: /v2}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`))
	runCases(t, tbl, []routeCase{
		{newReq("/v1"), "infra-backend-v1"},
		{newReq("/v2"), "infra-backend-v2"},
		{newReq("/v3"), "404"},
	})
}

// GRPCRoute conformance (conformance/tests/grpcroute-*.go and their YAML),
// attached to Service echo rather than to a Gateway. The suite's calls are
// to gateway_api_conformance.echo_basic.grpcecho.GrpcEcho; a call no rule
// matches gets UNIMPLEMENTED there, 404 ("no_route") here, which gRPC
// clients read as UNIMPLEMENTED. GRPCRouteListenerHostnameMatching does
// not apply: a Service parent has no listeners, and route hostnames are
// rejected (GEP-1294: mesh routes SHOULD NOT infer anything from them).
const grpcEcho = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho"

// GRPCRouteExactMethodMatching: Exact service and method; EchoThree unrouted.
func TestConformanceGRPCRouteExactMethodMatching(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, grpcRouteOn("exact-matching", "", "", `
  - matches:
    - method:
        service: `+grpcEcho+`
        method: Echo
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches:
    - method:
        service: `+grpcEcho+`
        method: EchoTwo
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`))
	runCases(t, tbl, []routeCase{
		{grpcReq(grpcEcho + "/Echo"), "infra-backend-v1"},
		{grpcReq(grpcEcho + "/EchoTwo"), "infra-backend-v2"},
		{grpcReq(grpcEcho + "/EchoThree"), "404"},
	})
}

// GRPCRouteNamedRule: the rule name labels the rule.
func TestConformanceGRPCRouteNamedRule(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, grpcRouteOn("grpc-named-rules", "", "", `
  - name: named-rule
    matches: [{method: {service: `+grpcEcho+`, method: Echo}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{method: {service: `+grpcEcho+`, method: EchoTwo}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`))
	runCases(t, tbl, []routeCase{
		{grpcReq(grpcEcho + "/Echo"), "infra-backend-v1"},
		{grpcReq(grpcEcho + "/EchoTwo"), "infra-backend-v2"},
	})
	svc := tbl.Lookup([]byte("echo"))
	if r := tbl.Match(svc, grpcReq(grpcEcho+"/Echo")); r.Name != "default/grpc-named-rules/named-rule" {
		t.Errorf("rule name %s", r.Name)
	}
	if r := tbl.Match(svc, grpcReq(grpcEcho+"/EchoTwo")); r.Name != "default/grpc-named-rules/1" {
		t.Errorf("unnamed rule %s", r.Name)
	}
}

// GRPCRouteHeaderMatching: names case-insensitive, ANDed within a match,
// ORed across matches, more header matches win.
func TestConformanceGRPCRouteHeaderMatching(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, grpcRouteOn("grpc-header-matching", "", "", `
  - matches: [{headers: [{name: version, value: one}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{headers: [{name: version, value: two}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{headers: [{name: version, value: two}, {name: color, value: orange}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{headers: [{name: color, value: blue}]}, {headers: [{name: color, value: green}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{headers: [{name: color, value: red}]}, {headers: [{name: color, value: yellow}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`))
	echo := grpcEcho + "/Echo"
	runCases(t, tbl, []routeCase{
		{grpcReq(echo, "Version: one"), "infra-backend-v1"},
		{grpcReq(echo, "Version: two"), "infra-backend-v2"},
		{grpcReq(echo, "Version: two", "Color: orange"), "infra-backend-v1"},
		{grpcReq(echo, "Version: two", "Color: blue"), "infra-backend-v2"},
		{grpcReq(echo, "Color: orange"), "404"},
		{grpcReq(echo, "Some-Other-Header: one"), "404"},
		{grpcReq(echo, "Color: blue"), "infra-backend-v1"},
		{grpcReq(echo, "Color: green"), "infra-backend-v1"},
		{grpcReq(echo, "Color: red"), "infra-backend-v2"},
		{grpcReq(echo, "Color: yellow"), "infra-backend-v2"},
		{grpcReq(echo, "Color: purple"), "404"},
	})
}

// MeshGRPCRouteWeight (conformance/tests/mesh/grpcroute-weight.go) and
// GRPCRouteWeight: 70/30, and weight 0 never picked.
func TestConformanceMeshGRPCRouteWeight(t *testing.T) {
	tbl := compile(t, "default", conformanceServices, grpcRouteOn("mesh-grpc-weighted-backends", "", "", `
  - backendRefs:
    - {name: infra-backend-v1, port: 8080, weight: 70}
    - {name: infra-backend-v2, port: 8080, weight: 30}
    - {name: infra-backend-v3, port: 8080, weight: 0}
`))
	rule := tbl.Match(tbl.Lookup([]byte("echo")), grpcReq(grpcEcho+"/Echo"))
	if rule == nil {
		t.Fatal("no rule")
	}
	rnd := balance.NewRand(7)
	counts := map[string]int{}
	const n = 10000
	for range n {
		counts[rule.Pick(rnd).Name]++
	}
	for name, want := range map[string]float64{"default/infra-backend-v1:8080": 0.70, "default/infra-backend-v2:8080": 0.30} {
		if got := float64(counts[name]) / n; math.Abs(got-want) > 0.02 {
			t.Errorf("%s got %.1f%% of picks, want %.0f%% ± 2%%", name, got*100, want*100)
		}
	}
	if c := counts["default/infra-backend-v3:8080"]; c != 0 {
		t.Errorf("weight 0 backend picked %d times", c)
	}
}
