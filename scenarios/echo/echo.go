// Package echo is meshbench's upstream test server: a fasthttp server that
// answers every request with a configurable body, status and delay, and can
// reflect the request's headers or body back so tests can see what a proxy
// forwarded.
//
// It runs in front of the proxy under test in every benchmark, so it must
// never be the bottleneck: the default path does not allocate (the body is
// built once and sent without copying) and connections are kept alive.
//
// Query parameters override the server's options per request:
//
//	?size=N        body of N bytes (0..MaxSize), the prefix of Body(MaxSize)
//	?delay=D       wait D (a Go duration, e.g. 250ms) before answering
//	?status=N      answer with status N (200..599)
//	?echo=headers  body is the request's headers, one "Name: value\n" line each,
//	               in the order received (names in canonical case)
//	?echo=body     body is the request body (decoded if it was sent chunked)
//	?chunked=1     send the body with Transfer-Encoding: chunked
//
// Every response carries "X-Echo-Name: NAME" so tests can tell backends
// apart. GET /stats answers {"requests": N} and is not itself counted.
// Malformed parameters get a 400 with a one-line reason.
//
// The same port speaks h2c with prior knowledge (the same echo over HTTP/2)
// and gRPC (service meshbench.echo.v1.Echo, echo.proto): see h2.go and
// grpc.go.
package echo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"google.golang.org/grpc"
)

const (
	// DefaultListen is used when Options.Listen is empty.
	DefaultListen = "127.0.0.1:8080"
	// MaxSize bounds ?size, Options.Size and request bodies, so a typo cannot
	// make the server stream gigabytes or buffer an unbounded upload.
	MaxSize = 64 << 20
	// MaxDelay bounds ?delay and Options.Delay; longer waits are a typo,
	// and Close interrupts pending delays anyway.
	MaxDelay = time.Hour
	// NameHeader is the response header that carries Options.Name.
	NameHeader = "X-Echo-Name"

	// prebuiltSize is how much of the body pattern is built up front. Sizes
	// up to this (or up to Options.Size, if larger) are sent from memory
	// without copying; larger ?size values are streamed from the pattern.
	prebuiltSize = 64 << 10
	// chunkSize is how much the chunked writer flushes at a time: each flush
	// typically becomes one chunk on the wire.
	chunkSize = 16 << 10
	// closeGrace is how long Close lets in-flight responses finish before it
	// cuts their connections.
	closeGrace = 2 * time.Second
	// maxHeaderBytes is the per-connection read buffer, which bounds request
	// headers. 16 KiB (fasthttp's default is 4 KiB) leaves room for the
	// tracing and forwarding headers a mesh adds.
	maxHeaderBytes = 16 << 10
)

// Options configures a Server. The zero value is valid: it listens on
// DefaultListen and answers 200 with an empty body.
type Options struct {
	// Listen is the TCP address to listen on; port 0 picks a free port (see
	// Server.Addr). Default DefaultListen.
	Listen string
	// Name is the value of the X-Echo-Name response header. Default: the
	// bound address, which is unique per server and so identifies a backend
	// even when Listen used port 0.
	Name string
	// Delay is waited before every response (for timeout tests); ?delay
	// replaces it per request. 0 means none.
	Delay time.Duration
	// Size is the response body size in bytes; ?size replaces it per request.
	// The default is 0 (empty body) so that the zero Options means exactly
	// what it says; benchmarks choose their size explicitly (the meshbench
	// CLI defaults to 1024).
	Size int
}

// Server is a running echo server.
type Server struct {
	srv   *fasthttp.Server
	ln    net.Listener
	addr  string
	name  []byte
	size  int
	delay time.Duration
	// body is the pattern, at least max(size, prebuiltSize) long; responses
	// send a prefix of it by reference (SetBodyRaw), never a copy.
	body []byte

	requests atomic.Uint64

	quit      chan struct{} // closed by Close: aborts delays and streams
	served    chan struct{} // closed when Serve returns
	closeOnce sync.Once
	closeErr  error

	conns sync.Map // net.Conn -> *atomic.Int32 holding its fasthttp.ConnState

	mux  *mux         // sorts connections into HTTP/1.1 and h2c (h2.go)
	grpc *grpc.Server // the gRPC service on h2c (grpc.go)
}

