package sidecar

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const splitRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 80}]
  rules:
    - matches: [{path: {type: Exact, value: /exact}}]
      backendRefs: [{name: reviews-v2, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /exact}}]
      backendRefs: [{name: reviews-v1, port: 80}]
    - matches: [{headers: [{name: x-canary, value: "true"}]}]
      backendRefs: [{name: reviews-v2, port: 80}]
    - backendRefs:
        - {name: reviews-v1, port: 80, weight: V1W}
        - {name: reviews-v2, port: 80, weight: V2W}
`

func splitMesh(v1, v2 string, w1, w2 int) *mesh {
	r := strings.NewReplacer("V1W", fmt.Sprint(w1), "V2W", fmt.Sprint(w2)).Replace(splitRoute)
	return &mesh{
		services: []svc{{name: "reviews", ports: []string{v1}}, {name: "reviews-v1", ports: []string{v1}}, {name: "reviews-v2", ports: []string{v2}}},
		routes:   r,
	}
}

func TestSplitNinetyTen(t *testing.T) {
	v1, v2 := startEcho(t, "v1", 16), startEcho(t, "v2", 16)
	s := startSidecar(t, splitMesh(portOf(t, v1.Addr()), portOf(t, v2.Addr()), 90, 10))

	const n = 10000
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	work := make(chan int, n)
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				resp, _ := s.do(t, "GET", "reviews", "/", nil, nil)
				mu.Lock()
				counts[resp.Header.Get("x-echo-name")]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	p1 := float64(counts["v1"]) / n * 100
	p2 := float64(counts["v2"]) / n * 100
	t.Logf("v1 %.2f%%  v2 %.2f%%", p1, p2)
	if p1 < 88.5 || p1 > 91.5 || p2 < 8.5 || p2 > 11.5 || counts["v1"]+counts["v2"] != n {
		t.Fatalf("split %v, want 90 ± 1.5 %% / 10 ± 1.5 %%", counts)
	}
}

func TestMatchPrecedence(t *testing.T) {
	v1, v2 := startEcho(t, "v1", 0), startEcho(t, "v2", 0)
	s := startSidecar(t, splitMesh(portOf(t, v1.Addr()), portOf(t, v2.Addr()), 1, 0))
	cases := []struct {
		name, host, path string
		hdr              map[string]string
		want             string
	}{
		{"default rule", "reviews", "/", nil, "v1"},
		{"header beats default", "reviews", "/", map[string]string{"x-canary": "true"}, "v2"},
		{"header value is exact", "reviews", "/", map[string]string{"x-canary": "True"}, "v1"},
		{"exact beats prefix", "reviews", "/exact", nil, "v2"},
		{"prefix under exact", "reviews", "/exact/more", nil, "v1"},
		{"exact beats header", "reviews", "/exact", map[string]string{"x-canary": "true"}, "v2"},
		{"host with namespace", "reviews.default", "/", nil, "v1"},
		{"host svc", "reviews.default.svc", "/", nil, "v1"},
		{"host fqdn with port", "reviews.default.svc.cluster.local:80", "/", nil, "v1"},
		{"host upper case", "Reviews.Default", "/", nil, "v1"},
		{"service without route", "reviews-v2", "/", nil, "v2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, _ := s.do(t, "GET", c.host, c.path, nil, c.hdr)
			if got := resp.Header.Get("x-echo-name"); resp.StatusCode != 200 || got != c.want {
				t.Fatalf("status %d backend %q, want 200 %q", resp.StatusCode, got, c.want)
			}
		})
	}
}

func TestBodiesArriveIntact(t *testing.T) {
	v1 := startEcho(t, "v1", 0)
	s := startSidecar(t, &mesh{services: []svc{{name: "web", ports: []string{portOf(t, v1.Addr())}}}})
	for _, size := range []int{0, 1024, 1 << 20} {
		body := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		t.Run(fmt.Sprintf("request-%d", size), func(t *testing.T) {
			resp, got := s.do(t, "POST", "web", "/?echo=body", bytes.NewReader(body), nil)
			if resp.StatusCode != 200 || !bytes.Equal(got, body) {
				t.Fatalf("status %d, %d bytes back, want %d", resp.StatusCode, len(got), len(body))
			}
		})
		t.Run(fmt.Sprintf("response-%d", size), func(t *testing.T) {
			resp, got := s.do(t, "GET", "web", fmt.Sprintf("/?size=%d", size), nil, nil)
			if resp.StatusCode != 200 || len(got) != size {
				t.Fatalf("status %d, %d bytes, want %d", resp.StatusCode, len(got), size)
			}
		})
	}
	t.Run("chunked-request", func(t *testing.T) {
		body := bytes.Repeat([]byte("chunky"), 50000)
		// io.MultiReader hides the length, so net/http sends it chunked.
		resp, got := s.do(t, "POST", "web", "/?echo=body", io.MultiReader(bytes.NewReader(body)), nil)
		if resp.StatusCode != 200 || !bytes.Equal(got, body) {
			t.Fatalf("status %d, %d bytes back, want %d", resp.StatusCode, len(got), len(body))
		}
	})
	t.Run("chunked-response", func(t *testing.T) {
		resp, got := s.do(t, "GET", "web", "/?chunked=1&size=300000", nil, nil)
		if resp.StatusCode != 200 || len(got) != 300000 || len(resp.TransferEncoding) == 0 {
			t.Fatalf("status %d, %d bytes, TE %v", resp.StatusCode, len(got), resp.TransferEncoding)
		}
	})
	t.Run("head", func(t *testing.T) {
		resp, got := s.do(t, "HEAD", "web", "/?size=5000", nil, nil)
		if resp.StatusCode != 200 || len(got) != 0 {
			t.Fatalf("HEAD: status %d, %d body bytes", resp.StatusCode, len(got))
		}
		// The connection must still be in sync: a GET right after works.
		resp, got = s.do(t, "GET", "web", "/?size=7", nil, nil)
		if resp.StatusCode != 200 || len(got) != 7 {
			t.Fatalf("GET after HEAD: status %d, %d bytes", resp.StatusCode, len(got))
		}
	})
}

func TestHopByHopAndForwardedFor(t *testing.T) {
	v1 := startEcho(t, "v1", 0)
	s := startSidecar(t, &mesh{services: []svc{{name: "web", ports: []string{portOf(t, v1.Addr())}}}})
	_, got := s.do(t, "GET", "web", "/?echo=headers", nil, map[string]string{
		"Connection":       "X-Secret",
		"X-Secret":         "dropped",
		"Keep-Alive":       "timeout=5",
		"Proxy-Connection": "keep-alive",
		"X-Forwarded-For":  "10.0.0.1",
		"X-Kept":           "yes",
	})
	h := strings.ToLower(string(got))
	for _, gone := range []string{"x-secret", "keep-alive: timeout", "proxy-connection"} {
		if strings.Contains(h, gone) {
			t.Errorf("upstream saw hop-by-hop %q:\n%s", gone, got)
		}
	}
	if !strings.Contains(h, "x-kept: yes") {
		t.Errorf("end-to-end header missing:\n%s", got)
	}
	if !strings.Contains(h, "x-forwarded-for: 10.0.0.1, 127.0.0.1") {
		t.Errorf("x-forwarded-for not appended:\n%s", got)
	}
}

// rawExchange writes raw bytes to addr and reads one response, returned
// as its status line and header lines.
func rawExchange(t *testing.T, addr, raw string, timeout time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\r\n", resp.Proto, resp.Status)
	_ = resp.Header.Write(&b)
	return b.String()
}

func TestLocalReplies(t *testing.T) {
	v1 := startEcho(t, "v1", 0)
	slow := startEcho(t, "slow", 0)
	dead := freePort(t)
	m := &mesh{
		services: []svc{
			{name: "web", ports: []string{portOf(t, v1.Addr())}},
			{name: "dead", ports: []string{fmt.Sprint(dead)}},
			{name: "empty"},
			{name: "slow", ports: []string{portOf(t, slow.Addr())}},
		},
		routes: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: web}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /only}}]
      backendRefs: [{name: web, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /missing}}]
      backendRefs: [{name: nosuchservice, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: slow, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: slow}]
  rules:
    - backendRefs: [{name: slow, port: 80}]
      timeouts: {request: 300ms}
`,
	}
	s := startSidecar(t, m)
	cases := []struct {
		name, raw string
		status    string
		reason    string
	}{
		{"unknown host", "GET / HTTP/1.1\r\nHost: nope\r\n\r\n", "404", "unknown_host"},
		{"no route", "GET /other HTTP/1.1\r\nHost: web\r\n\r\n", "404", "no_route"},
		{"invalid backend", "GET /missing HTTP/1.1\r\nHost: web\r\n\r\n", "500", "invalid_backend"},
		{"connection refused", "GET / HTTP/1.1\r\nHost: dead\r\n\r\n", "503", "connection_refused"},
		{"no endpoints", "GET / HTTP/1.1\r\nHost: empty\r\n\r\n", "503", "no_healthy_endpoint"},
		{"timeout", "GET /?delay=2s HTTP/1.1\r\nHost: slow\r\n\r\n", "504", "upstream_timeout"},
		{"malformed", "GET / HTTP/1.1\r\nHost: web\r\nBad Header: x\r\n\r\n", "400", ""},
		{"smuggling CL+TE", "POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400", "content_length_with_transfer_encoding"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: web\r\nX-A: a\r\n b\r\n\r\n", "400", "obs_fold"},
		{"conflicting CL", "POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "400", "conflicting_content_length"},
		{"header too large", "GET / HTTP/1.1\r\nHost: web\r\nX-Big: " + strings.Repeat("a", 70000) + "\r\n\r\n", "431", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rawExchange(t, s.out, c.raw, 5*time.Second)
			if !strings.HasPrefix(got, "HTTP/1.1 "+c.status+" ") {
				t.Fatalf("got %q, want status %s", firstLine(got), c.status)
			}
			if !strings.Contains(strings.ToLower(got), "x-meshproxy-error: "+c.reason) {
				t.Fatalf("missing x-meshproxy-error %q in\n%s", c.reason, got)
			}
		})
	}
	text := s.metricsText(t)
	for _, c := range []struct{ code, reason string }{{"404", "unknown_host"}, {"503", "connection_refused"}, {"504", "upstream_timeout"}, {"400", "content_length_with_transfer_encoding"}} {
		if v, ok := metricLine(text, "meshproxy_local_replies_total", `code="`+c.code+`"`, `reason="`+c.reason+`"`); !ok || v == "0" {
			t.Errorf("local reply %s %s not counted (%q, %v)", c.code, c.reason, v, ok)
		}
	}
	if v, ok := metricLine(text, "meshproxy_upstream_connect_errors_total"); !ok || v == "0" {
		t.Errorf("connect errors not counted")
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	v1 := startEcho(t, "v1", 0)
	s := startSidecar(t, &mesh{services: []svc{{name: "web", ports: []string{portOf(t, v1.Addr())}}}})
	c, err := net.Dial("tcp", s.out)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var raw strings.Builder
	sizes := []int{5, 3000, 0, 17, 100000, 1}
	for _, n := range sizes {
		fmt.Fprintf(&raw, "GET /?size=%d HTTP/1.1\r\nHost: web\r\n\r\n", n)
	}
	raw.WriteString("POST /?echo=body HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	if _, err := c.Write([]byte(raw.String())); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for _, n := range sizes {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if len(b) != n {
			t.Fatalf("pipelined response has %d bytes, want %d (out of order?)", len(b), n)
		}
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "abc" {
		t.Fatalf("chunked pipelined body %q", b)
	}
}

func TestReloadUnderLoad(t *testing.T) {
	v1, v2 := startEcho(t, "v1", 64), startEcho(t, "v2", 64)
	m := splitMesh(portOf(t, v1.Addr()), portOf(t, v2.Addr()), 100, 0)
	s := startSidecar(t, m)

	// The table is swapped atomically and read per request, so a request
	// sent after the client saw the first v2 response is routed on the new
	// table: any v1 answer to one is a mixed table, whatever the load.
	var switched atomic.Pointer[time.Time] // when the first v2 response arrived
	var lateV1 atomic.Int64                // v1 responses to requests sent after that
	stop := s.load("reviews", func(resp *http.Response, sent time.Time) {
		name := resp.Header.Get("x-echo-name")
		if name == "v2" {
			now := time.Now()
			switched.CompareAndSwap(nil, &now)
		}
		if sw := switched.Load(); name == "v1" && sw != nil && sent.After(*sw) {
			lateV1.Add(1)
		}
	})
	time.Sleep(500 * time.Millisecond)
	m2 := splitMesh(portOf(t, v1.Addr()), portOf(t, v2.Addr()), 0, 100)
	m2.outbound, m2.admin = m.outbound, m.admin
	reloadAt := time.Now()
	writeFile(t, s.file, m2.yaml())
	// The watcher polls every WatchInterval; a loaded machine delays it.
	// The deadline only tells "never" from "late"; it is no latency bound.
	deadline := reloadAt.Add(40 * WatchInterval)
	for switched.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // load on the new table
	total, failures := stop()
	if failures != 0 {
		t.Fatalf("%d of %d requests failed during reload", failures, total)
	}
	sw := switched.Load()
	if sw == nil {
		t.Fatalf("new split not in effect %v after the file changed", 40*WatchInterval)
	}
	t.Logf("%d requests, switch after %v", total, sw.Sub(reloadAt).Round(time.Millisecond))
	if lateV1.Load() != 0 {
		t.Fatalf("%d requests sent after the first v2 response still went to v1", lateV1.Load())
	}
	if v, _ := metricLine(s.metricsText(t), "meshproxy_config_reloads_total", `result="ok"`); v != "1" {
		t.Fatalf("reloads ok = %q, want 1", v)
	}
}

func TestBadReloadKeepsRunningConfig(t *testing.T) {
	v1, v2 := startEcho(t, "v1", 0), startEcho(t, "v2", 0)
	m := splitMesh(portOf(t, v1.Addr()), portOf(t, v2.Addr()), 100, 0)
	s := startSidecar(t, m)
	bad := m.yaml() + "---\napiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80}], bogusField: 1}\n"
	writeFile(t, s.file, bad)
	if err := s.Reload("test"); err == nil || !strings.Contains(err.Error(), "bogusField") {
		t.Fatalf("reload error %v, want one naming bogusField", err)
	}
	resp, _ := s.do(t, "GET", "reviews", "/", nil, nil)
	if resp.Header.Get("x-echo-name") != "v1" {
		t.Fatalf("running config lost after a bad reload")
	}
	time.Sleep(3 * WatchInterval)
	if v, _ := metricLine(s.metricsText(t), "meshproxy_config_reloads_total", `result="failed"`); v == "" || v == "0" {
		t.Fatalf("failed reload not counted")
	}
}

func TestInboundForwardsToApp(t *testing.T) {
	app := startEcho(t, "app", 3)
	in := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startSidecar(t, &mesh{inbound: in, app: app.Addr()})
	s.out = in
	resp, body := s.do(t, "GET", "anything.example", "/", nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("x-echo-name") != "app" || len(body) != 3 {
		t.Fatalf("inbound: status %d name %q body %d", resp.StatusCode, resp.Header.Get("x-echo-name"), len(body))
	}
	// The response can reach the client a moment before the loop records it.
	waitMetric(t, s, "meshproxy_requests_total", `direction="inbound"`, `code="200"`)
}

func TestHeaderReadTimeout(t *testing.T) {
	v1 := startEcho(t, "v1", 0)
	s := startSidecar(t, &mesh{
		services:   []svc{{name: "web", ports: []string{portOf(t, v1.Addr())}}},
		extraProxy: "  timeouts: {headerRead: 200ms}\n",
	})
	// Within 8 s, before the default headerRead (10 s) would answer: the
	// configured 200 ms applies. A wider bound than 200 ms' worth, so that
	// a loaded machine's late timer does not fail the test.
	start := time.Now()
	got := rawExchange(t, s.out, "GET / HTTP/1.1\r\nHost: web\r\n", 8*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") {
		t.Fatalf("partial head: got %q after %v, want 408 after ~200ms", firstLine(got), time.Since(start))
	}
	t.Logf("408 after %v", time.Since(start).Round(time.Millisecond))
}

// rawUpstream serves each connection with handle on a loopback listener.
func rawUpstream(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// readHead consumes one request head from c.
func readHead(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil || line == "\r\n" {
			return
		}
	}
}

func TestUpstreamMisbehaviour(t *testing.T) {
	closeDelimited := rawUpstream(t, func(c net.Conn) {
		readHead(c)
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nX-Kind: close-delimited\r\n\r\nhello, until close"))
	})
	reset := rawUpstream(t, func(c net.Conn) { readHead(c) })
	garbage := rawUpstream(t, func(c net.Conn) {
		readHead(c)
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
	})
	truncated := rawUpstream(t, func(c net.Conn) {
		readHead(c)
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"))
	})
	s := startSidecar(t, &mesh{services: []svc{
		{name: "closer", ports: []string{portOf(t, closeDelimited)}},
		{name: "reset", ports: []string{portOf(t, reset)}},
		{name: "garbage", ports: []string{portOf(t, garbage)}},
		{name: "truncated", ports: []string{portOf(t, truncated)}},
	}})

	t.Run("close-delimited body reaches the client", func(t *testing.T) {
		resp, body := s.do(t, "GET", "closer", "/", nil, nil)
		if resp.StatusCode != 200 || string(body) != "hello, until close" || !resp.Close {
			t.Fatalf("status %d body %q close %v", resp.StatusCode, body, resp.Close)
		}
	})
	for _, c := range []struct{ host, status, reason string }{
		{"reset", "502", "upstream_reset"},
		{"garbage", "502", "bad_response"},
	} {
		t.Run(c.host, func(t *testing.T) {
			got := rawExchange(t, s.out, "GET / HTTP/1.1\r\nHost: "+c.host+"\r\n\r\n", 5*time.Second)
			if !strings.HasPrefix(got, "HTTP/1.1 "+c.status+" ") || !strings.Contains(strings.ToLower(got), "x-meshproxy-error: "+c.reason) {
				t.Fatalf("got %q", got)
			}
		})
	}
	t.Run("truncated body is cut, not completed", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+s.out+"/", nil)
		req.Host = "truncated"
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Fatal("client read a complete body from a truncated upstream response")
		}
		// Recorded as a failure, not as the 200 its head announced.
		waitMetric(t, s, "meshproxy_responses_truncated_total", `cause="upstream_closed"`)
		text := s.metricsText(t)
		if v, ok := metricLine(text, "meshproxy_requests_total", `backend="default/truncated:80"`, `code="200"`); ok && v != "0" {
			t.Errorf("the truncated response counted as a 200 (%s)", v)
		}
		if v, ok := metricLine(text, "meshproxy_requests_total", `backend="default/truncated:80"`, `code="0"`); v != "1" {
			t.Errorf("truncated response: requests_total code 0 = %q (%v), want 1\n%s", v, ok, text)
		}
	})
}

