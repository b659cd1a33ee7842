package engine

import (
	"time"

	"github.com/meshbench/meshbench/proxy/internal/http2"
)

// gRPC over the exchange pipeline. A request is a gRPC call when its
// content-type is application/grpc (or application/grpc+proto, ...). For a
// call the proxy
//   - takes grpc-timeout as a deadline, the tighter of it and the route's;
//   - records the call's grpc-status (trailers, or a trailers-only
//     response) in meshproxy_grpc_responses_total, so a call answered with
//     HTTP 200 and grpc-status 14 counts as the failure it is;
//   - answers its own errors as gRPC errors: HTTP 200, trailers-only,
//     grpc-status from the HTTP status as gRPC's HTTP-to-gRPC mapping says
//     (DEADLINE_EXCEEDED for the proxy's own timeouts) and grpc-message
//     naming the reason.

// gRPC status codes the proxy produces itself.
const (
	grpcCancelled        = 1
	grpcUnknown          = 2
	grpcDeadlineExceeded = 4
	grpcPermissionDenied = 7
	grpcUnimplemented    = 12
	grpcInternal         = 13
	grpcUnavailable      = 14
	grpcUnauthenticated  = 16
)

// isGRPCContentType reports whether v names a gRPC message body.
func isGRPCContentType(v []byte) bool {
	const p = "application/grpc"
	if len(v) < len(p) || string(v[:len(p)]) != p {
		return false
	}
	return len(v) == len(p) || v[len(p)] == '+' || v[len(p)] == ';'
}

// parseGRPCTimeout reads a grpc-timeout value: 1 to 8 ASCII digits and a
// unit (H, M, S, m, u, n), as the gRPC over HTTP/2 protocol defines it.
func parseGRPCTimeout(v []byte) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	var n int64
	for _, c := range v[:len(v)-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	if n > int64((1<<63-1)/unit) {
		return 1<<63 - 1, true // longer than any deadline that matters
	}
	return time.Duration(n) * unit, true
}

// grpcStatusOf returns the grpc-status among f's fields, or -1.
func grpcStatusOf(f *http2.Fields) int {
	for i := range f.List {
		if string(f.Name(i)) != "grpc-status" {
			continue
		}
		v := f.Value(i)
		if len(v) == 0 || len(v) > 3 {
			return -1
		}
		n := 0
		for _, c := range v {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	return -1
}

// grpcFromHTTP maps an HTTP status to a gRPC code as gRPC's
// "HTTP to gRPC Status Code Mapping" says, for a call answered without a
// grpc-status.
func grpcFromHTTP(status int) int {
	switch status {
	case 400:
		return grpcInternal
	case 401:
		return grpcUnauthenticated
	case 403:
		return grpcPermissionDenied
	case 404:
		return grpcUnimplemented
	case 429, 502, 503, 504:
		return grpcUnavailable
	}
	return grpcUnknown
}

// grpcForLocalReply is the gRPC code of a reply the proxy makes itself: the
// HTTP mapping, except that the proxy's own timeouts are what the caller's
// deadline would be (DEADLINE_EXCEEDED).
func grpcForLocalReply(status int, reason string) int {
	switch reason {
	case "upstream_timeout", "upstream_idle_timeout":
		return grpcDeadlineExceeded
	}
	return grpcFromHTTP(status)
}

// grpcOutcome is the gRPC code a completed call is recorded with: the
// endpoint's grpc-status, else the mapping of its HTTP status (200 without
// grpc-status is malformed: -1, counted as "other").
func (ex *exchange) grpcOutcome(status int) int {
	if ex.grpcStatus >= 0 {
		return ex.grpcStatus
	}
	if status == 200 {
		return -1
	}
	return grpcFromHTTP(status)
}
