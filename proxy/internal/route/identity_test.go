package route

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/config"
)

const (
	idReviews   = "spiffe://cluster.local/ns/default/sa/reviews"
	idReviewsV2 = "spiffe://cluster.local/ns/default/sa/reviews-v2"
	idRatings   = "spiffe://cluster.local/ns/default/sa/ratings"
)

// identityDocs: reviews has a Service identity that one of its two slices
// overrides, with not-ready endpoints interleaved so that the parallel data
// must follow the filtering and the sort by address; ratings has only a
// slice identity; details has none.
var identityDocs = `---
apiVersion: v1
kind: Service
metadata:
  name: reviews
  annotations: {meshbench.dev/identity: "` + idReviews + `"}
spec:
  ports: [{name: http, port: 9080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-v1, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
endpoints:
- {addresses: [10.0.1.5]}
- {addresses: [10.0.1.1], conditions: {ready: false}}
- {addresses: [10.0.1.3]}
ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: reviews-v2
  labels: {kubernetes.io/service-name: reviews}
  annotations: {meshbench.dev/identity: "` + idReviewsV2 + `"}
addressType: IPv4
endpoints:
- {addresses: [10.0.1.4]}
- {addresses: [10.0.1.2], conditions: {ready: false}}
- {addresses: [10.0.1.0]}
ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings}
spec:
  ports: [{name: http, port: 9080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ratings-1
  labels: {kubernetes.io/service-name: ratings}
  annotations: {meshbench.dev/identity: "` + idRatings + `"}
addressType: IPv4
endpoints: [{addresses: [10.0.2.1]}, {addresses: [10.0.2.2]}]
ports: [{name: http, port: 8080}]
` + service("default", "details", "", "http:9080:8080") + `
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules:
  - backendRefs: [{name: reviews, port: 9080}]
  - matches: [{path: {value: /missing}}]
    backendRefs: [{name: nosuch, port: 80}]
`

func TestExpectedIdentity(t *testing.T) {
	tbl := compile(t, "default", identityDocs)
	ids := func(host string) (addrs, got []string) {
		t.Helper()
		s := tbl.Lookup([]byte(host))
		if s == nil {
			t.Fatalf("Lookup(%s) = nil", host)
		}
		for _, e := range s.Backend.Endpoints {
			addrs = append(addrs, e.Addr)
			got = append(got, s.Backend.ExpectedIdentity(e))
		}
		return addrs, got
	}

	// Service annotation, overridden by the reviews-v2 slice for its endpoints.
	addrs, got := ids("reviews:9080")
	if want := []string{"10.0.1.0:8080", "10.0.1.3:8080", "10.0.1.4:8080", "10.0.1.5:8080"}; !slices.Equal(addrs, want) {
		t.Fatalf("reviews endpoints = %v, want %v", addrs, want)
	}
	if want := []string{idReviewsV2, idReviews, idReviewsV2, idReviews}; !slices.Equal(got, want) {
		t.Errorf("reviews identities = %q, want %q", got, want)
	}
	// Only a slice annotation.
	if _, got := ids("ratings:9080"); !slices.Equal(got, []string{idRatings, idRatings}) {
		t.Errorf("ratings identities = %q", got)
	}
	// None: any identity of the trust domain.
	if _, got := ids("details:9080"); !slices.Equal(got, []string{""}) {
		t.Errorf("details identities = %q", got)
	}

	reviews := tbl.Lookup([]byte("reviews:9080")).Backend
	// An HTTPRoute backendRef resolves to the same backend.
	rule := tbl.Match(tbl.Lookup([]byte("reviews:9080")), newReq("/"))
	if b := rule.Pick(balance.NewRand(1)); b != reviews {
		t.Errorf("route backend %p is not the Service's %p", b, reviews)
	}
	// Endpoints are matched by address, so an Endpoint from another
	// registry works as well; one that is not in the backend gets the
	// Service's identity.
	if id := reviews.ExpectedIdentity(balance.NewEndpoint("10.0.1.4:8080")); id != idReviewsV2 {
		t.Errorf("ExpectedIdentity(other registry's 10.0.1.4:8080) = %q", id)
	}
	for _, addr := range []string{"10.0.1.2:8080", "10.0.0.9:8080", "10.0.9.9:8080", "[::1]:8080"} {
		if id := reviews.ExpectedIdentity(balance.NewEndpoint(addr)); id != idReviews {
			t.Errorf("ExpectedIdentity(%s, not an endpoint) = %q, want the Service's", addr, id)
		}
	}
	if id := reviews.ExpectedIdentity(nil); id != idReviews {
		t.Errorf("ExpectedIdentity(nil) = %q", id)
	}
	// The inbound application, an invalid backend and a nil backend: "".
	in := tbl.Inbound()
	if id := in.ExpectedIdentity(in.Endpoints[0]); id != "" {
		t.Errorf("inbound ExpectedIdentity = %q", id)
	}
	invalid := tbl.Match(tbl.Lookup([]byte("reviews:9080")), newReq("/missing")).Pick(balance.NewRand(1))
	if !invalid.Invalid || invalid.ExpectedIdentity(reviews.Endpoints[0]) != "" {
		t.Errorf("invalid backend %+v: identity %q", invalid, invalid.ExpectedIdentity(reviews.Endpoints[0]))
	}
	var nilB *Backend
	if id := nilB.ExpectedIdentity(reviews.Endpoints[0]); id != "" {
		t.Errorf("nil backend identity = %q", id)
	}
}

