package scenario

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Protocols the load can speak.
const (
	ProtocolHTTP1 = "http/1.1"
	ProtocolH2    = "h2"   // HTTP/2, h2c with prior knowledge (targets are plaintext)
	ProtocolGRPC  = "grpc" // unary gRPC calls over h2c
)

// AllProtocols lists them in the order a scenario's list is measured.
var AllProtocols = []string{ProtocolHTTP1, ProtocolH2, ProtocolGRPC}

// MeshProtocols are the values of a target's meshProtocol: what an mTLS
// pair's client sidecar offers on the mesh hop.
var MeshProtocols = []string{ProtocolH2, ProtocolHTTP1}

// GRPCMethod is the call a grpc step makes: the echo's unary method
// (scenarios/echo GRPCUnary, meshload's -grpc-method default), which
// answers with the request message.
const GRPCMethod = "/meshbench.echo.v1.Echo/Unary"

// Protocols is Scenario.Protocol: one protocol or several, in the order
// written. The YAML (and JSON) form is a string for one protocol and a
// list for several.
type Protocols []string

// MarshalJSON writes one protocol as a string, several as a list, so that
// a result's scenario spec reads as the file was written.
func (p Protocols) MarshalJSON() ([]byte, error) {
	if len(p) == 1 {
		return json.Marshal(p[0])
	}
	return json.Marshal([]string(p))
}

// UnmarshalJSON reads either form.
func (p *Protocols) UnmarshalJSON(data []byte) error {
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*p = Protocols{one}
		return nil
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("scenario: protocol: want a string or a list of strings: %w", err)
	}
	*p = list
	return nil
}

// Has reports whether p lists protocol.
func (p Protocols) Has(protocol string) bool { return slices.Contains(p, protocol) }

// capability is what one kind of target (in one topology, over one mesh
// hop protocol; "" for any) can carry, and why not the others.
type capability struct {
	kind, topology, meshProtocol string
	protocols                    []string
	why                          string
}

// whyMeshHopHTTP1: measured, every call through such a pair ended with
// grpc-status 13 (INTERNAL) at the client, its trailers lost on the hop.
const whyMeshHopHTTP1 = "gRPC's trailers (grpc-status) do not cross an HTTP/1.1 mesh hop: meshproxy passes trailers on to HTTP/2 peers only (use meshProtocol h2)"

// capabilities is the one table of which target carries which protocol;
// validation and the runner both read it through Unsupported, first match
// wins. meshproxy accepts h2c from clients and speaks HTTP/2 to endpoints
// that say so: for gRPC steps the runner marks the backends' Service ports
// appProtocol kubernetes.io/h2c (client sidecar, and the pair's hop when it
// is plaintext) and sets spec.inbound.appProtocol: grpc on server sidecars,
// so every hop of a gRPC call is HTTP/2. h2 steps are h2c in and HTTP/1.1
// to the echo; across an mTLS pair's hop the client sidecar offers h2 by
// ALPN and multiplexes (meshProtocol h2), or speaks HTTP/1.1 (meshProtocol
// http/1.1), which carries h2 steps (HTTP/1.1 to the server sidecar) but
// not gRPC.
var capabilities = []capability{
	{KindDirect, "", "", AllProtocols, ""},
	{KindMeshproxy, TopoClientSidecar, "", AllProtocols, ""},
	{KindMeshproxy, TopoServerSidecar, "", AllProtocols, ""},
	{KindMeshproxy, TopoSidecarPair, ProtocolHTTP1, []string{ProtocolHTTP1, ProtocolH2}, whyMeshHopHTTP1},
	{KindMeshproxy, TopoSidecarPair, "", AllProtocols, ""},
	// h2: an h2c listener, HTTP/1.1 with keep-alive to the echo (as
	// meshproxy does); grpc: an h2c listener and HTTP/2 to the echo
	// (package peers).
	{"nginx", "", "", AllProtocols, ""},
	{"haproxy", "", "", AllProtocols, ""},
	{"envoy", "", "", []string{ProtocolHTTP1}, "the Envoy peer is configured for HTTP/1 only (codec_type HTTP1)"},
	{"linkerd2-proxy", "", "", []string{ProtocolHTTP1}, "linkerd2-proxy cannot run as a one-hop peer at all"},
}

