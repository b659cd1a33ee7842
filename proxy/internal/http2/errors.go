package http2

import (
	"errors"
	"strconv"
)

// ErrCode is an HTTP/2 error code (RFC 9113 §7), carried by RST_STREAM and
// GOAWAY.
type ErrCode uint32

const (
	ErrCodeNoError            ErrCode = 0x0
	ErrCodeProtocol           ErrCode = 0x1
	ErrCodeInternal           ErrCode = 0x2
	ErrCodeFlowControl        ErrCode = 0x3
	ErrCodeSettingsTimeout    ErrCode = 0x4
	ErrCodeStreamClosed       ErrCode = 0x5
	ErrCodeFrameSize          ErrCode = 0x6
	ErrCodeRefusedStream      ErrCode = 0x7
	ErrCodeCancel             ErrCode = 0x8
	ErrCodeCompression        ErrCode = 0x9
	ErrCodeConnect            ErrCode = 0xa
	ErrCodeEnhanceYourCalm    ErrCode = 0xb
	ErrCodeInadequateSecurity ErrCode = 0xc
	ErrCodeHTTP11Required     ErrCode = 0xd
)

var errCodeNames = [...]string{
	"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
	"SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
	"CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
	"INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
}

func (c ErrCode) String() string {
	if int(c) < len(errCodeNames) {
		return errCodeNames[c]
	}
	// Unknown codes must not be treated as special (RFC 9113 §7).
	return "UNKNOWN_ERROR_0x" + strconv.FormatUint(uint64(c), 16)
}

// ConnError is a connection error (RFC 9113 §5.4.1): a GOAWAY with Code has
// been queued and the connection must be closed once Pending is flushed.
type ConnError struct {
	Code   ErrCode
	Reason string
}

func (e *ConnError) Error() string {
	return "http2: connection error " + e.Code.String() + ": " + e.Reason
}

// Errors of the engine-facing calls.
var (
	// ErrStreamLimit: the peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached.
	ErrStreamLimit = errors.New("http2: peer's concurrent stream limit reached")
	// ErrGoingAway: a GOAWAY was sent or received (or stream ids ran out),
	// so no new stream may start on this connection.
	ErrGoingAway = errors.New("http2: connection is going away")
	// ErrClosed: the connection ended with an error.
	ErrClosed = errors.New("http2: connection closed")
	// ErrNotClient: NewStream on a server-role connection.
	ErrNotClient = errors.New("http2: NewStream on a server connection")
)

// Violation is one kind of peer misbehaviour or attack. The engine counts
// them in a metric labelled with String().
type Violation uint8

const (
	ViolationProtocol           Violation = iota // any other protocol error (bad frame order, bad setting, PUSH_PROMISE ...)
	ViolationFrameSize                           // frame longer than our MAX_FRAME_SIZE or fixed-size frame with the wrong length
	ViolationStreamID                            // stream id of the wrong parity, not increasing, or naming an idle stream
	ViolationStreamClosed                        // frame on a stream that is closed (half or fully)
	ViolationMalformed                           // header list breaking RFC 9113 §8.2-8.3
	ViolationContentLength                       // DATA not matching content-length
	ViolationFlowControl                         // peer sent beyond our receive window
	ViolationWindowOverflow                      // WINDOW_UPDATE or SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1
	ViolationCompression                         // HPACK block that does not decode
	ViolationHeaderListTooLarge                  // header list over our MAX_HEADER_LIST_SIZE (HPACK bomb)
	ViolationContinuationFlood                   // header block over the byte or frame bound (CVE-2024-27316)
	ViolationRapidReset                          // too many streams reset by the peer before completing (CVE-2023-44487)
	ViolationControlFlood                        // SETTINGS/PING/RST replies piling up unread (CVE-2019-9512/9515)
	ViolationEmptyFrames                         // consecutive empty DATA/HEADERS/CONTINUATION frames (CVE-2019-9518)
	ViolationRefusedStream                       // stream opened beyond our MAX_CONCURRENT_STREAMS
	ViolationPendingOverflow                     // output queued for the peer beyond Limits.MaxPending
	numViolations
)

var violationNames = [numViolations]string{
	"protocol", "frame_size", "stream_id", "stream_closed", "malformed",
	"content_length", "flow_control", "window_overflow", "compression",
	"header_list_too_large", "continuation_flood", "rapid_reset",
	"control_flood", "empty_frames", "refused_stream", "pending_overflow",
}

// String is the metric label of v.
func (v Violation) String() string {
	if v < numViolations {
		return violationNames[v]
	}
	return "unknown"
}
