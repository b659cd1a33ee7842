package runner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshbench/meshbench/results/schema"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// The load generator's command line for each protocol.
func TestMeshloadArgv(t *testing.T) {
	const common = "/bin/meshload -quiet -rate 1000 -c 4 -d 10s -warmup 2s -timeout 5s -H Host: echo:8080 -json B.json -hgrm B.hgrm -max-failure-ratio 1"
	tests := []struct {
		name, load, protocol string
		want                 string // after common, before the URL
	}{
		{"http/1.1", "", scenario.ProtocolHTTP1, ""},
		{"h2", "", scenario.ProtocolH2, " -http2"},
		{"grpc", "", scenario.ProtocolGRPC, " -grpc -grpc-method /meshbench.echo.v1.Echo/Unary -body-size 1024"},
		{"h2 streams", "streams: 8", scenario.ProtocolH2, " -http2 -streams 8"},
		{"grpc streams", "streams: 8, payload: 100", scenario.ProtocolGRPC, " -grpc -grpc-method /meshbench.echo.v1.Echo/Unary -body-size 100 -streams 8"},
		{"http/1.1 beside h2 streams", "streams: 8", scenario.ProtocolHTTP1, ""},
		{"http/1.1 body", "requestBody: 64", scenario.ProtocolHTTP1, " -method POST -body-size 64"},
		{"h2 body", "requestBody: 64", scenario.ProtocolH2, " -http2 -method POST -body-size 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			protocols := "[http/1.1, h2]"
			if tt.protocol == scenario.ProtocolGRPC {
				protocols = "[http/1.1, grpc]"
			}
			sc := parse(t, "name: x\nprotocol: "+protocols+"\nload: {rates: [1000], connections: 4"+strings.TrimSuffix(", "+tt.load, ", ")+"}\n")
			r := &run{sc: sc, bin: Binaries{Meshload: "/bin/meshload"}}
			tg := &target{protocol: tt.protocol, host: "echo:8080", url: "http://127.0.0.1:9/"}
			got := strings.Join(r.meshloadArgv(tg, 1000, "B"), " ")
			if want := common + tt.want + " http://127.0.0.1:9/"; got != want {
				t.Errorf("argv\n got %s\nwant %s", got, want)
			}
		})
	}
}

// units: every target in every protocol, named per protocol, skipped with
// the capability table's reason where it cannot carry it, and in netns mode
// everything but HTTP/1.1.
func TestUnits(t *testing.T) {
	sc := parse(t, `name: x
protocol: [http/1.1, h2, grpc]
load: {rates: [10]}
targets:
  - {name: direct, kind: direct}
  - {name: mp, kind: meshproxy}
  - {name: pair, kind: meshproxy, topology: sidecar-pair, tls: mtls}
  - {name: h1hop, kind: meshproxy, topology: sidecar-pair, tls: mtls, meshProtocol: http/1.1}
`)
	type row struct{ name, protocol, skip string }
	var got []row
	for _, u := range units(sc, false) {
		got = append(got, row{u.spec.Name, u.protocol, u.skip})
	}
	want := []row{
		{"direct", "http/1.1", ""}, {"mp", "http/1.1", ""}, {"pair", "http/1.1", ""}, {"h1hop", "http/1.1", ""},
		{"direct-h2", "h2", ""}, {"mp-h2", "h2", ""}, {"pair-h2", "h2", ""}, {"h1hop-h2", "h2", ""},
		{"direct-grpc", "grpc", ""}, {"mp-grpc", "grpc", ""}, {"pair-grpc", "grpc", ""}, {"h1hop-grpc", "grpc", scenario.Unsupported(sc.Targets[3], "grpc")},
	}
	if !slices.Equal(got, want) {
		t.Errorf("units\n got %v\nwant %v", got, want)
	}
	if skip := want[11].skip; !strings.Contains(skip, "cannot carry grpc") {
		t.Errorf("h1hop-grpc: skip reason %q", skip)
	}
	for _, u := range units(sc, true) {
		if (u.protocol == scenario.ProtocolHTTP1) != (u.skip == "") {
			t.Errorf("netns: %s (%s) skip %q", u.spec.Name, u.protocol, u.skip)
		}
	}
}

