// Package engine is meshproxy's data plane: gnet event loops that accept
// client connections, parse HTTP/1.1 heads, route them with a compiled
// route.Table, and forward them over keep-alive upstream connections that
// live on the same loop as the client connection.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/meshbench/meshbench/proxy/internal/authz"
	"github.com/meshbench/meshbench/proxy/internal/http2"
	"github.com/meshbench/meshbench/proxy/internal/identity"
	"github.com/meshbench/meshbench/proxy/internal/metrics"
	"github.com/meshbench/meshbench/proxy/internal/route"
)

// Options configure the engine. Zero durations disable the timeout they name.
type Options struct {
	OutboundAddr string // listener for the app's outgoing requests; "" = none
	InboundAddr  string // listener for requests to the app; "" = none
	EventLoops   int    // 0 = one per core

	MaxHeaderBytes   int // request and response head limit (431 / 502 beyond it)
	MaxBufferedBytes int // bytes buffered per connection direction: reads pause at a quarter (flow.go), a disconnect beyond it
	MaxConnections   int // client connections beyond this are closed on accept; 0 = no limit

	HeaderReadTimeout   time.Duration // a started request head must complete within this
	IdleTimeout         time.Duration // keep-alive client connections with no request, and stalled exchanges
	UpstreamIdleTimeout time.Duration // pooled upstream connections
	ConnectTimeout      time.Duration
	RequestTimeout      time.Duration // default when no HTTPRoute timeout applies
	Tick                time.Duration // timeout sweep period (timeout resolution)
	HandshakeTimeout    time.Duration // TLS handshakes, both directions

	// Identity, when set, makes every mesh hop mutual TLS: the inbound
	// listener terminates it and outbound endpoint connections originate it.
	Identity *identity.Source
	// Authz decides which verified peers may call the app (nil: any).
	Authz *authz.Policy

	// MeshHTTP2 offers h2 by ALPN on mesh hops (mTLS to other proxies):
	// requests to an endpoint then share one multiplexed connection per
	// event loop when the peer agrees (meshhop.go).
	MeshHTTP2 bool

	// HeadersWithUnderscores is what a request header field whose name
	// contains '_' gets, on both listeners (spec.http.headersWithUnderscores).
	// The zero value drops such fields.
	HeadersWithUnderscores UnderscoreAction

	Logger *slog.Logger
}

// UnderscoreAction is the policy for request header names containing '_'.
// A CGI-style app server (PHP, WSGI, Rack, ...) reads "X_Forwarded_Client_Cert"
// and "X-Forwarded-Client-Cert" as the same variable, so a field the proxy
// strips or rewrites could be smuggled past it with '_' in place of '-'.
type UnderscoreAction uint8

const (
	UnderscoreDrop   UnderscoreAction = iota // forward the request without such fields (nginx's and the default)
	UnderscoreReject                         // answer 400 underscore_header_name, send nothing upstream
	UnderscoreAllow                          // forward them unchanged
)

