package http1

import "strconv"

// AppendRequestHead appends the head to send upstream for r (parsed from buf
// by ParseRequest) and returns the extended dst. It does not allocate when
// dst has enough capacity.
//
//   - The request-line keeps the method and the client's version (an
//     HTTP/1.0 request stays 1.0 so the upstream will not answer chunked);
//     an absolute-form target is rewritten to origin-form (RFC 9112 3.2.1):
//     path and query, "/" for an empty path, "*" for OPTIONS with neither.
//   - Hop-by-hop fields are removed: Connection, Keep-Alive,
//     Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Upgrade
//     and every field named by a Connection option, except Host,
//     Content-Length and Transfer-Encoding, which are framing-relevant.
//   - Content-Length and Transfer-Encoding are kept in place with their
//     validated value re-emitted canonically ("5, 5" or "05" becomes "5";
//     "Chunked" becomes "chunked"; duplicate Content-Length lines collapse to
//     the first), so the upstream cannot read the framing differently.
//   - Host is always present: in place of the received Host line, with the
//     authority of an absolute-form target as its value; first, when the
//     request had none (an HTTP/1.0 request without Host gets an empty Host
//     value, as RFC 9110 7.2 prescribes for a missing authority).
//   - X-Forwarded-For: the values of all (non-empty) X-Forwarded-For lines
//     are merged with ", " at the position of the first one, followed by
//     clientIP; without any, a new line with just clientIP is appended. An
//     empty clientIP passes X-Forwarded-For through unchanged.
//   - An HTTP/1.0 request gets "Connection: keep-alive" so the upstream
//     connection can be reused.
//   - A WebSocket handshake (r.WebSocket) gets "Upgrade: websocket" and
//     "Connection: upgrade" back, in that canonical form.
//   - extra (raw "Name: value\r\n" lines, may be nil) goes last before the
//     final CRLF.
func AppendRequestHead(dst, buf []byte, r *Request, clientIP []byte, extra []byte) []byte {
	dst = append(dst, r.Method.Bytes(buf)...)
	dst = append(dst, ' ')
	dst = r.appendOriginTarget(dst, buf)
	dst = append(dst, " HTTP/1."...)
	dst = append(dst, '0'+byte(r.Minor))
	dst = append(dst, "\r\n"...)
	if !r.hasHostHeader {
		dst = appendField(dst, "Host", r.Host.Bytes(buf))
	}

	mergeXFF := len(clientIP) > 0
	xffDone, clDone := false, false
	for i := 0; i < r.NumHeaders; i++ {
		h := &r.Headers[i]
		kind := r.meta.kinds[i]
		if kind.hopByHop() || r.meta.dropped(i) {
			continue
		}
		name := h.Name.Bytes(buf)
		switch kind {
		case kindHost:
			dst = appendFieldBytes(dst, name, r.Host.Bytes(buf))
		case kindContentLength:
			if !clDone {
				dst = appendContentLength(dst, name, r.ContentLength)
				clDone = true
			}
		case kindTransferEncoding:
			dst = appendFieldBytes(dst, name, []byte("chunked"))
		case kindXForwardedFor:
			if !mergeXFF {
				dst = appendFieldBytes(dst, name, h.Value.Bytes(buf))
			} else if !xffDone {
				dst = r.appendMergedXFF(dst, buf, name, i, clientIP)
				xffDone = true
			}
		default:
			dst = appendFieldBytes(dst, name, h.Value.Bytes(buf))
		}
	}
	if mergeXFF && !xffDone {
		dst = appendField(dst, "X-Forwarded-For", clientIP)
	}
	switch {
	case r.Minor == 0:
		dst = append(dst, "Connection: keep-alive\r\n"...)
	case r.WebSocket:
		dst = append(dst, webSocketFields...)
	}
	dst = append(dst, extra...)
	return append(dst, "\r\n"...)
}

// webSocketFields are the hop-by-hop fields of a WebSocket handshake, sent
// on each hop in place of whatever spelling the peer used.
const webSocketFields = "Upgrade: websocket\r\nConnection: upgrade\r\n"

// appendOriginTarget appends the request-target to send upstream.
func (r *Request) appendOriginTarget(dst, buf []byte) []byte {
	if !r.AbsoluteForm {
		return append(dst, r.Target.Bytes(buf)...)
	}
	rest := buf[r.Path.Start:r.Target.End] // path and "?query", if any
	if r.Path.IsEmpty() {
		if len(rest) == 0 && string(r.Method.Bytes(buf)) == "OPTIONS" {
			return append(dst, '*') // RFC 9112 3.2.4
		}
		dst = append(dst, '/')
	}
	return append(dst, rest...)
}

