package engine

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/config"
	"github.com/meshbench/meshbench/proxy/internal/http1"
	"github.com/meshbench/meshbench/proxy/internal/metrics"
	"github.com/meshbench/meshbench/proxy/internal/route"
)

// The zero-allocation tests and benchmarks below drive the engine's real
// request path: a real Proxy (gnet loop, downConn, dispatch, pooled upConn)
// between a client and upstreams on loopback sockets. Nothing here
// re-implements a step of the engine, so a per-request allocation anywhere
// on that path (parse, route, split, balance, head rewrite, upstream write,
// response parse and rewrite, metrics) shows up in the count.

// hotPathConfig has a realistic route set: a 90/10 split, header and path
// matches, and a regular expression, so matching walks several rules. The
// outbound and inbound listeners, the app and the endpoint ports are filled
// in per test (see hotPathDoc).
const hotPathConfig = `apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: bench}
spec:
  outbound: {address: %q}
  inbound: {address: %q, app: %q}
---
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: reviews-v1}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: reviews-v2}
spec: {ports: [{name: http, port: 80}]}
%s---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews}]
  rules:
    - matches: [{path: {type: Exact, value: /healthz}}]
      backendRefs: [{name: reviews-v1, port: 80}]
    - matches: [{path: {type: RegularExpression, value: "/api/v[0-9]+/admin"}}]
      backendRefs: [{name: reviews-v2, port: 80}]
    - matches:
        - headers: [{name: x-canary, value: "true"}]
          queryParams: [{name: debug, value: "1"}]
        - method: DELETE
      backendRefs: [{name: reviews-v2, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /api}}]
      backendRefs:
        - {name: reviews-v1, port: 80, weight: 90}
        - {name: reviews-v2, port: 80, weight: 10}
`

// hotPathSlice is one EndpointSlice with one loopback endpoint: a Service
// gets several endpoints (so P2C has a choice) from several slices.
const hotPathSlice = `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %s-%d, labels: {kubernetes.io/service-name: %s}}
addressType: IPv4
ports: [{name: http, port: %d}]
endpoints: [{addresses: [127.0.0.1]}]
`

// hotPathRequest is a typical request, the shape curl or a Go client sends.
// The Host is filled in per case (see hotPathCases).
const hotPathRequest = "GET /api/reviews/42?lang=en HTTP/1.1\r\n" +
	"Host: %s\r\n" +
	"User-Agent: meshload/1.0\r\n" +
	"Accept: application/json\r\n" +
	"Accept-Encoding: gzip\r\n" +
	"X-Request-Id: 3f1c2a9e-1d2b-4c5d-9e8f-0a1b2c3d4e5f\r\n" +
	"Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n" +
	"Connection: keep-alive\r\n\r\n"

// hotPathBody is the upstreams' response body size.
const hotPathBody = 1024

// redirectedSrc is the client source address the fake original-destination
// lookup treats as an iptables-redirected connection to the reviews
// Service's cluster IP.
var redirectedSrc = netip.MustParseAddr("127.0.0.2")

// hotPathCase is one way into the engine: which listener, from which source
// address, with which Host header.
type hotPathCase struct {
	name    string
	inbound bool   // connect to the inbound listener (forwards to the app)
	src     string // client source address
	host    string
}

var hotPathCases = []hotPathCase{
	// Outbound, Service selected by the Host header: route match, 90/10
	// split, P2C over several endpoints.
	{name: "outbound-host", src: "127.0.0.1", host: "reviews.default.svc.cluster.local:80"},
	// Outbound, transparent capture: the Service comes from the
	// connection's original destination, resolved per request; the Host
	// names nothing, so a 200 proves the original destination was used.
	{name: "outbound-origdst", src: redirectedSrc.String(), host: "nosuch.example"},
	// Inbound listener: straight to the app.
	{name: "inbound", inbound: true, src: "127.0.0.1", host: "reviews"},
}

