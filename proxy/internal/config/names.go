package config

import (
	"net/netip"
	"strconv"
	"strings"
)

// The validators below implement the Kubernetes and Gateway API syntax
// rules (k8s.io/apimachinery/pkg/util/validation and the kubebuilder
// patterns in gateway-api) by hand, so that no regexp runs per character
// and the messages can say what is wrong.

// dns1123Label: lower-case alphanumerics and '-', starting and ending with
// an alphanumeric, at most 63 characters (namespaces, port names).
func dns1123Label(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > 63 {
		return "must be at most 63 characters"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLowerAlnum(c) && c != '-' {
			return "must consist of lower-case letters, digits and '-' (RFC 1123 label)"
		}
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return "must start and end with a letter or digit (RFC 1123 label)"
	}
	return ""
}

// dns1035Label is a dns1123Label that starts with a letter (Service names,
// which become DNS names).
func dns1035Label(s string) string {
	if msg := dns1123Label(s); msg != "" {
		return msg
	}
	if s[0] < 'a' || s[0] > 'z' {
		return "must start with a lower-case letter (RFC 1035 label)"
	}
	return ""
}

// dns1123Subdomain: dot-separated RFC 1123 labels, at most 253 characters
// (names of most objects, Gateway API SectionName and rule names).
func dns1123Subdomain(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > 253 {
		return "must be at most 253 characters"
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" {
			return "must not contain empty labels (RFC 1123 subdomain)"
		}
		for i := 0; i < len(label); i++ {
			if !isLowerAlnum(label[i]) && label[i] != '-' {
				return "must consist of lower-case letters, digits, '-' and '.' (RFC 1123 subdomain)"
			}
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "each label must start and end with a letter or digit (RFC 1123 subdomain)"
		}
	}
	return ""
}

// ianaSvcName: the IANA service name syntax Kubernetes uses for named
// target ports: at most 15 characters, lower-case alphanumerics and '-', at
// least one letter, no leading, trailing or double '-'.
func ianaSvcName(s string) string {
	if s == "" || len(s) > 15 {
		return "must be 1-15 characters (IANA service name)"
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			letter = true
		case c >= '0' && c <= '9', c == '-':
		default:
			return "must consist of lower-case letters, digits and '-' (IANA service name)"
		}
	}
	if !letter {
		return "must contain at least one letter (IANA service name)"
	}
	if s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return "must not start or end with '-' or contain '--' (IANA service name)"
	}
	return ""
}

// qualifiedName: the Kubernetes qualified name syntax of label keys and of
// appProtocol, "[prefix/]name": name is at most 63 letters, digits, '-',
// '_' and '.', starting and ending with a letter or digit; the optional
// prefix is an RFC 1123 subdomain.
func qualifiedName(s string) string {
	prefix, name, hasPrefix := strings.Cut(s, "/")
	if !hasPrefix {
		name = prefix
	} else {
		if msg := dns1123Subdomain(prefix); msg != "" {
			return "prefix " + strconv.Quote(prefix) + " " + msg
		}
		if strings.Contains(name, "/") {
			return "must be a name with at most one '/' prefix"
		}
	}
	if name == "" {
		return "name must not be empty"
	}
	if len(name) > 63 {
		return "name must be at most 63 characters"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := isLowerAlnum(c) || c >= 'A' && c <= 'Z'
		switch {
		case !alnum && c != '-' && c != '_' && c != '.':
			return "name must consist of letters, digits, '-', '_' and '.' (" + strconv.QuoteRune(rune(c)) + " is not allowed)"
		case !alnum && (i == 0 || i == len(name)-1):
			return "name must start and end with a letter or digit"
		}
	}
	return ""
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// isTchar reports whether c is an RFC 9110 token character, the syntax of
// header field names (Gateway API HeaderName pattern ^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$).
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// headerName validates a Gateway API HTTPHeaderName (also used for query
// parameter names): 1-256 token characters.
func headerName(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > 256 {
		return "must be at most 256 characters"
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return "must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~): " + strconv.QuoteRune(rune(s[i])) + " is not allowed"
		}
	}
	return ""
}

// headerValue validates a header match value (Gateway API experimental
// pattern ^[!-~]+([\t ]?[!-~]+)*$: printable ASCII, single inner spaces/tabs).
func headerValue(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > 4096 {
		return "must be at most 4096 characters"
	}
	prevSpace := true // forbids a leading space
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if prevSpace {
				return "must be printable ASCII without leading or repeated spaces/tabs"
			}
			prevSpace = true
		case c >= '!' && c <= '~':
			prevSpace = false
		default:
			return "must be printable ASCII (" + strconv.QuoteRune(rune(c)) + " is not allowed)"
		}
	}
	if prevSpace {
		return "must not end with a space or tab"
	}
	return ""
}

