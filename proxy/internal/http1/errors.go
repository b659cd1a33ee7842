package http1

// Error is the only error type returned by the parsers and the scanner.
//
// Every value is a package-level variable, so returning one never allocates,
// and callers can compare with == or errors.Is.
type Error struct {
	// Status is the HTTP status the proxy should answer with: 400, 431, 501
	// or 505 for request errors, 502 for response errors.
	Status int
	// Reason is a short snake_case token for the x-meshproxy-error header and
	// metrics, e.g. "bad_request_line".
	Reason string

	detail   string // finer-grained cause; equal to Reason for request errors
	msg      string // precomputed Error() text
	upstream *Error // the 502 counterpart for the same defect in a response
}

// Error returns "http1: <reason>" (plus the detail when it differs).
func (e *Error) Error() string {
	if e.msg == "" { // an Error built outside this package
		return message(e.Reason, e.Detail())
	}
	return e.msg
}

// Detail returns the precise cause. It equals Reason except for errors that
// share a coarse Reason, such as "bad_chunk" or "bad_response", where it says
// which rule was broken (e.g. "chunk_size_overflow", "conflicting_content_length").
func (e *Error) Detail() string {
	if e.detail == "" {
		return e.Reason
	}
	return e.detail
}

// Upstream returns the error to report when the same defect is found in a
// message received from the upstream: Status 502, Reason "bad_response",
// with the original reason kept as Detail. For response errors it returns e.
func (e *Error) Upstream() *Error {
	switch {
	case e.upstream != nil:
		return e.upstream
	case e.Status == 502:
		return e
	}
	return newDetailedError(502, reasonBadResponse, e.Detail()) // an Error built outside this package
}

// newError declares a request-side error and its 502 response-side twin.
func newError(status int, reason string) *Error {
	return newDetailedError(status, reason, reason)
}

func newDetailedError(status int, reason, detail string) *Error {
	e := &Error{Status: status, Reason: reason, detail: detail, msg: message(reason, detail)}
	if status == 502 {
		e.upstream = e
		return e
	}
	up := &Error{Status: 502, Reason: reasonBadResponse, detail: detail, msg: message(reasonBadResponse, detail)}
	up.upstream = up
	e.upstream = up
	return e
}

func message(reason, detail string) string {
	if reason == detail {
		return "http1: " + reason
	}
	return "http1: " + reason + ": " + detail
}

const reasonBadResponse = "bad_response"

// Request-line and target errors.
var (
	ErrBadRequestLine     = newError(400, "bad_request_line")
	ErrBadRequestTarget   = newError(400, "bad_request_target")
	ErrUnsupportedVersion = newError(505, "unsupported_version")
	ErrConnectUnsupported = newError(501, "connect_unsupported")
)

// Head size errors.
var (
	ErrHeaderTooLarge = newError(431, "header_too_large")
	ErrTooManyHeaders = newError(431, "too_many_headers")
)

// Field-line syntax errors.
var (
	ErrBadHeaderName     = newError(400, "bad_header_name")
	ErrInvalidHeaderChar = newError(400, "invalid_header_char")
	ErrObsFold           = newError(400, "obs_fold")
)

// Framing errors (RFC 9112 section 6).
var (
	ErrBadContentLength                  = newError(400, "bad_content_length")
	ErrConflictingContentLength          = newError(400, "conflicting_content_length")
	ErrContentLengthWithTransferEncoding = newError(400, "content_length_with_transfer_encoding")
	ErrBadTransferEncoding               = newError(400, "bad_transfer_encoding")
	ErrTransferEncodingHTTP10            = newError(400, "transfer_encoding_http10")
	ErrUnsupportedTransferEncoding       = newError(501, "unsupported_transfer_encoding")
)

// Host and Connection errors.
var (
	ErrMissingHost   = newError(400, "missing_host")
	ErrDuplicateHost = newError(400, "duplicate_host")
	ErrBadHost       = newError(400, "bad_host")
	ErrBadConnection = newError(400, "bad_connection")
)

// ErrBadStatusLine is returned by ParseResponse for a malformed status-line.
var ErrBadStatusLine = newDetailedError(502, reasonBadResponse, "bad_status_line")

// Chunked framing errors (RFC 9112 section 7.1). They share Reason
// "bad_chunk" (Status 400; use Upstream for a response body) and differ in
// Detail.
const reasonBadChunk = "bad_chunk"

var (
	ErrChunkSize          = newDetailedError(400, reasonBadChunk, "chunk_size")
	ErrChunkSizeOverflow  = newDetailedError(400, reasonBadChunk, "chunk_size_overflow")
	ErrChunkExtension     = newDetailedError(400, reasonBadChunk, "chunk_extension")
	ErrChunkLineTooLong   = newDetailedError(400, reasonBadChunk, "chunk_line_too_long")
	ErrChunkLineEnd       = newDetailedError(400, reasonBadChunk, "chunk_line_end")
	ErrChunkDataCRLF      = newDetailedError(400, reasonBadChunk, "chunk_data_crlf")
	ErrTrailerField       = newDetailedError(400, reasonBadChunk, "trailer_field")
	ErrTrailerObsFold     = newDetailedError(400, reasonBadChunk, "trailer_obs_fold")
	ErrTrailerTooLarge    = newDetailedError(400, reasonBadChunk, "trailer_too_large")
	ErrChunkedBodyEndCRLF = newDetailedError(400, reasonBadChunk, "chunked_body_end")
)