// appendMergedXFF emits one X-Forwarded-For line holding the values of every
// forwarded X-Forwarded-For line from index first on, then clientIP.
func (r *Request) appendMergedXFF(dst, buf, name []byte, first int, clientIP []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	for i := first; i < r.NumHeaders; i++ {
		if r.meta.kinds[i] != kindXForwardedFor || r.meta.dropped(i) {
			continue
		}
		if v := r.Headers[i].Value.Bytes(buf); len(v) > 0 {
			dst = append(dst, v...)
			dst = append(dst, ", "...)
		}
	}
	dst = append(dst, clientIP...)
	return append(dst, "\r\n"...)
}

// AppendResponseHead appends the head to send downstream for r (parsed from
// buf by ParseResponse): the status-line "HTTP/1.1 <code> <reason>" (the
// standard reason text when the upstream sent none), the fields minus
// hop-by-hop ones (as for AppendRequestHead; Content-Length and
// Transfer-Encoding re-emitted canonically), then "Connection: close" when
// closeAfter, else "Connection: keep-alive" when keepAlive10 (an HTTP/1.0
// client that asked for keep-alive), then extra and the final CRLF. A 101
// switching to WebSocket (r.WebSocket) gets "Upgrade: websocket" and
// "Connection: upgrade" instead of either Connection line.
// It does not allocate when dst has enough capacity.
func AppendResponseHead(dst, buf []byte, r *Response, closeAfter, keepAlive10 bool, extra []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, ' ')
	if r.Reason.IsEmpty() {
		if t := StatusText(r.Status); t != unknownStatus {
			dst = append(dst, t...)
		}
	} else {
		dst = append(dst, r.Reason.Bytes(buf)...)
	}
	dst = append(dst, "\r\n"...)

	clDone := false
	for i := 0; i < r.NumHeaders; i++ {
		kind := r.meta.kinds[i]
		if kind.hopByHop() || r.meta.dropped(i) {
			continue
		}
		h := &r.Headers[i]
		name := h.Name.Bytes(buf)
		switch kind {
		case kindContentLength:
			if !clDone {
				dst = appendContentLength(dst, name, r.ContentLength)
				clDone = true
			}
		case kindTransferEncoding:
			dst = appendFieldBytes(dst, name, []byte("chunked"))
		default:
			dst = appendFieldBytes(dst, name, h.Value.Bytes(buf))
		}
	}
	switch {
	case r.WebSocket:
		dst = append(dst, webSocketFields...)
	case closeAfter:
		dst = append(dst, "Connection: close\r\n"...)
	case keepAlive10:
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	dst = append(dst, extra...)
	return append(dst, "\r\n"...)
}

func appendFieldBytes(dst, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

func appendField(dst []byte, name string, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

func appendContentLength(dst, name []byte, n int64) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, "\r\n"...)
}

// AppendLocalReply appends a complete response generated by the proxy
// itself, typically for an *Error:
//
//	HTTP/1.1 <status> <text>\r\n
//	content-type: text/plain\r\n
//	content-length: N\r\n
//	x-meshproxy-error: <reason>\r\n
//	[connection: close\r\n]
//	\r\n
//	<reason>\n
//
// It does not allocate when dst has enough capacity.
func AppendLocalReply(dst []byte, status int, reason string, closeAfter bool) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, StatusText(status)...)
	dst = append(dst, "\r\ncontent-type: text/plain\r\ncontent-length: "...)
	dst = strconv.AppendInt(dst, int64(len(reason)+1), 10)
	dst = append(dst, "\r\nx-meshproxy-error: "...)
	dst = append(dst, reason...)
	dst = append(dst, "\r\n"...)
	if closeAfter {
		dst = append(dst, "connection: close\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	dst = append(dst, reason...)
	return append(dst, '\n')
}

// Drop marks every field named name (compared case-insensitively; name in
// lower case) so that AppendRequestHead leaves it out. The proxy uses it for
// headers it owns, such as x-forwarded-client-cert, which a peer must never
// be able to set. Host, Content-Length and Transfer-Encoding cannot be
// dropped: they carry the framing. It does not allocate.
func (r *Request) Drop(buf []byte, name string) {
	for i := 0; i < r.NumHeaders; i++ {
		switch r.meta.kinds[i] {
		case kindHost, kindContentLength, kindTransferEncoding:
			continue
		}
		if equalFold(r.Headers[i].Name.Bytes(buf), name) {
			r.meta.drop[i/64] |= 1 << (i % 64)
		}
	}
}

// DropUnderscoreNames marks every field whose name contains '_' (see
// NumUnderscoreNames) so that AppendRequestHead leaves it out, as nginx does
// by default (underscores_in_headers off) and Envoy with
// headers_with_underscores_action DROP_HEADER. The fields were marked while
// parsing, so this costs a few stores, never a rescan. Host,
// Content-Length and Transfer-Encoding are never among them: their names
// have no '_'. It does not allocate.
func (r *Request) DropUnderscoreNames() {
	for i := range r.meta.drop {
		r.meta.drop[i] |= r.meta.underscore[i]
	}
}
