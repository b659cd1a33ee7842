package http1

// Request is a parsed request head. All Spans index the buffer given to
// ParseRequest, which must stay unchanged while the Request is used.
type Request struct {
	Method, Target Span
	// Path is the path of the target ("/p" for "http://h/p?q", "*" for the
	// asterisk-form). It is empty for an absolute-form target without a path
	// ("http://h" or "http://h?q"), which is forwarded as "/".
	Path Span
	// Query follows the '?', without it; empty if there is none.
	Query Span
	// Minor is 0 for HTTP/1.0 and 1 for HTTP/1.1.
	Minor      int
	Headers    [MaxHeaders]Header
	NumHeaders int
	// HeadLen is the length of the head including any skipped leading empty
	// lines and the final CRLFCRLF.
	HeadLen int
	// Host is the authority: from an absolute-form target if present
	// (RFC 9112 3.2.2), else the Host header; empty for an HTTP/1.0 request
	// without either.
	Host Span
	// ContentLength is -1 when absent.
	ContentLength  int64
	Chunked        bool
	KeepAlive      bool // RFC 9112 9.3
	ExpectContinue bool // "Expect: 100-continue" on an HTTP/1.1 request
	IsHEAD         bool
	// Connection is the value of the last Connection header (empty if none).
	// Every Connection line is honoured for KeepAlive and hop-by-hop removal.
	Connection Span

	// WebSocket reports an HTTP/1.1 GET without a body that asks to switch
	// to WebSocket ("Upgrade: websocket" and "Connection: upgrade", RFC
	// 6455 4.1). AppendRequestHead then forwards those two fields, which it
	// drops from every other request.
	WebSocket bool

	// AbsoluteForm reports that the target was in absolute-form; Host then
	// holds its authority and the target is rewritten to origin-form when
	// forwarded.
	AbsoluteForm bool
	// XForwardedFor is the value of the first X-Forwarded-For header and
	// NumXForwardedFor the number of such lines; AppendRequestHead merges
	// them all.
	XForwardedFor    Span
	NumXForwardedFor int
	// NumUnderscoreNames is the number of field lines whose name contains
	// '_' ("X_Forwarded_Client_Cert", "Transfer_Encoding"). Such a name is
	// a valid token and a field of its own here, but CGI-style servers
	// (PHP, WSGI, Rack, ...) turn both '-' and '_' into '_' when they map
	// fields to variables, so behind the proxy it can impersonate the
	// hyphenated field. DropUnderscoreNames removes them all.
	NumUnderscoreNames int

	hasHostHeader bool
	meta          fieldMeta
}

// Reset clears r for reuse. It leaves the Headers array alone (only the
// first NumHeaders entries are meaningful), so it costs a few stores.
func (r *Request) Reset() {
	r.Method, r.Target, r.Path, r.Query = Span{}, Span{}, Span{}, Span{}
	r.Minor = 0
	r.NumHeaders = 0
	r.HeadLen = 0
	r.Host = Span{}
	r.ContentLength = -1
	r.Chunked, r.KeepAlive, r.ExpectContinue, r.IsHEAD = false, false, false, false
	r.Connection = Span{}
	r.AbsoluteForm, r.WebSocket = false, false
	r.XForwardedFor, r.NumXForwardedFor = Span{}, 0
	r.NumUnderscoreNames = 0
	r.hasHostHeader = false
	r.meta.drop = [len(r.meta.drop)]uint64{}
	r.meta.underscore = [len(r.meta.underscore)]uint64{}
}

// BodyLength says how the request body is framed: (-1, true) for chunked,
// (n, false) for a Content-Length of n, and (0, false) when neither is
// present (RFC 9112 6.3 rule 7: such a request has no body).
func (r *Request) BodyLength() (n int64, chunked bool) {
	if r.Chunked {
		return -1, true
	}
	if r.ContentLength >= 0 {
		return r.ContentLength, false
	}
	return 0, false
}

// ParseRequest parses the request head at the start of buf into r.
//
//   - (0, nil): the head is incomplete; call again with more bytes appended.
//     If buf already holds more than maxHeaderBytes without a complete head
//     the result is (0, ErrHeaderTooLarge) instead.
//   - (n, nil): n == r.HeadLen; the head is complete and valid.
//   - (0, *Error): the head is malformed; Error.Status says how to answer.
//
// Parsing is strictly left to right, so feeding a prefix of a message yields
// either "incomplete" or the same error as the whole message.
// maxHeaderBytes <= 0 means DefaultMaxHeaderBytes. ParseRequest does not
// allocate.
func ParseRequest(buf []byte, maxHeaderBytes int, r *Request) (int, error) {
	n, err := parseRequest(buf, maxHeaderBytes, r)
	if err != nil {
		return 0, err
	}
	return n, nil
}