// Unsupported returns why target t cannot carry protocol, or "" when it
// can. t's topology must be set (defaults applied).
func Unsupported(t Target, protocol string) string {
	for _, c := range capabilities {
		if c.kind != t.Kind || c.topology != "" && c.topology != t.Topology || c.meshProtocol != "" && c.meshProtocol != t.MeshProtocol {
			continue
		}
		if slices.Contains(c.protocols, protocol) {
			return ""
		}
		where := "kind " + t.Kind
		if c.topology != "" {
			where += " with topology " + t.Topology
		}
		if c.meshProtocol != "" {
			where += " and meshProtocol " + t.MeshProtocol
		}
		return fmt.Sprintf("%s cannot carry %s: %s", where, protocol, c.why)
	}
	return fmt.Sprintf("kind %s with topology %s carries no known protocol", t.Kind, t.Topology)
}

// Carries lists the protocols target t can carry, in AllProtocols' order.
func Carries(t Target) []string {
	var out []string
	for _, p := range AllProtocols {
		if Unsupported(t, p) == "" {
			out = append(out, p)
		}
	}
	return out
}

// StepTarget is the target name a step of target name in protocol carries
// in results: name itself for http/1.1, name-h2 or name-grpc otherwise.
// Summaries, reports and the gate group steps by target name, so each
// protocol's steps form series of their own, and HTTP/1.1 series keep the
// names they always had.
func StepTarget(name, protocol string) string {
	if protocol == ProtocolHTTP1 {
		return name
	}
	return name + "-" + strings.ReplaceAll(protocol, "/", "")
}

// RatesFor returns the rates protocol is measured at: load.protocolRates'
// list for it, else load.rates.
func (s *Scenario) RatesFor(protocol string) []float64 {
	if r, ok := s.Load.ProtocolRates[protocol]; ok {
		return r
	}
	return s.Load.Rates
}

// StepRates lists every rate some protocol is measured at: those of
// load.rates in its order, then the others in the order protocol and
// load.protocolRates name them.
func (s *Scenario) StepRates() []float64 {
	used := map[float64]bool{}
	var extra []float64
	for _, p := range s.Protocol {
		for _, r := range s.RatesFor(p) {
			if !used[r] && !slices.Contains(s.Load.Rates, r) {
				extra = append(extra, r)
			}
			used[r] = true
		}
	}
	var out []float64
	for _, r := range s.Load.Rates {
		if used[r] {
			out = append(out, r)
		}
	}
	return append(out, extra...)
}

// validateProtocols checks protocol: each one of AllProtocols, no
// duplicates, not empty.
func (d *decoder) validateProtocols(s *Scenario) {
	if len(s.Protocol) == 0 {
		d.errorf("protocol", "", "must not be empty (omit it for %s)", ProtocolHTTP1)
		return
	}
	list := d.set[item("protocol", 0)] // written as a list
	first := map[string]int{}
	for i, p := range s.Protocol {
		f := "protocol"
		if list {
			f = item("protocol", i)
		}
		if !slices.Contains(AllProtocols, p) {
			d.errorf(f, q(p), "want %s%s", oneOf(AllProtocols...), protocolHint(p))
			continue
		}
		if j, dup := first[p]; dup {
			d.errorf(f, q(p), "duplicate of protocol[%d]", j)
			continue
		}
		first[p] = i
	}
	if d.set["soak"] && (len(s.Protocol) != 1 || s.Protocol[0] != ProtocolHTTP1) {
		d.errorf("protocol", "", "a soak runs %s only (its slow reader and reload route speak it)", ProtocolHTTP1)
	}
}