// rawUpstream answers every request head on every connection with one
// pre-built response. It allocates nothing per request, so allocation
// counts of the process measure the proxy.
type rawUpstream struct {
	ln    net.Listener
	resp  []byte
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startRawUpstream(tb testing.TB) *rawUpstream {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	u := &rawUpstream{ln: ln, resp: []byte(fmt.Sprintf(
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
		hotPathBody, strings.Repeat("x", hotPathBody)))}
	u.wg.Add(1)
	go u.accept()
	tb.Cleanup(u.close)
	return u
}

func (u *rawUpstream) port() int { return u.ln.Addr().(*net.TCPAddr).Port }

// accept ends when the listener is closed.
func (u *rawUpstream) accept() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		u.conns = append(u.conns, c)
		u.mu.Unlock()
		u.wg.Add(1)
		go u.serve(c)
	}
}

// serve ends when the connection fails or is closed. The proxy sends one
// request at a time per connection and these requests have no body, so a
// request ends at its blank line.
func (u *rawUpstream) serve(c net.Conn) {
	defer u.wg.Done()
	buf := make([]byte, 64<<10)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += m
		for {
			i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
			if i < 0 {
				break
			}
			if _, err := c.Write(u.resp); err != nil {
				return
			}
			n = copy(buf, buf[i+4:n])
		}
		if n == len(buf) {
			return // a head larger than the buffer: not from this test
		}
	}
}

func (u *rawUpstream) close() {
	_ = u.ln.Close()
	u.mu.Lock()
	for _, c := range u.conns {
		_ = c.Close()
	}
	u.mu.Unlock()
	u.wg.Wait()
}

// hotPathProxy is a running engine with the hot-path config.
type hotPathProxy struct {
	out, in string
	reg     *metrics.Registry
	p       *Proxy
}

func freeLoopbackAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// hotPathDoc renders the config: reviews-v1 gets three endpoints,
// reviews-v2 two, all real upstreams; the app is a sixth.
func hotPathDoc(out, in string, app *rawUpstream, v1, v2 []*rawUpstream) string {
	var slices strings.Builder
	for i, u := range v1 {
		fmt.Fprintf(&slices, hotPathSlice, "v1", i, "reviews-v1", u.port())
	}
	for i, u := range v2 {
		fmt.Fprintf(&slices, hotPathSlice, "v2", i, "reviews-v2", u.port())
	}
	return fmt.Sprintf(hotPathConfig, out, in, app.ln.Addr().String(), slices.String())
}

// startHotPathProxy starts upstreams and a one-loop engine. The timeout
// sweep (sweepclock.go) is pushed out of the way: it is per tick, not per request,
// and would add allocations that depend on how long a measurement takes.
func startHotPathProxy(tb testing.TB) *hotPathProxy {
	tb.Helper()
	return startHotPathProxyWith(tb, "")
}

// startHotPathProxyWith is startHotPathProxy with extra config documents
// (each starting with "---") after the hot-path ones: Services whose
// upstreams the caller started (the HTTP/2 hot path's h2c endpoint).
func startHotPathProxyWith(tb testing.TB, extra string) *hotPathProxy {
	tb.Helper()
	return startHotPathProxyOpts(tb, extra, nil)
}

