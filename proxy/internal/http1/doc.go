// Package http1 is a strict, allocation-free HTTP/1.1 message-head parser and
// body-framing scanner for the meshbench sidecar proxy.
//
// The parsers never copy: they record [Span] offsets into the caller's buffer,
// so a request head can be parsed, inspected and re-serialised for the
// upstream without touching the heap. This matters because the proxy runs on
// an event loop where every allocation is paid for by every request.
//
// Strictness is deliberate. A reverse proxy that is more lenient than the
// server behind it is the root cause of request smuggling (RFC 9112 section
// 11.2): if the proxy and the upstream disagree about where a message ends,
// an attacker can hide a second request inside the first. The rules here
// therefore follow the RFC 9112 / RFC 9110 grammar exactly and reject rather
// than "repair" anything ambiguous: bare CR or LF, obs-fold, whitespace
// before the colon, Content-Length together with Transfer-Encoding,
// transfer codings other than a single "chunked", and so on.
//
// Decisions where the RFCs leave a choice:
//
//   - Empty lines (CRLF) before a request-line are skipped and counted in
//     HeadLen (RFC 9112 section 2.2 robustness rule). Responses get no such
//     allowance.
//   - A request-target may only contain printable US-ASCII other than '#':
//     non-ASCII bytes and fragments are never valid in a request-target.
//   - Empty list elements are rejected in Content-Length and
//     Transfer-Encoding (they only appear in attacks) but ignored in
//     Connection, as RFC 9110 section 5.6.1 requires.
//   - An HTTP/1.1 request needs a Host header even when the target is in
//     absolute-form (RFC 9112 section 3.2.2). An empty Host value is allowed
//     (RFC 9110 section 7.2); a non-empty one must be a valid authority with
//     a non-empty host.
//   - A Connection header may name at most [MaxConnectionOptions] fields
//     other than "close" and "keep-alive", which bounds the work spent on
//     hop-by-hop removal.
//   - Content-Length and Transfer-Encoding, and Host, are never removed
//     because a Connection header names them: dropping a framing header on
//     the way upstream is itself a smuggling vector.
package http1
