// Package http2 is meshproxy's HTTP/2 connection codec (RFC 9113): frames,
// stream states, flow control, HPACK (RFC 7541) and the bounds that keep a
// hostile peer from making a connection spend without limit.
//
// It is transport-agnostic: bytes in (Conn.Feed), events out (Handler),
// frames out (Conn.Pending). It does no I/O, starts no goroutine and
// imports nothing of the event loop, so the engine drives it from gnet
// callbacks for downstream connections (Server role) and upstream ones
// (Client role) alike, and tests drive it over a net.Conn.
//
// In steady state it allocates nothing: payloads handed to the Handler are
// sub-slices of Feed's input, header lists decode into one reused Fields,
// streams come from a free list inside the Conn, and frames are built in
// one output buffer.
//
// Attack bounds (Limits, reported through Handler.OnViolation):
//   - rapid reset (CVE-2023-44487): ratio of streams the peer resets before
//     our response completes, Envoy's rule;
//   - CONTINUATION flood (CVE-2024-27316): bytes and frames per header block;
//   - HPACK bomb: a header list over our MAX_HEADER_LIST_SIZE is a stream
//     error (server role: the engine answers 431);
//   - SETTINGS / PING / RST_STREAM floods (CVE-2019-9512, -9515): replies
//     queued while the peer does not read are bounded in number and bytes;
//   - empty frame floods (CVE-2019-9518): consecutive empty frames;
//   - streams beyond our MAX_CONCURRENT_STREAMS are refused
//     (REFUSED_STREAM); stream-id misuse and window overflows are errors.
package http2