// startHotPathProxyOpts is startHotPathProxyWith with a hook that may
// change the engine's Options before it starts.
func startHotPathProxyOpts(tb testing.TB, extra string, setOpts func(*Options)) *hotPathProxy {
	tb.Helper()
	ups := make([]*rawUpstream, 6)
	for i := range ups {
		ups[i] = startRawUpstream(tb)
	}
	out, in := freeLoopbackAddr(tb), freeLoopbackAddr(tb)
	doc := hotPathDoc(out, in, ups[5], ups[:3], ups[3:5]) + extra
	cfg, err := config.Parse("hotpath.yaml", []byte(doc))
	if err != nil {
		tb.Fatal(err)
	}
	table, err := route.Compile(cfg, balance.NewRegistry(), route.Options{})
	if err != nil {
		tb.Fatal(err)
	}

	// Stands in for iptables (set before Run, so the loop sees it): only
	// connections from redirectedSrc were captured.
	saved := originalDst
	originalDst = func(c gnet.Conn) (netip.AddrPort, bool) {
		if ra, ok := tcpAddrPort(c.RemoteAddr()); ok && ra.Addr() == redirectedSrc {
			return netip.MustParseAddrPort("10.96.0.20:80"), true
		}
		return netip.AddrPort{}, false
	}
	reg := metrics.NewRegistry()
	opts := Options{OutboundAddr: out, InboundAddr: in, EventLoops: 1, Tick: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if setOpts != nil {
		setOpts(&opts)
	}
	p, err := New(opts, table, reg)
	if err != nil {
		originalDst = saved
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run() }()
	tb.Cleanup(func() {
		p.Stop()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			tb.Error("hot-path proxy did not stop within 10 s")
		}
		originalDst = saved
	})
	select {
	case <-p.Booted():
	case err := <-done:
		tb.Fatalf("hot-path proxy: %v", err)
	case <-time.After(10 * time.Second):
		tb.Fatal("hot-path proxy did not start within 10 s")
	}
	return &hotPathProxy{out: out, in: in, reg: reg, p: p}
}

// hotPathClient sends one pre-built request at a time on a keep-alive
// connection and reads the response into a fixed buffer: it allocates
// nothing per request either.
type hotPathClient struct {
	c   net.Conn
	req []byte
	buf []byte
}

