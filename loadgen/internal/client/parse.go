package client

import "bytes"

// parser is an incremental HTTP/1.x response parser. It is fed whatever
// bytes have arrived and consumes as much as it can, so the same code serves
// the blocking client (h1Conn, which reads until the parser is done) and the
// epoll loop (which feeds it on every readable event). It never allocates.
type parser struct {
	head  bool // the request was HEAD: responses have no body
	state parseState

	// The response being parsed.
	status        int
	http10        bool
	contentLength int64 // -1: none
	te            bool  // Transfer-Encoding present
	chunked       bool  // ... and its final coding is chunked
	connClose     bool  // Connection: close
	keepAlive     bool  // Connection: keep-alive
	remaining     int64 // body or chunk bytes still to skip
	keep          bool  // the connection can carry the next request (valid when done)
}

type parseState uint8

const (
	stStatus     parseState = iota // status line
	stHeaders                      // header lines
	stBody                         // Content-Length body: remaining bytes
	stChunkSize                    // chunk-size line
	stChunkData                    // chunk data: remaining bytes
	stChunkEnd                     // CRLF after chunk data
	stTrailers                     // trailer section after the last chunk
	stUntilClose                   // body delimited by the server closing
	stDone                         // the final response is complete
)

// reset prepares for the next response.
func (p *parser) reset() {
	p.state = stStatus
	p.startHead()
}

func (p *parser) startHead() {
	p.status = 0
	p.http10 = false
	p.contentLength = -1
	p.te, p.chunked, p.connClose, p.keepAlive = false, false, false, false
	p.remaining = 0
	p.keep = false
}

// done reports whether the final response is complete.
func (p *parser) done() bool { return p.state == stDone }

// untilClose reports whether the body is delimited by the connection closing.
func (p *parser) untilClose() bool { return p.state == stUntilClose }

// feed consumes bytes of buf and returns how many. It stops when the
// response is complete (done), when it needs more bytes than buf holds
// (consumed < len(buf) only with a partial line left), or at a protocol
// error. full says buf is the whole read buffer, so a line that does not fit
// in it can never complete.
func (p *parser) feed(buf []byte, full bool) (int, error) {
	n := 0
	for p.state != stDone {
		rest := buf[n:]
		switch p.state {
		case stBody, stChunkData:
			k := int64(len(rest))
			if k > p.remaining {
				k = p.remaining
			}
			n += int(k)
			p.remaining -= k
			if p.remaining > 0 {
				return n, nil
			}
			if p.state == stBody {
				p.state = stDone
			} else {
				p.state = stChunkEnd
			}
			continue
		case stUntilClose:
			return len(buf), nil // discard everything until EOF
		}
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if p.state == stStatus && !statusPrefix(rest) {
				return n, errStatusLine
			}
			if full && n == 0 {
				return n, errTooLong
			}
			return n, nil
		}
		line := rest[:i]
		n += i + 1
		if k := len(line); k > 0 && line[k-1] == '\r' {
			line = line[:k-1]
		}
		if err := p.line(line); err != nil {
			return n, err
		}
	}
	return n, nil
}

// eof is called when the server closed the connection; it reports whether
// that completed the response (a close-delimited body).
func (p *parser) eof() bool {
	if p.state == stUntilClose {
		p.state = stDone
		p.keep = false
		return true
	}
	return false
}

// line handles one complete line in the states that read lines.
func (p *parser) line(line []byte) error {
	switch p.state {
	case stStatus:
		return p.statusLine(line)
	case stHeaders:
		if len(line) == 0 {
			return p.endOfHead()
		}
		return p.header(line)
	case stChunkSize:
		size, ok := parseChunkSize(line)
		if !ok {
			return errChunk
		}
		if size == 0 {
			p.state = stTrailers
		} else {
			p.state, p.remaining = stChunkData, size
		}
	case stChunkEnd:
		if len(line) != 0 {
			return errChunk
		}
		p.state = stChunkSize
	case stTrailers:
		if len(line) == 0 {
			p.state = stDone
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' || bytes.IndexByte(line, ':') <= 0 {
			return errChunk
		}
	}
	return nil
}

