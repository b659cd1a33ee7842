package certs

import (
	"errors"
	"fmt"
	"strings"
)

const (
	// maxLabel is the RFC 1123 label limit, which Kubernetes applies to
	// namespaces; service accounts are held to it too so that every
	// identity can also be written as a DNS label if a scenario needs one.
	maxLabel = 63
	// maxTrustDomain keeps trust domains within DNS name length: the SPIFFE
	// spec does not cap the component itself, but a longer one is a typo.
	maxTrustDomain = 255
	// maxSPIFFEID is the SPIFFE spec's limit on a whole ID.
	maxSPIFFEID = 2048
)

// ParseIdentity splits a Kubernetes-style identity "ns/sa" into its namespace
// and service account. Both must be DNS labels (RFC 1123: lower-case letters,
// digits and '-', at most 63 characters, starting and ending with a letter or
// digit), because they become a SPIFFE ID path and a file name: restricting
// them up front rules out path traversal, case-only duplicates and IDs that
// another SPIFFE implementation would reject.
func ParseIdentity(s string) (ns, sa string, err error) {
	ns, sa, ok := strings.Cut(s, "/")
	if !ok || strings.Contains(sa, "/") {
		return "", "", fmt.Errorf("identity %q: want namespace/serviceaccount, like default/web", s)
	}
	if err := checkLabel(ns); err != nil {
		return "", "", fmt.Errorf("identity %q: namespace %w", s, err)
	}
	if err := checkLabel(sa); err != nil {
		return "", "", fmt.Errorf("identity %q: service account %w", s, err)
	}
	return ns, sa, nil
}

// checkLabel reports why s is not an RFC 1123 DNS label. Its messages start
// with the quoted label so callers can prefix what the label is.
func checkLabel(s string) error {
	const rule = "(lower-case letters, digits and '-', at most 63 characters, starting and ending with a letter or digit)"
	if s == "" {
		return errors.New("is empty")
	}
	if len(s) > maxLabel {
		return fmt.Errorf("%q is %d characters long; a DNS label is at most %d", s, len(s), maxLabel)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isLowerAlnum(c) || (c == '-' && i > 0 && i < len(s)-1) {
			continue
		}
		return fmt.Errorf("%q is not a DNS label %s", s, rule)
	}
	return nil
}

// checkTrustDomain enforces the SPIFFE spec's trust domain alphabet
// (lower-case letters, digits, '.', '-', '_'). The spec lower-cases trust
// domains when comparing, so accepting upper case here would let two
// spellings of one domain produce certificates that compare unequal as
// strings in a proxy's authorization rules.
func checkTrustDomain(td string) error {
	switch {
	case td == "":
		return errors.New("is empty")
	case strings.Contains(td, "://"):
		return fmt.Errorf("%q looks like a URI; give the bare trust domain, like cluster.local", td)
	case len(td) > maxTrustDomain:
		return fmt.Errorf("is %d characters long; at most %d are allowed", len(td), maxTrustDomain)
	}
	for i := 0; i < len(td); i++ {
		if c := td[i]; !isLowerAlnum(c) && c != '.' && c != '-' && c != '_' {
			return fmt.Errorf("%q is not a valid SPIFFE trust domain (lower-case letters, digits, '.', '-' and '_' only, like cluster.local)", td)
		}
	}
	return nil
}

// checkSPIFFEID validates a workload SPIFFE ID: "spiffe://" + trust domain +
// a non-empty path whose segments use only letters, digits, '.', '-' and
// '_' and are not "." or "..". It is written against the spec rather than
// with net/url, which would accept percent-escapes, ports, queries and user
// info that SPIFFE forbids.
func checkSPIFFEID(id string) error {
	rest, ok := strings.CutPrefix(id, "spiffe://")
	if !ok {
		return fmt.Errorf("SPIFFE ID %q does not start with spiffe://", id)
	}
	if len(id) > maxSPIFFEID {
		return fmt.Errorf("SPIFFE ID is %d bytes long; at most %d are allowed", len(id), maxSPIFFEID)
	}
	td, path, _ := strings.Cut(rest, "/")
	if err := checkTrustDomain(td); err != nil {
		return fmt.Errorf("SPIFFE ID %q: trust domain %w", id, err)
	}
	if path == "" {
		return fmt.Errorf("SPIFFE ID %q has no path; a workload ID names something inside the trust domain", id)
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("SPIFFE ID %q: empty, '.' or '..' path segment", id)
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !isLowerAlnum(c) && !('A' <= c && c <= 'Z') && c != '.' && c != '-' && c != '_' {
				return fmt.Errorf("SPIFFE ID %q: path may contain only letters, digits, '.', '-', '_' and '/'", id)
			}
		}
	}
	return nil
}

// spiffeID is the Istio-compatible workload ID for a namespace and service
// account, the form meshproxy's authorization rules match on.
func spiffeID(trustDomain, ns, sa string) string {
	return "spiffe://" + trustDomain + "/ns/" + ns + "/sa/" + sa
}

func isLowerAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}
