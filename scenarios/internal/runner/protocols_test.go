package runner

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

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
  - {name: pair, kind: meshproxy, topology: sidecar-pair}
`)
	type row struct{ name, protocol, skip string }
	var got []row
	for _, u := range units(sc, false) {
		got = append(got, row{u.spec.Name, u.protocol, u.skip})
	}
	want := []row{
		{"direct", "http/1.1", ""}, {"mp", "http/1.1", ""}, {"pair", "http/1.1", ""},
		{"direct-h2", "h2", ""}, {"mp-h2", "h2", ""}, {"pair-h2", "h2", scenario.Unsupported(sc.Targets[2], "h2")},
		{"direct-grpc", "grpc", ""}, {"mp-grpc", "grpc", scenario.Unsupported(sc.Targets[1], "grpc")}, {"pair-grpc", "grpc", scenario.Unsupported(sc.Targets[2], "grpc")},
	}
	if !slices.Equal(got, want) {
		t.Errorf("units\n got %v\nwant %v", got, want)
	}
	for _, r := range want[5:] {
		if r.name != "direct-grpc" && !strings.Contains(r.skip, "cannot carry "+r.protocol) {
			t.Errorf("%s: skip reason %q", r.name, r.skip)
		}
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

// TestRunProtocols runs h2 and gRPC on loopback: direct, meshproxy as a
// client sidecar (h2c in, HTTP/1.1 to the echo), nginx and HAProxy when
// installed; meshproxy's gRPC steps are skipped, saying why.
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
	if want := "direct-h2 meshproxy-h2 nginx-h2 haproxy-h2 direct-grpc meshproxy-grpc nginx-grpc haproxy-grpc"; strings.Join(order, " ") != want {
		t.Fatalf("steps %v, want %s", order, want)
	}
	for _, s := range res.Steps {
		protocol := s.Target[strings.LastIndexByte(s.Target, '-')+1:] // every step here is -h2 or -grpc
		if s.Protocol != protocol {
			t.Errorf("%s: protocol %q", s.Target, s.Protocol)
		}
		switch base := strings.TrimSuffix(s.Target, "-"+protocol); {
		case s.Target == "meshproxy-grpc":
			if s.Status != "skipped" || !strings.Contains(s.Error, "cannot carry "+protocol) {
				t.Errorf("%s: %s %q, want skipped: cannot carry %s", s.Target, s.Status, s.Error, protocol)
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
				t.Fatalf("%s: %s: %s", s.Target, s.Status, s.Error)
			}
			if s.Load.Requests < 250 || s.Load.Errors != 0 || s.Load.UnexpectedStatus != 0 || s.Load.LatencyUS.P50 <= 0 {
				t.Errorf("%s: load %+v", s.Target, s.Load)
			}
			if base != "direct" && (s.AddedLatencyUS == nil || len(s.Proxies) != 1) {
				t.Errorf("%s: added latency %v, %d proxies", s.Target, s.AddedLatencyUS, len(s.Proxies))
			}
		}
	}
	if s := strays(t); len(s) > 0 {
		t.Fatalf("processes left after the run:\n%s", strings.Join(s, "\n"))
	}
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