// Added latency is taken over the direct path in the same protocol.
func TestAddedLatencyPerProtocol(t *testing.T) {
	step := func(target, kind, protocol string, p50 float64) schema.Step {
		return schema.Step{Target: target, Kind: kind, Protocol: protocol, Rate: 10, Repetition: 1, Status: "ok",
			Load: &schema.Load{LatencyUS: schema.Latency{P50: p50}}}
	}
	steps := []schema.Step{
		step("direct", "direct", "http/1.1", 100), step("mp", "meshproxy", "http/1.1", 150),
		step("direct-h2", "direct", "h2", 300), step("mp-h2", "meshproxy", "h2", 380),
	}
	addLatencyOverDirect(steps)
	for i, want := range map[int]float64{1: 50, 3: 80} {
		if a := steps[i].AddedLatencyUS; a == nil || a.P50 != want {
			t.Errorf("%s: added %+v, want p50 %v", steps[i].Target, a, want)
		}
	}
	if steps[0].AddedLatencyUS != nil || steps[2].AddedLatencyUS != nil {
		t.Error("the direct steps got an added latency")
	}
}

// TestRunProtocols runs h2 and gRPC on loopback through every meshproxy
// topology with no failed request: a client sidecar (h2c in; HTTP/1.1, or
// for gRPC h2c, to the echo), a server sidecar (its inbound app marked
// appProtocol grpc for gRPC), a plaintext pair (h2c between the sidecars
// for gRPC), an mTLS pair over the multiplexed h2 hop and one over an
// HTTP/1.1 hop (whose gRPC steps are skipped, saying why), beside direct,
// nginx and HAProxy when installed.
func TestRunProtocols(t *testing.T) {
	sc := parse(t, `
name: protocols
protocol: [h2, grpc]
load:
  rates: [300]
  connections: 4
  streams: 2
  duration: 1s
  warmup: 300ms
  repetitions: 1
  payload: 512
targets:
  - {name: direct, kind: direct}
  - {name: meshproxy, kind: meshproxy}
  - {name: server, kind: meshproxy, topology: server-sidecar}
  - {name: pair, kind: meshproxy, topology: sidecar-pair}
  - {name: pair-mtls, kind: meshproxy, topology: sidecar-pair, tls: mtls}
  - {name: pair-mtls-h1hop, kind: meshproxy, topology: sidecar-pair, tls: mtls, meshProtocol: http/1.1}
  - {name: nginx, kind: nginx}
  - {name: haproxy, kind: haproxy}
`)
	res, _, err := Run(context.Background(), sc, Options{Bin: bins, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, s := range res.Steps {
		t.Logf("%s %s", s.Protocol, stepLine(&s))
		order = append(order, s.Target)
	}
	targets := "direct meshproxy server pair pair-mtls pair-mtls-h1hop nginx haproxy"
	var want []string
	for _, p := range []string{"h2", "grpc"} {
		for _, name := range strings.Fields(targets) {
			want = append(want, name+"-"+p)
		}
	}
	if !slices.Equal(order, want) {
		t.Fatalf("steps %v, want %v", order, want)
	}
	for _, s := range res.Steps {
		protocol := s.Target[strings.LastIndexByte(s.Target, '-')+1:] // every step here is -h2 or -grpc
		if s.Protocol != protocol {
			t.Errorf("%s: protocol %q", s.Target, s.Protocol)
		}
		switch base := strings.TrimSuffix(s.Target, "-"+protocol); {
		case s.Target == "pair-mtls-h1hop-grpc":
			if s.Status != "skipped" || !strings.Contains(s.Error, "meshProtocol http/1.1 cannot carry grpc") {
				t.Errorf("%s: %s %q, want skipped: cannot carry grpc", s.Target, s.Status, s.Error)
			}
		case base == "nginx" || base == "haproxy":
			if _, err := exec.LookPath(base); err != nil {
				if s.Status != "skipped" {
					t.Errorf("%s not installed: status %s, want skipped", base, s.Status)
				}
				continue
			}
			fallthrough
		default:
			if s.Status != "ok" {
				t.Errorf("%s: %s: %s", s.Target, s.Status, s.Error)
				continue
			}
			if s.Load.Requests < 250 || s.Load.Errors != 0 || s.Load.UnexpectedStatus != 0 || s.Load.LatencyUS.P50 <= 0 {
				t.Errorf("%s: load %+v", s.Target, s.Load)
			}
			proxies := 1
			if strings.HasPrefix(base, "pair") {
				proxies = 2
			}
			if base != "direct" && (s.AddedLatencyUS == nil || len(s.Proxies) != proxies) {
				t.Errorf("%s: added latency %v, %d proxies, want %d", s.Target, s.AddedLatencyUS, len(s.Proxies), proxies)
			}
		}
	}
	if s := strays(t); len(s) > 0 {
		t.Fatalf("processes left after the run:\n%s", strings.Join(s, "\n"))
	}
}

// A gRPC step's server sidecars say appProtocol grpc for the app behind
// the inbound listener (the echo answers gRPC over HTTP/2 only); other
// steps leave it unset, so meshproxy speaks HTTP/1.1 to the app.
func TestInboundApp(t *testing.T) {
	for _, tt := range []struct{ protocol, want string }{
		{scenario.ProtocolHTTP1, ""}, {scenario.ProtocolH2, ""}, {scenario.ProtocolGRPC, "grpc"},
	} {
		in := inboundApp("127.0.0.1:9", tt.protocol)
		if got, _ := in["appProtocol"].(string); got != tt.want || in["app"] != "127.0.0.1:9" {
			t.Errorf("%s: inbound %v, want appProtocol %q", tt.protocol, in, tt.want)
		}
	}
}

// TestPairMeshHop starts two mTLS pairs, one per meshProtocol, sends each
// concurrent HTTP/1.1 requests, and reads from the server sidecar how the
// client sidecar reached it: over HTTP/2 (the h2 hop multiplexes every
// request onto one connection per event loop) or never over HTTP/2.
func TestPairMeshHop(t *testing.T) {
	sc := parse(t, `
name: hop
load: {rates: [10]}
targets:
  - {name: direct, kind: direct}
  - {name: h2hop, kind: meshproxy, topology: sidecar-pair, tls: mtls, eventLoops: 1}
  - {name: h1hop, kind: meshproxy, topology: sidecar-pair, tls: mtls, eventLoops: 1, meshProtocol: http/1.1}
`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sup := &supervisor{dir: t.TempDir()}
	defer sup.stopAll(5 * time.Second)
	tp := &topology{sc: sc, bin: bins, sup: sup, work: t.TempDir(), versions: map[string]string{}}
	if err := tp.startBackends(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		target int
		h2     bool
	}{{1, true}, {2, false}} {
		spec := sc.Targets[tt.target]
		tg := tp.start(ctx, spec, scenario.ProtocolHTTP1)
		if tg.failed != "" || tg.skipped != "" {
			t.Fatalf("%s: failed %q, skipped %q", spec.Name, tg.failed, tg.skipped)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequestWithContext(ctx, "GET", tg.url, nil)
				req.Host = tg.host
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("%s: %v", spec.Name, err)
			}
		}
		// t.admins: the client sidecar, then the server sidecar.
		resp, err := http.Get("http://" + tg.admins[1] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		n := metricTotal(string(text), "meshproxy_http2_connections_total")
		if got := n > 0; got != tt.h2 || n < 0 {
			t.Errorf("%s (meshProtocol %s): the server sidecar counted %v HTTP/2 connections, want HTTP/2 %v", spec.Name, spec.MeshProtocol, n, tt.h2)
		}
	}
}

// metricTotal is the value of an unlabelled counter in a Prometheus
// exposition, -1 when absent.
func metricTotal(text, name string) float64 {
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return f
			}
		}
	}
	return -1
}