// Start listens on opts.Listen and serves in the background. It returns once
// the listener is bound, so the server accepts connections as soon as Start
// returns.
func Start(opts Options) (*Server, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.Size < 0 || opts.Size > MaxSize {
		return nil, fmt.Errorf("echo: size %d out of range 0..%d", opts.Size, MaxSize)
	}
	if opts.Delay < 0 || opts.Delay > MaxDelay {
		return nil, fmt.Errorf("echo: delay %v out of range 0..%v", opts.Delay, MaxDelay)
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	s := &Server{
		ln:     ln,
		addr:   ln.Addr().String(),
		size:   opts.Size,
		delay:  opts.Delay,
		body:   sharedBody(),
		quit:   make(chan struct{}),
		served: make(chan struct{}),
	}
	if opts.Size > len(s.body) {
		s.body = Body(opts.Size)
	}
	s.name = []byte(opts.Name)
	if opts.Name == "" {
		s.name = []byte(s.addr)
	}
	s.srv = &fasthttp.Server{
		Handler:                      s.handle,
		NoDefaultServerHeader:        true,
		ReadBufferSize:               maxHeaderBytes,
		MaxRequestBodySize:           MaxSize,
		DisablePreParseMultipartForm: true, // echo=body must see the raw bytes
		CloseOnShutdown:              true, // tell keep-alive clients to reconnect elsewhere
		ConnState:                    s.connState,
		// fasthttp logs client resets and oversized requests; the client
		// already gets the error, and the CLI's stderr stays one line.
		Logger: discardLogger{},
	}
	s.mux = newMux(ln, s.h2Server())
	go func() {
		defer close(s.served)
		s.srv.Serve(s.mux) //nolint:errcheck // Serve returns nil on Shutdown; accept errors end it either way
	}()
	return s, nil
}

// Addr returns the bound address, e.g. "127.0.0.1:41234".
func (s *Server) Addr() string { return s.addr }

// Accepted returns the number of connections accepted so far, any
// protocol: a test of connection reuse or multiplexing counts them.
func (s *Server) Accepted() uint64 { return s.mux.accepted.Load() }

// Requests returns the number of requests answered so far, /stats excluded.
// A request is counted before its response is written, so once a client has
// read a response the count includes it.
func (s *Server) Requests() uint64 { return s.requests.Load() }

// Close stops listening, closes connections that have no request in
// progress, lets in-flight responses finish for a short grace period (pending
// delays are cut short with a 503), then closes whatever is left, and returns
// when every connection is gone. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		// Closing the listener here rather than leaving it to Shutdown also
		// covers a Close that races Start: if Serve has not registered the
		// listener yet, Shutdown would find nothing to close.
		if err := s.mux.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = err
		}
		s.grpc.Stop() // h2c connections were closed with the mux
		// fasthttp's Shutdown closes keep-alive connections between requests
		// but not fresh ones that have yet to send a byte, which load
		// generators open ahead of time; it would wait out the grace period
		// for those.
		s.closeConns(func(st fasthttp.ConnState) bool { return st != fasthttp.StateActive })
		ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
		err := s.srv.ShutdownWithContext(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			// A client that stopped reading a large body would keep its
			// connection forever: cut it off.
			s.closeConns(func(fasthttp.ConnState) bool { return true })
			s.waitConns()
		}
		<-s.served
	})
	return s.closeErr
}

// connState tracks live connections and their state, so Close can close the
// idle ones at once and cut off stragglers. It runs twice per request
// (Active, Idle); those updates are a lock-free sync.Map lookup and an atomic
// store. The map is keyed by the connection fasthttp accepted, unwrapped:
// wrapping it would hide the *net.TCPConn that fasthttp uses for writev.
func (s *Server) connState(c net.Conn, state fasthttp.ConnState) {
	switch state {
	case fasthttp.StateNew:
		st := new(atomic.Int32)
		st.Store(int32(state))
		s.conns.Store(c, st)
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		s.conns.Delete(c)
	default:
		if st, ok := s.conns.Load(c); ok {
			st.(*atomic.Int32).Store(int32(state))
		}
	}
}

