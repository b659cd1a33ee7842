// Package client is meshload's HTTP client. A Conn is one client connection
// that the open-loop scheduler drives from its own goroutine.
//
// HTTP/1.1 is a hand-written keep-alive client: the request bytes are built
// once in New, every Do is one Write and as many Reads as the response needs
// into a fixed 64 KiB per-Conn buffer, parsed by a small strict response
// parser, and nothing is allocated per request (plain TCP).
//
// HTTP/2 uses net/http's HTTP/2 client (the bundled golang.org/x/net/http2)
// through Transport.NewClientConn, over exactly one TCP connection per Conn
// (h2 over TLS with ALPN for https, h2c with prior knowledge for http). Up to
// Options.Streams goroutines may call Do on an HTTP/2 Conn concurrently.
//
// Errors from Do, by Kind:
//   - ErrConnect: the dial or TLS handshake failed (refused, unreachable,
//     certificate, no ALPN h2, or it ran out of Timeout), or a new connection
//     broke before delivering any byte of its first response (a server that
//     accepts and closes; a TLS 1.3 server that rejects the client
//     certificate, which the client learns only after its handshake).
//   - ErrTimeout: no complete response within Timeout of Do's start.
//   - ErrReset: the connection (or HTTP/2 stream) broke mid-response, or
//     before any response byte on a connection that had carried responses.
//     A request is never retried on HTTP/1.1: it may have reached the server.
//   - ErrProtocol: the response is not valid HTTP/1.x (or HTTP/2).
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// DefaultTimeout is the per-request timeout when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// userAgent is sent unless Options.Headers has a User-Agent.
const userAgent = "meshload"

// Options configure a Conn.
type Options struct {
	URL     *url.URL    // http:// or https://
	Method  string      // default GET
	Headers http.Header // -H values; a Host header overrides the URL's host in the request
	Body    []byte      // request body (sent with Content-Length), may be nil
	HTTP2   bool        // h2 (TLS+ALPN for https, h2c prior knowledge for http)
	// GRPC makes unary gRPC calls of GRPCMethod ("/pkg.Service/Method")
	// with Body as the raw request message (grpc.go); Do then returns the
	// gRPC status code. Method is unused.
	GRPC       bool
	GRPCMethod string
	Streams    int // HTTP/2: max concurrent streams per connection (default 1); unused for HTTP/1.1
	// Timeout bounds each Do (default 10s), including a connect (TCP and
	// TLS handshake) that Do makes first.
	Timeout time.Duration
	TLS     *tls.Config // for https (the caller builds it from -cacert/-cert/-key/-insecure); nil → default
}

// Conn is one client connection that the scheduler drives.
//
// HTTP/1.1: exactly one goroutine calls Do at a time. HTTP/2: up to
// Options.Streams goroutines may call Do at the same time (more wait for a
// free stream, which counts against their Timeout). For both, Reconnects and
// Close may be called from any goroutine; Close makes an in-flight Do fail.
type Conn interface {
	// Do sends one request and waits for the complete response (body read
	// and discarded). It returns the status code, or an error whose Kind(err)
	// is one of the result.Err* kinds. After an error the Conn reconnects by
	// itself on the next Do. HTTP/1.1 Do does not allocate in steady state.
	Do() (status int, err error)
	// Reconnects is how many connections were opened after the first one
	// (after an error, a "Connection: close", a close-delimited body, or,
	// for HTTP/2, a connection that could no longer take requests). Failed
	// connect attempts are not counted here; they are ErrConnect errors.
	Reconnects() uint64
	// Close closes the connection; later calls to Do fail with ErrConnect.
	Close() error
}

// New validates the options and returns a Conn; it dials lazily, on the
// first Do.
func New(o Options) (Conn, error) {
	p, err := prepare(o)
	if err != nil {
		return nil, err
	}
	switch {
	case o.GRPC:
		return newGRPC(p, o.GRPCMethod)
	case o.HTTP2:
		return newH2(p), nil
	}
	return newH1(p), nil
}

// Kind maps an error from Do to result.ErrConnect, ErrTimeout, ErrReset or
// ErrProtocol. It returns "" for a nil error. Errors that did not come from
// Do are classified by their type (timeouts, resets, HTTP/2 protocol
// errors); anything else counts as ErrReset.
func Kind(err error) string {
	if err == nil {
		return ""
	}
	return classify(err)
}

// kindError is every error Do returns: the cause plus its result.Err* kind.
type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

func protoErr(msg string) *kindError {
	return &kindError{result.ErrProtocol, errors.New(msg)}
}

// errClosed is what Do returns after Close.
var errClosed = &kindError{result.ErrConnect, fmt.Errorf("meshload client: Conn closed: %w", net.ErrClosed)}

// classify maps an I/O error to an error kind.
func classify(err error) string {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return result.ErrTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return result.ErrTimeout
	}
	if h2ProtocolError(err) {
		return result.ErrProtocol
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return result.ErrProtocol
	}
	// io.EOF, io.ErrUnexpectedEOF, ECONNRESET, EPIPE, ECONNABORTED,
	// net.ErrClosed, an HTTP/2 RST_STREAM or GOAWAY, a canceled context:
	// the connection (or stream) broke.
	return result.ErrReset
}