func (o *Options) setDefaults() {
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	if o.MaxBufferedBytes <= 0 {
		o.MaxBufferedBytes = 4 << 20
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 2 * time.Second
	}
	if o.UpstreamIdleTimeout <= 0 {
		o.UpstreamIdleTimeout = 30 * time.Second
	}
	if o.Tick <= 0 {
		o.Tick = 50 * time.Millisecond
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Proxy is a running data plane. Its route table can be swapped at any time
// (SetTable); requests already routed finish on the table they started with.
type Proxy struct {
	opts Options
	reg  *metrics.Registry
	log  *slog.Logger

	table atomic.Pointer[route.Table]

	loopsMu sync.Mutex
	loops   map[gnet.EventLoop]*loop
	seed    uint64

	outAddr, inAddr *net.TCPAddr

	engMu   sync.Mutex
	eng     gnet.Engine
	booted  chan struct{}
	stopped chan struct{}
	ready   atomic.Bool

	draining  atomic.Bool
	drainOnce sync.Once
	drained   chan struct{}

	// The timeout sweep's clock (sweepclock.go).
	sweepParked atomic.Bool
	sweepSlow   atomic.Bool
	sweepWake   chan struct{} // capacity 1
	sweepDone   chan bool     // each loop's sweep: anything pending?
	sweepRounds atomic.Uint64 // ticks run, for tests of the parking

	// pre-resolved metrics
	activeOut, activeIn    *metrics.Gauge
	upstreamConns          *metrics.Gauge
	bufferOverflow         *metrics.Counter
	timeouts               *metrics.Counter
	idleTimeouts           *metrics.Counter
	webSocketUpgrades      *metrics.Counter
	h2Conns                *metrics.Counter
	h2ResetsByClient       *metrics.Counter
	cut                    cutCounters
	rejectedConns          *metrics.Counter
	upstreamProtocolErrors *metrics.Counter
	underscoreDropped      *metrics.Counter
	underscoreRejected     *metrics.Counter
	handshakes             [4]*metrics.Counter // [inbound*2 + resumed]
	flow                   flowControl

	// tableMu orders SetTable's swap-and-prune against the registration
	// of request series on a loop's cache miss (series.go). The hot path
	// (a cache hit) never takes it.
	tableMu sync.RWMutex
	// connectErrMu guards connectErr (the per-endpoint counters, by
	// address) and liveAddrs (the current table's endpoint addresses).
	connectErrMu sync.Mutex
	connectErr   map[string]*metrics.Counter
	liveAddrs    map[string]struct{}
}

// New prepares a proxy; Run starts it.
func New(opts Options, table *route.Table, reg *metrics.Registry) (*Proxy, error) {
	opts.setDefaults()
	if opts.OutboundAddr == "" && opts.InboundAddr == "" {
		return nil, errors.New("engine: no listener configured (need an outbound or inbound address)")
	}
	if table == nil {
		return nil, errors.New("engine: nil route table")
	}
	p := &Proxy{
		opts:       opts,
		reg:        reg,
		log:        opts.Logger,
		loops:      make(map[gnet.EventLoop]*loop),
		seed:       uint64(time.Now().UnixNano()),
		booted:     make(chan struct{}),
		stopped:    make(chan struct{}),
		drained:    make(chan struct{}),
		sweepWake:  make(chan struct{}, 1),
		sweepDone:  make(chan bool, maxLoops),
		connectErr: make(map[string]*metrics.Counter),
	}
	var err error
	if opts.OutboundAddr != "" {
		if p.outAddr, err = net.ResolveTCPAddr("tcp", opts.OutboundAddr); err != nil {
			return nil, fmt.Errorf("engine: outbound address %q: %w", opts.OutboundAddr, err)
		}
	}
	if opts.InboundAddr != "" {
		if p.inAddr, err = net.ResolveTCPAddr("tcp", opts.InboundAddr); err != nil {
			return nil, fmt.Errorf("engine: inbound address %q: %w", opts.InboundAddr, err)
		}
	}
	p.table.Store(table)
	p.liveAddrs = endpointAddrs(table)
	const activeHelp = "Open client connections by listener."
	p.activeOut = reg.Gauge("meshproxy_active_connections", activeHelp, "direction", "outbound")
	p.activeIn = reg.Gauge("meshproxy_active_connections", activeHelp, "direction", "inbound")
	p.upstreamConns = reg.Gauge("meshproxy_upstream_connections", "Open or opening connections to endpoints.")
	p.bufferOverflow = reg.Counter("meshproxy_buffer_overflow_total",
		"Connections closed because a peer made the proxy buffer more than limits.maxBufferedBytes.")
	p.flow.init(&p.opts, reg)
	p.rejectedConns = reg.Counter("meshproxy_rejected_connections_total",
		"Client connections closed on accept because limits.maxConnections was reached.")
	for i := range p.handshakes {
		p.handshakes[i] = reg.Counter("meshproxy_tls_handshakes_total", "Completed mTLS handshakes.",
			"direction", direction(i >= 2), "resumed", strconv.FormatBool(i%2 == 1))
	}
	p.timeouts = reg.Counter("meshproxy_request_timeouts_total", "Requests that hit their request timeout.")
	p.webSocketUpgrades = reg.Counter("meshproxy_websocket_upgrades_total", "WebSocket handshakes the upstream accepted (101): the exchange became a tunnel.")
	p.h2Conns = reg.Counter("meshproxy_http2_connections_total", "Client connections that spoke HTTP/2 (h2c prior knowledge, or h2 by ALPN on the mTLS inbound listener).")
	p.h2ResetsByClient = reg.Counter("meshproxy_http2_client_resets_total", "HTTP/2 request streams the client reset (RST_STREAM) before their response completed.")
	p.idleTimeouts = reg.Counter("meshproxy_exchange_idle_timeouts_total", "Exchanges ended because no byte moved either way for timeouts.idle (answered 504 when the upstream stalled, 408 when the client stalled its body, cut when the response had started).")
	p.cut.init(reg)
	p.upstreamProtocolErrors = reg.Counter("meshproxy_upstream_protocol_errors_total",
		"Upstream responses that were malformed or cut short.")
	const underscoreHelp = "Requests with a header field name containing '_', by the action http.headersWithUnderscores took."
	p.underscoreDropped = reg.Counter("meshproxy_headers_with_underscores_total", underscoreHelp, "action", "drop")
	p.underscoreRejected = reg.Counter("meshproxy_headers_with_underscores_total", underscoreHelp, "action", "reject")
	return p, nil
}

// SetTable swaps the route table atomically, then removes the metric
// series that only earlier tables could produce (routes, backends and
// endpoints t no longer has; see series.go). Requests already routed finish
// on their table and may count into removed series, which are no longer
// exported.
func (p *Proxy) SetTable(t *route.Table) {
	p.tableMu.Lock()
	defer p.tableMu.Unlock()
	p.table.Store(t)
	p.setLiveAddrs(t)
	p.pruneSeries(t)
	// One sweep even on an idle proxy, so the loops drop their cached
	// series of the old table (loop.sweep) instead of keeping them until
	// the next request.
	select {
	case p.sweepWake <- struct{}{}:
	default:
	}
}

// Table returns the current route table.
func (p *Proxy) Table() *route.Table { return p.table.Load() }

// Ready reports whether the listeners accept and the proxy is not draining.
func (p *Proxy) Ready() bool { return p.ready.Load() && !p.draining.Load() }

// Booted is closed once the listeners accept connections.
func (p *Proxy) Booted() <-chan struct{} { return p.booted }

// Run listens and serves until Stop or Shutdown; it blocks.
func (p *Proxy) Run() error {
	var addrs []string
	if p.outAddr != nil {
		addrs = append(addrs, "tcp://"+p.opts.OutboundAddr)
	}
	if p.inAddr != nil {
		addrs = append(addrs, "tcp://"+p.opts.InboundAddr)
	}
	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReuseAddr(true),
		gnet.WithLogger(gnetLogger{p.log}),
	}
	if p.opts.EventLoops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(p.opts.EventLoops))
	}
	defer close(p.stopped)
	err := gnet.Rotate(&handler{p: p}, addrs, opts...)
	p.ready.Store(false)
	return err
}