// protocolHint suggests the spelling meant.
func protocolHint(p string) string {
	switch strings.ToLower(p) {
	case ProtocolHTTP1, ProtocolGRPC, ProtocolH2:
		return " (lower case)"
	case "h2c", "http/2", "http2", "http/2.0":
		return " (h2 is HTTP/2, sent as h2c with prior knowledge: every target here is plaintext)"
	case "http/1", "http/1.0", "http1", "http1.1", "http":
		return " (HTTP/1.1 is http/1.1)"
	}
	return ""
}

// validateStreams checks load.streams.
func (d *decoder) validateStreams(s *Scenario) {
	n := s.Load.Streams
	switch {
	case !between(n, 1, MaxStreams):
		d.errorf("load.streams", itoa(n), "want 1-%d", MaxStreams)
	case n > 1 && !s.Protocol.Has(ProtocolH2) && !s.Protocol.Has(ProtocolGRPC):
		d.errorf("load.streams", itoa(n), "only with protocol %s or %s (HTTP/1.1 has one request in flight per connection)", ProtocolH2, ProtocolGRPC)
	}
}

// validateProtocolRates checks load.protocolRates: each key a protocol of
// the scenario, each list as load.rates.
func (d *decoder) validateProtocolRates(s *Scenario) {
	if !d.set["load.protocolRates"] {
		return
	}
	keys := make([]string, 0, len(s.Load.ProtocolRates))
	for k := range s.Load.ProtocolRates {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { // file order
		return cmp.Or(cmp.Compare(d.lines["load.protocolRates["+a+"]"], d.lines["load.protocolRates["+b+"]"]), strings.Compare(a, b))
	})
	for _, k := range keys {
		p := "load.protocolRates[" + k + "]"
		if !s.Protocol.Has(k) {
			d.errorf(p, "", "not a protocol of this scenario (want %s)", oneOf(s.Protocol...))
			continue
		}
		if len(s.Load.ProtocolRates[k]) == 0 {
			d.errorf(p, "", "must not be empty (omit it to measure %s at load.rates)", k)
			continue
		}
		d.validateRates(p, s.Load.ProtocolRates[k])
	}
}

// validateCarried checks every target against the capability table: with
// one protocol, each target must carry it; with several, each must carry
// at least one (the others' steps are skipped, saying why). And the step
// targets of every target and protocol (StepTarget) must be unique.
func (d *decoder) validateCarried(s *Scenario) {
	var protos []string
	for _, p := range s.Protocol {
		if slices.Contains(AllProtocols, p) && !slices.Contains(protos, p) {
			protos = append(protos, p)
		}
	}
	if len(protos) == 0 {
		return
	}
	steps := map[string]string{} // step target -> whose steps
	targets := map[string]bool{}
	for i := range s.Targets {
		t, p := s.Targets[i], item("targets", i)
		if !slices.Contains(Kinds, t.Kind) || t.Kind == KindMeshproxy && !slices.Contains(meshproxyTopologies, t.Topology) {
			continue // reported by validateTargets
		}
		again := targets[t.Name] // a duplicate name, reported by validateTargets
		targets[t.Name] = true
		var why []string
		for _, proto := range protos {
			name := StepTarget(t.Name, proto)
			if other, dup := steps[name]; dup && !again {
				d.errorf(p+".name", q(t.Name), "its %s steps are named %s, as are %s; rename one", proto, name, other)
			} else {
				steps[name] = fmt.Sprintf("the %s steps of %s", proto, p)
			}
			if w := Unsupported(t, proto); w != "" {
				why = append(why, w)
			}
		}
		switch {
		case len(protos) == 1 && len(why) == 1:
			d.errorf(p, q(t.Name), "%s (remove the target, or measure it with another protocol)", why[0])
		case len(why) == len(protos):
			d.errorf(p, q(t.Name), "carries none of the scenario's protocols: %s", strings.Join(why, "; "))
		}
	}
}