// ioErr wraps an error of the request/response exchange with its kind.
//
// fresh says the connection never delivered anything: it has not carried a
// response and no byte of this one arrived. A connection that breaks then
// (EOF, ECONNRESET, EPIPE, a TLS alert) was accepted but never usable: a
// server that accepts and closes at its connection limit, or a TLS 1.3
// server rejecting the client certificate, which the client learns only
// after its side of the handshake is done. That counts as ErrConnect; the
// same break on a connection that has carried responses is ErrReset.
func ioErr(err error, fresh bool) *kindError {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke
	}
	kind := classify(err)
	if fresh && kind == result.ErrReset {
		kind = result.ErrConnect
	}
	return &kindError{kind, err}
}

// prepared is Options validated and normalized, shared by both protocols.
type prepared struct {
	url       *url.URL    // a copy of Options.URL
	https     bool        //
	addr      string      // host:port to dial
	method    string      //
	host      string      // Host header / :authority
	userAgent string      //
	header    http.Header // Options.Headers minus Host, with User-Agent (for HTTP/2)
	keys      []string    // header's keys, sorted (for HTTP/1.1)
	body      []byte      // a copy of Options.Body
	timeout   time.Duration
	streams   int
	tls       *tls.Config // https only: a clone with ServerName set
}

func prepare(o Options) (*prepared, error) {
	if o.URL == nil {
		return nil, errors.New("meshload client: no URL")
	}
	u := *o.URL
	p := &prepared{url: &u, timeout: o.Timeout, streams: o.Streams}
	switch strings.ToLower(u.Scheme) {
	case "http":
		u.Scheme = "http"
	case "https":
		u.Scheme = "https"
		p.https = true
	default:
		return nil, fmt.Errorf("meshload client: URL %q: scheme must be http or https", o.URL.String())
	}
	hostname := u.Hostname()
	if hostname == "" {
		return nil, fmt.Errorf("meshload client: URL %q has no host", o.URL.String())
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if p.https {
			port = "443"
		}
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("meshload client: URL %q: bad port", o.URL.String())
	}
	p.addr = net.JoinHostPort(hostname, port)
	p.host = u.Host
	u.User = nil
	u.Fragment, u.RawFragment = "", ""

	p.method = o.Method
	if p.method == "" {
		p.method = http.MethodGet
	}
	if !isToken(p.method) {
		return nil, fmt.Errorf("meshload client: bad method %q", p.method)
	}
	if p.timeout < 0 {
		return nil, fmt.Errorf("meshload client: negative timeout %v", p.timeout)
	}
	if p.timeout == 0 {
		p.timeout = DefaultTimeout
	}
	if p.streams < 0 {
		return nil, fmt.Errorf("meshload client: negative stream count %d", p.streams)
	}
	if p.streams == 0 {
		p.streams = 1
	}

	p.userAgent = userAgent
	p.header = make(http.Header, len(o.Headers)+1)
	for k, vv := range o.Headers {
		if !isToken(k) {
			return nil, fmt.Errorf("meshload client: bad header name %q", k)
		}
		for _, v := range vv {
			if !validHeaderValue(v) {
				return nil, fmt.Errorf("meshload client: header %s: bad value %q", k, v)
			}
		}
		if len(vv) == 0 {
			continue
		}
		switch strings.ToLower(k) {
		case "host":
			if vv[0] == "" {
				return nil, errors.New("meshload client: empty Host header")
			}
			p.host = vv[0]
			continue
		case "content-length", "transfer-encoding":
			return nil, fmt.Errorf("meshload client: header %s is set by meshload from the body", k)
		case "user-agent":
			p.userAgent = vv[0]
			continue
		case "connection", "keep-alive", "proxy-connection", "upgrade":
			if o.HTTP2 {
				continue // connection-specific: not allowed in HTTP/2, dropped
			}
		case "te":
			if o.HTTP2 && (len(vv) > 1 || !strings.EqualFold(vv[0], "trailers")) {
				return nil, errors.New(`meshload client: HTTP/2 allows only "TE: trailers"`)
			}
		}
		p.header[k] = slices.Clone(vv)
		p.keys = append(p.keys, k)
	}
	slices.Sort(p.keys)
	p.header.Set("User-Agent", p.userAgent)
	if o.Body != nil {
		p.body = slices.Clone(o.Body)
	}

	if p.https {
		if o.TLS != nil {
			p.tls = o.TLS.Clone()
		} else {
			p.tls = &tls.Config{}
		}
		if p.tls.ServerName == "" {
			p.tls.ServerName = hostname
		}
		if o.HTTP2 {
			p.tls.NextProtos = []string{"h2"}
		} else {
			p.tls.NextProtos = []string{"http/1.1"}
		}
	}
	return p, nil
}

// sendContentLength is whether an HTTP/1.1 request carries Content-Length:
// always with a body, and with an empty one for methods that expect content.
func (p *prepared) sendContentLength() bool {
	switch p.method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return true
	}
	return len(p.body) > 0
}

// requestBytes is the complete HTTP/1.1 request, built once.
func (p *prepared) requestBytes() []byte {
	var b strings.Builder
	b.WriteString(p.method)
	b.WriteByte(' ')
	b.WriteString(p.url.RequestURI())
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(p.host)
	b.WriteString("\r\nUser-Agent: ")
	b.WriteString(p.userAgent)
	b.WriteString("\r\n")
	for _, k := range p.keys {
		for _, v := range p.header[k] {
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\r\n")
		}
	}
	if p.sendContentLength() {
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.Itoa(len(p.body)))
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(p.body)
	return []byte(b.String())
}

// tchar per RFC 9110 §5.6.2.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}