// httpMethods is the Gateway API HTTPMethod enum.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// ValidateListenAddress checks a listener or upstream address: host:port
// where host is an IP literal or "localhost" (never a name needing DNS,
// which a sidecar must not depend on at start-up) and port is 1-65535.
func ValidateListenAddress(addr string) string {
	host, port, ok := splitHostPort(addr)
	if !ok {
		return "must be host:port"
	}
	if host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil || strings.Contains(host, "%") {
			return "host " + strconv.Quote(host) + " must be an IP address or localhost"
		}
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || port[0] == '+' || port[0] == '0' {
		return "port " + strconv.Quote(port) + " must be a number 1-65535"
	}
	return ""
}

// splitHostPort splits "host:port" or "[v6]:port".
func splitHostPort(addr string) (host, port string, ok bool) {
	if strings.HasPrefix(addr, "[") {
		end := strings.IndexByte(addr, ']')
		if end < 0 || len(addr) < end+2 || addr[end+1] != ':' {
			return "", "", false
		}
		host, port = addr[1:end], addr[end+2:]
		if !strings.Contains(host, ":") {
			return "", "", false // brackets are for IPv6 only
		}
	} else {
		i := strings.LastIndexByte(addr, ':')
		if i < 0 {
			return "", "", false
		}
		host, port = addr[:i], addr[i+1:]
		if strings.Contains(host, ":") {
			return "", "", false // IPv6 must be bracketed
		}
	}
	return host, port, host != "" && port != ""
}

func itoa(i int) string { return strconv.Itoa(i) }

func lineMsg(line int, msg string) string { return "line " + itoa(line) + ": " + msg }

// spiffeScheme starts every SPIFFE ID.
const spiffeScheme = "spiffe://"

// ValidateSPIFFEID checks a workload SPIFFE ID as the SPIFFE ID standard
// defines it: "spiffe://<trust domain>/<path>" where the trust domain is
// lower-case letters, digits, '.', '-' and '_' (no port, no user info), the
// path is one or more non-empty segments of letters, digits, '.', '-' and '_'
// other than "." and "..", with no trailing '/', and there is no query or
// fragment; at most 2048 bytes. A bare trust domain ID ("spiffe://td") names
// no workload and is rejected. It returns "" when id is valid, else what is
// wrong.
func ValidateSPIFFEID(id string) string { return spiffeID(id, false) }

// spiffeID validates id; with prefix, id is a principal pattern without its
// trailing '*': the trust domain must be complete (followed by '/') and the
// last path segment may be empty, partial or a dot.
func spiffeID(id string, prefix bool) string {
	if id == "" {
		return "must not be empty"
	}
	if len(id) > 2048 {
		return "must be at most 2048 bytes"
	}
	if !strings.HasPrefix(id, spiffeScheme) {
		if len(id) >= len(spiffeScheme) && strings.EqualFold(id[:len(spiffeScheme)], spiffeScheme) {
			return `scheme must be lower-case "spiffe://"`
		}
		return `must start with "spiffe://"`
	}
	rest := id[len(spiffeScheme):]
	if strings.ContainsAny(rest, "?#") {
		return "must not have a query or fragment"
	}
	td, path, hasPath := strings.Cut(rest, "/")
	switch {
	case td == "":
		return "trust domain must not be empty"
	case len(td) > 255:
		return "trust domain must be at most 255 bytes"
	}
	for i := 0; i < len(td); i++ {
		switch c := td[i]; {
		case isLowerAlnum(c) || c == '.' || c == '-' || c == '_':
		case c == ':':
			return "trust domain must not have a port"
		case c == '@':
			return "must not have user info"
		case c >= 'A' && c <= 'Z':
			return "trust domain must be lower-case"
		default:
			return "trust domain must consist of lower-case letters, digits, '.', '-' and '_' (" + strconv.QuoteRune(rune(c)) + " is not allowed)"
		}
	}
	if !hasPath {
		if prefix {
			return "'*' must come after the whole trust domain and a '/'"
		}
		return "must have a path after the trust domain (spiffe://<trust domain>/<path>)"
	}
	for seg, more := "", true; more; {
		seg, path, more = strings.Cut(path, "/")
		open := prefix && !more // the segment the '*' continues
		switch {
		case seg == "" && open:
		case seg == "":
			return "path must not have empty segments ('//') or end with '/'"
		case (seg == "." || seg == "..") && !open:
			return "path must not have '.' or '..' segments"
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !isLowerAlnum(c) && !(c >= 'A' && c <= 'Z') && c != '.' && c != '-' && c != '_' {
				return "path segments must consist of letters, digits, '.', '-' and '_' (" + strconv.QuoteRune(rune(c)) + " is not allowed)"
			}
		}
	}
	return ""
}

// principal checks an authorization principal: "*", a SPIFFE ID, or a
// SPIFFE ID prefix ending in '*'.
func principal(p string) string {
	switch i := strings.IndexByte(p, '*'); {
	case p == "*":
		return ""
	case i >= 0 && i != len(p)-1:
		return "'*' is allowed only as the last character"
	case i >= 0:
		return spiffeID(p[:i], true)
	}
	return spiffeID(p, false)
}

// httpToken validates an HTTP method: an RFC 9110 token.
func httpToken(s string) string {
	if s == "" {
		return "must not be empty"
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return "must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~): " + strconv.QuoteRune(rune(s[i])) + " is not allowed"
		}
	}
	return ""
}