// Shutdown drains: connections accepted from now on are closed unread,
// responses carry "Connection: close", idle connections are closed, and the
// engine stops when no client connection is left or ctx ends, whichever
// comes first. It returns after the engine has stopped.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.draining.Store(true)
	p.wakeSweeps()
	select {
	case <-p.booted:
	case <-p.stopped:
		return nil
	}
	p.maybeFinishDrain()
	var err error
	select {
	case <-p.drained:
	case <-ctx.Done():
		err = fmt.Errorf("drain timed out with %d client connections open", p.activeOut.Value()+p.activeIn.Value())
	}
	p.stop()
	return err
}

// Stop stops the engine at once, closing every connection.
func (p *Proxy) Stop() { p.stop() }

func (p *Proxy) stop() {
	select {
	case <-p.booted:
	case <-p.stopped:
		return
	}
	p.engMu.Lock()
	eng := p.eng
	p.engMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = eng.Stop(ctx)
	<-p.stopped
}

func (p *Proxy) maybeFinishDrain() {
	if p.activeOut.Value()+p.activeIn.Value() == 0 {
		p.drainOnce.Do(func() { close(p.drained) })
	}
}

func (p *Proxy) activeConns(inbound bool) *metrics.Gauge {
	if inbound {
		return p.activeIn
	}
	return p.activeOut
}

// loopOf returns the state of c's event loop, creating it on first use.
func (p *Proxy) loopOf(c gnet.Conn) *loop {
	el := c.EventLoop()
	p.loopsMu.Lock()
	defer p.loopsMu.Unlock()
	l := p.loops[el]
	if l == nil {
		p.seed += 0x9e3779b97f4a7c15
		l = newLoop(p, el, p.seed)
		p.loops[el] = l
	}
	return l
}

// handler receives gnet's events and hands them to the connection objects.
type handler struct {
	gnet.BuiltinEventEngine
	p *Proxy
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	h.p.engMu.Lock()
	h.p.eng = eng
	h.p.engMu.Unlock()
	h.p.ready.Store(true)
	close(h.p.booted)
	go h.p.runSweepClock(h.p.stopped)
	return gnet.None
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	p := h.p
	if u, ok := c.Context().(*upConn); ok {
		return nil, u.onOpen(c)
	}
	if p.draining.Load() {
		return nil, gnet.Close
	}
	if m := p.opts.MaxConnections; m > 0 && p.activeOut.Value()+p.activeIn.Value() >= int64(m) {
		p.rejectedConns.Inc()
		return nil, gnet.Close
	}
	l := p.loopOf(c)
	d := &downConn{l: l, io: stream{c: c}, inbound: p.isInbound(c.LocalAddr())}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if ap, ok := netip.AddrFromSlice(ta.IP); ok {
			d.clientIP = ap.Unmap().AppendTo(nil)
		}
	}
	if !d.inbound {
		// Once per connection: one getsockopt, never per request.
		d.origDst, _ = originalDst(c)
	}
	d.lastActive = monotime()
	d.ex = exchange{l: l, down: d, inbound: d.inbound, reqDone: true}
	l.downs.push(d)
	p.activeConns(d.inbound).Add(1)
	p.wakeSweeps()
	c.SetContext(d)
	if d.inbound && p.opts.Identity != nil {
		d.startTLS()
	}
	return nil, gnet.None
}

