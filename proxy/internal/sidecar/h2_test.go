package sidecar

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/meshbench/meshbench/internal/testenv"
	"github.com/meshbench/meshbench/scenarios/echo"
)

// h2cClient is an HTTP/2 client with prior knowledge (no TLS, no upgrade)
// that dials addr whatever the URL says: every request shares one
// connection, so streams multiplex.
func h2cClient(addr string) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, _ string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func h2Get(t *testing.T, c *http.Client, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Add(k, v)
	}
	return h2Do(t, c, req)
}

func h2Do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("%s %s: answered over %s, want HTTP/2", req.Method, req.URL, resp.Proto)
	}
	return resp, b
}

// TestH2C: an HTTP/2 client with prior knowledge talks to the outbound
// listener; each stream is routed and forwarded to an HTTP/1.1 endpoint
// and its response comes back on the stream.
func TestH2C(t *testing.T) {
	up := startEcho(t, "a", 100)
	s := startSidecar(t, &mesh{services: []svc{{name: "svc-a", ports: []string{portOf(t, up.Addr())}}}})
	c := h2cClient(s.out)

	t.Run("get", func(t *testing.T) {
		resp, body := h2Get(t, c, "http://svc-a/?size=1000", nil)
		if resp.StatusCode != 200 || len(body) != 1000 || resp.Header.Get("X-Echo-Name") != "a" {
			t.Fatalf("status %d, %d bytes, x-echo-name %q", resp.StatusCode, len(body), resp.Header.Get("X-Echo-Name"))
		}
		if !bytes.Equal(body, echo.Body(1000)) {
			t.Fatal("body differs from the echo's")
		}
	})
	t.Run("chunked response", func(t *testing.T) {
		// The endpoint answers chunked: the client must get the payload
		// without the chunk framing, all of it.
		resp, body := h2Get(t, c, "http://svc-a/?size=50000&chunked=1", nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, echo.Body(50000)) {
			t.Fatalf("status %d, %d bytes (want 50000 bytes of the echo body)", resp.StatusCode, len(body))
		}
	})
	t.Run("head", func(t *testing.T) {
		req, _ := http.NewRequest("HEAD", "http://svc-a/?size=777", nil)
		resp, body := h2Do(t, c, req)
		if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != 777 {
			t.Fatalf("status %d, %d body bytes, content-length %d", resp.StatusCode, len(body), resp.ContentLength)
		}
	})
	t.Run("large body, known length", func(t *testing.T) {
		// Larger than the stream window (256 KiB): the client can only
		// finish if the proxy credits what the endpoint took.
		want := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640,000 bytes
		req, _ := http.NewRequest("POST", "http://svc-a/?echo=body", bytes.NewReader(want))
		resp, body := h2Do(t, c, req)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Fatalf("status %d, echoed %d of %d bytes", resp.StatusCode, len(body), len(want))
		}
	})
	t.Run("body of unknown length", func(t *testing.T) {
		// No content-length: the endpoint gets it chunked.
		want := bytes.Repeat([]byte("xyz"), 30000)
		pr, pw := io.Pipe()
		go func() {
			for i := 0; i < len(want); i += 9000 {
				_, _ = pw.Write(want[i:min(i+9000, len(want))])
			}
			_ = pw.Close()
		}()
		req, _ := http.NewRequest("POST", "http://svc-a/?echo=body", pr)
		resp, body := h2Do(t, c, req)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Fatalf("status %d, echoed %d of %d bytes", resp.StatusCode, len(body), len(want))
		}
	})
	t.Run("translated head", func(t *testing.T) {
		resp, body := h2Get(t, c, "http://svc-a/?echo=headers", map[string]string{
			"Cookie":          "a=1; b=2",
			"X-Forwarded-For": "10.1.1.1",
		})
		got := strings.ToLower(string(body))
		for _, want := range []string{
			"host: svc-a\n",
			"cookie: a=1; b=2\n",                     // crumbs joined into one field (RFC 9113 8.2.3)
			"x-forwarded-for: 10.1.1.1, 127.0.0.1\n", // the client's address appended
		} {
			if !strings.Contains(got, want) {
				t.Errorf("endpoint saw no %q in:\n%s", want, body)
			}
		}
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("local reply", func(t *testing.T) {
		resp, body := h2Get(t, c, "http://nowhere/", nil)
		if resp.StatusCode != 404 || resp.Header.Get("X-Meshproxy-Error") != "unknown_host" || string(body) != "unknown_host\n" {
			t.Fatalf("status %d, x-meshproxy-error %q, body %q", resp.StatusCode, resp.Header.Get("X-Meshproxy-Error"), body)
		}
	})
	t.Run("concurrent streams", func(t *testing.T) {
		concurrentGets(t, 40, 10, func(g, i int) (*http.Request, int) {
			size := 1 + (g*10+i)*37%5000
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://svc-a/?size=%d", size), nil)
			return req, size
		}, c)
	})
	text := s.metricsText(t)
	if v, ok := metricLine(text, "meshproxy_http2_connections_total"); !ok || v == "0" {
		t.Errorf("meshproxy_http2_connections_total: %q", v)
	}
	if _, ok := metricLine(text, "meshproxy_requests_total", `code="200"`, `direction="outbound"`); !ok {
		t.Errorf("no 200s recorded in meshproxy_requests_total:\n%s", text)
	}
}

// TestH2Clients drives the outbound listener with the HTTP/2 clients users
// have: curl with prior knowledge and h2load (many streams per connection).
func TestH2Clients(t *testing.T) {
	up := startEcho(t, "a", 100)
	s := startSidecar(t, &mesh{services: []svc{{name: "svc-a", ports: []string{portOf(t, up.Addr())}}}})

	curl := testenv.NeedProgram(t, "curl", "curl")
	out, err := exec.Command(curl, "-sS", "--http2-prior-knowledge", "-H", "Host: svc-a",
		"-o", "/dev/null", "-w", "%{http_version} %{http_code} %{size_download}",
		"http://"+s.out+"/?size=4321").CombinedOutput()
	if err != nil || string(out) != "2 200 4321" {
		t.Fatalf("curl: %v: %q (want \"2 200 4321\")", err, out)
	}

	h2load := testenv.NeedProgram(t, "h2load", "nghttp2-client")
	out, err = exec.Command(h2load, "-n", "400", "-c", "2", "-m", "20", "-H", ":authority: svc-a",
		"http://"+s.out+"/?size=2000").CombinedOutput()
	if err != nil {
		t.Fatalf("h2load: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "400 succeeded, 0 failed, 0 errored") ||
		!strings.Contains(string(out), "status codes: 400 2xx") {
		t.Fatalf("h2load did not get 400 successes:\n%s", out)
	}
}

// TestMTLSInboundH2: a mesh peer that offers h2 by ALPN to the mTLS inbound
// listener gets HTTP/2; its requests are authorized and reach the app with
// the verified identity, as over HTTP/1.1.
func TestMTLSInboundH2(t *testing.T) {
	p := newPKI(t)
	p.issue("web", spiffeID("default", "web"))
	p.issue("reviews", spiffeID("default", "reviews"))
	sp := startPair(t, p, pairOpts{})
	cert := loadPair(t, p.dir+"/web.crt", p.dir+"/web.key")
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http2.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"},
		Certificates: []tls.Certificate{*cert},
	}}}
	resp, body := h2Get(t, c, "https://"+sp.inbound+"/?echo=headers", map[string]string{
		"X-Forwarded-Client-Cert": "By=spiffe://evil/x;URI=spiffe://evil/y",
	})
	h := strings.ToLower(string(body))
	want := strings.ToLower("x-forwarded-client-cert: By=" + spiffeID("default", "reviews") + ";URI=" + spiffeID("default", "web"))
	if resp.StatusCode != 200 || !strings.Contains(h, want) || strings.Contains(h, "evil") {
		t.Fatalf("status %d; app saw headers:\n%s\nwant %q and no spoofed value", resp.StatusCode, body, want)
	}
	want1M := bytes.Repeat([]byte("m"), 1<<20)
	req, _ := http.NewRequest("POST", "https://"+sp.inbound+"/?echo=body", bytes.NewReader(want1M))
	resp, body = h2Do(t, c, req)
	if resp.StatusCode != 200 || !bytes.Equal(body, want1M) {
		t.Fatalf("1 MiB over h2+mTLS: status %d, %d bytes back", resp.StatusCode, len(body))
	}
	if v, ok := metricLine(sp.server.metricsText(t), "meshproxy_http2_connections_total"); !ok || v == "0" {
		t.Errorf("meshproxy_http2_connections_total: %q", v)
	}
}