func (p *hotPathProxy) dial(tb testing.TB, hc hotPathCase) *hotPathClient {
	tb.Helper()
	dst := p.out
	if hc.inbound {
		dst = p.in
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(hc.src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", dst)
	if err != nil {
		tb.Fatalf("%s: dial %s from %s: %v", hc.name, dst, hc.src, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	// A hung proxy fails the test instead of the whole binary's timeout.
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	return &hotPathClient{c: c, req: []byte(fmt.Sprintf(hotPathRequest, hc.host)), buf: make([]byte, 64<<10)}
}

// roundTripper is a hot-path client: one request and its whole response.
type roundTripper interface{ roundTrip(tb testing.TB) }

var contentLengthKey = []byte("\r\ncontent-length: ")

// roundTrip sends the request and reads the whole response. It fails on
// anything but a 200 with the upstreams' body: a local reply (404, 503)
// would take a different, shorter path and measure nothing.
func (c *hotPathClient) roundTrip(tb testing.TB) {
	if _, err := c.c.Write(c.req); err != nil {
		tb.Fatalf("write request: %v", err)
	}
	n, headEnd, bodyLen := 0, -1, -1
	for headEnd < 0 || n < headEnd+bodyLen {
		if n == len(c.buf) {
			tb.Fatalf("response larger than %d bytes: %q", len(c.buf), c.buf[:200])
		}
		m, err := c.c.Read(c.buf[n:])
		if err != nil {
			tb.Fatalf("read response after %d bytes: %v", n, err)
		}
		n += m
		if headEnd < 0 {
			headEnd, bodyLen = responseFraming(c.buf[:n])
		}
	}
	if !bytes.HasPrefix(c.buf, []byte("HTTP/1.1 200 ")) || bodyLen != hotPathBody {
		tb.Fatalf("want 200 with a %d-byte body from an upstream, got %q", hotPathBody, c.buf[:headEnd])
	}
}

// responseFraming returns the end of the head and the Content-Length, or
// -1, -1 while the head is incomplete.
func responseFraming(b []byte) (headEnd, bodyLen int) {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return -1, -1
	}
	head := b[:i+2]
	j := indexFoldLower(head, contentLengthKey)
	if j < 0 {
		return i + 4, 0
	}
	bodyLen = 0
	for k := j + len(contentLengthKey); k < len(head) && head[k] >= '0' && head[k] <= '9'; k++ {
		bodyLen = bodyLen*10 + int(head[k]-'0')
	}
	return i + 4, bodyLen
}

// indexFoldLower finds the lower-case key in b, ignoring the case of b.
func indexFoldLower(b, key []byte) int {
	for i := 0; i+len(key) <= len(b); i++ {
		if equalFoldLower(b[i:i+len(key)], string(key)) {
			return i
		}
	}
	return -1
}

// allocsPerRequest measures the process's allocations per request as
// (allocations for n+m requests - allocations for n) / m: whatever a
// measurement costs once (the closure, the first read after a pause,
// runtime bookkeeping) cancels, and only what grows with the request count
// is left. c is an HTTP/1.1 (hotPathClient) or HTTP/2 (h2HotPathClient)
// client.
func allocsPerRequest(tb testing.TB, c roundTripper, n, m int) float64 {
	requests := func(k int) func() {
		return func() {
			for i := 0; i < k; i++ {
				c.roundTrip(tb)
			}
		}
	}
	base := testing.AllocsPerRun(1, requests(n))
	more := testing.AllocsPerRun(1, requests(n+m))
	return (more - base) / float64(m)
}

// allocLimit is the most allocations per request a zero-allocation path
// may show. Without -race: below one per 100 requests (an allocation on
// every request gives >= 1, stray runtime work a few in thousands, measured
// 0.0005). Under -race, sync.Pool drops a quarter of its items at random,
// and the regexp rule on this path takes a matcher from one (measured 0.25
// per request outbound); 0.9 still fails a per-request allocation, and the
// Makefile runs this test again without -race for the strict bound.
func allocLimit() float64 {
	if raceEnabled {
		return 0.9
	}
	return 0.01
}

// TestRealPathDoesNotAllocate: steady-state forwarding through the real
// engine allocates nothing per request, for each way into it. The warm-up
// opens a pooled connection to every endpoint and creates the metric
// children; after it, one allocation per request anywhere in the process
// would show as 1.0.
func TestRealPathDoesNotAllocate(t *testing.T) {
	p := startHotPathProxy(t)
	const warm, n, m = 500, 200, 2000
	for _, hc := range hotPathCases {
		t.Run(hc.name, func(t *testing.T) {
			c := p.dial(t, hc)
			for i := 0; i < warm; i++ {
				c.roundTrip(t)
			}
			got := allocsPerRequest(t, c, n, m)
			t.Logf("%s: %.4f allocations per request (race detector: %v)", hc.name, got, raceEnabled)
			if got >= allocLimit() {
				t.Fatalf("%s: %.3f allocations per request through the real proxy "+
					"(parse, route, split, balance, head rewrite, upstream write, response, metrics), want 0 (limit %v, race detector: %v)",
					hc.name, got, allocLimit(), raceEnabled)
			}
		})
	}
}

// BenchmarkRealPath: one request through the real engine per iteration,
// for each way into it (run with -benchmem; allocs/op counts the whole
// process: proxy, client and upstreams, the latter two allocating nothing).
func BenchmarkRealPath(b *testing.B) {
	p := startHotPathProxy(b)
	for _, hc := range hotPathCases {
		b.Run(hc.name, func(b *testing.B) {
			c := p.dial(b, hc)
			for i := 0; i < 500; i++ {
				c.roundTrip(b) // pooled upstream connections, metric children
			}
			b.ReportAllocs()
			b.SetBytes(hotPathBody)
			for b.Loop() {
				c.roundTrip(b)
			}
		})
	}
}

// BenchmarkParse measures the request-head parser alone on the hot-path
// request (the share of parsing in BenchmarkRealPath).
func BenchmarkParse(b *testing.B) {
	req := []byte(fmt.Sprintf(hotPathRequest, hotPathCases[0].host))
	var r http1.Request
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		if _, err := http1.ParseRequest(req, 65536, &r); err != nil {
			b.Fatal(err)
		}
	}
}