// An exchange in which nothing moves for timeouts.idle gets an answer
// rather than a silent close: 504 when the upstream hangs (accepted the
// request and never answers, or stops taking the body), 408 when the client
// stops sending the body it announced. With no route timeout, idle is the
// only timer that can end such an exchange.
func TestIdleExchangeAnswered(t *testing.T) {
	hung := rawUpstream(t, func(c net.Conn) {
		readHead(c)
		_, _ = io.Copy(io.Discard, c) // accepted, never answers
	})
	v1 := startEcho(t, "v1", 0)
	s := startSidecar(t, &mesh{
		services: []svc{
			{name: "hung", ports: []string{portOf(t, hung)}},
			{name: "web", ports: []string{portOf(t, v1.Addr())}},
		},
		extraProxy: "  timeouts: {idle: 300ms}\n",
	})
	cases := []struct {
		name, raw, status, reason string
	}{
		{"hung upstream", "GET / HTTP/1.1\r\nHost: hung\r\n\r\n", "504", "upstream_idle_timeout"},
		{"hung upstream, body sent", "POST / HTTP/1.1\r\nHost: hung\r\nContent-Length: 3\r\n\r\nabc", "504", "upstream_idle_timeout"},
		{"client stalls its body", "POST /?echo=body HTTP/1.1\r\nHost: web\r\nContent-Length: 100\r\n\r\nonly ten b", "408", "request_body_timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			// 8 s: far below the 60 s default idle timeout, with room
			// for a loaded machine's late timer.
			got := rawExchange(t, s.out, c.raw, 8*time.Second)
			if !strings.HasPrefix(got, "HTTP/1.1 "+c.status+" ") || !strings.Contains(strings.ToLower(got), "x-meshproxy-error: "+c.reason) {
				t.Fatalf("got %q after %v, want %s %s after ~300ms", got, time.Since(start), c.status, c.reason)
			}
			t.Logf("%s after %v", c.status, time.Since(start).Round(time.Millisecond))
		})
	}
	text := s.metricsText(t)
	if v, _ := metricLine(text, "meshproxy_exchange_idle_timeouts_total"); v != "3" {
		t.Errorf("meshproxy_exchange_idle_timeouts_total = %q, want 3", v)
	}
	if v, _ := metricLine(text, "meshproxy_requests_total", `backend="default/hung:80"`, `code="504"`); v != "2" {
		t.Errorf("hung backend's 504s in requests_total = %q, want 2\n%s", v, text)
	}
}