func parseRequest(buf []byte, maxHeaderBytes int, r *Request) (int, *Error) {
	r.Reset()
	limit, over := headLimit(len(buf), maxHeaderBytes)
	pos, err := skipEmptyLines(buf, limit)
	if err != nil {
		return 0, err
	}
	cr, bare := -1, false
	if pos < limit {
		cr, bare = lineEnd(buf, pos, limit)
	}
	if bare {
		return 0, ErrBadRequestLine
	}
	if cr < 0 {
		return incomplete(over)
	}
	if err := r.parseRequestLine(buf, pos, cr); err != nil {
		return 0, err
	}

	var f fieldState
	f.init(true, &r.Headers, &r.NumHeaders, &r.meta)
	n, err := f.parse(buf, cr+2, limit, over)
	if n == 0 || err != nil {
		return 0, err
	}
	if err := f.framingError(r.Minor); err != nil {
		return 0, err
	}
	if f.hosts == 0 && r.Minor == 1 {
		return 0, ErrMissingHost
	}
	r.HeadLen = n
	r.ContentLength = f.contentLength
	r.Chunked = f.teSeen
	r.KeepAlive = f.keepAlive(r.Minor)
	r.ExpectContinue = f.expectContinue && r.Minor == 1 // RFC 9110 10.1.1
	r.Connection = f.connection
	r.XForwardedFor, r.NumXForwardedFor = f.xff, f.xffCount
	r.NumUnderscoreNames = f.underscores
	r.hasHostHeader = f.hosts > 0
	r.WebSocket = f.webSocket() && r.Minor == 1 && !f.teSeen && f.contentLength <= 0 &&
		string(r.Method.Bytes(buf)) == "GET"
	if !r.AbsoluteForm {
		r.Host = f.host
	}
	return n, nil
}

func incomplete(over bool) (int, *Error) {
	if over {
		return 0, ErrHeaderTooLarge
	}
	return 0, nil
}

// skipEmptyLines skips CRLFs before the request-line (RFC 9112 2.2: a server
// SHOULD ignore at least one empty line received prior to the request-line).
func skipEmptyLines(buf []byte, limit int) (int, *Error) {
	pos := 0
	for pos < limit && buf[pos] == '\r' {
		if pos+1 == limit {
			return pos, nil // the LF has not arrived yet
		}
		if buf[pos+1] != '\n' {
			return 0, ErrBadRequestLine
		}
		pos += 2
	}
	return pos, nil
}

// parseRequestLine parses buf[start:end] as
// method SP request-target SP HTTP-version (RFC 9112 3).
func (r *Request) parseRequestLine(buf []byte, start, end int) *Error {
	i := start
	for i < end && isTchar[buf[i]] {
		i++
	}
	if i == start || i == end || buf[i] != ' ' {
		return ErrBadRequestLine
	}
	r.Method = span(start, i)
	i++

	ts := i
	for i < end && buf[i] != ' ' {
		if !isTargetChar[buf[i]] {
			return ErrBadRequestTarget
		}
		i++
	}
	if i == ts || i == end {
		return ErrBadRequestLine
	}
	r.Target = span(ts, i)

	minor, err := parseVersion(buf[i+1 : end])
	if err != nil {
		return err
	}
	r.Minor = minor

	method := r.Method.Bytes(buf)
	if string(method) == "CONNECT" {
		return ErrConnectUnsupported
	}
	r.IsHEAD = string(method) == "HEAD"
	return r.parseTarget(buf, string(method) == "OPTIONS")
}

// parseVersion accepts exactly "HTTP/1.1" or "HTTP/1.0". Other well-formed
// HTTP-version values get 505; anything else is a malformed request-line.
func parseVersion(v []byte) (minor int, err *Error) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]) {
		return 0, ErrBadRequestLine
	}
	if v[5] != '1' || v[7] > '1' {
		return 0, ErrUnsupportedVersion
	}
	return int(v[7] - '0'), nil
}

// parseTarget splits the request-target (RFC 9112 3.2) into Path and Query,
// and extracts the authority of an absolute-form target.
func (r *Request) parseTarget(buf []byte, isOptions bool) *Error {
	start, end := int(r.Target.Start), int(r.Target.End)
	switch {
	case buf[start] == '/': // origin-form
		r.splitPathQuery(buf, start, end)
		return nil
	case end-start == 1 && buf[start] == '*': // asterisk-form
		if !isOptions {
			return ErrBadRequestTarget
		}
		r.Path = r.Target
		return nil
	}
	return r.parseAbsoluteForm(buf, start, end)
}

// parseAbsoluteForm handles "http://authority[/path][?query]". Only the http
// and https schemes make sense for this proxy; an empty host is invalid for
// both (RFC 9110 4.2.1).
func (r *Request) parseAbsoluteForm(buf []byte, start, end int) *Error {
	t := buf[start:end]
	var rest int
	switch {
	case len(t) >= 7 && equalFold(t[:7], "http://"):
		rest = 7
	case len(t) >= 8 && equalFold(t[:8], "https://"):
		rest = 8
	default:
		return ErrBadRequestTarget
	}
	as := start + rest
	ae := as
	for ae < end && buf[ae] != '/' && buf[ae] != '?' {
		ae++
	}
	if !validAuthority(buf[as:ae]) {
		return ErrBadRequestTarget
	}
	r.Host = span(as, ae)
	r.AbsoluteForm = true
	r.splitPathQuery(buf, ae, end)
	return nil
}

func (r *Request) splitPathQuery(buf []byte, start, end int) {
	q := start
	for q < end && buf[q] != '?' {
		q++
	}
	r.Path = span(start, q)
	if q < end {
		r.Query = span(q+1, end)
	}
}