// TestMTLSH2HopDrainsDecryptedInput: over the multiplexed mTLS hop, bytes
// crypto/tls has decrypted but the proxy's plaintext buffer could not hold
// yet arrive with no further socket event, so the HTTP/2 codecs must keep
// reading after each frame they take, not wait for the socket. A head limit
// of 1 KiB makes that buffer barely larger than one TLS record, so large
// bodies both ways run into the case on almost every record.
func TestMTLSH2HopDrainsDecryptedInput(t *testing.T) {
	p := newPKI(t)
	p.issue("web", spiffeID("default", "web"))
	p.issue("reviews", spiffeID("default", "reviews"))
	small := "  limits: {maxHeaderBytes: 1024}\n"
	sp := startPair(t, p, pairOpts{serverExtra: small, clientExtra: small + "  http: {meshProtocol: h2}\n"})
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for i := 0; i < 3; i++ {
		resp, got := sp.client.do(t, "POST", "reviews", "/?echo=body", bytes.NewReader(body), nil)
		if resp.StatusCode != 200 || !bytes.Equal(got, body) {
			t.Fatalf("round %d: 1 MiB request body: status %d, %d bytes back", i, resp.StatusCode, len(got))
		}
		resp, got = sp.client.do(t, "GET", "reviews", "/?size=1048576", nil, nil)
		if resp.StatusCode != 200 || len(got) != 1<<20 {
			t.Fatalf("round %d: 1 MiB response body: status %d, %d bytes", i, resp.StatusCode, len(got))
		}
	}
	if v, ok := metricLine(sp.server.metricsText(t), "meshproxy_http2_connections_total"); !ok || v == "0" {
		t.Errorf("the hop did not speak HTTP/2 (meshproxy_http2_connections_total %q)", v)
	}
}

