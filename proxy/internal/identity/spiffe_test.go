package identity

import (
	"strings"
	"testing"
)

func TestParseID(t *testing.T) {
	valid := []struct{ id, td string }{
		{"spiffe://cluster.local/ns/default/sa/web", "cluster.local"},
		{"spiffe://example.org", "example.org"}, // a trust domain's own ID
		{"spiffe://a_b-c.9/Upper.Case-ok_/x", "a_b-c.9"},
		{"spiffe://td/" + strings.Repeat("a", maxIDLen-len("spiffe://td/")), "td"},
	}
	for _, c := range valid {
		td, err := ParseID(c.id)
		if err != nil || td != c.td {
			t.Errorf("ParseID(%.60q) = %q, %v; want %q", c.id, td, err, c.td)
		}
	}

	invalid := []struct{ id, why string }{
		{"", "empty"},
		{"https://cluster.local/ns/a", "does not start with spiffe://"},
		{"SPIFFE://cluster.local/ns/a", "lower-case spiffe://"},
		{"spiffe:cluster.local/ns/a", "does not start with spiffe://"},
		{"spiffe://", "trust domain is missing"},
		{"spiffe:///ns/a", "trust domain is missing"},
		{"spiffe://Cluster.local/ns/a", "must be lower-case"},
		{"spiffe://cluster.local:8443/ns/a", "port"},
		{"spiffe://user@cluster.local/ns/a", "userinfo"},
		{"spiffe://cluster.local/ns/a?x=1", "query"},
		{"spiffe://cluster.local/ns/a#frag", "fragment"},
		{"spiffe://cluster.local/ns/a/", "empty path segment"},
		{"spiffe://cluster.local//ns/a", "empty path segment"},
		{"spiffe://cluster.local/", "empty path segment"},
		{"spiffe://cluster.local/ns/./a", ". or .."},
		{"spiffe://cluster.local/ns/../a", ". or .."},
		{"spiffe://cluster.local/ns/a%2Fb", "percent-encoding"},
		{"spiffe://cluster.local/ns/a b", "invalid character ' ' in the path"},
		{"spiffe://cluster.local/ns/ü", "invalid character"},
		{"spiffe://clus+ter/ns/a", "invalid character '+' in the trust domain"},
		{"spiffe://td/" + strings.Repeat("a", maxIDLen), "more than the 2048 allowed"},
		{"spiffe://" + strings.Repeat("a", maxDomainLen+1) + "/x", "longer than 255"},
	}
	for _, c := range invalid {
		td, err := ParseID(c.id)
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseID(%.60q) = %q, %v; want an error containing %q", c.id, td, err, c.why)
		}
	}
}

func TestIDFromCert(t *testing.T) {
	ca := newCA(t, "ca")
	cases := []struct {
		name string
		opt  leafOpt
		want string // ID, or the error it contains
		ok   bool
	}{
		{"one SPIFFE ID", uris(serverID), serverID, true},
		{"no URI SAN", uris(), "no spiffe:// URI SAN", false},
		{"two SPIFFE IDs", uris(serverID, clientID), "2 URI SANs", false},
		{"SPIFFE ID and another URI", uris(serverID, "https://example.org/"), "2 URI SANs", false},
		{"other scheme only", uris("https://example.org/"), "no spiffe:// URI SAN", false},
		{"trust domain ID", uris("spiffe://cluster.local"), "no path", false},
		{"invalid SPIFFE ID", uris("spiffe://Cluster.local/ns/a"), "must be lower-case", false},
		{"port", uris("spiffe://cluster.local:80/ns/a"), "port", false},
	}
	for _, c := range cases {
		leaf := ca.issue(t, serverID, c.opt)
		id, err := IDFromCert(leaf.cert)
		switch {
		case c.ok && (err != nil || id != c.want):
			t.Errorf("%s: IDFromCert = %q, %v; want %q", c.name, id, err, c.want)
		case !c.ok && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: IDFromCert = %q, %v; want an error containing %q", c.name, id, err, c.want)
		}
	}
	if _, err := IDFromCert(nil); err == nil {
		t.Error("IDFromCert(nil) succeeded")
	}
}
