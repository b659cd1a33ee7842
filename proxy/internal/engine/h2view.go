package engine

import (
	"github.com/meshbench/meshbench/proxy/internal/http1"
	"github.com/meshbench/meshbench/proxy/internal/http2"
)

// h2ReqView adapts an HTTP/2 request head (valid during the codec's
// OnHeaders call) to route.Request, and translates it into the HTTP/1.1
// head an endpoint receives.
type h2ReqView struct {
	f           *http2.Fields
	h           *http2.Head
	pathEnd     int // :path up to '?'
	underscores int // regular field names containing '_'
	// websocket: an extended CONNECT with :protocol websocket (RFC 8441),
	// routed and forwarded as the GET handshake it stands for.
	websocket bool
}

func (v *h2ReqView) init(f *http2.Fields, h *http2.Head) {
	v.f, v.h = f, h
	v.websocket = false
	path := f.Bytes(h.Path)
	v.pathEnd = len(path)
	for i, c := range path {
		if c == '?' {
			v.pathEnd = i
			break
		}
	}
	v.underscores = 0
	for i := h.NPseudo; i < len(f.List); i++ {
		for _, c := range f.Name(i) {
			if c == '_' {
				v.underscores++
				break
			}
		}
	}
}

func (v *h2ReqView) Method() []byte {
	if v.websocket {
		return methodGET
	}
	return v.f.Bytes(v.h.Method)
}

var methodGET = []byte("GET")

func (v *h2ReqView) Path() []byte { return v.f.Bytes(v.h.Path)[:v.pathEnd] }

func (v *h2ReqView) Query() []byte {
	p := v.f.Bytes(v.h.Path)
	if v.pathEnd < len(p) {
		return p[v.pathEnd+1:]
	}
	return nil
}

// Header returns the first regular field named name (lower case, as every
// HTTP/2 field name is); "host" is the :authority when there is one.
func (v *h2ReqView) Header(name string) ([]byte, bool) {
	if name == "host" && v.h.Has&http2.PseudoAuthority != 0 {
		return v.f.Bytes(v.h.Authority), true
	}
	for i := v.h.NPseudo; i < len(v.f.List); i++ {
		if string(v.f.Name(i)) == name {
			return v.f.Value(i), true
		}
	}
	return nil, false
}

// authority is what names the Service: :authority, else a Host field
// (RFC 9113 8.3.1).
func (v *h2ReqView) authority() []byte {
	b, _ := v.Header("host")
	return b
}

// appendUpstreamHead appends the HTTP/1.1 head for an endpoint: request
// line from :method and :path, Host from :authority, the regular fields
// (cookies joined into one line as RFC 9113 8.2.3 requires, X-Forwarded-For
// merged and extended with clientIP as for HTTP/1.1 clients, te dropped),
// then extra and, for a body of unknown length, "transfer-encoding:
// chunked" (chunked true). dropUnderscore leaves out names with '_';
// dropXFCC leaves out x-forwarded-client-cert (the proxy sets its own on
// an mTLS inbound hop). A name HTTP/1.1 cannot carry, or a Host field that
// differs from :authority, returns a non-empty reason for a 400. wsKey
// (a WebSocket extended CONNECT only) is the Sec-WebSocket-Key of the
// HTTP/1.1 handshake it becomes, with Upgrade and Connection.
func (v *h2ReqView) appendUpstreamHead(dst, clientIP, extra, wsKey []byte, dropUnderscore, dropXFCC, bodyless bool) (head []byte, chunked bool, reason string) {
	f, h := v.f, v.h
	dst = http1.AppendRequestLine(dst, v.Method(), f.Bytes(h.Path))
	authority := v.authority()
	dst = http1.AppendField(dst, []byte("host"), authority)
	hasLength := h.ContentLength >= 0
	cookieDone, xffDone := false, false
	for i := h.NPseudo; i < len(f.List); i++ {
		name, value := f.Name(i), f.Value(i)
		if !http1.ValidFieldName(name) {
			return dst, false, "bad_header_name"
		}
		if dropUnderscore && v.hasUnderscore(name) {
			continue
		}
		switch string(name) {
		case "host":
			if h.Has&http2.PseudoAuthority != 0 && string(value) != string(authority) {
				return dst, false, "host_authority_mismatch"
			}
			continue
		case "sec-websocket-key":
			// The proxy makes the HTTP/1.1 handshake's own key (an HTTP/2
			// client has no business sending one; the codec already
			// refuses upgrade and connection, RFC 9113 8.2.2).
			if v.websocket {
				continue
			}
		case "te":
			// "trailers" is all HTTP/2 allows. Kept, so an HTTP/2 endpoint
			// (gRPC) learns the client takes trailers; an HTTP/1.1 endpoint
			// ignores it.
		case "x-forwarded-client-cert":
			if dropXFCC {
				continue
			}
		case "cookie":
			if cookieDone {
				continue
			}
			cookieDone = true
			dst = append(dst, "cookie: "...)
			sep := false
			for j := i; j < len(f.List); j++ {
				if string(f.Name(j)) == "cookie" {
					if sep {
						dst = append(dst, "; "...)
					}
					dst = append(dst, f.Value(j)...)
					sep = true
				}
			}
			dst = append(dst, "\r\n"...)
			continue
		case "x-forwarded-for":
			if len(clientIP) == 0 {
				break
			}
			if xffDone {
				continue
			}
			xffDone = true
			dst = append(dst, "x-forwarded-for: "...)
			for j := i; j < len(f.List); j++ {
				if string(f.Name(j)) == "x-forwarded-for" && len(f.Value(j)) > 0 {
					dst = append(dst, f.Value(j)...)
					dst = append(dst, ", "...)
				}
			}
			dst = append(dst, clientIP...)
			dst = append(dst, "\r\n"...)
			continue
		}
		dst = http1.AppendField(dst, name, value)
	}
	if len(clientIP) > 0 && !xffDone {
		dst = http1.AppendField(dst, []byte("x-forwarded-for"), clientIP)
	}
	if v.websocket {
		dst = append(dst, "upgrade: websocket\r\nconnection: upgrade\r\n"...)
		dst = http1.AppendField(dst, []byte("sec-websocket-key"), wsKey)
		if _, ok := v.Header("sec-websocket-version"); !ok {
			dst = append(dst, "sec-websocket-version: 13\r\n"...)
		}
	} else if !bodyless && !hasLength {
		dst = append(dst, "transfer-encoding: chunked\r\n"...)
		chunked = true
	}
	dst = append(dst, extra...)
	return append(dst, "\r\n"...), chunked, ""
}

func (v *h2ReqView) hasUnderscore(name []byte) bool {
	if v.underscores == 0 {
		return false
	}
	for _, c := range name {
		if c == '_' {
			return true
		}
	}
	return false
}
