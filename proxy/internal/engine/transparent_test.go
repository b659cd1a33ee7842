package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/config"
	"github.com/meshbench/meshbench/proxy/internal/metrics"
	"github.com/meshbench/meshbench/proxy/internal/route"
	"github.com/meshbench/meshbench/scenarios/echo"
)

// transparentConfig: Service web has cluster IP 10.96.0.10, port 8080,
// with one endpoint; the inbound listener forwards to the app.
func transparentConfig(out, in, app, endpoint string) string {
	host, port, _ := net.SplitHostPort(endpoint)
	return fmt.Sprintf(`apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: t, namespace: default}
spec:
  outbound: {address: %q}
  inbound: {address: %q, app: %q}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: %s}]
endpoints: [{addresses: [%s]}]
`, out, in, app, port, host)
}

func compileTable(t *testing.T, eps *balance.Registry, doc string) *route.Table {
	t.Helper()
	cfg, err := config.Parse("transparent.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := route.Compile(cfg, eps, route.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// rawConn is one keep-alive client connection from a chosen loopback
// source address, so the fake original-destination lookup can tell the
// connections apart before the first byte.
type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialFrom(t *testing.T, src, dst string) *rawConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", dst)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{c: c, r: bufio.NewReader(c)}
}

// get sends GET / with the given Host and returns status, x-echo-name and
// x-meshproxy-error.
func (rc *rawConn) get(t *testing.T, host string) (int, string, string) {
	t.Helper()
	_ = rc.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(rc.c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(rc.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Echo-Name"), resp.Header.Get("X-Meshproxy-Error")
}

// TestTransparentOriginalDst stands in for iptables: connections from
// chosen source addresses report an original destination. It checks that
// the Service comes from that destination (not the Host header), that an
// unknown destination answers 404 unknown_host, that connections without
// one keep Host routing, that the stored destination is resolved against
// the table current at each request (reload), and that the inbound
// listener ignores original destinations and always forwards to the app.
func TestTransparentOriginalDst(t *testing.T) {
	a, err := echo.Start(echo.Options{Listen: "127.0.0.1:0", Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := echo.Start(echo.Options{Listen: "127.0.0.1:0", Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	app, err := echo.Start(echo.Options{Listen: "127.0.0.1:0", Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	fake := map[netip.Addr]netip.AddrPort{
		netip.MustParseAddr("127.0.0.2"): netip.MustParseAddrPort("10.96.0.10:8080"), // the Service
		netip.MustParseAddr("127.0.0.3"): netip.MustParseAddrPort("10.96.0.99:80"),   // no Service
		netip.MustParseAddr("127.0.0.4"): netip.MustParseAddrPort("10.96.0.10:8080"), // to the inbound listener
	}
	saved := originalDst
	originalDst = func(c gnet.Conn) (netip.AddrPort, bool) {
		ra, _ := tcpAddrPort(c.RemoteAddr())
		dst, ok := fake[ra.Addr()]
		return dst, ok
	}
	defer func() { originalDst = saved }()

	out, in := freeAddr(t), freeAddr(t)
	eps := balance.NewRegistry()
	doc := transparentConfig(out, in, app.Addr(), a.Addr())
	reg := metrics.NewRegistry()
	p, err := New(Options{OutboundAddr: out, InboundAddr: in, EventLoops: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, compileTable(t, eps, doc), reg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run() }()
	select {
	case <-p.Booted():
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("proxy did not start")
	}
	defer func() {
		p.Stop()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("proxy did not stop")
		}
	}()

	redirected := dialFrom(t, "127.0.0.2", out)
	for _, host := range []string{"nosuch.example", "10.96.0.99:80", "web:8080"} {
		if code, name, _ := redirected.get(t, host); code != 200 || name != "a" {
			t.Fatalf("redirected, Host %s: %d from %q, want 200 from a", host, code, name)
		}
	}
	if code, _, reason := dialFrom(t, "127.0.0.3", out).get(t, "web:8080"); code != 404 || reason != "unknown_host" {
		t.Fatalf("unknown original destination: %d %q, want 404 unknown_host", code, reason)
	}
	plain := dialFrom(t, "127.0.0.1", out)
	if code, name, _ := plain.get(t, "web:8080"); code != 200 || name != "a" {
		t.Fatalf("not redirected, Host web:8080: %d from %q", code, name)
	}
	if code, _, reason := plain.get(t, "nosuch.example"); code != 404 || reason != "unknown_host" {
		t.Fatalf("not redirected, unknown Host: %d %q", code, reason)
	}
	if code, name, _ := dialFrom(t, "127.0.0.4", in).get(t, "web:8080"); code != 200 || name != "app" {
		t.Fatalf("inbound with an original destination: %d from %q, want 200 from app", code, name)
	}

	// Reload: the same connection now reaches the Service's new endpoint.
	p.SetTable(compileTable(t, eps, transparentConfig(out, in, app.Addr(), b.Addr())))
	if code, name, _ := redirected.get(t, "nosuch.example"); code != 200 || name != "b" {
		t.Fatalf("redirected after reload: %d from %q, want 200 from b", code, name)
	}

	// A response can reach the client a moment before the loop records it.
	want := []string{
		`meshproxy_requests_total{direction="outbound",route="default/web/default",backend="default/web:8080",code="200"} 5`,
		`meshproxy_local_replies_total{code="404",direction="outbound",reason="unknown_host"} 2`,
		`meshproxy_requests_total{direction="inbound",route="",backend="inbound",code="200"} 1`,
	}
	var text bytes.Buffer
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		text.Reset()
		_ = reg.WriteText(&text)
		missing := ""
		for _, w := range want {
			if !bytes.Contains(text.Bytes(), []byte(w)) {
				missing = w
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %s:\n%s", missing, text.String())
		}
	}
}
