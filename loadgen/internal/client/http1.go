package client

import (
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

	p parser // the response being parsed
}

func newH1(p *prepared) *h1Conn {
	return &h1Conn{
		req:     p.requestBytes(),
		addr:    p.addr,
		tls:     p.tls,
		timeout: p.timeout,
		buf:     make([]byte, bufSize),
		p:       parser{head: p.method == "HEAD"},
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
	return c.p.status, nil
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

// readResponse reads one complete response (skipping interim 1xx ones) and
// reports whether the connection can carry the next request.
func (c *h1Conn) readResponse(nc net.Conn) (keep bool, err error) {
	c.p.reset()
	for {
		n, err := c.p.feed(c.buf[c.r:c.w], c.w-c.r == len(c.buf))
		c.r += n
		if err != nil {
			return false, err
		}
		if c.p.done() {
			return c.p.keep, nil
		}
		if c.r == c.w {
			c.r, c.w = 0, 0
		}
		if err := c.fill(nc); err != nil {
			if err == io.EOF && c.p.eof() {
				return false, nil
			}
			return false, err
		}
	}
}
