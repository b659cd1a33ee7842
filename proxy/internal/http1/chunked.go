package http1

// Bounds on the non-data parts of a chunked body. Without them a peer could
// make the proxy scan an unbounded chunk-ext or trailer section.
const (
	// MaxChunkLineBytes bounds a chunk-size line: size, extensions and CRLF.
	MaxChunkLineBytes = 4 << 10
	// MaxTrailerBytes bounds the trailer section including its final CRLF.
	MaxTrailerBytes = 16 << 10
	// MaxChunkSize is the largest chunk-size accepted (2^62).
	MaxChunkSize = 1 << 62
)

// chunkState is the position of the scanner within the chunked-body grammar
// (RFC 9112 7.1):
//
//	chunked-body   = *chunk last-chunk trailer-section CRLF
//	chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//	last-chunk     = 1*("0") [ chunk-ext ] CRLF
//	chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//	chunk-ext-val  = token / quoted-string
//	trailer-section = *( field-line CRLF )
type chunkState uint8

const (
	stSize           chunkState = iota // first HEXDIG of chunk-size
	stSizeMore                         // further HEXDIGs, or what follows them
	stExtWantSemi                      // BWS seen; only ";" (or more BWS) may follow
	stExtPreName                       // after ";": BWS then chunk-ext-name
	stExtName                          // in chunk-ext-name
	stExtAfterName                     // BWS after a name: ";" or "="
	stExtPreValue                      // after "=": BWS then value
	stExtToken                         // in a token chunk-ext-val
	stExtQuoted                        // inside a quoted-string
	stExtQuotedPair                    // after a backslash in a quoted-string
	stExtAfterQuoted                   // after the closing quote
	stSizeLF                           // CR of the chunk-size line seen
	stData                             // inside chunk-data
	stDataCR                           // chunk-data done, CR expected
	stDataLF                           // LF after chunk-data expected
	stTrailerStart                     // start of a trailer field line or of the final CRLF
	stTrailerName                      // in a trailer field-name
	stTrailerValue                     // in a trailer field-value
	stTrailerLF                        // CR of a trailer line seen
	stEndLF                            // final CR seen
	stDone                             // body complete
)

// ChunkedScanner finds the end of a chunked body and validates its framing
// without decoding it: the proxy forwards the chunked bytes verbatim, so it
// only needs to know where the body ends and that both sides will agree on
// it. The zero value is ready to use; it holds no slices.
type ChunkedScanner struct {
	state   chunkState
	size    uint64 // chunk-size being parsed, then chunk-data bytes left
	lineLen int    // bytes of the current chunk-size line so far
	trailer int    // bytes of the trailer section so far
	err     *Error // sticky error
}

// Reset prepares s for a new body.
func (s *ChunkedScanner) Reset() { *s = ChunkedScanner{} }

// Done reports whether the body has ended.
func (s *ChunkedScanner) Done() bool { return s.state == stDone }

// Scan consumes the bytes of p that belong to the chunked body.
//
// It returns n, the number of bytes of p that are part of the body, and
// done=true when the body (last-chunk, trailer section and final CRLF) ended
// at p[n-1]; bytes after that belong to the next message. When done is
// false and err is nil, n == len(p). The scanner keeps its state between
// calls, so any part of the framing may be split across calls at any byte.
//
// On error, n is the offset of the offending byte and the error is sticky:
// later calls return it again until Reset. After done, Scan returns
// (0, true, nil). Errors have Status 400; use Error.Upstream for a response.
func (s *ChunkedScanner) Scan(p []byte) (n int, done bool, err error) {
	for {
		k, data, done, err := s.Decode(p[n:])
		n += k
		if err != nil || done {
			return n, done, err
		}
		if len(data) == 0 || n == len(p) {
			return n, false, nil
		}
	}
}

// Decode is Scan for a proxy that re-frames the body (HTTP/1.1 to HTTP/2,
// where DATA frames carry the payload without chunk framing): it consumes
// framing bytes up to the next chunk-data and returns those data bytes, a
// sub-slice of p. n counts every byte consumed, framing and data; call
// again with p[n:]. data is empty when p held only framing. Chunk
// extensions and trailer fields are validated as Scan does, then dropped.
// Errors are Scan's.
func (s *ChunkedScanner) Decode(p []byte) (n int, data []byte, done bool, err error) {
	if s.err != nil {
		return 0, nil, false, s.err
	}
	if s.state == stDone {
		return 0, nil, true, nil
	}
	i := 0
	for i < len(p) {
		if s.state == stData {
			k := uint64(len(p) - i)
			if k > s.size {
				k = s.size
			}
			data = p[i : i+int(k)]
			i += int(k)
			s.size -= k
			if s.size == 0 {
				s.state = stDataCR
			}
			return i, data, false, nil
		}
		if e := s.step(p[i]); e != nil {
			s.err = e
			return i, nil, false, e
		}
		i++
		if s.state == stDone {
			return i, nil, true, nil
		}
	}
	return i, nil, false, nil
}

