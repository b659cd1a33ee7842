package sidecar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshbench/meshbench/scenarios/echo"
)

// h2cService is a Service whose port says its endpoints speak h2c
// (appProtocol, as Kubernetes defines it), with one endpoint.
func h2cService(name, port string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: default}
spec: {ports: [{name: http, port: 80, appProtocol: kubernetes.io/h2c}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %[1]s-1, namespace: default, labels: {kubernetes.io/service-name: %[1]s}}
addressType: IPv4
ports: [{name: http, port: %[2]s}]
endpoints: [{addresses: [127.0.0.1]}]
`, name, port)
}

// TestH2CUpstream: to an endpoint whose port says h2c, meshproxy speaks
// HTTP/2, whatever the client speaks, and multiplexes: many concurrent
// requests share one connection per event loop.
func TestH2CUpstream(t *testing.T) {
	up := startEcho(t, "h2", 100)
	s := startSidecar(t, &mesh{extraProxy: "  eventLoops: 1\n", routes: h2cService("svc-h", portOf(t, up.Addr()))})
	h2 := h2cClient(s.out)

	for _, client := range []struct {
		name string
		do   func(req *http.Request) (*http.Response, []byte)
	}{
		{"http1 client", func(req *http.Request) (*http.Response, []byte) {
			req.URL.Host = s.out
			req.Host = "svc-h"
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", req.Method, req.URL, err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp, b
		}},
		{"h2c client", func(req *http.Request) (*http.Response, []byte) { return h2Do(t, h2, req) }},
	} {
		t.Run(client.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://svc-h/?size=3000", nil)
			resp, body := client.do(req)
			if resp.StatusCode != 200 || !bytes.Equal(body, echo.Body(3000)) || resp.Header.Get("X-Echo-Name") != "h2" {
				t.Fatalf("GET: status %d, %d bytes, x-echo-name %q", resp.StatusCode, len(body), resp.Header.Get("X-Echo-Name"))
			}
			big := bytes.Repeat([]byte("0123456789"), 100000) // 1,000,000 bytes: past every window
			req, _ = http.NewRequest("POST", "http://svc-h/?echo=body", bytes.NewReader(big))
			resp, body = client.do(req)
			if resp.StatusCode != 200 || !bytes.Equal(body, big) {
				t.Fatalf("POST 1 MB, known length: status %d, %d bytes back", resp.StatusCode, len(body))
			}
			req, _ = http.NewRequest("POST", "http://svc-h/?echo=body", io.MultiReader(bytes.NewReader(big[:300000])))
			resp, body = client.do(req)
			if resp.StatusCode != 200 || !bytes.Equal(body, big[:300000]) {
				t.Fatalf("POST of unknown length: status %d, %d bytes back", resp.StatusCode, len(body))
			}
			req, _ = http.NewRequest("GET", "http://svc-h/?status=503", nil)
			if resp, _ = client.do(req); resp.StatusCode != 503 {
				t.Fatalf("status passthrough: %d", resp.StatusCode)
			}
		})
	}

	concurrentGets(t, 20, 10, func(int, int) (*http.Request, int) {
		req, _ := http.NewRequest("GET", "http://svc-h/?size=5000&delay=5ms", nil)
		return req, 5000
	}, h2)
	// One event loop: the 20 concurrent callers shared one upstream
	// connection (the echo counts the connections it accepted).
	if n := up.Accepted(); n != 1 {
		t.Errorf("the endpoint accepted %d connections, want 1 (multiplexed)", n)
	}
}

// TestGRPCThroughProxy: grpc-go calls through meshproxy (h2c client side,
// h2c to the endpoint): unary and bidirectional streaming messages, and the
// endpoint's grpc-status, which travels in trailers.
func TestGRPCThroughProxy(t *testing.T) {
	up := startEcho(t, "g", 100)
	s := startSidecar(t, &mesh{services: []svc{{name: "svc-empty"}}, routes: h2cService("svc-g", portOf(t, up.Addr()))})
	cc, err := grpc.NewClient("passthrough:///"+s.out,
		grpc.WithAuthority("svc-g"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(echo.RawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	in := append([]byte{0x0a, 0x05}, "hello"...)
	var out []byte
	if err := cc.Invoke(ctx, echo.GRPCUnary, in, &out); err != nil || !bytes.Equal(out, in) {
		t.Fatalf("unary: %v, got %q want %q", err, out, in)
	}
	big := echo.Body(1 << 20)
	if err := cc.Invoke(ctx, echo.GRPCUnary, big, &out); err != nil || !bytes.Equal(out, big) {
		t.Fatalf("unary 1 MiB: %v, %d bytes back", err, len(out))
	}
	st, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, echo.GRPCStream)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		msg := []byte(strings.Repeat("s", i*3000))
		if err := st.SendMsg(msg); err != nil {
			t.Fatal(err)
		}
		var got []byte
		if err := st.RecvMsg(&got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("stream message %d: %v, %d bytes back", i, err, len(got))
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var extra []byte
	if err := st.RecvMsg(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("after half-close: %v, want io.EOF (status OK in trailers)", err)
	}
	for _, tc := range []struct {
		value string
		want  codes.Code
	}{{"14", codes.Unavailable}, {"4", codes.DeadlineExceeded}, {"0", codes.OK}} {
		mctx := metadata.AppendToOutgoingContext(ctx, echo.GRPCStatusKey, tc.value)
		err := cc.Invoke(mctx, echo.GRPCUnary, in, &out)
		if got := status.Code(err); got != tc.want {
			t.Errorf("%s=%s: status %v (%v), want %v", echo.GRPCStatusKey, tc.value, got, err, tc.want)
		}
	}

	// The proxy's own errors are gRPC errors, with the reason.
	for _, tc := range []struct {
		authority, reason string
		want              codes.Code
	}{{"nowhere", "unknown_host", codes.Unimplemented}, {"svc-empty", "no_healthy_endpoint", codes.Unavailable}} {
		c2, err := grpc.NewClient("passthrough:///"+s.out, grpc.WithAuthority(tc.authority),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(echo.RawCodec{})))
		if err != nil {
			t.Fatal(err)
		}
		err = c2.Invoke(ctx, echo.GRPCUnary, in, &out)
		c2.Close()
		if st, _ := status.FromError(err); st.Code() != tc.want || st.Message() != tc.reason {
			t.Errorf("call to %s: %v, want %v %q", tc.authority, err, tc.want, tc.reason)
		}
	}

	// grpc-timeout is the call's deadline: a call that allows 300 ms to an
	// endpoint that ignores grpc-timeout and answers after 5 s gets
	// DEADLINE_EXCEEDED from the proxy (this client has no deadline of its
	// own).
	slow := slowGRPCEndpoint(t, 5*time.Second)
	s2 := startSidecar(t, &mesh{routes: h2cService("svc-slow", portOf(t, slow))})
	frame := append([]byte{0, 0, 0, 0, byte(len(in))}, in...)
	req, _ := http.NewRequest("POST", "http://svc-slow"+echo.GRPCUnary, bytes.NewReader(frame))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("Grpc-Timeout", "300m")
	start := time.Now()
	resp, _ := h2Do(t, h2cClient(s2.out), req)
	if got := resp.Header.Get("Grpc-Status") + resp.Trailer.Get("Grpc-Status"); resp.StatusCode != 200 || got != "4" ||
		resp.Header.Get("X-Meshproxy-Error") != "upstream_timeout" {
		t.Errorf("grpc-timeout 300m to a 5 s endpoint: HTTP %d, grpc-status %q, x-meshproxy-error %q after %v; want 200, 4, upstream_timeout",
			resp.StatusCode, got, resp.Header.Get("X-Meshproxy-Error"), time.Since(start))
	}
	if v, ok := metricLine(s2.metricsText(t), "meshproxy_grpc_responses_total", `grpc_status="4"`); !ok || v == "0" {
		t.Errorf("the proxy's DEADLINE_EXCEEDED is not recorded: %q", v)
	}

	text := s.metricsText(t)
	for _, code := range []string{"0", "12", "14"} {
		if v, ok := metricLine(text, "meshproxy_grpc_responses_total", `grpc_status="`+code+`"`); !ok || v == "0" {
			t.Errorf("meshproxy_grpc_responses_total{grpc_status=%q} = %q, want > 0", code, v)
		}
	}
}

// slowGRPCEndpoint is an h2c endpoint that answers every call with an empty
// OK gRPC response after wait, whatever grpc-timeout says (unless the
// request is cancelled). It returns its address.
func slowGRPCEndpoint(t *testing.T, wait time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.WriteHeader(200)
		w.Header().Set("Grpc-Status", "0")
	})
	srv := &http.Server{Handler: h2c.NewHandler(h, &http2.Server{})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestGRPCThroughPair: grpc-go → client proxy (h2c) → multiplexed mTLS mesh
// hop → server proxy → a gRPC app behind spec.inbound.appProtocol: grpc.
func TestGRPCThroughPair(t *testing.T) {
	p := newPKI(t)
	p.issue("web", spiffeID("default", "web"))
	p.issue("reviews", spiffeID("default", "reviews"))
	app := startEcho(t, "app", 100)
	sp := startPair(t, p, pairOpts{app: app.Addr(), authz: "    appProtocol: grpc\n", clientExtra: "  http: {meshProtocol: h2}\n"})
	cc, err := grpc.NewClient("passthrough:///"+sp.client.out, grpc.WithAuthority("reviews"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(echo.RawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, size := range []int{10, 100000} {
		in := echo.Body(size)
		var out []byte
		if err := cc.Invoke(ctx, echo.GRPCUnary, in, &out); err != nil || !bytes.Equal(out, in) {
			t.Fatalf("unary %d bytes through the pair: %v, %d bytes back", size, err, len(out))
		}
	}
	mctx := metadata.AppendToOutgoingContext(ctx, echo.GRPCStatusKey, "14")
	var out []byte
	if err := cc.Invoke(mctx, echo.GRPCUnary, []byte("x"), &out); status.Code(err) != codes.Unavailable {
		t.Fatalf("grpc-status 14 through the pair: %v", err)
	}
	for _, s := range []*started{sp.client, sp.server} {
		if v, ok := metricLine(s.metricsText(t), "meshproxy_grpc_responses_total", `grpc_status="14"`); !ok || v != "1" {
			t.Errorf("grpc_status=14 recorded %q times, want 1", v)
		}
	}
}

// TestGRPCRouteThroughProxy: a GRPCRoute on the Service picks the backend
// by gRPC service and method for real calls; a method no rule matches gets
// UNIMPLEMENTED no_route.
func TestGRPCRouteThroughProxy(t *testing.T) {
	a, b := startEcho(t, "a", 10), startEcho(t, "b", 10)
	routes := h2cService("echo", portOf(t, a.Addr())) + "---\n" + h2cService("echo-b", portOf(t, b.Addr())) + `---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: echo, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules:
    - matches: [{method: {service: meshbench.echo.v1.Echo, method: Unary}}]
      backendRefs: [{name: echo-b, port: 80}]
`
	s := startSidecar(t, &mesh{routes: routes})
	cc, err := grpc.NewClient("passthrough:///"+s.out, grpc.WithAuthority("echo"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(echo.RawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []byte
	for i := 0; i < 3; i++ {
		if err := cc.Invoke(ctx, echo.GRPCUnary, []byte("hi"), &out); err != nil {
			t.Fatalf("Unary: %v", err)
		}
	}
	if a.Requests() != 0 || b.Requests() != 3 {
		t.Errorf("echo a answered %d, echo-b %d; want 0 and 3 (the GRPCRoute sends Unary to echo-b)", a.Requests(), b.Requests())
	}
	st, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, echo.GRPCStream)
	if err == nil {
		err = st.RecvMsg(&out)
	}
	if s, _ := status.FromError(err); s.Code() != codes.Unimplemented || s.Message() != "no_route" {
		t.Errorf("Stream (no rule): %v, want UNIMPLEMENTED no_route", err)
	}
}
