package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

var errNoH2 = errors.New("server did not negotiate h2 with ALPN")

// h2Conn is one HTTP/2 connection, on net/http's HTTP/2 client (Go 1.26:
// Transport.NewClientConn). Each h2Conn owns its Transport and has exactly
// one TCP connection open at a time, so the connection count is exactly
// the caller's. Up to p.streams Do calls run concurrently (sem); more wait.
//
// A failed request does not by itself close the connection: HTTP/2 errors
// are per stream (a timeout cancels just its stream). The connection is
// replaced on the next Do once it can no longer take requests: it broke,
// the server sent GOAWAY, or stream IDs ran out. A request that the server
// provably did not process because of that (refused by GOAWAY, or the
// connection was already unusable) is retried on the new connection
// instead of failing, for as long as its Timeout allows (as net/http's
// Transport does); the latency it reports includes the retries.
type h2Conn struct {
	p      *prepared
	tr     *http.Transport
	scheme string
	sem    chan struct{}

	mu         sync.Mutex
	cur        *h2cc       // nil: dial on the next Do
	dialed     *h2cNetConn // set by dialTCP for h2c during NewClientConn
	closed     bool
	connected  bool
	reconnects atomic.Uint64
}

// h2cc is one client connection.
type h2cc struct {
	cc       *http.ClientConn
	h2c      *h2cNetConn // h2c only
	answered atomic.Bool // it has carried a response
	dead     atomic.Bool // replace it on the next Do
}

// err wraps an error of a request on this connection with its kind.
func (cur *h2cc) err(err error) error {
	if cur.h2c != nil && cur.h2c.http1.Load() {
		// The server answered the h2c preface with HTTP/1: whatever
		// net/http's HTTP/2 client made of it (a frame error, or a
		// connection closed before the request went out), the server
		// does not speak HTTP/2.
		return &kindError{result.ErrProtocol, err}
	}
	// Only a broken connection can be a failed connect, not a stream
	// that the server reset.
	fresh := !cur.answered.Load() &&
		(cur.cc.Err() != nil || strings.Contains(err.Error(), "http2: client conn could not be established"))
	return ioErr(err, fresh)
}

// h2cNetConn is an h2c TCP connection that notes whether the server's
// first bytes were an HTTP/1 response.
type h2cNetConn struct {
	net.Conn
	readAny bool // only the connection's reader touches it
	http1   atomic.Bool
}

func (c *h2cNetConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.readAny {
		c.readAny = true
		if bytes.HasPrefix(p[:n], []byte("HTTP/")) {
			c.http1.Store(true)
		}
	}
	return n, err
}

func newH2(p *prepared) *h2Conn {
	c := &h2Conn{p: p, scheme: p.url.Scheme, sem: make(chan struct{}, p.streams)}
	protocols := new(http.Protocols)
	if p.https {
		protocols.SetHTTP2(true) // TLS with ALPN h2 only
	} else {
		protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge
	}
	c.tr = &http.Transport{
		Protocols:      protocols,
		DialContext:    c.dialTCP,
		DialTLSContext: c.dialTLS,
		// Bodies are discarded as they come, as for HTTP/1.1: no gzip
		// negotiation and decoding unless -H Accept-Encoding asks for it.
		DisableCompression: true,
		HTTP2: &http.HTTP2Config{
			// Detect a dead connection (no frames for Timeout, then an
			// unanswered PING) so that it gets replaced.
			SendPingTimeout: p.timeout,
			PingTimeout:     p.timeout,
		},
	}
	return c
}

func (c *h2Conn) Reconnects() uint64 { return c.reconnects.Load() }

func (c *h2Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	cur := c.cur
	c.cur = nil
	c.mu.Unlock()
	if cur != nil {
		return cur.cc.Close()
	}
	return nil
}

func (c *h2Conn) Do() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.p.timeout)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, &kindError{result.ErrTimeout, ctx.Err()}
	}
	defer func() { <-c.sem }()

	for {
		cur, err := c.clientConn(ctx)
		if err != nil {
			return 0, err
		}
		resp, err := cur.cc.RoundTrip(c.request(ctx))
		if err != nil {
			if notProcessed(err) && ctx.Err() == nil {
				cur.dead.Store(true)
				continue
			}
			return 0, cur.err(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, cur.err(err)
		}
		cur.answered.Store(true)
		return resp.StatusCode, nil
	}
}

func (c *h2Conn) request(ctx context.Context) *http.Request {
	req := &http.Request{
		Method:     c.p.method,
		URL:        c.p.url,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     c.p.header, // shared by concurrent requests, read-only
		Host:       c.p.host,
	}
	if len(c.p.body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(c.p.body))
		req.ContentLength = int64(len(c.p.body))
	}
	return req.WithContext(ctx)
}

// notProcessed reports whether a RoundTrip error means the request never
// reached the server's application: the connection was unusable before the
// request was sent, or the server's GOAWAY says it did not take the stream.
// net/http's HTTP/2 errors are unexported, hence the messages.
func notProcessed(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "http2: client conn not usable") ||
		strings.Contains(msg, "http2: Transport received Server's graceful shutdown GOAWAY")
}

// h2ProtocolError reports whether err is net/http's HTTP/2 client saying
// the server broke the protocol (its error types are unexported).
func h2ProtocolError(err error) bool {
	msg := err.Error()
	for _, s := range [...]string{"PROTOCOL_ERROR", "FRAME_SIZE_ERROR", "COMPRESSION_ERROR", "malformed response", "http2: frame too large"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// clientConn returns the current connection, first replacing it if it can
// no longer take requests.
func (c *h2Conn) clientConn(ctx context.Context) (*h2cc, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	if cur := c.cur; cur != nil {
		if !cur.dead.Load() && cur.cc.Err() == nil &&
			(cur.cc.Available() > 0 || cur.cc.InFlight() > 0) {
			// Available is 0 both at the server's stream limit and after
			// a GOAWAY; with streams in flight RoundTrip tells them apart
			// (it waits, or fails with an error notProcessed knows).
			return cur, nil
		}
		c.cur = nil
		retire(cur.cc, c.p.timeout)
	}
	c.dialed = nil
	cc, err := c.tr.NewClientConn(ctx, c.scheme, c.p.addr)
	if err != nil {
		return nil, &kindError{result.ErrConnect, err}
	}
	c.cur = &h2cc{cc: cc, h2c: c.dialed}
	if c.connected {
		c.reconnects.Add(1)
	}
	c.connected = true
	return c.cur, nil
}

// retire closes a replaced connection once its streams are done, or after
// timeout.
func retire(cc *http.ClientConn, timeout time.Duration) {
	t := time.AfterFunc(timeout, func() { cc.Close() })
	done := func() {
		t.Stop()
		cc.Close()
	}
	cc.SetStateHook(func(cc *http.ClientConn) {
		if cc.InFlight() == 0 || cc.Err() != nil {
			done()
		}
	})
	if cc.InFlight() == 0 {
		done()
	}
}

// dialTCP dials for h2c (called by NewClientConn with c.mu held).
func (c *h2Conn) dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.dialed = &h2cNetConn{Conn: nc}
	return c.dialed, nil
}

// dialTLS dials and does the TLS handshake; the server must choose h2.
func (c *h2Conn) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(nc, c.p.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		tc.Close()
		return nil, errNoH2
	}
	return tc, nil
}