func TestNoBodyStatuses(t *testing.T) {
	v1 := startEcho(t, "v1", 100)
	s := startSidecar(t, &mesh{services: []svc{{name: "web", ports: []string{portOf(t, v1.Addr())}}}})
	for _, code := range []int{204, 304} {
		resp, body := s.do(t, "GET", "web", fmt.Sprintf("/?status=%d", code), nil, nil)
		if resp.StatusCode != code || len(body) != 0 {
			t.Fatalf("status %d: got %d with %d body bytes", code, resp.StatusCode, len(body))
		}
	}
	// The connection stays in sync after bodiless responses.
	if resp, body := s.do(t, "GET", "web", "/", nil, nil); resp.StatusCode != 200 || len(body) != 100 {
		t.Fatalf("after 204/304: %d, %d bytes", resp.StatusCode, len(body))
	}
}

// An in-flight request finishes on the config it started with, even when
// the reload removes its backend entirely.
func TestInFlightRequestSurvivesReload(t *testing.T) {
	// v1 holds the request until the reload is done, so the request is in
	// flight on the old table however slow the machine (a fixed sleep
	// before the reload is not enough on a loaded one).
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	v1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
		w.Header().Set("X-Echo-Name", "v1")
		io.WriteString(w, "abc")
	}))
	t.Cleanup(v1.Close)
	var once sync.Once
	releaseV1 := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseV1) // before v1.Close, which waits for the handler
	v2 := startEcho(t, "v2", 3)
	m := splitMesh(portOf(t, v1.Listener.Addr().String()), portOf(t, v2.Addr()), 100, 0)
	s := startSidecar(t, m)
	done := make(chan string, 1)
	go func() {
		resp, body := s.do(t, "GET", "reviews", "/", nil, nil)
		done <- fmt.Sprintf("%d %s %d", resp.StatusCode, resp.Header.Get("x-echo-name"), len(body))
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach v1 within 10 s")
	}
	// The new config has no reviews-v1 at all.
	m2 := &mesh{outbound: m.outbound, admin: m.admin, services: []svc{{name: "reviews", ports: []string{portOf(t, v2.Addr())}}}}
	writeFile(t, s.file, m2.yaml())
	if err := s.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := s.do(t, "GET", "reviews", "/", nil, nil); resp.Header.Get("x-echo-name") != "v2" {
		t.Fatalf("new config not applied")
	}
	releaseV1()
	if got := <-done; got != "200 v1 3" {
		t.Fatalf("in-flight request: %q, want 200 from v1", got)
	}
}

