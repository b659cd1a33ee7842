package client

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// bufSize is the per-Conn read buffer. A status line, a header or trailer
// line, or a chunk-size line longer than this is a protocol error; bodies of
// any size are read through it and discarded.
const bufSize = 64 << 10

// Protocol errors are preallocated: the parser never allocates.
var (
	errStatusLine    = protoErr("malformed HTTP/1.x status line")
	errUpgrade       = protoErr("unexpected 101 Switching Protocols")
	errHeaderLine    = protoErr("malformed header line")
	errObsFold       = protoErr("obsolete header line folding")
	errContentLength = protoErr("bad Content-Length")
	errChunk         = protoErr("malformed chunked body")
	errTooLong       = protoErr("response line longer than the 64 KiB buffer")
)

// h1Conn is an HTTP/1.1 keep-alive connection. Only Do's goroutine touches
// the buffer and parser state; mu guards nc and closed against Close.
type h1Conn struct {
	req     []byte // the whole request, built once
	head    bool   // HEAD: responses have no body
	addr    string
	tls     *tls.Config // nil for http
	timeout time.Duration

	mu     sync.Mutex
	nc     net.Conn // nil: dial on the next Do
	closed bool

	connected  bool // a connection was opened before (for Reconnects)
	answered   bool // nc has carried a complete response
	gotBytes   bool // some of this Do's response arrived
	reconnects atomic.Uint64

	buf  []byte
	r, w int // unread bytes are buf[r:w]

	// The response being parsed.
	status        int
	http10        bool
	contentLength int64 // -1: none
	te            bool  // Transfer-Encoding present
	chunked       bool  // ... and its final coding is chunked
	connClose     bool  // Connection: close
	keepAlive     bool  // Connection: keep-alive
}

func newH1(p *prepared) *h1Conn {
	return &h1Conn{
		req:     p.requestBytes(),
		head:    p.method == "HEAD",
		addr:    p.addr,
		tls:     p.tls,
		timeout: p.timeout,
		buf:     make([]byte, bufSize),
	}
}

func (c *h1Conn) Reconnects() uint64 { return c.reconnects.Load() }

func (c *h1Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	nc := c.nc
	c.nc = nil
	c.mu.Unlock()
	if nc != nil {
		return nc.Close()
	}
	return nil
}

func (c *h1Conn) Do() (int, error) {
	deadline := time.Now().Add(c.timeout)
	c.mu.Lock()
	closed, nc := c.closed, c.nc
	c.mu.Unlock()
	if closed {
		return 0, errClosed
	}
	c.gotBytes = false
	if nc == nil {
		var err error
		if nc, err = c.dial(deadline); err != nil {
			return 0, err
		}
	}
	if err := nc.SetDeadline(deadline); err != nil {
		return 0, c.fail(nc, err)
	}
	if _, err := nc.Write(c.req); err != nil {
		return 0, c.fail(nc, err)
	}
	keep, err := c.readResponse(nc)
	if err != nil {
		return 0, c.fail(nc, err)
	}
	c.answered = true
	// Bytes after a complete response (we never pipeline) mean the
	// framing cannot be trusted: start over on a new connection.
	if !keep || c.r != c.w {
		c.drop(nc)
	}
	return c.status, nil
}

func (c *h1Conn) dial(deadline time.Time) (net.Conn, error) {
	d := net.Dialer{Deadline: deadline}
	nc, err := d.Dial("tcp", c.addr)
	if err != nil {
		return nil, &kindError{result.ErrConnect, err}
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if c.tls != nil {
		tc := tls.Client(nc, c.tls)
		_ = nc.SetDeadline(deadline)
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, &kindError{result.ErrConnect, err}
		}
		nc = tc
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		nc.Close()
		return nil, errClosed
	}
	c.nc = nc
	c.mu.Unlock()
	if c.connected {
		c.reconnects.Add(1)
	}
	c.connected = true
	c.answered = false
	c.r, c.w = 0, 0
	return nc, nil
}

// drop closes nc; the next Do dials.
func (c *h1Conn) drop(nc net.Conn) {
	c.mu.Lock()
	if c.nc == nc {
		c.nc = nil
	}
	c.mu.Unlock()
	nc.Close()
	c.r, c.w = 0, 0
}

func (c *h1Conn) fail(nc net.Conn, err error) error {
	ke := ioErr(err, !c.answered && !c.gotBytes)
	c.drop(nc)
	return ke
}

// fill reads more bytes into buf[w:], first moving the unread bytes to the
// front. It fails if the buffer is full of unread bytes.
func (c *h1Conn) fill(nc net.Conn) error {
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	if c.w == len(c.buf) {
		return errTooLong
	}
	for {
		n, err := nc.Read(c.buf[c.w:])
		c.w += n
		if n > 0 {
			c.gotBytes = true
			return nil // an error with data comes back on the next Read
		}
		if err != nil {
			return err
		}
	}
}

