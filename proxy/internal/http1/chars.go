package http1

import "bytes"

// Byte classes. Lookup tables keep the hot loops branch-light and make the
// grammar explicit in one place.
var (
	// tchar (RFC 9110 5.6.2): the characters of a token, which is what
	// methods, field names, transfer codings and connection options are.
	isTchar = makeTable(func(c byte) bool {
		return isAlpha(c) || isDigit(c) || bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
	})
	// nameClass is isTchar for field names, with '_' told apart: 0 for a
	// byte that ends the name, nameTchar for any other tchar, and
	// nameTchar|nameUnderscore for '_'. OR-ing the classes of a name's
	// bytes says whether it holds a '_' (see Request.NumUnderscoreNames).
	nameClass = func() (t [256]uint8) {
		for i := range t {
			if isTchar[i] {
				t[i] = nameTchar
			}
		}
		t['_'] |= nameUnderscore
		return t
	}()
	// field-vchar / SP / HTAB (RFC 9110 5.5): everything allowed inside a
	// field value. Everything else is a CTL (including NUL, CR, LF) or DEL.
	isFieldChar = makeTable(func(c byte) bool {
		return c == ' ' || c == '\t' || (c >= 0x21 && c <= 0x7e) || c >= 0x80
	})
	// Bytes allowed in a request-target: printable US-ASCII except '#'.
	// Fragments are never sent in a request-target and non-ASCII bytes are
	// not valid in a URI (RFC 3986 section 2).
	isTargetChar = makeTable(func(c byte) bool {
		return c >= 0x21 && c <= 0x7e && c != '#'
	})
	// unreserved / sub-delims (RFC 3986 section 2): the characters of a
	// reg-name apart from pct-encoded triplets.
	isRegNameChar = makeTable(func(c byte) bool {
		return isAlpha(c) || isDigit(c) || bytes.IndexByte([]byte("-._~!$&'()*+,;="), c) >= 0
	})
	// ASCII lower-casing; header names are case-insensitive (RFC 9110 5.1).
	lower = func() (t [256]byte) {
		for i := range t {
			c := byte(i)
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			t[i] = c
		}
		return t
	}()
)

// Bits of nameClass.
const (
	nameTchar      = 1
	nameUnderscore = 2
)

func makeTable(f func(byte) bool) (t [256]bool) {
	for i := range t {
		t[i] = f(byte(i))
	}
	return t
}

func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || ((c|0x20) >= 'a' && (c|0x20) <= 'f') }
func isOWS(c byte) bool   { return c == ' ' || c == '\t' }

// isToken reports whether b is a non-empty token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTchar[c] {
			return false
		}
	}
	return true
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring
// ASCII case in b.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower[b[i]] != s[i] {
			return false
		}
	}
	return true
}

// equalFoldBytes reports whether a and b are equal ignoring ASCII case.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower[a[i]] != lower[b[i]] {
			return false
		}
	}
	return true
}

// trimOWS removes leading and trailing SP and HTAB.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// listIter walks the elements of a comma-separated list field value
// (RFC 9110 5.6.1), trimming OWS around each element. Unlike a naive split
// it also yields empty elements (including a trailing one after a final
// comma), so that callers can decide whether to ignore or reject them.
type listIter struct {
	v []byte
	i int
}

func (it *listIter) next() (elem []byte, ok bool) {
	if it.i > len(it.v) {
		return nil, false
	}
	rest := it.v[it.i:]
	j := bytes.IndexByte(rest, ',')
	if j < 0 {
		it.i = len(it.v) + 1
		return trimOWS(rest), true
	}
	it.i += j + 1
	return trimOWS(rest[:j]), true
}

// parseDecimal parses 1*DIGIT into a non-negative int64, rejecting signs,
// whitespace and values that do not fit.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	const maxInt64 = 1<<63 - 1
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		d := int64(c - '0')
		if n > (maxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// validAuthority reports whether b is host [ ":" port ] (RFC 3986 3.2,
// without userinfo, which RFC 9110 4.2.4 forbids for http URIs) with a
// non-empty host.
func validAuthority(b []byte) bool {
	i := 0
	if len(b) > 0 && b[0] == '[' {
		// IP-literal: IPv6address or IPvFuture; accept their character set
		// (hex digits, ':', '.', and unreserved/sub-delims for IPvFuture).
		end := bytes.IndexByte(b, ']')
		if end < 2 {
			return false
		}
		for _, c := range b[1:end] {
			if !isRegNameChar[c] && c != ':' {
				return false
			}
		}
		i = end + 1
	} else {
		for i < len(b) && b[i] != ':' {
			switch c := b[i]; {
			case isRegNameChar[c]:
				i++
			case c == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
				i += 3
			default:
				return false
			}
		}
		if i == 0 {
			return false
		}
	}
	if i == len(b) {
		return true
	}
	if b[i] != ':' {
		return false
	}
	for _, c := range b[i+1:] {
		if !isDigit(c) {
			return false
		}
	}
	return true
}
