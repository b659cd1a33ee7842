package http2

// Stream is one HTTP/2 stream of a Conn. The Conn owns it: streams come
// from a free list inside the Conn and go back to it when they close, so
// the engine must not keep a *Stream past the call that ended it (see
// Handler) and should compare ID when in doubt.
type Stream struct {
	ID       uint32
	UserData any // the engine's state for this stream; cleared on recycling

	// Head describes the header list of the OnHeaders call in progress:
	// its pseudo-header fields as Spans into that call's Fields, the
	// :status, the content-length. Valid only during OnHeaders.
	Head Head

	c *Conn

	sendWin int64 // what the peer lets us send on this stream (may go negative after a SETTINGS change)
	recvWin int64 // what we still let the peer send

	// unconsumed: DATA bytes handed to OnData and not yet returned with
	// Consumed. unacked: bytes consumed but not yet announced to the peer
	// in a stream WINDOW_UPDATE (batched).
	unconsumed int64
	unacked    int64

	contentLength int64 // announced content-length of the incoming message, -1 if none
	received      int64 // DATA payload bytes received (content-length check)

	recvDone bool // END_STREAM received (half-closed remote)
	sendDone bool // END_STREAM sent (half-closed local)
	gotHead  bool // a header list was received (server: the request; client: a final response)
	sentHead bool // our HEADERS went out (client: the stream id is in use)
	headReq  bool // client: the request's :method is HEAD (a response content-length describes no body)
	blocked  bool // WriteData took less than offered: OnWritable due when room opens
	zombie   bool // closed during a callback on it: recycled when the callback returns
	active   bool // in c.streams
	local    bool // we opened it (client role)
	inCall   int  // callbacks on it in progress

	next *Stream // free list
}

// Head is the part of a header list the codec parses anyway (to validate
// it), exposed so the engine need not search the list again.
type Head struct {
	// Pseudo-header fields (requests: :method, :scheme, :authority,
	// :path, :protocol), as Spans into the Fields of the OnHeaders call.
	// Has tells which are present (an empty value and an absent field
	// differ).
	Method, Scheme, Authority, Path, Protocol Span
	Has                                       PseudoSet
	// Status is the response's :status (client role), 0 for requests.
	Status int
	// NPseudo is the number of pseudo-header fields, which RFC 9113 §8.3
	// puts first: regular fields are Fields.List[NPseudo:].
	NPseudo int
	// ContentLength is the content-length field's value, -1 if absent.
	ContentLength int64
	// TooLarge (server role): the request's header list exceeded our
	// SETTINGS_MAX_HEADER_LIST_SIZE (possibly an HPACK bomb). OnHeaders
	// gets an empty Fields; the engine answers 431 on the stream (StartHeaders
	// ... EndHeaders(true)), after which the codec resets the stream with
	// NO_ERROR if the request is still open (RFC 9113 §8.1).
	TooLarge bool
}

// PseudoSet is a set of pseudo-header fields.
type PseudoSet uint8

const (
	PseudoMethod PseudoSet = 1 << iota
	PseudoScheme
	PseudoAuthority
	PseudoPath
	PseudoProtocol
	PseudoStatus
)

// Bytes returns the bytes of sp in f (a pseudo-header value of Head).
func (f *Fields) Bytes(sp Span) []byte { return f.Buf[sp.Off : sp.Off+sp.Len] }

// blockKind is what a header list is expected to be.
type blockKind uint8

const (
	kindRequest blockKind = iota
	kindResponse
	kindTrailers
)

// checkFields validates f as kind per RFC 9113 §8.2-8.3 and fills h.
// It returns false for a malformed list.
func checkFields(f *Fields, kind blockKind, connectProtocol bool, h *Head) bool {
	*h = Head{ContentLength: -1}
	regular := false
	for i := range f.List {
		name, value := f.Name(i), f.Value(i)
		if len(name) == 0 || !validValue(value) {
			return false
		}
		if name[0] == ':' {
			// Pseudo-header fields come first and only in heads (§8.3).
			if regular || kind == kindTrailers {
				return false
			}
			var bit PseudoSet
			var sp *Span
			switch string(name) {
			case ":method":
				bit, sp = PseudoMethod, &h.Method
			case ":scheme":
				bit, sp = PseudoScheme, &h.Scheme
			case ":authority":
				bit, sp = PseudoAuthority, &h.Authority
			case ":path":
				bit, sp = PseudoPath, &h.Path
			case ":protocol":
				if !connectProtocol {
					return false
				}
				bit, sp = PseudoProtocol, &h.Protocol
			case ":status":
				bit = PseudoStatus
			default:
				return false
			}
			if (kind == kindResponse) != (bit == PseudoStatus) || h.Has&bit != 0 {
				return false
			}
			h.Has |= bit
			h.NPseudo++
			if sp != nil {
				*sp = f.List[i].Value
			} else if h.Status = parseStatus(value); h.Status == 0 {
				return false
			}
			continue
		}
		regular = true
		if !validName(name) {
			return false
		}
		switch string(name) {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			// Connection-specific fields do not exist in HTTP/2 (§8.2.2).
			return false
		case "te":
			if string(value) != "trailers" {
				return false
			}
		case "content-length":
			n := parseContentLength(value)
			if n < 0 || (h.ContentLength >= 0 && n != h.ContentLength) {
				return false
			}
			h.ContentLength = n
		}
	}
	switch kind {
	case kindRequest:
		if h.Has&PseudoMethod == 0 {
			return false
		}
		connect := string(f.Bytes(h.Method)) == "CONNECT"
		switch {
		case h.Has&PseudoProtocol != 0:
			// Extended CONNECT (RFC 8441 §4).
			const need = PseudoScheme | PseudoPath | PseudoAuthority
			return connect && h.Has&need == need && h.Path.Len > 0
		case connect:
			// CONNECT (§8.5): :authority only.
			return h.Has&PseudoAuthority != 0 && h.Has&(PseudoScheme|PseudoPath) == 0
		default:
			const need = PseudoScheme | PseudoPath
			return h.Has&need == need && h.Path.Len > 0
		}
	case kindResponse:
		// 101 is not allowed in HTTP/2 (§8.6).
		return h.Has&PseudoStatus != 0 && h.Status != 101
	}
	return true
}

// validName: RFC 9113 §8.2.1 — no 0x00-0x20, no upper case, no 0x7f-0xff,
// no colon outside the pseudo-header prefix.
func validName(b []byte) bool {
	for _, c := range b {
		if c <= 0x20 || c >= 0x7f || ('A' <= c && c <= 'Z') || c == ':' {
			return false
		}
	}
	return true
}

// validValue: RFC 9113 §8.2.1 — no NUL, CR or LF, no leading or trailing
// SP or HTAB.
func validValue(b []byte) bool {
	if len(b) > 0 {
		if f, l := b[0], b[len(b)-1]; f == ' ' || f == '\t' || l == ' ' || l == '\t' {
			return false
		}
	}
	for _, c := range b {
		if c == 0 || c == '\r' || c == '\n' {
			return false
		}
	}
	return true
}

// parseStatus parses a three-digit :status, 0 if it is not one.
func parseStatus(b []byte) int {
	if len(b) != 3 {
		return 0
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if n < 100 {
		return 0
	}
	return n
}

// parseContentLength parses a content-length value: digits only, -1 if
// not valid (or beyond 18 digits, far past any window-bounded body).
func parseContentLength(b []byte) int64 {
	if len(b) == 0 || len(b) > 18 {
		return -1
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
