package identity

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

const (
	idPrefix = "spiffe://"

	// maxIDLen and maxDomainLen are the SPIFFE ID spec's limits (section 2.3
	// and the trust domain's DNS-name origin).
	maxIDLen     = 2048
	maxDomainLen = 255
)

// ParseID validates a SPIFFE ID string against the SPIFFE ID spec and returns
// its trust domain. The scheme must be exactly "spiffe://"; the trust domain
// non-empty, lower-case letters, digits, '.', '-' and '_' (so no port,
// userinfo or upper case); the path, if any, '/'-separated non-empty segments
// of letters, digits, '.', '-' and '_' other than "." and "..", with no
// trailing '/' (so no query, fragment or percent-encoding). The spec allows a
// trust domain's own ID ("spiffe://cluster.local", no path), and so does
// ParseID; a workload certificate's ID needs a path (see IDFromCert).
//
// The rules are this strict because IDs are compared as strings for
// authorization: any second spelling of the same ID would be a way around a
// policy.
func ParseID(s string) (trustDomain string, err error) {
	td, _, err := splitID(s)
	return td, err
}

// splitID validates s and returns its trust domain and path ("" or "/...").
func splitID(s string) (td, path string, err error) {
	if reason := checkID(s); reason != "" {
		return "", "", fmt.Errorf("invalid SPIFFE ID %q: %s", s, reason)
	}
	rest := s[len(idPrefix):]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i], rest[i:], nil
	}
	return rest, "", nil
}

// checkID returns why s is not a SPIFFE ID, or "".
func checkID(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > maxIDLen:
		return fmt.Sprintf("%d bytes long, more than the %d allowed", len(s), maxIDLen)
	case !strings.HasPrefix(s, idPrefix):
		if len(s) >= len(idPrefix) && strings.EqualFold(s[:len(idPrefix)], idPrefix) {
			return "the scheme must be lower-case spiffe://"
		}
		return "does not start with spiffe://"
	case strings.ContainsRune(s, '?'):
		return "a query is not allowed"
	case strings.ContainsRune(s, '#'):
		return "a fragment is not allowed"
	}
	rest := s[len(idPrefix):]
	td, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		td, path = rest[:i], rest[i:]
	}
	if reason := checkTrustDomain(td); reason != "" {
		return reason
	}
	return checkPath(path)
}

func checkTrustDomain(td string) string {
	switch {
	case td == "":
		return "the trust domain is missing"
	case len(td) > maxDomainLen:
		return fmt.Sprintf("the trust domain is longer than %d bytes", maxDomainLen)
	case strings.ContainsRune(td, '@'):
		return "userinfo is not allowed"
	case strings.ContainsRune(td, ':'):
		return "a port is not allowed"
	case strings.ToLower(td) != td:
		return "the trust domain must be lower-case"
	}
	for i := 0; i < len(td); i++ {
		if c := td[i]; !isLowerAlnum(c) && c != '.' && c != '-' && c != '_' {
			return fmt.Sprintf("invalid character %q in the trust domain", c)
		}
	}
	return ""
}

func checkPath(path string) string {
	if path == "" {
		return ""
	}
	// path starts with '/': each segment follows one.
	for _, seg := range strings.Split(path[1:], "/") {
		switch seg {
		case "":
			return "empty path segment (a // or a trailing /)"
		case ".", "..":
			return "a . or .. path segment is not allowed"
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			switch {
			case isLowerAlnum(c), c >= 'A' && c <= 'Z', c == '.', c == '-', c == '_':
			case c == '%':
				return "percent-encoding is not allowed"
			default:
				return fmt.Sprintf("invalid character %q in the path", c)
			}
		}
	}
	return ""
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// trustDomainOf returns the trust domain of an ID that already validated.
func trustDomainOf(id string) string {
	rest := id[len(idPrefix):]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i]
	}
	return rest
}

var errNoSPIFFEID = errors.New("no spiffe:// URI SAN")

// IDFromCert returns the SPIFFE ID of a workload (leaf) certificate: its one
// URI SAN, which must be a valid SPIFFE ID with a path. Per the X.509-SVID
// spec a certificate with more than one URI SAN is rejected whatever their
// schemes, so an extra URI can never change which identity a peer has.
func IDFromCert(c *x509.Certificate) (string, error) {
	if c == nil {
		return "", errors.New("no certificate")
	}
	switch n := len(c.URIs); {
	case n == 0:
		return "", errNoSPIFFEID
	case n > 1:
		return "", fmt.Errorf("%d URI SANs; an X.509-SVID has exactly one", n)
	}
	u := c.URIs[0]
	if u.Scheme != "spiffe" {
		return "", fmt.Errorf("%w (the URI SAN is %q)", errNoSPIFFEID, u.String())
	}
	// x509 parsed the SAN with net/url; String gives back the same bytes for
	// anything checkID accepts, and a different spelling fails checkID.
	id := u.String()
	_, path, err := splitID(id)
	if err != nil {
		return "", err
	}
	if path == "" {
		return "", fmt.Errorf("SPIFFE ID %q has no path: it names a trust domain, not a workload", id)
	}
	return id, nil
}

// checkLeaf applies the X.509-SVID rule that only a leaf identifies a
// workload: a CA certificate holding a SPIFFE ID is a signing certificate.
func checkLeaf(c *x509.Certificate) error {
	if c.BasicConstraintsValid && c.IsCA {
		return errors.New("the certificate is a CA (basicConstraints CA:TRUE), not a workload certificate")
	}
	if c.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0 {
		return errors.New("the certificate's key usage allows signing certificates or CRLs, which a workload certificate must not")
	}
	return nil
}