// closeConns closes the tracked connections whose state matches.
func (s *Server) closeConns(match func(fasthttp.ConnState) bool) {
	s.conns.Range(func(c, st any) bool {
		if match(fasthttp.ConnState(st.(*atomic.Int32).Load())) {
			c.(net.Conn).Close()
		}
		return true
	})
}

// waitConns waits until fasthttp has finished with every connection.
func (s *Server) waitConns() {
	for {
		empty := true
		s.conns.Range(func(any, any) bool { empty = false; return false })
		if empty {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// Pattern of every body: a 64-byte printable line, repeated, so bodies are
// readable with curl and any prefix is easy to verify.
const line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-\n"

// Body returns the body the server sends for size n: the first n bytes of
// line repeated. Tests compare proxied bodies against it byte for byte.
func Body(n int) []byte {
	b := make([]byte, n)
	// Doubling copies: log2(n/64) calls instead of n/64.
	for filled := copy(b, line); filled < n; {
		filled += copy(b[filled:], b[:filled])
	}
	return b
}

// sharedBody is the prebuilt pattern shared by all servers in the process
// (tests start many); it is never written after construction.
var sharedBody = sync.OnceValue(func() []byte { return Body(prebuiltSize) })

var (
	nameHeader      = []byte(NameHeader)
	contentTypeJSON = []byte("application/json")
	statusClosing   = "echo server closing"
)

// handle serves one request. The default path (no query, or only size and
// status) makes no allocation: parameters are parsed in place, the
// body is a slice of the prebuilt pattern, and fasthttp reuses its buffers.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	if string(ctx.Path()) == "/stats" {
		s.serveStats(ctx)
		return
	}
	if err := s.serveEcho(ctx); err != nil {
		ctx.Error(err.Error(), err.status) // resets headers, so before the rest
		if s.closing() {
			ctx.SetConnectionClose()
		}
	}
	ctx.Response.Header.SetBytesKV(nameHeader, s.name)
	s.requests.Add(1)
}

// requestError is a response status with its reason.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(param string, value []byte, want string) *requestError {
	return &requestError{fasthttp.StatusBadRequest, fmt.Sprintf("bad %s=%q: want %s\n", param, value, want)}
}

// params are a request's query parameters (see the package comment), with
// the server's options where the query says nothing.
type params struct {
	size    int
	delay   time.Duration
	status  int
	echo    string // "", "headers" or "body"
	chunked bool
}

// peeker is a query: *fasthttp.Args on HTTP/1.1 (no allocation), a
// urlQuery on HTTP/2.
type peeker interface{ Peek(key string) []byte }

// urlQuery adapts url.Values to peeker.
type urlQuery url.Values

func (q urlQuery) Peek(key string) []byte {
	if v, ok := q[key]; ok && len(v) > 0 {
		return []byte(v[0])
	}
	return nil
}

// parseParams reads the query parameters; one definition for HTTP/1.1 and
// HTTP/2. q is nil when the request has no query.
func (s *Server) parseParams(q peeker) (params, *requestError) {
	p := params{size: s.size, delay: s.delay, status: fasthttp.StatusOK}
	if q == nil {
		return p, nil
	}
	if v := q.Peek("size"); v != nil {
		n, err := fasthttp.ParseUint(v)
		if err != nil || n > MaxSize {
			return p, badRequest("size", v, fmt.Sprintf("bytes in 0..%d", MaxSize))
		}
		p.size = n
	}
	if v := q.Peek("delay"); v != nil {
		d, err := time.ParseDuration(string(v))
		if err != nil || d < 0 || d > MaxDelay {
			return p, badRequest("delay", v, fmt.Sprintf("a Go duration in 0..%v, e.g. 250ms", MaxDelay))
		}
		p.delay = d
	}
	if v := q.Peek("status"); v != nil {
		n, err := fasthttp.ParseUint(v)
		if err != nil || n < 200 || n > 599 {
			return p, badRequest("status", v, "a status code in 200..599")
		}
		p.status = n
	}
	if v := q.Peek("echo"); v != nil {
		switch string(v) {
		case "headers", "body":
			p.echo = string(v)
		default:
			return p, badRequest("echo", v, "headers or body")
		}
	}
	if v := q.Peek("chunked"); v != nil {
		switch string(v) {
		case "1", "true":
			p.chunked = true
		case "0", "false":
		default:
			return p, badRequest("chunked", v, "1 or 0")
		}
	}
	return p, nil
}

