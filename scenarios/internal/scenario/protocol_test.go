package scenario

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/scenarios/echo"
)

// The capability table: which target carries which protocol today.
func TestCapabilities(t *testing.T) {
	const h1, h2, grpc = ProtocolHTTP1, ProtocolH2, ProtocolGRPC
	tests := []struct {
		kind, topology, meshProtocol string
		carries                      []string
	}{
		{KindDirect, TopoDirect, "", []string{h1, h2, grpc}},
		{KindMeshproxy, TopoClientSidecar, "", []string{h1, h2, grpc}},
		{KindMeshproxy, TopoServerSidecar, "", []string{h1, h2, grpc}},
		{KindMeshproxy, TopoSidecarPair, "", []string{h1, h2, grpc}}, // tls none
		{KindMeshproxy, TopoSidecarPair, h2, []string{h1, h2, grpc}},
		{KindMeshproxy, TopoSidecarPair, h1, []string{h1, h2}},
		{"nginx", TopoOneHop, "", []string{h1, h2, grpc}},
		{"haproxy", TopoOneHop, "", []string{h1, h2, grpc}},
		{"envoy", TopoOneHop, "", []string{h1}},
		{"linkerd2-proxy", TopoOneHop, "", []string{h1}},
	}
	for _, tt := range tests {
		target := Target{Name: "t", Kind: tt.kind, Topology: tt.topology, MeshProtocol: tt.meshProtocol}
		if got := Carries(target); !slices.Equal(got, tt.carries) {
			t.Errorf("%s %s %s carries %v, want %v", tt.kind, tt.topology, tt.meshProtocol, got, tt.carries)
		}
		for _, p := range AllProtocols {
			why := Unsupported(target, p)
			switch {
			case slices.Contains(tt.carries, p) && why != "":
				t.Errorf("%s %s %s, %s: %q, want carried", tt.kind, tt.topology, tt.meshProtocol, p, why)
			case !slices.Contains(tt.carries, p) && (!strings.Contains(why, tt.kind) || !strings.Contains(why, "cannot carry "+p+": ")):
				t.Errorf("%s %s %s, %s: %q, want why, naming the kind and the protocol", tt.kind, tt.topology, tt.meshProtocol, p, why)
			}
		}
	}
	// Every kind, and every meshproxy topology, has its row.
	for _, k := range Kinds {
		topos := []string{DefaultTopology(k)}
		if k == KindMeshproxy {
			topos = meshproxyTopologies
		}
		for _, topo := range topos {
			if got := Carries(Target{Kind: k, Topology: topo}); !slices.Contains(got, ProtocolHTTP1) {
				t.Errorf("%s %s: carries %v, no row with http/1.1", k, topo, got)
			}
		}
	}
}

// A grpc step calls what the echo serves.
func TestGRPCMethodIsTheEchos(t *testing.T) {
	if GRPCMethod != echo.GRPCUnary {
		t.Errorf("GRPCMethod %q, the echo serves %q", GRPCMethod, echo.GRPCUnary)
	}
}

func TestStepTarget(t *testing.T) {
	for _, tt := range []struct{ name, protocol, want string }{
		{"meshproxy", ProtocolHTTP1, "meshproxy"},
		{"meshproxy", ProtocolH2, "meshproxy-h2"},
		{"nginx", ProtocolGRPC, "nginx-grpc"},
	} {
		if got := StepTarget(tt.name, tt.protocol); got != tt.want {
			t.Errorf("StepTarget(%q, %q) = %q, want %q", tt.name, tt.protocol, got, tt.want)
		}
	}
}

// protocol as a string or a list; load.protocolRates replaces load.rates
// for the protocols it names; StepRates is every rate in order.
func TestProtocolList(t *testing.T) {
	tests := []struct {
		in        string
		protocols Protocols
		rates     map[string][]float64
		stepRates []float64
	}{
		{"load: {rates: [10, 20]}\n", Protocols{"http/1.1"}, map[string][]float64{"http/1.1": {10, 20}}, []float64{10, 20}},
		{"protocol: h2\nload: {rates: [10]}\n", Protocols{"h2"}, map[string][]float64{"h2": {10}}, []float64{10}},
		{"protocol: [grpc, http/1.1]\nload: {rates: [10, 20], protocolRates: {grpc: [5, 10]}}\n", Protocols{"grpc", "http/1.1"},
			map[string][]float64{"grpc": {5, 10}, "http/1.1": {10, 20}}, []float64{10, 20, 5}},
		{"protocol: [http/1.1, h2]\nload: {rates: [10, 20], protocolRates: {http/1.1: [30], h2: [20]}}\n", Protocols{"http/1.1", "h2"},
			map[string][]float64{"http/1.1": {30}, "h2": {20}}, []float64{20, 30}},
	}
	for _, tt := range tests {
		s, err := Parse([]byte("name: x\n"+tt.in), "x.yaml")
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(s.Protocol, tt.protocols) {
			t.Errorf("%q: protocol %v, want %v", tt.in, s.Protocol, tt.protocols)
		}
		for p, want := range tt.rates {
			if got := s.RatesFor(p); !slices.Equal(got, want) {
				t.Errorf("%q: RatesFor(%s) = %v, want %v", tt.in, p, got, want)
			}
		}
		if got := s.StepRates(); !slices.Equal(got, tt.stepRates) {
			t.Errorf("%q: StepRates() = %v, want %v", tt.in, got, tt.stepRates)
		}
	}
}