// A gRPC unit's meshproxy config marks the backends' Service ports h2c
// (meshproxy then speaks HTTP/2 to the echo); others stay as they are.
func TestAppProtocolH2C(t *testing.T) {
	tp := &topology{sc: parse(t, "name: x\nload: {rates: [10]}\nbackends: [{name: a}, {name: b}]\n"),
		echoes: map[string][]echoServer{"a": {{addr: "127.0.0.1:1"}}, "b": {{addr: "127.0.0.1:2"}}}}
	objs := tp.backendObjects(nil, "")
	appProtocolH2C(objs)
	services := 0
	for _, o := range objs {
		m := o.(map[string]any)
		ports := m["ports"] // an EndpointSlice's
		if m["kind"] == "Service" {
			ports = m["spec"].(map[string]any)["ports"]
		}
		for _, p := range ports.([]any) {
			got, _ := p.(map[string]any)["appProtocol"].(string)
			if want := map[bool]string{true: "kubernetes.io/h2c"}[m["kind"] == "Service"]; got != want {
				t.Errorf("%s %v port: appProtocol %q, want %q", m["kind"], m["metadata"], got, want)
			}
		}
		if m["kind"] == "Service" {
			services++
		}
	}
	if services != 2 {
		t.Errorf("%d Services", services)
	}
	if fresh := tp.backendObjects(nil, ""); fresh[0].(map[string]any)["spec"].(map[string]any)["ports"].([]any)[0].(map[string]any)["appProtocol"] != nil {
		t.Error("marking one unit's objects marked the next unit's too")
	}
}