func TestIdleTimeoutAndConnectionLimit(t *testing.T) {
	v1 := startEcho(t, "v1", 0)
	s := startSidecar(t, &mesh{
		services:   []svc{{name: "web", ports: []string{portOf(t, v1.Addr())}}},
		extraProxy: "  timeouts: {idle: 300ms}\n  limits: {maxConnections: 1}\n",
	})
	first, err := net.Dial("tcp", s.out)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	time.Sleep(100 * time.Millisecond)
	// Over the limit: accepted and closed unread.
	second, err := net.Dial("tcp", s.out)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetReadDeadline(time.Now().Add(8 * time.Second))
	if n, err := second.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection over maxConnections: read %d, %v; want it closed", n, err)
	}
	// The idle first connection is closed after ~300 ms; within 8 s (not
	// the default 60 s) shows the configured timeout applies, with room
	// for a loaded machine's late timer.
	start := time.Now()
	_ = first.SetReadDeadline(time.Now().Add(8 * time.Second))
	if n, err := first.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle connection: read %d, %v after %v; want it closed after ~300ms", n, err, time.Since(start))
	}
	t.Logf("idle connection closed after %v", time.Since(start).Round(time.Millisecond))
	if v, _ := metricLine(s.metricsText(t), "meshproxy_rejected_connections_total"); v != "1" {
		t.Fatalf("rejected connections = %q, want 1", v)
	}
}
