package http1

import (
	"bytes"
	"math"
)

// MaxHeaders is the maximum number of field lines in a head; more yields
// ErrTooManyHeaders (431).
const MaxHeaders = 100

// DefaultMaxHeaderBytes is used when a parser is given maxHeaderBytes <= 0.
const DefaultMaxHeaderBytes = 64 << 10

// MaxConnectionOptions bounds the connection options (other than "close" and
// "keep-alive") that Connection headers may list; each names a field that must
// be removed when forwarding, and the bound keeps that work O(MaxHeaders).
const MaxConnectionOptions = 32

// headLimit returns how many bytes of a buffer of length n may hold the head,
// and whether the buffer extends beyond that limit (so an incomplete head is
// definitely too large).
func headLimit(n, maxHeaderBytes int) (limit int, over bool) {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = DefaultMaxHeaderBytes
	}
	if maxHeaderBytes > math.MaxInt32 {
		maxHeaderBytes = math.MaxInt32 // Span offsets are int32
	}
	if n > maxHeaderBytes {
		return maxHeaderBytes, true
	}
	return n, false
}

// lineEnd finds the end of the line starting at pos within buf[:limit] and
// returns the index of its CR. It returns cr < 0 when the line is not yet
// complete, and bare when it ends in a LF that is not preceded by CR (RFC 9112
// 2.2 allows a recipient to accept bare LF; a proxy must not, because the
// upstream may not). A CR inside the line is left for the caller's character
// validation, where it is a CTL.
func lineEnd(buf []byte, pos, limit int) (cr int, bare bool) {
	i := bytes.IndexByte(buf[pos:limit], '\n')
	if i < 0 {
		return -1, false
	}
	lf := pos + i
	if lf == pos || buf[lf-1] != '\r' {
		return -1, true
	}
	return lf - 1, false
}

// headerKind classifies a field name. The kinds after kindXForwardedFor are
// hop-by-hop fields that are always removed when forwarding (RFC 9110 7.6.1).
type headerKind uint8

const (
	kindOther headerKind = iota
	kindHost
	kindContentLength
	kindTransferEncoding
	kindExpect
	kindXForwardedFor
	kindConnection
	kindKeepAlive
	kindProxyConnection
	kindProxyAuthenticate
	kindProxyAuthorization
	kindTE
	kindUpgrade
)

// hopByHop reports whether the field never crosses the proxy.
func (k headerKind) hopByHop() bool { return k >= kindConnection }

// protected reports whether the field must be forwarded even if a Connection
// header names it: letting a client strip framing or Host on its way to the
// upstream would make the two sides disagree about the message.
func (k headerKind) protected() bool {
	return k == kindHost || k == kindContentLength || k == kindTransferEncoding
}

func classify(name []byte) headerKind {
	switch len(name) {
	case 2:
		if equalFold(name, "te") {
			return kindTE
		}
	case 4:
		if equalFold(name, "host") {
			return kindHost
		}
	case 6:
		if equalFold(name, "expect") {
			return kindExpect
		}
	case 7:
		if equalFold(name, "upgrade") {
			return kindUpgrade
		}
	case 10:
		if equalFold(name, "connection") {
			return kindConnection
		}
		if equalFold(name, "keep-alive") {
			return kindKeepAlive
		}
	case 14:
		if equalFold(name, "content-length") {
			return kindContentLength
		}
	case 15:
		if equalFold(name, "x-forwarded-for") {
			return kindXForwardedFor
		}
	case 16:
		if equalFold(name, "proxy-connection") {
			return kindProxyConnection
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return kindTransferEncoding
		}
	case 18:
		if equalFold(name, "proxy-authenticate") {
			return kindProxyAuthenticate
		}
	case 19:
		if equalFold(name, "proxy-authorization") {
			return kindProxyAuthorization
		}
	}
	return kindOther
}

// parseFieldLine parses buf[start:end] (a line without its CRLF) as
// field-name ":" OWS field-value OWS (RFC 9112 5). underscore reports a '_'
// in the name.
func parseFieldLine(buf []byte, start, end int) (h Header, underscore bool, err *Error) {
	if isOWS(buf[start]) {
		// obs-fold, or whitespace between the start-line and the first
		// field, which RFC 9112 2.2 says must be rejected or ignored.
		return Header{}, false, ErrObsFold
	}
	// One table lookup per byte both validates the token and notes a '_'
	// (see nameClass), so spotting underscore names costs no second pass.
	i := start
	var class uint8
	for i < end {
		c := nameClass[buf[i]]
		if c == 0 {
			break
		}
		class |= c
		i++
	}
	// Missing colon, empty name, or whitespace/other bytes before the colon
	// (RFC 9112 5.1: "No whitespace is allowed between the field name and
	// colon ... a server MUST reject").
	if i == start || i == end || buf[i] != ':' {
		return Header{}, false, ErrBadHeaderName
	}
	name := span(start, i)
	i++
	for i < end && isOWS(buf[i]) {
		i++
	}
	vs := i
	for ; i < end; i++ {
		if !isFieldChar[buf[i]] {
			return Header{}, false, ErrInvalidHeaderChar
		}
	}
	ve := end
	for ve > vs && isOWS(buf[ve-1]) {
		ve--
	}
	return Header{Name: name, Value: span(vs, ve)}, class&nameUnderscore != 0, nil
}

