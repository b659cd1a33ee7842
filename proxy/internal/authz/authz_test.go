package authz

import (
	"strings"
	"testing"
)

const (
	web      = "spiffe://cluster.local/ns/default/sa/web"
	api      = "spiffe://cluster.local/ns/default/sa/api"
	prodWeb  = "spiffe://cluster.local/ns/prod/sa/web"
	otherWeb = "spiffe://other.org/ns/default/sa/web"
	anon     = "" // no verified identity
)

func mustCompile(t testing.TB, rules ...Rule) *Policy {
	t.Helper()
	p, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func allow(p *Policy, peer, method, path string) bool {
	return p.Allow(peer, []byte(method), []byte(path))
}

func TestNilPolicy(t *testing.T) {
	p, err := Compile(nil)
	if p != nil || err != nil {
		t.Fatalf("Compile(nil) = %v, %v; want nil, nil", p, err)
	}
	for peer, want := range map[string]bool{web: true, otherWeb: true, anon: false} {
		if got := allow(p, peer, "GET", "/"); got != want {
			t.Errorf("nil policy, peer %q: %v, want %v", peer, got, want)
		}
	}
}

func TestEmptyPolicyAdmitsNothing(t *testing.T) {
	p, err := Compile([]Rule{})
	if p == nil || err != nil {
		t.Fatalf("Compile([]Rule{}) = %v, %v", p, err)
	}
	for _, peer := range []string{web, anon} {
		if allow(p, peer, "GET", "/") {
			t.Errorf("empty policy admits %q", peer)
		}
	}
}

// TestPrincipals: who each principal form admits.
func TestPrincipals(t *testing.T) {
	peers := []string{web, api, prodWeb, otherWeb, anon}
	cases := []struct {
		principals []string
		admitted   []string
	}{
		{nil, []string{web, api, prodWeb, otherWeb, anon}},
		{[]string{}, []string{web, api, prodWeb, otherWeb, anon}},
		{[]string{"*"}, []string{web, api, prodWeb, otherWeb}},
		{[]string{web}, []string{web}},
		{[]string{web, api}, []string{web, api}},
		{[]string{"spiffe://cluster.local/ns/default/*"}, []string{web, api}},
		{[]string{"spiffe://cluster.local/*"}, []string{web, api, prodWeb}},
		{[]string{"spiffe://cluster.local/ns/default/sa/w*"}, []string{web}},
		{[]string{"spiffe://other.org/*", api}, []string{api, otherWeb}},
		{[]string{"spiffe://cluster.local/ns/default/sa/web/*"}, nil}, // prefix longer than the ID
		{[]string{"spiffe://cluster.local/ns/default/sa/webb"}, nil},
		{[]string{"*", web}, []string{web, api, prodWeb, otherWeb}},
	}
	for _, c := range cases {
		p := mustCompile(t, Rule{Principals: c.principals})
		for _, peer := range peers {
			want := false
			for _, a := range c.admitted {
				want = want || a == peer
			}
			if got := allow(p, peer, "GET", "/"); got != want {
				t.Errorf("principals %q, peer %q: %v, want %v", c.principals, peer, got, want)
			}
		}
	}
}

// TestFieldCombinations checks every combination of set and unset fields
// against requests that match or miss each field: a request is admitted
// exactly when every field that is set matches.
func TestFieldCombinations(t *testing.T) {
	const (
		setPrincipals = 1 << iota
		setPaths
		setMethods
	)
	type request struct {
		peer, method, path       string
		peerOK, methodOK, pathOK bool
	}
	var requests []request
	for _, peer := range []struct {
		id string
		ok bool
	}{{web, true}, {api, false}, {anon, false}} {
		for _, m := range []struct {
			m  string
			ok bool
		}{{"GET", true}, {"HEAD", true}, {"POST", false}, {"get", false}} {
			for _, path := range []struct {
				p  string
				ok bool
			}{{"/api/v1/items?x=1", true}, {"/healthz", true}, {"/admin", false}, {"/api", false}} {
				requests = append(requests, request{peer.id, m.m, path.p, peer.ok, m.ok, path.ok})
			}
		}
	}
	for mask := 0; mask < 8; mask++ {
		var r Rule
		if mask&setPrincipals != 0 {
			r.Principals = []string{web}
		}
		if mask&setPaths != 0 {
			r.Paths = []string{"/api/", "/healthz"}
		}
		if mask&setMethods != 0 {
			r.Methods = []string{"GET", "HEAD"}
		}
		p := mustCompile(t, r)
		for _, q := range requests {
			want := (mask&setPrincipals == 0 || q.peerOK) &&
				(mask&setPaths == 0 || q.pathOK) &&
				(mask&setMethods == 0 || q.methodOK)
			if got := allow(p, q.peer, q.method, q.path); got != want {
				t.Errorf("rule %+v, request %q %s %s: %v, want %v", r, q.peer, q.method, q.path, got, want)
			}
		}
	}
}

// TestRulesAreAlternatives: a request needs one rule that matches in full,
// not fields matched across rules.
func TestRulesAreAlternatives(t *testing.T) {
	p := mustCompile(t,
		Rule{Principals: []string{web}, Methods: []string{"GET"}},
		Rule{Principals: []string{api}, Paths: []string{"/admin/"}, Methods: []string{"POST"}},
		Rule{Paths: []string{"/healthz"}}, // anyone, even unauthenticated
	)
	cases := []struct {
		peer, method, path string
		want               bool
	}{
		{web, "GET", "/admin/x", true},
		{web, "POST", "/admin/x", false}, // web may only GET; POST /admin/ is api's
		{api, "POST", "/admin/x", true},
		{api, "GET", "/admin/x", false},
		{api, "POST", "/other", false},
		{anon, "GET", "/healthz", true},
		{anon, "GET", "/", false},
		{prodWeb, "DELETE", "/healthz", true},
	}
	for _, c := range cases {
		if got := allow(p, c.peer, c.method, c.path); got != c.want {
			t.Errorf("%q %s %s: %v, want %v", c.peer, c.method, c.path, got, c.want)
		}
	}
}

func TestPaths(t *testing.T) {
	cases := []struct {
		paths   []string
		path    string
		allowed bool
	}{
		{[]string{"/api/"}, "/api/", true},
		{[]string{"/api/"}, "/api/v1/x", true},
		{[]string{"/api/"}, "/api/x?next=/admin", true},
		{[]string{"/api/"}, "/api", false},
		{[]string{"/api/"}, "/apix/", false},
		{[]string{"/api/"}, "/API/x", false}, // case-sensitive, like the path itself
		{[]string{"/api/"}, "", false},
		{[]string{"/api"}, "/apiary", true}, // a prefix, not a segment: write "/api/"
		{[]string{"/api/*"}, "/api/x", true},
		{[]string{"/api/*"}, "/api", false},
		{[]string{"/"}, "/anything", true},
		{[]string{"/"}, "*", false}, // OPTIONS *
		{[]string{"/api/"}, "http://host/api/x", false},
		// Escapes from the prefix, in the spellings upstreams decode.
		{[]string{"/api/"}, "/api/../admin", false},
		{[]string{"/api/"}, "/api/..", false},
		{[]string{"/api/"}, "/api/..?x", false},
		{[]string{"/api/"}, "/api/./x", false},
		{[]string{"/api/"}, "/api/%2e%2e/admin", false},
		{[]string{"/api/"}, "/api/%2E%2e%2Fadmin", false},
		{[]string{"/api/"}, "/api/..%2fadmin", false},
		{[]string{"/api/"}, "/api/..%5Cadmin", false},
		{[]string{"/api/"}, `/api/..\admin`, false},
		{[]string{"/api/"}, "/api/.%2e/admin", false},
		// Dots that are not dot segments.
		{[]string{"/api/"}, "/api/.well-known/x", true},
		{[]string{"/api/"}, "/api/.../x", true},
		{[]string{"/api/"}, "/api/a..b", true},
		{[]string{"/api/"}, "/api/x?q=../..", true},
		{[]string{"/api/"}, "/api/group%2Fproject", true},
		{[]string{"/api/"}, "/api/%zz", true},
		{[]string{"/api/"}, "/api/x%2", true},
	}
	for _, c := range cases {
		p := mustCompile(t, Rule{Paths: c.paths})
		if got := allow(p, web, "GET", c.path); got != c.allowed {
			t.Errorf("paths %q, request path %q: %v, want %v", c.paths, c.path, got, c.allowed)
		}
	}
	// Without paths in the rule, the path is not examined at all.
	if !allow(mustCompile(t, Rule{Principals: []string{"*"}}), web, "GET", "/api/../admin") {
		t.Error("a rule without paths refused a dot segment")
	}
}

func TestMethods(t *testing.T) {
	p := mustCompile(t, Rule{Methods: []string{"GET", "PURGE"}})
	for method, want := range map[string]bool{"GET": true, "PURGE": true, "get": false, "POST": false, "": false, "GETX": false} {
		if got := allow(p, web, method, "/"); got != want {
			t.Errorf("method %q: %v, want %v", method, got, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		rule Rule
		want string
	}{
		{Rule{Principals: []string{""}}, "authorization[1].principals[0]: empty principal"},
		{Rule{Principals: []string{web, "spiffe://cluster.local/ns/*/sa/web"}}, "authorization[1].principals[1]: \"spiffe://cluster.local/ns/*/sa/web\": a '*' is allowed only at the end"},
		{Rule{Principals: []string{"**"}}, "only at the end"},
		{Rule{Principals: []string{"spiffe://cluster.local*"}}, "must start with spiffe://, the trust domain and a '/'"},
		{Rule{Principals: []string{"spiffe://*"}}, "must start with spiffe://, the trust domain and a '/'"},
		{Rule{Principals: []string{"https://cluster.local/*"}}, "must start with spiffe://"},
		{Rule{Principals: []string{"spiffe://Cluster.local/*"}}, "lower-case"},
		{Rule{Principals: []string{"spiffe://cluster.local//*"}}, "empty path segment"},
		{Rule{Principals: []string{"spiffe://cluster.local/ns/a?b"}}, "query"},
		{Rule{Principals: []string{"default/web"}}, "does not start with spiffe://"},
		{Rule{Principals: []string{"spiffe://cluster.local"}}, "names a trust domain, not a workload"},
		{Rule{Paths: []string{"api/"}}, "authorization[1].paths[0]: \"api/\" does not start with '/'"},
		{Rule{Paths: []string{""}}, "does not start with '/'"},
		{Rule{Paths: []string{"/a*b"}}, "only at the end"},
		{Rule{Paths: []string{"/a b"}}, "cannot appear in a request path"},
		{Rule{Methods: []string{"GET", "GE T"}}, "authorization[1].methods[1]: \"GE T\" is not a method"},
		{Rule{Methods: []string{""}}, "is not a method"},
	}
	for _, c := range cases {
		_, err := Compile([]Rule{{}, c.rule})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rule %+v: error %v, want it to contain %q", c.rule, err, c.want)
		}
	}

	// Every problem is reported, not just the first.
	_, err := Compile([]Rule{{Principals: []string{"x"}}, {Paths: []string{"y"}, Methods: []string{"G T"}}})
	for _, want := range []string{"authorization[0].principals[0]", "authorization[1].paths[0]", "authorization[1].methods[0]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestAllowDoesNotAllocate(t *testing.T) {
	p := benchPolicy(t)
	requests := []struct{ peer, method, path string }{
		{web, "GET", "/api/v1/items"},
		{prodWeb, "POST", "/api/v1/items"},
		{api, "DELETE", "/admin/users/7"},
		{anon, "GET", "/healthz"},
		{anon, "GET", "/api/%2e%2e/admin"},
		{otherWeb, "PUT", "/api/x"},
	}
	type req struct {
		peer         string
		method, path []byte
	}
	var reqs []req
	for _, r := range requests {
		reqs = append(reqs, req{r.peer, []byte(r.method), []byte(r.path)})
	}
	var nilPolicy *Policy
	allocs := testing.AllocsPerRun(1000, func() {
		for _, r := range reqs {
			p.Allow(r.peer, r.method, r.path)
			nilPolicy.Allow(r.peer, r.method, r.path)
		}
	})
	if allocs != 0 {
		t.Errorf("Allow allocates %.1f times per run", allocs)
	}
}

// benchPolicy is a policy of the size a service typically has.
func benchPolicy(t testing.TB) *Policy {
	return mustCompile(t,
		Rule{Paths: []string{"/healthz", "/readyz"}, Methods: []string{"GET"}},
		Rule{Principals: []string{"spiffe://cluster.local/ns/monitoring/*"}, Paths: []string{"/metrics"}},
		Rule{Principals: []string{api, "spiffe://cluster.local/ns/ops/sa/admin"}, Paths: []string{"/admin/"}},
		Rule{Principals: []string{web, "spiffe://cluster.local/ns/default/sa/mobile", "spiffe://cluster.local/ns/prod/*"},
			Paths: []string{"/api/"}, Methods: []string{"GET", "POST", "PUT"}},
	)
}

// BenchmarkAllow: a request admitted by the last of four rules, the most
// work a typical policy does.
func BenchmarkAllow(b *testing.B) {
	p := benchPolicy(b)
	method, path := []byte("POST"), []byte("/api/v1/orders/1234/items?expand=true")
	b.ReportAllocs()
	for b.Loop() {
		if !p.Allow(prodWeb, method, path) {
			b.Fatal("refused")
		}
	}
}
