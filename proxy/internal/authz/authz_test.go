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
	}
	for _, c := range cases {
		p := mustCompile(t, Rule{Paths: c.paths})
		if got := allow(p, web, "GET", c.path); got != c.allowed {
			t.Errorf("paths %q, request path %q: %v, want %v", c.paths, c.path, got, c.allowed)
		}
	}
}

// TestPathNormalization: the paths a rule with paths refuses whatever its
// prefix (see Policy.Allow), each beside spellings that look alike but are
// safe to match by prefix. refused is pathRefusal's reason; "" means the
// prefix decides.
func TestPathNormalization(t *testing.T) {
	const (
		dot      = refusedDotSegment
		pct25    = refusedEncodedPercent
		escape   = refusedBadEscape
		control  = refusedControl
		overlong = refusedOverlong
	)
	cases := []struct {
		path    string
		refused string
		allowed bool // by paths ["/api/"], when not refused
	}{
		// Dot segments, in the spellings upstreams decode.
		{"/api/../admin", dot, false},
		{"/api/..", dot, false},
		{"/api/..?x", dot, false},
		{"/api/./x", dot, false},
		{"/api/%2e%2e/admin", dot, false},
		{"/api/%2E%2e%2Fadmin", dot, false},
		{"/api/..%2fadmin", dot, false},
		{"/api/..%5Cadmin", dot, false},
		{`/api/..\admin`, dot, false},
		{`/api\..\admin`, dot, false},
		{"/api/.%2e/admin", dot, false},
		// Path parameters: servlet containers drop ";..." from each
		// segment before resolving dot segments.
		{"/api/..;/admin", dot, false},
		{"/api/.;/admin", dot, false},
		{"/api/%2e%2e;/admin", dot, false},
		{"/api/%2E%2E;/admin", dot, false},
		{"/api/.%2e;x/admin", dot, false},
		{"/api/..;jsessionid=x/admin", dot, false},
		{"/api/..;jsessionid=x", dot, false},
		{"/api/..;", dot, false},
		{"/api/..;/..;/admin", dot, false},
		{"/api/..;%2fadmin", dot, false},
		{`/api/..;\admin`, dot, false},
		{"/api/..%3b/admin", dot, false}, // a server that decodes first sees ';'
		{"/api/..%3Bx=1/admin", dot, false},
		{"/api//../admin", dot, false},
		// Encoded '?' and '#': a server that decodes before it cuts off
		// the query or fragment sees "/api/..".
		{"/api/..%3f/admin", dot, false},
		{"/api/..%3F", dot, false},
		{"/api/.%23x", dot, false},
		{"/api/x%3f/y", "", true},
		{"/api/%3f../y", "", true},
		// Parameters on segments that are not dot segments are harmless.
		{"/api/v1;x=1/items", "", true},
		{"/api/v1;jsessionid=abc", "", true},
		{"/api/x;../admin", "", true}, // the name is "x"; ".." is its parameter
		{"/api/x;/y", "", true},
		{"/api/;/x", "", true},        // empty name
		{"/api/..x;/admin", "", true}, // the name is "..x"
		{"/api/...;/admin", "", true}, // "..." is a name
		{"/api/a.b;v=1.2/x", "", true},
		{"/api;x=1/admin", "", false}, // not under "/api/" as written
		// Double encoding: one decoding leaves an escape behind.
		{"/api/%252e%252e/admin", pct25, false},
		{"/api/%252E%252E/admin", pct25, false},
		{"/api/%252e%252e;/admin", pct25, false},
		{"/api/..%252fadmin", pct25, false},
		{"/api/100%25", pct25, false}, // even a literal '%': it cannot be told apart
		{"/api/x?q=%25", "", true},    // the query is not examined
		{"/api/%%32%65%%32%65/admin", escape, false},
		{"/api/%2%65%2%65/admin", escape, false},
		{"/api/%zz", escape, false},
		{"/api/x%2", escape, false},
		{"/api/x%", escape, false},
		{"/api/x%?q", escape, false},
		{"/api/%2Fx", "", true},
		{"/api/group%2Fproject", "", true},
		{"/api/%41%7e", "", true},
		// Control characters: C servers truncate at NUL.
		{"/api/..%00/admin", control, false},
		{"/api/x%00", control, false},
		{"/api/x%0a", control, false},
		{"/api/x%1F", control, false},
		{"/api/x%7f", control, false},
		{"/api/x%20y", "", true},
		// Overlong UTF-8 that lax decoders read as '.', '/' or '\'.
		{"/api/%c0%ae%c0%ae/admin", overlong, false},
		{"/api/..%c0%afadmin", overlong, false},
		{"/api/..%C1%9Cadmin", overlong, false},
		{"/api/%e0%80%ae%e0%80%ae/admin", overlong, false},
		{"/api/%f0%80%80%ae", overlong, false},
		{"/api/caf%C3%A9", "", true},    // U+00E9
		{"/api/%e0%a0%80", "", true},    // U+0800, the first three-byte form
		{"/api/%f0%90%80%80", "", true}, // U+10000, the first four-byte form
		// Empty segments are matched as written.
		{"/api//admin", "", true},
		{"/api/x//", "", true},
		{"//api/x", "", false},
		// Dots that are not dot segments.
		{"/api/.well-known/x", "", true},
		{"/api/.../x", "", true},
		{"/api/a..b", "", true},
		{"/api/%2e%2ex", "", true},
		{"/api/x?q=../..", "", true},
		{"/api/x?q=..;/", "", true},
	}
	// The second policy checks the path in a first rule that does not
	// match, then reuses that answer for the rule that does.
	one := mustCompile(t, Rule{Paths: []string{"/api/"}})
	two := mustCompile(t, Rule{Paths: []string{"/other/"}}, Rule{Paths: []string{"/api/"}})
	for _, c := range cases {
		if got := pathRefusal([]byte(c.path)); got != c.refused {
			t.Errorf("path %q: refused for %q, want %q", c.path, got, c.refused)
		}
		want := c.refused == "" && c.allowed
		for i, p := range []*Policy{one, two} {
			if got := allow(p, web, "GET", c.path); got != want {
				t.Errorf("policy %d, path %q: %v, want %v", i+1, c.path, got, want)
			}
		}
	}
	// Without paths in the rule, the path is not examined at all.
	anyPath := mustCompile(t, Rule{Principals: []string{"*"}})
	for _, path := range []string{"/api/../admin", "/api/..;/admin", "/api/%252e%252e/admin", "/x%zz"} {
		if !allow(anyPath, web, "GET", path) {
			t.Errorf("a rule without paths refused %q", path)
		}
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
		// Prefixes that only refused paths start with.
		{Rule{Paths: []string{"/api/../x"}}, `authorization[1].paths[0]: "/api/../x" can never match: a request path with a dot segment is always refused`},
		{Rule{Paths: []string{"/api/..;/"}}, "with a dot segment is always refused"},
		{Rule{Paths: []string{"/api/..;"}}, "with a dot segment is always refused"},
		{Rule{Paths: []string{"/api/%2e/*"}}, "with a dot segment is always refused"},
		{Rule{Paths: []string{"/api/%25"}}, "with an encoded '%' (%25) is always refused"},
		{Rule{Paths: []string{"/api/%%"}}, "with a '%' not followed by two hex digits is always refused"},
		{Rule{Paths: []string{"/api/%00"}}, "with an encoded control character is always refused"},
		{Rule{Paths: []string{"/api/%c0"}}, "with overlong UTF-8 is always refused"},
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

// TestPartialPrefixes: a prefix may end inside a segment or an escape that
// only some requests complete into a refused path.
func TestPartialPrefixes(t *testing.T) {
	cases := []struct {
		prefix, path string
		allowed      bool
	}{
		{"/api/..", "/api/..x", true},
		{"/api/..", "/api/..", false},
		{"/api/..", "/api/..;/admin", false},
		{"/api/.", "/api/.well-known", true},
		{"/api/.", "/api/./x", false},
		{"/api/%2", "/api/%2Fx", true},
		{"/api/%2", "/api/%2e/x", false},
		{"/api/%", "/api/%41", true},
		{"/caf%C3%A", "/caf%C3%A9", true},
		{"/api/%e0", "/api/%e0%a0%80", true},
		{"/api/%e0", "/api/%e0%80%ae", false},
	}
	for _, c := range cases {
		p, err := Compile([]Rule{{Paths: []string{c.prefix}}})
		if err != nil {
			t.Errorf("prefix %q: %v", c.prefix, err)
			continue
		}
		if got := allow(p, web, "GET", c.path); got != c.allowed {
			t.Errorf("prefix %q, path %q: %v, want %v", c.prefix, c.path, got, c.allowed)
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
		// Every refusal, and a path parameter, on rules with paths that
		// get as far as the path.
		{web, "GET", "/api/..;/admin"},
		{web, "GET", "/api/%252e%252e/admin"},
		{web, "GET", "/api/%%32%65"},
		{web, "GET", "/api/..%00"},
		{web, "GET", "/api/%c0%ae%c0%ae/admin"},
		{web, "GET", "/api/v1;x=1/items"},
		{web, "GET", "/api/caf%C3%A9"},
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