// statusPrefix reports whether b could still begin an HTTP/1.x status line,
// so garbage fails at once instead of waiting for a line end.
func statusPrefix(b []byte) bool {
	const prefix = "HTTP/1."
	if len(b) > len(prefix) {
		b = b[:len(prefix)]
	}
	return string(b) == prefix[:len(b)]
}

func (p *parser) statusLine(line []byte) error {
	// HTTP/1.x SP 3DIGIT [SP reason-phrase]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || !isDigit(line[7]) || line[8] != ' ' ||
		line[9] < '1' || line[9] > '9' || !isDigit(line[10]) || !isDigit(line[11]) ||
		(len(line) > 12 && line[12] != ' ') {
		return errStatusLine
	}
	p.http10 = line[7] == '0'
	p.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	p.state = stHeaders
	return nil
}

// endOfHead decides how the body is framed (RFC 9112 section 6.3).
func (p *parser) endOfHead() error {
	if p.status < 200 {
		if p.status == 101 {
			return errUpgrade
		}
		// 100 Continue, 103 Early Hints, ...: the final response follows.
		p.state = stStatus
		p.startHead()
		return nil
	}
	p.keep = !p.connClose && (!p.http10 || p.keepAlive)
	switch {
	case p.head || p.status == 204 || p.status == 304:
		p.state = stDone
	case p.te:
		if p.contentLength >= 0 {
			p.keep = false // both framings: do not trust the connection further
		}
		if p.chunked {
			p.state = stChunkSize
		} else {
			p.state, p.keep = stUntilClose, false
		}
	case p.contentLength >= 0:
		p.state, p.remaining = stBody, p.contentLength
		if p.remaining == 0 {
			p.state = stDone
		}
	default:
		p.state, p.keep = stUntilClose, false
	}
	return nil
}

// header parses one header field line and records what framing needs.
func (p *parser) header(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return errObsFold
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return errHeaderLine
	}
	name := line[:colon]
	for _, b := range name {
		if !tchar[b] {
			return errHeaderLine
		}
	}
	value := trimOWS(line[colon+1:])
	switch {
	case equalFold(name, "content-length"):
		n, ok := parseContentLength(value)
		if !ok || (p.contentLength >= 0 && p.contentLength != n) {
			return errContentLength
		}
		p.contentLength = n
	case equalFold(name, "transfer-encoding"):
		p.te = true
		last := value
		if i := bytes.LastIndexByte(value, ','); i >= 0 {
			last = trimOWS(value[i+1:])
		}
		p.chunked = equalFold(last, "chunked")
	case equalFold(name, "connection"):
		for len(value) > 0 {
			tok := value
			if i := bytes.IndexByte(value, ','); i >= 0 {
				tok, value = value[:i], value[i+1:]
			} else {
				value = nil
			}
			tok = trimOWS(tok)
			switch {
			case equalFold(tok, "close"):
				p.connClose = true
			case equalFold(tok, "keep-alive"):
				p.keepAlive = true
			}
		}
	}
	return nil
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with lower, which must be lower-case ASCII.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parseContentLength accepts 1*DIGIT up to 2^62.
func parseContentLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, d := range b {
		if !isDigit(d) {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

// parseChunkSize parses "1*HEXDIG [BWS ; chunk-ext]" (extensions ignored).
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
digits:
	for ; i < len(line); i++ {
		var d byte
		switch b := line[i]; {
		case '0' <= b && b <= '9':
			d = b - '0'
		case 'a' <= b && b <= 'f':
			d = b - 'a' + 10
		case 'A' <= b && b <= 'F':
			d = b - 'A' + 10
		default:
			break digits
		}
		if i == 15 {
			return 0, false // 2^60 or more: not a size anyone means
		}
		n = n<<4 | int64(d)
	}
	if i == 0 {
		return 0, false
	}
	rest := trimOWS(line[i:])
	if len(rest) > 0 && rest[0] != ';' {
		return 0, false
	}
	return n, true
}