// wait sleeps for d, cut short (with a 503) when the server closes.
func (s *Server) wait(d time.Duration) *requestError {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
		return nil
	case <-s.quit:
		t.Stop()
		return &requestError{fasthttp.StatusServiceUnavailable, statusClosing}
	}
}

func (s *Server) serveEcho(ctx *fasthttp.RequestCtx) *requestError {
	var q peeker
	if args := ctx.QueryArgs(); args.Len() > 0 {
		q = args
	}
	p, rerr := s.parseParams(q)
	if rerr != nil {
		return rerr
	}
	if rerr := s.wait(p.delay); rerr != nil {
		return rerr
	}
	size, status, echo, chunked := p.size, p.status, p.echo, p.chunked

	ctx.SetStatusCode(status)
	resp := &ctx.Response
	switch {
	case echo == "headers":
		for k, v := range ctx.Request.Header.AllInOrder() {
			resp.AppendBody(k)
			resp.AppendBodyString(": ")
			resp.AppendBody(v)
			resp.AppendBodyString("\n")
		}
		if chunked {
			s.streamBytes(ctx, resp.Body())
		}
	case echo == "body":
		if chunked {
			s.streamBytes(ctx, ctx.Request.Body())
		} else {
			resp.SetBody(ctx.Request.Body())
		}
	case chunked:
		s.streamPattern(ctx, size)
	case size <= len(s.body):
		resp.SetBodyRaw(s.body[:size])
	default:
		resp.SetBodyStream(&patternReader{body: s.body, left: size}, size)
	}
	return nil
}

// streamBytes sends a copy of b chunked. The copy is needed because the
// stream writer runs after the handler returns, when fasthttp may already
// have reused the buffers b points into.
func (s *Server) streamBytes(ctx *fasthttp.RequestCtx, b []byte) {
	b = append([]byte(nil), b...)
	ctx.Response.ResetBody()
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		for len(b) > 0 {
			n := min(len(b), chunkSize)
			if _, err := w.Write(b[:n]); err != nil || s.closing() {
				return
			}
			if err := w.Flush(); err != nil {
				return
			}
			b = b[n:]
		}
	})
}

// streamPattern sends size bytes of the pattern chunked.
func (s *Server) streamPattern(ctx *fasthttp.RequestCtx, size int) {
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		r := patternReader{body: s.body, left: size}
		for r.left > 0 {
			if _, err := w.Write(r.next(chunkSize)); err != nil || s.closing() {
				return
			}
			if err := w.Flush(); err != nil {
				return
			}
		}
	})
}

func (s *Server) closing() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// patternReader yields the body pattern for sizes beyond the prebuilt body,
// so a 64 MiB response costs no 64 MiB buffer. It reads from the prebuilt
// body (at least prebuiltSize long), which continues the pattern from any
// offset modulo len(line).
type patternReader struct {
	body      []byte
	off, left int
}

// next returns the next piece of the pattern, at most max bytes.
func (r *patternReader) next(max int) []byte {
	start := r.off % len(line)
	n := min(max, r.left, len(r.body)-start)
	r.off += n
	r.left -= n
	return r.body[start : start+n]
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	return copy(p, r.next(len(p))), nil
}

// WriteTo lets fasthttp write straight from the prebuilt body, skipping the
// copy into an intermediate buffer that Read needs.
func (r *patternReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.left > 0 {
		n, err := w.Write(r.next(r.left))
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// serveStats answers {"requests": N} without counting itself, so a harness
// can poll it while measuring.
func (s *Server) serveStats(ctx *fasthttp.RequestCtx) {
	var num [20]byte
	ctx.SetContentTypeBytes(contentTypeJSON)
	ctx.Response.AppendBodyString(`{"requests": `)
	ctx.Response.AppendBody(strconv.AppendUint(num[:0], s.requests.Load(), 10))
	ctx.Response.AppendBodyString("}\n")
	ctx.Response.Header.SetBytesKV(nameHeader, s.name)
}