// readLine returns the next line without its LF (or CRLF); it points into
// buf and is valid until the next read. statusLine makes it fail as soon as
// the bytes received cannot start an HTTP/1.x status line, instead of
// waiting for a line end that may never come.
func (c *h1Conn) readLine(nc net.Conn, statusLine bool) ([]byte, error) {
	for {
		if i := bytes.IndexByte(c.buf[c.r:c.w], '\n'); i >= 0 {
			line := c.buf[c.r : c.r+i]
			c.r += i + 1
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, nil
		}
		if statusLine {
			const prefix = "HTTP/1."
			got := c.buf[c.r:c.w]
			if len(got) > len(prefix) {
				got = got[:len(prefix)]
			}
			if string(got) != prefix[:len(got)] {
				return nil, errStatusLine
			}
		}
		if err := c.fill(nc); err != nil {
			return nil, err
		}
	}
}

// readResponse reads one complete response (skipping interim 1xx ones) and
// reports whether the connection can carry the next request.
func (c *h1Conn) readResponse(nc net.Conn) (keep bool, err error) {
	for {
		if err := c.readHead(nc); err != nil {
			return false, err
		}
		if c.status >= 200 {
			break
		}
		if c.status == 101 {
			return false, errUpgrade
		}
		// 100 Continue, 103 Early Hints, ...: the final response follows.
	}
	keep = !c.connClose && (!c.http10 || c.keepAlive)
	switch {
	case c.head || c.status == 204 || c.status == 304:
		return keep, nil
	case c.te:
		if c.contentLength >= 0 {
			keep = false // both framings: do not trust the connection further
		}
		if c.chunked {
			return keep, c.readChunked(nc)
		}
		return false, c.readUntilClose(nc)
	case c.contentLength >= 0:
		return keep, c.discard(nc, c.contentLength)
	default:
		return false, c.readUntilClose(nc)
	}
}

// readHead parses the status line and header section.
func (c *h1Conn) readHead(nc net.Conn) error {
	c.contentLength = -1
	c.te, c.chunked, c.connClose, c.keepAlive = false, false, false, false

	line, err := c.readLine(nc, true)
	if err != nil {
		return err
	}
	// HTTP/1.x SP 3DIGIT [SP reason-phrase]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || !isDigit(line[7]) || line[8] != ' ' ||
		line[9] < '1' || line[9] > '9' || !isDigit(line[10]) || !isDigit(line[11]) ||
		(len(line) > 12 && line[12] != ' ') {
		return errStatusLine
	}
	c.http10 = line[7] == '0'
	c.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')

	for {
		line, err := c.readLine(nc, false)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if err := c.header(line); err != nil {
			return err
		}
	}
}

// header parses one header field line and records what framing needs.
func (c *h1Conn) header(line []byte) error {
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
		if !ok || (c.contentLength >= 0 && c.contentLength != n) {
			return errContentLength
		}
		c.contentLength = n
	case equalFold(name, "transfer-encoding"):
		c.te = true
		last := value
		if i := bytes.LastIndexByte(value, ','); i >= 0 {
			last = trimOWS(value[i+1:])
		}
		c.chunked = equalFold(last, "chunked")
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
				c.connClose = true
			case equalFold(tok, "keep-alive"):
				c.keepAlive = true
			}
		}
	}
	return nil
}

// discard skips n body bytes.
func (c *h1Conn) discard(nc net.Conn, n int64) error {
	avail := int64(c.w - c.r)
	if n <= avail {
		c.r += int(n)
		return nil
	}
	n -= avail
	c.r, c.w = 0, 0
	for {
		m, err := nc.Read(c.buf)
		if int64(m) >= n {
			c.r, c.w = int(n), m
			return nil
		}
		n -= int64(m)
		if err != nil {
			return err
		}
	}
}

// readChunked skips a chunked body: chunks, the last chunk and the trailer
// section.
func (c *h1Conn) readChunked(nc net.Conn) error {
	for {
		line, err := c.readLine(nc, false)
		if err != nil {
			return err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return errChunk
		}
		if size == 0 {
			break
		}
		if err := c.discard(nc, size); err != nil {
			return err
		}
		if line, err = c.readLine(nc, false); err != nil {
			return err
		}
		if len(line) != 0 {
			return errChunk
		}
	}
	for {
		line, err := c.readLine(nc, false)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' || bytes.IndexByte(line, ':') <= 0 {
			return errChunk
		}
	}
}

// readUntilClose skips a body delimited by the server closing the
// connection.
func (c *h1Conn) readUntilClose(nc net.Conn) error {
	c.r, c.w = 0, 0
	for {
		_, err := nc.Read(c.buf)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
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