// fieldMeta is what the serialisers need to know about each parsed field
// beyond its spans, computed once while parsing.
type fieldMeta struct {
	kinds [MaxHeaders]headerKind
	drop  [(MaxHeaders + 63) / 64]uint64 // fields named by a Connection option
	// underscore marks request fields whose name contains '_' (responses
	// leave it zero); DropUnderscoreNames moves these bits into drop.
	underscore [(MaxHeaders + 63) / 64]uint64
}

func (m *fieldMeta) dropped(i int) bool { return m.drop[i/64]&(1<<(i%64)) != 0 }

// fieldState parses a field section into the destination arrays of a Request
// or Response and accumulates its semantics.
type fieldState struct {
	request bool
	headers *[MaxHeaders]Header
	n       *int
	meta    *fieldMeta

	contentLength int64 // -1 until a Content-Length is seen
	teSeen        bool
	teCodings     int
	teLastChunked bool

	hosts int
	host  Span

	connClose     bool
	connKeepAlive bool
	connUpgrade   bool // Connection lists "upgrade"
	connOptions   int  // tokens other than close / keep-alive
	connection    Span

	upgradeWebSocket bool // an Upgrade line lists the protocol "websocket"

	expectContinue bool
	xff            Span
	xffCount       int
	underscores    int // request field names containing '_'
}

func (f *fieldState) init(request bool, headers *[MaxHeaders]Header, n *int, meta *fieldMeta) {
	*f = fieldState{request: request, headers: headers, n: n, meta: meta, contentLength: -1}
}

// parse parses field lines from pos up to and including the empty line that
// ends the head, within buf[:limit]. It returns the head length, or 0 if the
// head is incomplete (an error if over says it can no longer complete).
func (f *fieldState) parse(buf []byte, pos, limit int, over bool) (int, *Error) {
	for {
		cr, bare := lineEnd(buf, pos, limit)
		if bare {
			return 0, ErrInvalidHeaderChar
		}
		if cr < 0 {
			if over {
				return 0, ErrHeaderTooLarge
			}
			return 0, nil
		}
		if cr == pos {
			if f.connOptions > 0 {
				markConnectionNamed(buf, f.headers[:*f.n], f.meta)
			}
			return cr + 2, nil
		}
		if *f.n == MaxHeaders {
			return 0, ErrTooManyHeaders
		}
		h, underscore, err := parseFieldLine(buf, pos, cr)
		if err != nil {
			return 0, err
		}
		if underscore && f.request {
			f.meta.underscore[*f.n/64] |= 1 << (*f.n % 64)
			f.underscores++
		}
		kind := classify(h.Name.Bytes(buf))
		if err := f.observe(buf, h, kind); err != nil {
			return 0, err
		}
		f.headers[*f.n] = h
		f.meta.kinds[*f.n] = kind
		*f.n++
		pos = cr + 2
	}
}

// observe applies the semantics of one field line.
func (f *fieldState) observe(buf []byte, h Header, kind headerKind) *Error {
	v := h.Value.Bytes(buf)
	switch kind {
	case kindContentLength:
		return f.contentLengthField(v)
	case kindTransferEncoding:
		return f.transferEncodingField(v)
	case kindConnection:
		f.connection = h.Value
		return f.connectionField(v)
	case kindHost:
		if !f.request {
			return nil
		}
		f.hosts++
		if f.hosts > 1 {
			return ErrDuplicateHost
		}
		if len(v) > 0 && !validAuthority(v) {
			return ErrBadHost
		}
		f.host = h.Value
	case kindExpect:
		f.expectContinue = equalFold(v, "100-continue")
	case kindUpgrade:
		return f.upgradeField(v)
	case kindXForwardedFor:
		if f.xffCount == 0 {
			f.xff = h.Value
		}
		f.xffCount++
	}
	return nil
}

