package http1

// Response is a parsed response head. All Spans index the buffer given to
// ParseResponse.
type Response struct {
	Status     int
	Minor      int
	Reason     Span
	Headers    [MaxHeaders]Header
	NumHeaders int
	HeadLen    int
	// ContentLength is -1 when absent.
	ContentLength int64
	Chunked       bool
	// KeepAlive reflects the Connection header and version only (RFC 9112
	// 9.3); a BodyUntilClose response must still close the connection.
	KeepAlive bool
	// Connection is the value of the last Connection header (empty if none).
	Connection Span
	// WebSocket reports a 101 that switches to WebSocket ("Upgrade:
	// websocket" and "Connection: upgrade"); AppendResponseHead forwards
	// those two fields for it.
	WebSocket bool

	meta fieldMeta
}

// Reset clears r for reuse without touching the Headers array.
func (r *Response) Reset() {
	r.Status, r.Minor = 0, 0
	r.Reason = Span{}
	r.NumHeaders, r.HeadLen = 0, 0
	r.ContentLength = -1
	r.Chunked, r.KeepAlive = false, false
	r.Connection = Span{}
	r.WebSocket = false
	r.meta.drop = [len(r.meta.drop)]uint64{}
}

// BodyKind says how a response body is delimited.
type BodyKind uint8

const (
	BodyNone       BodyKind = iota // HEAD request, 1xx, 204, 304 (RFC 9112 6.3)
	BodyLength                     // Content-Length bytes (may be 0)
	BodyChunked                    // chunked transfer coding
	BodyUntilClose                 // no length: read until the upstream closes
)

// String returns the name of the kind, for logs and test failures.
func (k BodyKind) String() string {
	switch k {
	case BodyNone:
		return "BodyNone"
	case BodyLength:
		return "BodyLength"
	case BodyChunked:
		return "BodyChunked"
	case BodyUntilClose:
		return "BodyUntilClose"
	}
	return "BodyKind(?)"
}

// Framing returns how the body of this response to a request with the given
// method is delimited, in the order of RFC 9112 6.3. length is the
// Content-Length for BodyLength, 0 for BodyNone and -1 otherwise.
func (r *Response) Framing(requestWasHEAD bool) (kind BodyKind, length int64) {
	switch {
	case requestWasHEAD, r.Status < 200, r.Status == 204, r.Status == 304:
		return BodyNone, 0
	case r.Chunked:
		return BodyChunked, -1
	case r.ContentLength >= 0:
		return BodyLength, r.ContentLength
	}
	return BodyUntilClose, -1
}

// ParseResponse parses the response head at the start of buf into r. The
// return contract is that of ParseRequest; every error has Status 502 and
// Reason "bad_response" (Error.Detail tells the rule).
//
// The header rules are those of requests, minus the Host rules. A
// Transfer-Encoding other than exactly "chunked" is rejected (RFC 9112 6.3
// would read such a body until close; a strict proxy refuses instead).
func ParseResponse(buf []byte, maxHeaderBytes int, r *Response) (int, error) {
	n, err := parseResponse(buf, maxHeaderBytes, r)
	if err != nil {
		return 0, err.upstream
	}
	return n, nil
}

func parseResponse(buf []byte, maxHeaderBytes int, r *Response) (int, *Error) {
	r.Reset()
	limit, over := headLimit(len(buf), maxHeaderBytes)
	if limit == 0 {
		return incomplete(over)
	}
	cr, bare := lineEnd(buf, 0, limit)
	if bare {
		return 0, ErrBadStatusLine
	}
	if cr < 0 {
		return incomplete(over)
	}
	if err := r.parseStatusLine(buf, cr); err != nil {
		return 0, err
	}

	var f fieldState
	f.init(false, &r.Headers, &r.NumHeaders, &r.meta)
	n, err := f.parse(buf, cr+2, limit, over)
	if n == 0 || err != nil {
		return 0, err
	}
	if err := f.framingError(r.Minor); err != nil {
		return 0, err
	}
	r.HeadLen = n
	r.ContentLength = f.contentLength
	r.Chunked = f.teSeen
	r.KeepAlive = f.keepAlive(r.Minor)
	r.Connection = f.connection
	r.WebSocket = r.Status == 101 && f.webSocket()
	return n, nil
}

// parseStatusLine parses buf[:end] as
// HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4), tolerating
// a missing SP after the code when the reason is empty. Status codes must be
// in 100..599 (RFC 9110 15).
func (r *Response) parseStatusLine(buf []byte, end int) *Error {
	const codeEnd = len("HTTP/1.1 200")
	if end < codeEnd {
		return ErrBadStatusLine
	}
	v := buf[:8]
	if string(v[:7]) != "HTTP/1." || (v[7] != '0' && v[7] != '1') || buf[8] != ' ' {
		return ErrBadStatusLine
	}
	r.Minor = int(v[7] - '0')
	c := buf[9:codeEnd]
	if c[0] < '1' || c[0] > '5' || !isDigit(c[1]) || !isDigit(c[2]) {
		return ErrBadStatusLine
	}
	r.Status = int(c[0]-'0')*100 + int(c[1]-'0')*10 + int(c[2]-'0')
	if end == codeEnd {
		r.Reason = span(end, end)
		return nil
	}
	if buf[codeEnd] != ' ' {
		return ErrBadStatusLine
	}
	for i := codeEnd + 1; i < end; i++ {
		if !isFieldChar[buf[i]] {
			return ErrBadStatusLine
		}
	}
	r.Reason = span(codeEnd+1, end)
	return nil
}