// step advances the state machine by one framing byte.
func (s *ChunkedScanner) step(c byte) *Error {
	if s.state < stData {
		return s.sizeLineStep(c)
	}
	if s.state >= stTrailerStart {
		return s.trailerStep(c)
	}
	switch s.state {
	case stDataCR:
		if c != '\r' {
			return ErrChunkDataCRLF
		}
		s.state = stDataLF
	case stDataLF:
		if c != '\n' {
			return ErrChunkDataCRLF
		}
		s.state, s.size, s.lineLen = stSize, 0, 0
	}
	return nil
}

// sizeLineStep handles a byte of a chunk-size line (size, extensions, CRLF).
func (s *ChunkedScanner) sizeLineStep(c byte) *Error {
	s.lineLen++
	if s.lineLen > MaxChunkLineBytes {
		return ErrChunkLineTooLong
	}
	switch s.state {
	case stSize:
		if !isHex(c) {
			return ErrChunkSize
		}
		s.size = uint64(hexVal(c))
		s.state = stSizeMore
	case stSizeMore:
		if isHex(c) {
			d := uint64(hexVal(c))
			if s.size > (MaxChunkSize-d)/16 {
				return ErrChunkSizeOverflow
			}
			s.size = s.size*16 + d
			return nil
		}
		return s.afterSizeOrValue(c)
	case stExtWantSemi:
		switch {
		case isOWS(c):
		case c == ';':
			s.state = stExtPreName
		default:
			return ErrChunkExtension
		}
	case stExtPreName:
		switch {
		case isOWS(c):
		case isTchar[c]:
			s.state = stExtName
		default:
			return ErrChunkExtension
		}
	case stExtName:
		switch {
		case isTchar[c]:
		case c == '=':
			s.state = stExtPreValue
		case isOWS(c):
			s.state = stExtAfterName
		default:
			return s.afterSizeOrValue(c)
		}
	case stExtAfterName:
		switch {
		case isOWS(c):
		case c == '=':
			s.state = stExtPreValue
		case c == ';':
			s.state = stExtPreName
		default:
			return ErrChunkExtension
		}
	case stExtPreValue:
		switch {
		case isOWS(c):
		case c == '"':
			s.state = stExtQuoted
		case isTchar[c]:
			s.state = stExtToken
		default:
			return ErrChunkExtension
		}
	case stExtToken:
		if isTchar[c] {
			return nil
		}
		return s.afterSizeOrValue(c)
	case stExtQuoted:
		switch {
		case c == '"':
			s.state = stExtAfterQuoted
		case c == '\\':
			s.state = stExtQuotedPair
		case c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x7e && c != '\\') || c >= 0x80: // qdtext
		default:
			return ErrChunkExtension
		}
	case stExtQuotedPair:
		if !isFieldChar[c] { // HTAB / SP / VCHAR / obs-text
			return ErrChunkExtension
		}
		s.state = stExtQuoted
	case stExtAfterQuoted:
		return s.afterSizeOrValue(c)
	case stSizeLF:
		if c != '\n' {
			return ErrChunkLineEnd
		}
		if s.size == 0 {
			s.state = stTrailerStart // last-chunk
		} else {
			s.state = stData
		}
	}
	return nil
}

// afterSizeOrValue handles the byte that ends a chunk-size, an extension
// name without value, or an extension value: BWS, ";" or the line's CR.
// Whitespace directly before the CR is not in the grammar and is rejected.
func (s *ChunkedScanner) afterSizeOrValue(c byte) *Error {
	switch {
	case c == ';':
		s.state = stExtPreName
	case isOWS(c):
		s.state = stExtWantSemi
	case c == '\r':
		s.state = stSizeLF
	case s.state == stSizeMore:
		return ErrChunkSize
	default:
		return ErrChunkExtension
	}
	return nil
}

// trailerStep handles a byte of the trailer section, whose field lines obey
// the header-field rules (RFC 9112 7.1.2).
func (s *ChunkedScanner) trailerStep(c byte) *Error {
	s.trailer++
	if s.trailer > MaxTrailerBytes {
		return ErrTrailerTooLarge
	}
	switch s.state {
	case stTrailerStart:
		switch {
		case c == '\r':
			s.state = stEndLF
		case isTchar[c]:
			s.state = stTrailerName
		case isOWS(c):
			return ErrTrailerObsFold
		default:
			return ErrTrailerField
		}
	case stTrailerName:
		switch {
		case isTchar[c]:
		case c == ':':
			s.state = stTrailerValue
		default:
			return ErrTrailerField
		}
	case stTrailerValue:
		switch {
		case isFieldChar[c]:
		case c == '\r':
			s.state = stTrailerLF
		default:
			return ErrTrailerField
		}
	case stTrailerLF:
		if c != '\n' {
			return ErrTrailerField
		}
		s.state = stTrailerStart
	case stEndLF:
		if c != '\n' {
			return ErrChunkedBodyEndCRLF
		}
		s.state = stDone
	}
	return nil
}

func hexVal(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return (c | 0x20) - 'a' + 10
}