// isInbound tells which listener accepted a connection by its local address.
func (p *Proxy) isInbound(a net.Addr) bool {
	if p.inAddr == nil {
		return false
	}
	if p.outAddr == nil {
		return true
	}
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	if ta.Port != p.inAddr.Port {
		return false
	}
	return ta.Port != p.outAddr.Port || ta.IP.Equal(p.inAddr.IP)
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *downConn:
		x.l.reads++
		h.p.wakeSweeps()
		if t := x.io.tls; t != nil && t.handshaking {
			x.feedHandshake(t)
			break
		}
		x.onTraffic()
	case *upConn:
		if t := x.io.tls; t != nil && t.handshaking {
			if !t.feedHandshake(c) {
				x.closeConn()
			}
			break
		}
		x.onTraffic()
	default:
		// A connection the proxy already gave up on: drop late bytes.
		_, _ = c.Discard(-1)
	}
	return gnet.None
}

func (h *handler) OnClose(c gnet.Conn, _ error) gnet.Action {
	switch x := c.Context().(type) {
	case *downConn:
		x.onClosed()
	case *upConn:
		if t := x.io.tls; t != nil && t.handshaking && !x.closed {
			// A server that refuses us closes right after its alert, which
			// can overtake the handshake's result: let the result decide
			// (503 upstream_tls_failed, counted by reason).
			x.gone = true
			_ = t.br.Close()
			break
		}
		x.onPeerClosed()
	}
	c.SetContext(nil)
	return gnet.None
}

// tlsHandshakes counts completed handshakes; the four children are
// resolved once.
func (p *Proxy) tlsHandshakes(inbound, resumed bool) *metrics.Counter {
	i := 0
	if inbound {
		i = 2
	}
	if resumed {
		i++
	}
	return p.handshakes[i]
}

// tlsFailure counts a failed handshake by reason (failure path: the lookup
// may allocate).
func (p *Proxy) tlsFailure(inbound bool, reason string) *metrics.Counter {
	return p.reg.Counter("meshproxy_tls_handshake_failures_total",
		"Failed mTLS handshakes by direction and reason.", "direction", direction(inbound), "reason", reason)
}

// h2UpstreamViolation counts a protocol violation by an HTTP/2 endpoint.
func (p *Proxy) h2UpstreamViolation(v http2.Violation) *metrics.Counter {
	return p.reg.Counter("meshproxy_http2_upstream_violations_total",
		"HTTP/2 protocol violations by endpoints, by kind.", "kind", v.String())
}

// statusLabel renders a status code for a metric label.
func statusLabel(code int) string { return strconv.Itoa(code) }

// gnetLogger routes gnet's logs into slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }

// cutCounters count responses cut after their head reached the client, by
// cause (meshproxy_responses_truncated_total{cause}).
type cutCounters struct {
	upstreamClosed *metrics.Counter // the upstream closed before the body's end
	badBody        *metrics.Counter // the upstream's body framing broke (bad chunk)
	upstreamError  *metrics.Counter // another upstream failure after the head
	timeout        *metrics.Counter // the request timeout fired mid-response
	idleTimeout    *metrics.Counter // nothing moved for timeouts.idle mid-response
}

func (c *cutCounters) init(reg *metrics.Registry) {
	const help = "Responses cut after their head reached the client (recorded with code 0 in meshproxy_requests_total), by cause."
	c.upstreamClosed = reg.Counter("meshproxy_responses_truncated_total", help, "cause", "upstream_closed")
	c.badBody = reg.Counter("meshproxy_responses_truncated_total", help, "cause", "bad_body")
	c.upstreamError = reg.Counter("meshproxy_responses_truncated_total", help, "cause", "upstream_error")
	c.timeout = reg.Counter("meshproxy_responses_truncated_total", help, "cause", "timeout")
	c.idleTimeout = reg.Counter("meshproxy_responses_truncated_total", help, "cause", "idle_timeout")
}