// TestMTLSPairMultiplexed: between two meshproxies, HTTP/1.1 requests from
// the app travel as streams of one HTTP/2 mTLS connection per client event
// loop (negotiated by ALPN), by default; with meshProtocol http/1.1 they do not; and a
// peer that offers only http/1.1 gets HTTP/1.1.
func TestMTLSPairMultiplexed(t *testing.T) {
	p := newPKI(t)
	p.issue("web", spiffeID("default", "web"))
	p.issue("reviews", spiffeID("default", "reviews"))

	load := func(t *testing.T, c *started) {
		t.Helper()
		concurrentGets(t, 20, 10, func(int, int) (*http.Request, int) {
			req, _ := http.NewRequest("GET", "http://"+c.out+"/?size=2000&delay=2ms", nil)
			req.Host = "reviews"
			return req, 2000
		}, c.client)
	}

	t.Run("h2 by default", func(t *testing.T) {
		sp := startPair(t, p, pairOpts{clientExtra: "  eventLoops: 1\n"})
		load(t, sp.client)
		text := sp.server.metricsText(t)
		if v, _ := metricLine(text, "meshproxy_http2_connections_total"); v != "1" {
			t.Errorf("server saw %q HTTP/2 connections, want 1 (20 concurrent callers multiplexed on one)", v)
		}
		if v, _ := metricLine(text, "meshproxy_tls_handshakes_total", `direction="inbound"`, `resumed="false"`); v != "1" {
			t.Errorf("server made %q full handshakes, want 1", v)
		}
	})
	t.Run("http/1.1 configured", func(t *testing.T) {
		sp := startPair(t, p, pairOpts{clientExtra: "  eventLoops: 1\n  http: {meshProtocol: http/1.1}\n"})
		load(t, sp.client)
		if v, ok := metricLine(sp.server.metricsText(t), "meshproxy_http2_connections_total"); ok && v != "0" {
			t.Errorf("server saw %q HTTP/2 connections, want 0", v)
		}
	})
	t.Run("peer without h2", func(t *testing.T) {
		// A TLS server with the peer's certificate that offers only
		// http/1.1: the client proxy falls back, and its requests work.
		cert := loadPair(t, p.dir+"/reviews.crt", p.dir+"/reviews.key")
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
			Certificates: []tls.Certificate{*cert}, NextProtos: []string{"http/1.1"},
			ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS13,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.Proto)
		})}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		client := startSidecar(t, &mesh{
			extraProxy: p.identityYAML("web") + "  http: {meshProtocol: h2}\n",
			routes: fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default, annotations: {meshbench.dev/identity: %q}}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-1, namespace: default, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: %s}]
endpoints: [{addresses: [127.0.0.1]}]
`, spiffeID("default", "reviews"), portOf(t, ln.Addr().String())),
		})
		for i := 0; i < 3; i++ {
			resp, body := client.do(t, "GET", "reviews", "/", nil, nil)
			if resp.StatusCode != 200 || string(body) != "HTTP/1.1" {
				t.Fatalf("request %d through a peer without h2: status %d, body %q", i, resp.StatusCode, body)
			}
		}
	})
}

// concurrentGets runs callers goroutines that each send per requests made
// by next (given the caller and request index; it returns the request and
// the body size expected back) with c, and reports every failure: an error,
// a status other than 200, or a body of another size.
func concurrentGets(t *testing.T, callers, per int, next func(caller, i int) (*http.Request, int), c *http.Client) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, callers*per)
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				req, size := next(g, i)
				resp, err := c.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || len(b) != size {
					errs <- fmt.Errorf("%s: status %d, %d bytes (want %d), %v", req.URL, resp.StatusCode, len(b), size, err)
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestH2Drain: on shutdown an HTTP/2 client connection gets GOAWAY, its
// stream in flight finishes, and the connection closes, which ends the drain
// well before its deadline.
func TestH2Drain(t *testing.T) {
	up := startEcho(t, "a", 100)
	s := startSidecar(t, &mesh{services: []svc{{name: "svc-a", ports: []string{portOf(t, up.Addr())}}}})
	c := h2cClient(s.out)
	h2Get(t, c, "http://svc-a/", nil) // the connection is up

	type result struct {
		status, n int
		err       error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := c.Get("http://svc-a/?size=5000&delay=700ms")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{resp.StatusCode, len(b), err}
	}()
	time.Sleep(200 * time.Millisecond) // the request is in flight at the echo
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("drain: %v after %v", err, time.Since(start))
	}
	r := <-got
	if r.err != nil || r.status != 200 || r.n != 5000 {
		t.Fatalf("in-flight stream during drain: status %d, %d bytes, %v", r.status, r.n, r.err)
	}
}