// contentLengthField accepts 1*DIGIT, or a list of identical values
// ("5, 5"), and requires every Content-Length line to agree (RFC 9110 8.6).
func (f *fieldState) contentLengthField(v []byte) *Error {
	it := listIter{v: v}
	for e, ok := it.next(); ok; e, ok = it.next() {
		n, valid := parseDecimal(e)
		if !valid {
			return ErrBadContentLength
		}
		if f.contentLength >= 0 && n != f.contentLength {
			return ErrConflictingContentLength
		}
		f.contentLength = n
	}
	return nil
}

// transferEncodingField adds one line's codings to the combined list
// (RFC 9110 5.3: multiple lines form one comma-separated list). Only bare
// tokens are accepted: "chunked" takes no parameters and anything else is
// unsupported anyway.
func (f *fieldState) transferEncodingField(v []byte) *Error {
	f.teSeen = true
	it := listIter{v: v}
	for e, ok := it.next(); ok; e, ok = it.next() {
		if !isToken(e) {
			return ErrBadTransferEncoding
		}
		f.teCodings++
		f.teLastChunked = equalFold(e, "chunked")
	}
	return nil
}

// connectionField records the connection options of one Connection line.
func (f *fieldState) connectionField(v []byte) *Error {
	it := listIter{v: v}
	for e, ok := it.next(); ok; e, ok = it.next() {
		switch {
		case len(e) == 0:
			// RFC 9110 5.6.1: empty list elements are ignored.
		case !isToken(e):
			return ErrBadConnection
		case equalFold(e, "close"):
			f.connClose = true
		case equalFold(e, "keep-alive"):
			f.connKeepAlive = true
		default:
			if equalFold(e, "upgrade") {
				f.connUpgrade = true
			}
			f.connOptions++
			if f.connOptions > MaxConnectionOptions {
				return ErrBadConnection
			}
		}
	}
	return nil
}

// upgradeField records whether an Upgrade line (RFC 9110 7.8: a list of
// protocol-name ["/" protocol-version]) offers WebSocket (RFC 6455 4.1:
// exactly "websocket", case-insensitive). Other protocols are never
// switched to: Upgrade is hop-by-hop and dropped, so "h2c" in particular
// never reaches an upstream (h2c smuggling past the proxy's routing).
func (f *fieldState) upgradeField(v []byte) *Error {
	it := listIter{v: v}
	for e, ok := it.next(); ok; e, ok = it.next() {
		if equalFold(e, "websocket") {
			f.upgradeWebSocket = true
		}
	}
	return nil
}

// webSocket reports whether the head asks for (or, in a 101, agrees to) a
// switch to WebSocket: "Upgrade: websocket" and "Connection: upgrade".
func (f *fieldState) webSocket() bool { return f.connUpgrade && f.upgradeWebSocket }

// framingError applies the cross-field framing rules of RFC 9112 6.1 once the
// whole field section is known.
func (f *fieldState) framingError(minor int) *Error {
	if !f.teSeen {
		return nil
	}
	switch {
	case f.contentLength >= 0:
		// RFC 9112 6.1: "A server MAY reject a request that contains both
		// Content-Length and Transfer-Encoding" - the CL.TE / TE.CL vector.
		return ErrContentLengthWithTransferEncoding
	case minor == 0:
		// RFC 9112 6.1: framing of an HTTP/1.0 message with
		// Transfer-Encoding is faulty.
		return ErrTransferEncodingHTTP10
	case !f.teLastChunked:
		return ErrBadTransferEncoding
	case f.teCodings > 1:
		return ErrUnsupportedTransferEncoding
	}
	return nil
}

// keepAlive implements RFC 9112 9.3.
func (f *fieldState) keepAlive(minor int) bool {
	if f.connClose {
		return false
	}
	return minor == 1 || f.connKeepAlive
}

// markConnectionNamed sets the drop bit of every field named by a
// connection option (RFC 9110 7.6.1). "close" and "keep-alive" are skipped:
// they are the common options and the only fields they could name are
// Keep-Alive (already hop-by-hop) and a field literally called "Close".
func markConnectionNamed(buf []byte, hs []Header, m *fieldMeta) {
	for i := range hs {
		if m.kinds[i] != kindConnection {
			continue
		}
		it := listIter{v: hs[i].Value.Bytes(buf)}
		for tok, ok := it.next(); ok; tok, ok = it.next() {
			if len(tok) == 0 || equalFold(tok, "close") || equalFold(tok, "keep-alive") {
				continue
			}
			for j := range hs {
				if !m.kinds[j].protected() && equalFoldBytes(hs[j].Name.Bytes(buf), tok) {
					m.drop[j/64] |= 1 << (j % 64)
				}
			}
		}
	}
}