// slicePair renders Service x (port 80, optional annotation) with two
// slices listing 10.0.0.1:8080, each with an optional annotation.
func slicePair(svcID, id1, id2 string) string {
	ann := func(id string) string {
		if id == "" {
			return ""
		}
		return "\n  annotations: {meshbench.dev/identity: \"" + id + "\"}"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x%s\nspec:\n  ports: [{port: 80, targetPort: 8080}]\n", ann(svcID))
	for i, id := range []string{id1, id2} {
		fmt.Fprintf(&b, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: x-%d\n  labels: {kubernetes.io/service-name: x}%s\n", i+1, ann(id))
		b.WriteString("addressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}]\nports: [{port: 8080}]\n")
	}
	return b.String()
}

// An endpoint listed in two slices is used once; if the slices expect
// different identities of it, Compile fails rather than pick one.
func TestExpectedIdentitySliceConflict(t *testing.T) {
	parse := func(docs string) *config.Config {
		t.Helper()
		cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf(proxyDoc, "default")+docs))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	// Agreeing slices: explicitly the Service's identity, and inherited.
	tbl, err := Compile(parse(slicePair(idReviews, idReviews, "")), balance.NewRegistry(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := tbl.Lookup([]byte("x")).Backend
	if len(b.Endpoints) != 1 || b.ExpectedIdentity(b.Endpoints[0]) != idReviews {
		t.Errorf("endpoints %v, identity %q", b.Endpoints, b.ExpectedIdentity(b.Endpoints[0]))
	}

	for _, tc := range []struct {
		svc, id1, id2 string
		want          string
	}{
		{idReviews, idReviewsV2, "", `route: EndpointSlice default/x-2: metadata.annotations["meshbench.dev/identity"]: endpoint 10.0.0.1:8080 of Service default/x:80 is expected to be "` + idReviews + `" here but "` + idReviewsV2 + `" in EndpointSlice default/x-1`},
		{"", idReviews, "", `expected to be any identity (no annotation) here but "` + idReviews + `" in EndpointSlice default/x-1`},
	} {
		_, err := Compile(parse(slicePair(tc.svc, tc.id1, tc.id2)), balance.NewRegistry(), Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("slices %q/%q on Service %q: err = %v, want %q", tc.id1, tc.id2, tc.svc, err, tc.want)
		}
	}

	// Compile re-checks the annotation's syntax.
	cfg := parse(slicePair(idReviews, "", ""))
	cfg.Slices[1].Metadata.Annotations = map[string]string{config.IdentityAnnotation: "spiffe://cluster.local/ns/x/"}
	if _, err := Compile(cfg, balance.NewRegistry(), Options{}); err == nil ||
		!strings.Contains(err.Error(), `EndpointSlice default/x-2: metadata.annotations["meshbench.dev/identity"]: invalid SPIFFE ID`) {
		t.Errorf("invalid slice annotation: err = %v", err)
	}
	cfg = parse(slicePair(idReviews, "", ""))
	cfg.Services[0].Metadata.Annotations[config.IdentityAnnotation] = "x"
	if _, err := Compile(cfg, balance.NewRegistry(), Options{}); err == nil ||
		!strings.Contains(err.Error(), `Service default/x: metadata.annotations["meshbench.dev/identity"]: invalid SPIFFE ID "x"`) {
		t.Errorf("invalid Service annotation: err = %v", err)
	}
}

// Two Services that expect different identities of one address are a
// warning: the address serves one certificate.
func TestExpectedIdentityCrossServiceWarning(t *testing.T) {
	svc := func(name, id string) string {
		return fmt.Sprintf(`---
apiVersion: v1
kind: Service
metadata:
  name: %s
  annotations: {meshbench.dev/identity: %q}
spec:
  ports: [{port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %s-1, labels: {kubernetes.io/service-name: %s}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{port: 8080}]
`, name, id, name, name)
	}
	tbl := compile(t, "default", svc("a", idReviews), svc("b", idReviews), svc("c", idRatings))
	want := `endpoint 10.0.0.1:8080: Service default/a:80 expects identity "` + idReviews + `" but Service default/c:80 expects "` + idRatings + `"`
	n := 0
	for _, w := range tbl.Warnings {
		if strings.Contains(w, "expects identity") {
			n++
			if !strings.Contains(w, want) {
				t.Errorf("warning %q, want %q", w, want)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d identity warnings, want 1: %q", n, tbl.Warnings)
	}
}

func TestExpectedIdentityZeroAllocs(t *testing.T) {
	tbl := compile(t, "default", identityDocs)
	reviews := tbl.Lookup([]byte("reviews:9080")).Backend
	ratings := tbl.Lookup([]byte("ratings:9080")).Backend
	in := tbl.Inbound()
	other := balance.NewEndpoint("10.0.9.9:8080")
	var sink string
	for _, tc := range []struct {
		name string
		b    *Backend
		ep   *balance.Endpoint
		want string
	}{
		{"slice override", reviews, reviews.Endpoints[0], idReviewsV2},
		{"service annotation", reviews, reviews.Endpoints[3], idReviews},
		{"not an endpoint", reviews, other, idReviews},
		{"uniform", ratings, ratings.Endpoints[1], idRatings},
		{"inbound", in, in.Endpoints[0], ""},
	} {
		allocs := testing.AllocsPerRun(1000, func() { sink = tc.b.ExpectedIdentity(tc.ep) })
		if allocs != 0 {
			t.Errorf("%s: %v allocations per ExpectedIdentity, want 0", tc.name, allocs)
		}
		if sink != tc.want {
			t.Errorf("%s: ExpectedIdentity = %q, want %q", tc.name, sink, tc.want)
		}
	}
}

func BenchmarkExpectedIdentity(b *testing.B) {
	tbl := compile(b, "default", identityDocs)
	reviews := tbl.Lookup([]byte("reviews:9080")).Backend
	ep := reviews.Endpoints[2]
	for b.Loop() {
		if reviews.ExpectedIdentity(ep) != idReviewsV2 {
			b.Fatal("wrong identity")
		}
	}
}
