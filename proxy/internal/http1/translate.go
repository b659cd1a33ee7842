package http1

import "strconv"

// Writing HTTP/1.1 for a message that arrived in another protocol (HTTP/2),
// and reading an HTTP/1.1 message for one that leaves in another. The
// field rules are the ones AppendRequestHead and AppendResponseHead apply,
// so a field is end-to-end or hop-by-hop the same way whatever the peers
// speak.

// AppendRequestLine appends "METHOD target HTTP/1.1\r\n".
func AppendRequestLine(dst, method, target []byte) []byte {
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, target...)
	return append(dst, " HTTP/1.1\r\n"...)
}

// AppendField appends the field line "name: value\r\n". The caller has
// checked name with ValidFieldName and value for CR, LF and NUL (an HTTP/2
// codec does, RFC 9113 8.2.1).
func AppendField(dst, name, value []byte) []byte { return appendFieldBytes(dst, name, value) }

// AppendContentLength appends "content-length: n\r\n".
func AppendContentLength(dst []byte, n int64) []byte {
	dst = append(dst, "content-length: "...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, "\r\n"...)
}

// ValidFieldName reports whether name is a token (RFC 9110 5.1), what an
// HTTP/1.1 field name must be. HTTP/2 allows more bytes in a name (any
// visible ASCII but upper case and ':'); forwarding one of those, such as
// "x(y" or "a/b", over HTTP/1.1 would let the upstream read the head
// differently from the proxy.
func ValidFieldName(name []byte) bool { return isToken(name) }

// IsHopByHop reports whether a field named name (any case) describes the
// connection rather than the message (Connection, Keep-Alive,
// Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Upgrade,
// Transfer-Encoding) and so is never forwarded as is.
func IsHopByHop(name []byte) bool {
	k := classify(name)
	return k.hopByHop() || k == kindTransferEncoding
}

// EndToEnd reports whether field i of r is forwarded to a peer of another
// protocol: not hop-by-hop, not named by a Connection option, and not
// Transfer-Encoding or Content-Length, whose framing the other protocol
// replaces (the caller sends ContentLength itself when the body has one).
func (r *Response) EndToEnd(i int) bool {
	k := r.meta.kinds[i]
	return !k.hopByHop() && !r.meta.dropped(i) && k != kindTransferEncoding && k != kindContentLength
}
