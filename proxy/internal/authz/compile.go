package authz

import (
	"errors"
	"fmt"
	"strings"

	"github.com/meshbench/meshbench/proxy/internal/identity"
)

// Compile validates rules and compiles them into a Policy. Every problem is
// reported, each naming the rule and field ("authorization[1].principals[0]:
// ..."), joined with errors.Join.
//
// A nil rules slice (no authorization list configured) compiles to a nil
// Policy, which admits any authenticated peer. An empty but non-nil list
// compiles to a Policy that admits nothing, as an Istio ALLOW policy with no
// rules does.
func Compile(rules []Rule) (*Policy, error) {
	if rules == nil {
		return nil, nil
	}
	var errs []error
	p := &Policy{rules: make([]rule, 0, len(rules))}
	for i, r := range rules {
		at := func(field string, j int) string { return fmt.Sprintf("authorization[%d].%s[%d]", i, field, j) }
		var c rule
		c.anyPeer = len(r.Principals) == 0
		for j, pr := range r.Principals {
			switch exact, prefix, err := principal(pr); {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: %w", at("principals", j), err))
			case pr == "*":
				c.anyAuth = true
			case prefix != "":
				c.prefixes = append(c.prefixes, prefix)
			default:
				c.exact = append(c.exact, exact)
			}
		}
		for j, path := range r.Paths {
			prefix, err := pathPrefix(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", at("paths", j), err))
			}
			c.paths = append(c.paths, prefix)
		}
		for j, m := range r.Methods {
			if !isToken(m) {
				errs = append(errs, fmt.Errorf("%s: %q is not a method (an HTTP token such as GET)", at("methods", j), m))
			}
			c.methods = append(c.methods, m)
		}
		p.rules = append(p.rules, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// principal validates one principal and returns it as an exact ID or as a
// prefix (the pattern without its '*'); "*" returns neither.
func principal(s string) (exact, prefix string, err error) {
	if s == "" {
		return "", "", errors.New("empty principal")
	}
	if s == "*" {
		return "", "", nil
	}
	if i := strings.IndexByte(s, '*'); i >= 0 && i != len(s)-1 {
		return "", "", fmt.Errorf("%q: a '*' is allowed only at the end", s)
	}
	if p, ok := strings.CutSuffix(s, "*"); ok {
		// The pattern must spell out the whole trust domain and a '/', or
		// "spiffe://cluster.local*" would also match cluster.local.evil.
		rest, ok := strings.CutPrefix(p, "spiffe://")
		if !ok || !strings.Contains(rest, "/") {
			return "", "", fmt.Errorf("%q: a pattern must start with spiffe://, the trust domain and a '/' "+
				"(spiffe://cluster.local/ns/default/*)", s)
		}
		if _, err := identity.ParseID(strings.TrimSuffix(p, "/")); err != nil {
			return "", "", fmt.Errorf("pattern %q: %w", s, err)
		}
		return "", p, nil
	}
	if _, err := identity.ParseID(s); err != nil {
		return "", "", err
	}
	if !strings.Contains(strings.TrimPrefix(s, "spiffe://"), "/") {
		return "", "", fmt.Errorf("%q names a trust domain, not a workload (%s/* matches every workload in it)", s, s)
	}
	return s, "", nil
}

// pathPrefix validates one path and returns the prefix it matches.
func pathPrefix(s string) (string, error) {
	if !strings.HasPrefix(s, "/") {
		return "", fmt.Errorf("%q does not start with '/'", s)
	}
	prefix := strings.TrimSuffix(s, "*")
	if strings.Contains(prefix, "*") {
		return "", fmt.Errorf("%q: a '*' is allowed only at the end (paths are prefixes)", s)
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; c <= ' ' || c >= 0x7f {
			return "", fmt.Errorf("%q: byte %#x cannot appear in a request path", s, c)
		}
	}
	// A prefix that only paths Allow refuses can start would never match:
	// say so now rather than refuse every request. The prefix may end in
	// the middle of an escape ("/caf%C3%A") or of a segment ("/api/.."
	// still admits "/api/..x"), so both are completed harmlessly first.
	check := prefix
	if n := len(check); n > 0 && check[n-1] == '%' {
		check = check[:n-1]
	} else if n > 1 && check[n-2] == '%' {
		if _, ok := unhex(check[n-1]); ok {
			check = check[:n-2]
		}
	}
	if why := pathRefusal([]byte(check + "x")); why != "" {
		return "", fmt.Errorf("%q can never match: a request path with %s is always refused", s, why)
	}
	return prefix, nil
}

// isToken reports whether s is an RFC 9110 token, which a method is.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
