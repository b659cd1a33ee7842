package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// Each good file in testdata parses, and its normalised JSON matches the
// golden file next to it.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			js, err := s.JSON()
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, js, "", "  "); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('\n')
			golden := strings.TrimSuffix(f, ".yaml") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("JSON differs from %s (go test -update rewrites it):\n%s", golden, got.Bytes())
			}

			// The JSON reads back into the same scenario.
			var back Scenario
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			js2, err := back.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(js, js2) {
				t.Errorf("JSON round trip differs:\n%s\n%s", js, js2)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := Parse([]byte("name: x\nload: {rates: [10]}\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Scenario{
		File: "x.yaml", Name: "x", Mode: "loopback", Protocol: Protocols{"http/1.1"},
		Load: LoadSpec{Rates: []float64{10}, Connections: 16, Duration: 10 * time.Second, Warmup: 2 * time.Second,
			Repetitions: 3, Timeout: 5 * time.Second, Payload: 1024, Streams: 1, Service: "echo", Path: "/", MinSuccess: 100},
		Backends: []Backend{{Name: "echo", Replicas: 1, ClusterIP: "10.96.0.10", Port: 8080}},
		Targets:  []Target{{Name: "direct", Kind: "direct", Topology: "direct", TLS: "none"}},
		Objects:  []map[string]any{},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}

	// Per-kind defaults, and the split tolerance.
	s, err = Parse([]byte(`name: x
load: {rates: [10]}
backends: [{name: a}, {name: b}]
targets:
  - {name: direct, kind: direct}
  - {name: m, kind: meshproxy}
  - {name: n, kind: nginx}
  - {name: s, kind: meshproxy, split: {a: 0.5, b: 0.5}}
objects:
  - apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: r}
    spec: {parentRefs: [{group: "", kind: Service, name: a}]}
`), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		topo string
		tol  float64
	}{{"direct", 0}, {"client-sidecar", 0}, {"one-hop", 0}, {"client-sidecar", 0.02}} {
		if got := s.Targets[i]; got.Topology != want.topo || got.Tolerance != want.tol || got.TLS != "none" {
			t.Errorf("targets[%d] = %+v, want topology %s, tolerance %v", i, got, want.topo, want.tol)
		}
	}
	if s.Load.Service != "a" || s.Backends[1].ClusterIP != "10.96.0.11" {
		t.Errorf("service %q, backends[1].clusterIP %q", s.Load.Service, s.Backends[1].ClusterIP)
	}
}

// minSuccess takes a percentage with its sign, 0% to 100%.
func TestMinSuccess(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Percent
	}{
		{"", 100}, {"  minSuccess: ~\n", 100}, {"  minSuccess: 0%\n", 0}, {"  minSuccess: 99.9%\n", 99.9},
		{"  minSuccess: 100%\n", 100}, {"  minSuccess: \"99.95%\"\n", 99.95}, {"  minSuccess: 007.50%\n", 7.5},
	} {
		s, err := Parse([]byte("name: x\nload:\n  rates: [10]\n"+tt.in), "x.yaml")
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if s.Load.MinSuccess != tt.want {
			t.Errorf("%q: minSuccess %v, want %v", tt.in, s.Load.MinSuccess, tt.want)
		}
	}
}

// Every rule has a bad input here, with the exact error it must give.
func TestParseErrors(t *testing.T) {
	const ok = "name: x\nload:\n  rates: [10]\n" // lines 1-3, valid
	tests := []struct {
		name, in, want string
	}{
		// Decoding.
		{"empty file", "", "x.yaml: empty file (want a scenario: name, load.rates, targets, ...)"},
		{"comments only", "# nothing\n", "x.yaml: empty file (want a scenario: name, load.rates, targets, ...)"},
		{"not a mapping", "- name: x\n", "x.yaml:1: want a mapping (name, load, backends, targets, ...), got a list"},
		{"syntax", "name: x\nload: [\n", "x.yaml:2: invalid YAML: did not find expected node content"},
		{"two documents", ok + "---\nname: y\n", "x.yaml:4: a second YAML document (a scenario file holds exactly one; remove the '---')"},
		{"unknown field", ok + "nmae: y\n", "x.yaml:4: nmae: unknown field (here: name, description, mode, protocol, load, cpus, backends, targets, objects, soak)"},
		{"unknown nested field", ok + "  conections: 3\n", "x.yaml:4: load.conections: unknown field (in load: rates, connections, duration, warmup, repetitions, timeout, payload, requestBody, streams, protocolRates, service, path, minSuccess)"},
		{"unknown target field", ok + "targets:\n  - {name: direct, kind: direct, service: echo}\n", "x.yaml:5: targets[0].service: unknown field (in targets[0]: name, kind, topology, tls, meshProtocol, eventLoops, split, tolerance)"},
		{"duplicate key", ok + "name: y\n", "x.yaml:4: name: duplicate key (first at line 1)"},
		{"merge key", ok + "backends:\n  - <<: {name: a}\n", "x.yaml:5: backends[0]: merge keys (<<) are not supported; write the fields out"},
		{"duration without unit", ok + "  duration: 10\n", `x.yaml:4: load.duration 10: want a Go duration with a unit, such as "10s" or "500ms" (a bare number has none)`},
		{"duration quoted number", ok + "  warmup: \"10\"\n", `x.yaml:4: load.warmup "10": want a Go duration with a unit, such as "10s" or "500ms" (a bare number has none)`},
		{"duration words", ok + "  timeout: ten\n", `x.yaml:4: load.timeout "ten": want a Go duration such as "10s", "500ms" or "1m30s"`},
		{"duration list", ok + "  duration: [1s]\n", `x.yaml:4: load.duration: want a Go duration such as "10s" or "500ms", got a list`},
		{"int type", ok + "  connections: many\n", `x.yaml:4: load.connections "many": want an integer`},
		{"int range", ok + "  payload: 99999999999\n", `x.yaml:4: load.payload 99999999999: out of range`},
		{"int fraction", ok + "  connections: 1.5\n", `x.yaml:4: load.connections 1.5: want an integer`},
		{"string type", "name: 42\nload: {rates: [1]}\n", `x.yaml:1: name 42: want a string`},
		{"rate type", "name: x\nload: {rates: [fast]}\n", `x.yaml:2: load.rates[0] "fast": want a number`},
		{"rate infinite", "name: x\nload: {rates: [.inf]}\n", `x.yaml:2: load.rates[0] .inf: want a finite number`},
		{"rates not a list", "name: x\nload: {rates: 10}\n", `x.yaml:2: load.rates 10: want a list`},
		{"load not a mapping", "name: x\nload: fast\n", `x.yaml:2: load "fast": want a mapping`},
		{"object not a mapping", ok + "objects: [Service]\n", `x.yaml:4: objects[0] "Service": want a mapping (a Kubernetes object)`},
		{"object duplicate key", ok + "objects:\n  - {kind: Service, kind: Service}\n", `x.yaml:5: objects[0].kind: duplicate key (first at line 5)`},

		// CPU pinning.
		{"cpus bad item", ok + "cpus: {load: \"0\", targets: \"1-x\"}\n", `x.yaml:4: cpus.targets "1-x": CPU list item "1-x": want a CPU number (0-1023) or a range like 2-3`},
		{"cpus backwards", ok + "cpus:\n  load: 3-1\n", `x.yaml:5: cpus.load "3-1": CPU range "3-1" runs backwards`},
		{"cpus empty", ok + "cpus:\n  load: \"\"\n", `x.yaml:5: cpus.load "": empty CPU list (want CPU numbers and ranges, e.g. "1" or "0,2-3")`},
		{"cpus unknown field", ok + "cpus:\n  proxies: 1\n", `x.yaml:5: cpus.proxies: unknown field (in cpus: load, targets)`},

		// Scenario.
		{"name required", "load: {rates: [1]}\n", `x.yaml: name: required`},
		{"name syntax", "name: My_Scenario\nload: {rates: [1]}\n", `x.yaml:1: name "My_Scenario": want a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`},
		{"name length", "name: " + strings.Repeat("a", 64) + "\nload: {rates: [1]}\n", `x.yaml:1: name "` + strings.Repeat("a", 64) + `": want a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`},
		{"description lines", ok + "description: |\n  a\n  b\n", `x.yaml:4: description: must be one line`},
		{"mode", ok + "mode: vm\n", `x.yaml:4: mode "vm": want loopback or netns`},
		{"protocol other", ok + "protocol: spdy\n", `x.yaml:4: protocol "spdy": want http/1.1, h2 or grpc`},
		{"protocol upper case", ok + "protocol: HTTP/1.1\n", `x.yaml:4: protocol "HTTP/1.1": want http/1.1, h2 or grpc (lower case)`},
		{"protocol h2c", ok + "protocol: h2c\n", `x.yaml:4: protocol "h2c": want http/1.1, h2 or grpc (h2 is HTTP/2, sent as h2c with prior knowledge: every target here is plaintext)`},
		{"protocol http/1.0", ok + "protocol: http/1.0\n", `x.yaml:4: protocol "http/1.0": want http/1.1, h2 or grpc (HTTP/1.1 is http/1.1)`},
		{"protocol number", ok + "protocol: 2\n", `x.yaml:4: protocol 2: want a protocol (a string) or a list of them`},
		{"protocol mapping", ok + "protocol: {h2: true}\n", `x.yaml:4: protocol: want a list, got a mapping`},
		{"protocol empty list", ok + "protocol: []\n", `x.yaml:4: protocol: must not be empty (omit it for http/1.1)`},
		{"protocol list item", ok + "protocol:\n  - h2\n  - h3\n", `x.yaml:6: protocol[1] "h3": want http/1.1, h2 or grpc`},
		{"protocol duplicate", ok + "protocol: [h2, grpc, h2]\n", `x.yaml:4: protocol[2] "h2": duplicate of protocol[0]`},
		{"protocol soak", "name: x\nprotocol: [http/1.1, h2]\nload: {rates: [10], duration: 10m}\nbackends: [{name: echo, replicas: 2}]\ntargets: [{name: p, kind: meshproxy, topology: sidecar-pair, tls: mtls}]\nsoak: {}\n",
			`x.yaml:2: protocol: a soak runs http/1.1 only (its slow reader and reload route speak it)`},
		{"streams zero", ok + "  streams: 0\nprotocol: h2\n", `x.yaml:4: load.streams 0: want 1-1000`},
		{"streams high", ok + "  streams: 1001\nprotocol: h2\n", `x.yaml:4: load.streams 1001: want 1-1000`},
		{"streams http/1.1", ok + "  streams: 4\n", `x.yaml:4: load.streams 4: only with protocol h2 or grpc (HTTP/1.1 has one request in flight per connection)`},
		{"request body grpc", ok + "  requestBody: 100\nprotocol: [http/1.1, grpc]\n", `x.yaml:4: load.requestBody 100: not with protocol grpc: the echo returns a call's request message, so load.payload sizes it both ways (want 0)`},
		{"protocol rates unknown", ok + "  protocolRates: {grpc: [5]}\nprotocol: [http/1.1, h2]\n", `x.yaml:4: load.protocolRates[grpc]: not a protocol of this scenario (want http/1.1 or h2)`},
		{"protocol rates empty", ok + "  protocolRates: {h2: []}\nprotocol: [http/1.1, h2]\n", `x.yaml:4: load.protocolRates[h2]: must not be empty (omit it to measure h2 at load.rates)`},
		{"protocol rates bad", ok + "  protocolRates:\n    h2: [5, 0, 5]\nprotocol: [http/1.1, h2]\n",
			"x.yaml:5: load.protocolRates[h2][1] 0: want a rate above 0 and at most 1e+06 requests/s\nx.yaml:5: load.protocolRates[h2][2] 5: duplicate of load.protocolRates[h2][0]"},
		{"protocol rates type", ok + "  protocolRates: {h2: 5}\nprotocol: [http/1.1, h2]\n", `x.yaml:4: load.protocolRates[h2] 5: want a list`},

		// What each target can carry (the capability table).
		{"HTTP/1.1 hop cannot carry grpc", ok + "protocol: grpc\ntargets:\n  - {name: direct, kind: direct}\n  - {name: pair, kind: meshproxy, topology: sidecar-pair, tls: mtls, meshProtocol: http/1.1}\n",
			`x.yaml:7: targets[1] "pair": kind meshproxy with topology sidecar-pair and meshProtocol http/1.1 cannot carry grpc: ` + whyMeshHopHTTP1 + ` (remove the target, or measure it with another protocol)`},
		{"envoy cannot carry h2", ok + "protocol: h2\ntargets:\n  - {name: direct, kind: direct}\n  - {name: e, kind: envoy}\n",
			`x.yaml:7: targets[1] "e": kind envoy cannot carry h2: the Envoy peer is configured for HTTP/1 only (codec_type HTTP1) (remove the target, or measure it with another protocol)`},
		{"carries none", ok + "protocol: [h2, grpc]\ntargets:\n  - {name: direct, kind: direct}\n  - {name: e, kind: envoy}\n",
			`x.yaml:7: targets[1] "e": carries none of the scenario's protocols: kind envoy cannot carry h2: the Envoy peer is configured for HTTP/1 only (codec_type HTTP1); kind envoy cannot carry grpc: the Envoy peer is configured for HTTP/1 only (codec_type HTTP1)`},
		{"step names collide", ok + "protocol: [http/1.1, h2]\ntargets:\n  - {name: direct, kind: direct}\n  - {name: n, kind: nginx}\n  - {name: n-h2, kind: haproxy}\n",
			`x.yaml:8: targets[2].name "n-h2": its http/1.1 steps are named n-h2, as are the h2 steps of targets[1]; rename one`},

		// Load.
		{"rates required", "name: x\nload: {connections: 1}\n", `x.yaml:2: load.rates: required (requests/s, e.g. [1000, 10000])`},
		{"rates required without load", "name: x\n", `x.yaml: load.rates: required (requests/s, e.g. [1000, 10000])`},
		{"rates empty", "name: x\nload: {rates: []}\n", `x.yaml:2: load.rates: must not be empty (requests/s, e.g. [1000, 10000])`},
		{"rate zero", "name: x\nload:\n  rates:\n  - 10\n  - 0\n", `x.yaml:5: load.rates[1] 0: want a rate above 0 and at most 1e+06 requests/s`},
		{"rate too high", "name: x\nload: {rates: [2e6]}\n", `x.yaml:2: load.rates[0] 2e+06: want a rate above 0 and at most 1e+06 requests/s`},
		{"rate duplicate", "name: x\nload: {rates: [10, 20, 10.0]}\n", `x.yaml:2: load.rates[2] 10: duplicate of load.rates[0]`},
		{"connections zero", ok + "  connections: 0\n", `x.yaml:4: load.connections 0: want 1-10000`},
		{"connections high", ok + "  connections: 10001\n", `x.yaml:4: load.connections 10001: want 1-10000`},
		{"duration zero", ok + "  duration: 0s\n", `x.yaml:4: load.duration "0s": must be positive`},
		{"warmup negative", ok + "  warmup: -1s\n", `x.yaml:4: load.warmup "-1s": must not be negative (0s: no warm-up)`},
		{"repetitions", ok + "  repetitions: 101\n", `x.yaml:4: load.repetitions 101: want 1-100`},
		{"timeout", ok + "  timeout: 0s\n", `x.yaml:4: load.timeout "0s": must be positive`},
		{"payload", ok + "  payload: 67108865\n", `x.yaml:4: load.payload 67108865: want 0-67108864 bytes (64 MiB)`},
		{"request body", ok + "  requestBody: -1\n", `x.yaml:4: load.requestBody -1: want 0-67108864 bytes (64 MiB)`},
		{"path relative", ok + "  path: api\n", `x.yaml:4: load.path "api": must start with "/"`},
		{"path space", ok + "  path: /a b\n", `x.yaml:4: load.path "/a b": must not contain spaces or control characters (percent-encode them)`},
		{"service", ok + "  service: web\n", `x.yaml:4: load.service "web": not a backend (want echo)`},
		{"min success bare fraction", ok + "  minSuccess: 0.999\n", `x.yaml:4: load.minSuccess 0.999: want a percentage with the % sign, such as 99.9% (a bare number could be a ratio or a percent)`},
		{"min success bare integer", ok + "  minSuccess: 100\n", `x.yaml:4: load.minSuccess 100: want a percentage with the % sign, such as 99.9% (a bare number could be a ratio or a percent)`},
		{"min success quoted number", ok + "  minSuccess: \"99\"\n", `x.yaml:4: load.minSuccess "99": want a percentage with the % sign, such as 99.9%`},
		{"min success space", ok + "  minSuccess: 99.9 %\n", `x.yaml:4: load.minSuccess "99.9 %": want a percentage with the % sign, such as 99.9%, without a space before the %`},
		{"min success words", ok + "  minSuccess: all%\n", `x.yaml:4: load.minSuccess "all%": want a percentage with the % sign, such as 99.9%`},
		{"min success negative", ok + "  minSuccess: -1%\n", `x.yaml:4: load.minSuccess "-1%": want a percentage with the % sign, such as 99.9%`},
		{"min success exponent", ok + "  minSuccess: 1e2%\n", `x.yaml:4: load.minSuccess "1e2%": want a percentage with the % sign, such as 99.9%`},
		{"min success list", ok + "  minSuccess: [99%]\n", `x.yaml:4: load.minSuccess: want a percentage with the % sign, such as 99.9%, got a list`},
		{"min success above 100", ok + "  minSuccess: 100.5%\n", `x.yaml:4: load.minSuccess "100.5%": want 0%-100%`},

		// Backends.
		{"backends empty", ok + "backends: []\n", `x.yaml:4: backends: must not be empty (omit it for one backend "echo")`},
		{"backend name required", ok + "backends:\n  - replicas: 2\n", `x.yaml:5: backends[0].name: required`},
		{"backend name syntax", ok + "backends: [{name: Echo}]\n", `x.yaml:4: backends[0].name "Echo": want a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`},
		{"backend duplicate", ok + "backends:\n  - name: a\n  - name: a\n", `x.yaml:6: backends[1].name "a": duplicate of backends[0].name`},
		{"replicas", ok + "backends:\n  - name: echo\n    replicas: 33\n", `x.yaml:6: backends[0].replicas 33: want 1-32`},
		{"delay", ok + "backends:\n  - name: echo\n    delay: -5ms\n", `x.yaml:6: backends[0].delay "-5ms": must not be negative`},
		{"cluster IP syntax", ok + "backends:\n  - name: echo\n    clusterIP: 10.96.0.300\n", `x.yaml:6: backends[0].clusterIP "10.96.0.300": want an IPv4 address such as 10.96.0.10`},
		{"cluster IP v6", ok + "backends:\n  - name: echo\n    clusterIP: fd00::1\n", `x.yaml:6: backends[0].clusterIP "fd00::1": want an IPv4 address such as 10.96.0.10`},
		{"cluster IP duplicate", ok + "backends:\n  - {name: a, clusterIP: 10.0.0.1}\n  - {name: b, clusterIP: 10.0.0.1}\n", `x.yaml:6: backends[1].clusterIP "10.0.0.1": same as backends[0].clusterIP`},
		{"cluster IP same as assigned", ok + "backends:\n  - {name: a}\n  - {name: b, clusterIP: 10.96.0.10}\n", `x.yaml:6: backends[1].clusterIP "10.96.0.10": same as backends[0].clusterIP, assigned by default`},
		{"cluster IP assigned later", ok + "backends:\n  - {name: a, clusterIP: 10.96.0.11}\n  - {name: b}\n", `x.yaml:5: backends[0].clusterIP "10.96.0.11": same as backends[1].clusterIP, assigned by default`},
		{"port", ok + "backends:\n  - name: echo\n    port: 0\n", `x.yaml:6: backends[0].port 0: want 1-65535`},

		// Targets.
		{"targets empty", ok + "targets: []\n", `x.yaml:4: targets: must not be empty (omit it to measure only the direct path)`},
		{"target name required", ok + "targets:\n  - kind: direct\n", `x.yaml:5: targets[0].name: required`},
		{"target name syntax", ok + "targets:\n  - {name: -d, kind: direct}\n", `x.yaml:5: targets[0].name "-d": want a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`},
		{"target duplicate", ok + "targets:\n  - {name: d, kind: direct}\n  - {name: d, kind: nginx}\n", `x.yaml:6: targets[1].name "d": duplicate of targets[0].name`},
		{"kind required", ok + "targets:\n  - name: d\n", `x.yaml:5: targets[0].kind: required (want direct, meshproxy, nginx, haproxy, envoy or linkerd2-proxy)`},
		{"kind unknown", ok + "targets:\n  - {name: d, kind: istio}\n", `x.yaml:5: targets[0].kind "istio": want direct, meshproxy, nginx, haproxy, envoy or linkerd2-proxy`},
		{"two direct", ok + "targets:\n  - {name: a, kind: direct}\n  - {name: b, kind: direct}\n", `x.yaml:6: targets[1].kind "direct": a second direct target (targets[0] is one; the direct path is measured once)`},
		{"no direct", ok + "targets:\n  - {name: m, kind: meshproxy}\n  - {name: n, kind: nginx}\n", `x.yaml:4: targets: no direct target: a proxy's added latency is its latency minus the direct path's, measured in the same run, so m or n need one (add {name: direct, kind: direct})`},
		{"topology meshproxy", ok + "targets:\n  - {name: d, kind: direct}\n  - {name: m, kind: meshproxy}\n  - name: p\n    kind: meshproxy\n    topology: pair\n", `x.yaml:9: targets[2].topology "pair": want client-sidecar, server-sidecar or sidecar-pair`},
		{"topology peer", ok + "targets:\n  - {name: d, kind: direct}\n  - {name: n, kind: nginx, topology: client-sidecar}\n", `x.yaml:6: targets[1].topology "client-sidecar": only meshproxy targets choose a topology; kind nginx is always one-hop`},
		{"topology direct", ok + "targets:\n  - {name: d, kind: direct, topology: one-hop}\n", `x.yaml:5: targets[0].topology "one-hop": only meshproxy targets choose a topology; kind direct is always direct`},
		{"tls value", ok + "targets:\n  - {name: d, kind: direct}\n  - {name: m, kind: meshproxy, tls: tls}\n", `x.yaml:6: targets[1].tls "tls": want none or mtls`},
		{"tls without pair", ok + "targets:\n  - {name: d, kind: direct}\n  - {name: m, kind: meshproxy, tls: mtls}\n", `x.yaml:6: targets[1].tls "mtls": needs kind meshproxy with topology sidecar-pair (mutual TLS runs between the two sidecars of a pair)`},
		{"meshProtocol value", ok + "targets:\n  - {name: d, kind: direct}\n  - {name: m, kind: meshproxy, topology: sidecar-pair, tls: mtls, meshProtocol: h2c}\n", `x.yaml:6: targets[1].meshProtocol "h2c": want h2 or http/1.1`},
		{"meshProtocol without mtls", ok + "targets:\n  - {name: d, kind: direct}\n  - {name: m, kind: meshproxy, topology: sidecar-pair, meshProtocol: http/1.1}\n", `x.yaml:6: targets[1].meshProtocol "http/1.1": needs kind meshproxy with topology sidecar-pair and tls mtls (it is what the client sidecar offers by ALPN on the mTLS hop)`},
		{"meshProtocol one sidecar", ok + "targets:\n  - {name: d, kind: direct}\n  - {name: m, kind: meshproxy, meshProtocol: h2}\n", `x.yaml:6: targets[1].meshProtocol "h2": needs kind meshproxy with topology sidecar-pair and tls mtls (it is what the client sidecar offers by ALPN on the mTLS hop)`},
		{"meshProtocol peer", ok + "targets:\n  - {name: d, kind: direct}\n  - {name: n, kind: nginx, meshProtocol: http/1.1}\n", `x.yaml:6: targets[1].meshProtocol "http/1.1": needs kind meshproxy with topology sidecar-pair and tls mtls (it is what the client sidecar offers by ALPN on the mTLS hop)`},
		{"event loops range", ok + "targets:\n  - {name: d, kind: direct}\n  - {name: m, kind: meshproxy, eventLoops: 257}\n", `x.yaml:6: targets[1].eventLoops 257: want 0-256 (0: one per core)`},
		{"event loops peer", ok + "targets:\n  - {name: d, kind: direct}\n  - {name: h, kind: haproxy, eventLoops: 2}\n", `x.yaml:6: targets[1].eventLoops 2: only for kind meshproxy`},

		// Split.
		{"split peer", split("nginx", "{a: 0.5, b: 0.5}", ""), `x.yaml:8: targets[1].split: only for kind meshproxy (the split is an HTTPRoute meshproxy applies)`},
		{"split unknown backend", split("meshproxy", "{a: 0.5, c: 0.5}", ""), `x.yaml:8: targets[1].split[c]: not a backend (want echo, a or b)`},
		{"split share", split("meshproxy", "{a: 1.5, b: -0.5}", ""), "x.yaml:8: targets[1].split[a] 1.5: want a share above 0 and at most 1\nx.yaml:8: targets[1].split[b] -0.5: want a share above 0 and at most 1"},
		{"split sum", split("meshproxy", "{a: 0.5, b: 0.4}", ""), `x.yaml:8: targets[1].split: shares sum to 0.9, want 1`},
		{"split empty", split("meshproxy", "{}", ""), `x.yaml:8: targets[1].split: must not be empty (omit it, or give each backend's share)`},
		{"tolerance range", split("meshproxy", "{a: 0.5, b: 0.5}", "0.6"), `x.yaml:9: targets[1].tolerance 0.6: want above 0 and at most 0.5 (an absolute share)`},
		{"tolerance zero", split("meshproxy", "{a: 0.5, b: 0.5}", "0"), `x.yaml:9: targets[1].tolerance 0: want above 0 and at most 0.5 (an absolute share)`},
		{"tolerance without split", ok + "targets:\n  - {name: d, kind: direct}\n  - {name: m, kind: meshproxy, tolerance: 0.1}\n", `x.yaml:6: targets[1].tolerance 0.1: only with split`},
		{"split without route", ok + "backends: [{name: echo}, {name: a}]\ntargets:\n  - {name: d, kind: direct}\n  - {name: m, kind: meshproxy, split: {a: 1}}\n", `x.yaml:7: targets[1].split: needs an HTTPRoute in objects with parentRef Service "echo" (load.service), or meshproxy sends all traffic to echo and nothing is split`},

		// Objects.
		{"objects without split", ok + "objects:\n  - {apiVersion: v1, kind: Service, metadata: {name: s}}\n", `x.yaml:4: objects: given only to meshproxy targets with a split, and no target has one`},
		{"object kind required", split("meshproxy", "{a: 1}", "") + "  - {apiVersion: v1, metadata: {name: s}}\n", `x.yaml:16: objects[1].kind: required`},
		{"object api version type", split("meshproxy", "{a: 1}", "") + "  - {apiVersion: 1, kind: Service, metadata: {name: s}}\n", `x.yaml:16: objects[1].apiVersion: want a non-empty string`},
		{"object name required", split("meshproxy", "{a: 1}", "") + "  - apiVersion: v1\n    kind: Service\n    metadata: {namespace: default}\n", `x.yaml:18: objects[1].metadata.name: required`},
		{"object metadata required", split("meshproxy", "{a: 1}", "") + "  - {apiVersion: v1, kind: Service}\n", `x.yaml:16: objects[1].metadata: required (with name)`},
		{"object kind", split("meshproxy", "{a: 1}", "") + "  - apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: web}\n", `x.yaml:17: objects[1].kind "Deployment": want Service (v1), EndpointSlice (discovery.k8s.io/v1) or HTTPRoute (gateway.networking.k8s.io/v1); backends generate their own Services and EndpointSlices, and meshproxy reads no other kind`},
		{"object api version", split("meshproxy", "{a: 1}", "") + "  - apiVersion: gateway.networking.k8s.io/v1alpha2\n    kind: HTTPRoute\n    metadata: {name: r2}\n", `x.yaml:16: objects[1].apiVersion "gateway.networking.k8s.io/v1alpha2": want gateway.networking.k8s.io/v1 or gateway.networking.k8s.io/v1beta1 for kind HTTPRoute`},
		{"object backend service", split("meshproxy", "{a: 1}", "") + "  - apiVersion: v1\n    kind: Service\n    metadata:\n      name: a\n", `x.yaml:19: objects[1].metadata.name "a": the Service of backends[1] has this name, and backends generate their own Service and EndpointSlice; rename one`},
		{"object backend slice", split("meshproxy", "{a: 1}", "") + "  - apiVersion: discovery.k8s.io/v1\n    kind: EndpointSlice\n    metadata:\n      name: a-1\n      labels: {kubernetes.io/service-name: a}\n", `x.yaml:20: objects[1].metadata.labels[kubernetes.io/service-name] "a": an EndpointSlice of backends[1]'s Service; backends generate their own`},
		{"object duplicate", split("meshproxy", "{a: 1}", "") + "  - apiVersion: gateway.networking.k8s.io/v1\n    kind: HTTPRoute\n    metadata: {name: r, namespace: default}\n", `x.yaml:18: objects[1].metadata.name "r": duplicate HTTPRoute default/r (first is objects[0])`},
		{"route dangling backend", split("meshproxy", "{a: 1}", "") + "  - apiVersion: gateway.networking.k8s.io/v1\n    kind: HTTPRoute\n    metadata: {name: r2}\n    spec:\n      rules:\n        - backendRefs: [{name: c, port: 8080}]\n", `x.yaml:21: objects[1].spec.rules[0].backendRefs[0].name "c": no backend or Service object of that name`},
		{"object infinite", split("meshproxy", "{a: 1}", "") + "  - {apiVersion: v1, kind: Service, metadata: {name: s}, spec: {x: .nan}}\n", `x.yaml:16: objects[1].spec.x .nan: not representable in JSON (Kubernetes objects are JSON)`},

		// Several problems are all reported, in file order.
		{"several", "name: X\nmode: vm\nload:\n  rates: [0]\n", "x.yaml:1: name \"X\": want a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters\nx.yaml:2: mode \"vm\": want loopback or netns\nx.yaml:4: load.rates[0] 0: want a rate above 0 and at most 1e+06 requests/s"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		if seen[tt.name] {
			t.Fatalf("duplicate case %q", tt.name)
		}
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.in), "x.yaml")
			if err == nil {
				t.Fatalf("no error; got %+v", s)
			}
			if s != nil {
				t.Errorf("a scenario with the error")
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s\ninput:\n%s", err, tt.want, tt.in)
			}
			if len(Errors(err)) == 0 {
				t.Errorf("no *Error in %v", err)
			}
		})
	}
}

// split returns a scenario (lines 1-15) with backends echo, a, b, a direct
// target and a target (split on line 8, tolerance on line 9) of kind,
// and an HTTPRoute on echo as objects[0]; more objects may be appended.
func split(kind, shares, tolerance string) string {
	tol := ""
	if tolerance != "" {
		tol = "    tolerance: " + tolerance + "\n"
	}
	return `name: x
load: {rates: [10]}
backends: [{name: echo}, {name: a}, {name: b}]
targets:
  - {name: d, kind: direct}
  - name: s
    kind: ` + kind + `
    split: ` + shares + "\n" + tol + `objects:
  - apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: r}
    spec:
      parentRefs: [{group: "", kind: Service, name: echo}]
      rules: [{backendRefs: [{name: a, port: 8080}]}]
`
}

func TestErrorFormat(t *testing.T) {
	for _, tt := range []struct {
		e    Error
		want string
	}{
		{Error{File: "scenarios/x.yaml", Line: 12, Field: "targets[2].topology", Value: `"pair"`, Msg: "want client-sidecar, server-sidecar or sidecar-pair"},
			`scenarios/x.yaml:12: targets[2].topology "pair": want client-sidecar, server-sidecar or sidecar-pair`},
		{Error{File: "x.yaml", Field: "name", Msg: "required"}, "x.yaml: name: required"},
		{Error{File: "x.yaml", Line: 3, Msg: "invalid YAML: oops"}, "x.yaml:3: invalid YAML: oops"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %s, want %s", got, tt.want)
		}
	}
}

// Aliases are followed, but a file cannot expand without bound.
func TestAliasBomb(t *testing.T) {
	in := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g"} {
		in += n + ": &" + n + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
		prev = n
	}
	in = "name: x\nload: {rates: [1]}\nobjects:\n  - " + strings.ReplaceAll(strings.TrimSuffix(in, "\n"), "\n", "\n    ") + "\n"
	_, err := Parse([]byte(in), "x.yaml")
	if err == nil || !strings.Contains(err.Error(), "too deeply nested or too large") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load("testdata/nonexistent.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yaml", "name: b\nload: {rates: [1]}\n")
	write("a.yaml", "name: a\nload: {rates: [0]}\n")
	write("c.yaml", "# same name as b\nname: b\nload: {rates: [1]}\n")
	write("notes.md", "not a scenario")
	write("d.yml", "not .yaml")
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, e := range got {
		s := filepath.Base(e.Path) + " "
		if e.Err != nil {
			s += strings.ReplaceAll(e.Err.Error(), dir+string(filepath.Separator), "")
		} else {
			s += e.Scenario.Name
		}
		summary = append(summary, s)
	}
	want := []string{
		"a.yaml a.yaml:2: load.rates[0] 0: want a rate above 0 and at most 1e+06 requests/s",
		"b.yaml b",
		"c.yaml c.yaml:2: name \"b\": also the name of b.yaml (scenario names must be unique: results are stored by name)",
	}
	if !reflect.DeepEqual(summary, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(summary, "\n"), strings.Join(want, "\n"))
	}
	if _, err := List(filepath.Join(dir, "missing")); err == nil {
		t.Error("List of a missing directory: no error")
	}
}

// The scenario files shipped in scenarios/ parse, and say what the runner
// and the Makefile expect of them.
func TestShippedScenarios(t *testing.T) {
	entries, err := List("../..")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Scenario{}
	for _, e := range entries {
		if e.Err != nil {
			t.Errorf("%s: %v", e.Path, e.Err)
			continue
		}
		if base := strings.TrimSuffix(filepath.Base(e.Path), ".yaml"); base != e.Scenario.Name {
			t.Errorf("%s: name %q, want the file's name", e.Path, e.Scenario.Name)
		}
		if e.Scenario.Description == "" {
			t.Errorf("%s: no description", e.Path)
		}
		byName[e.Scenario.Name] = e.Scenario
	}
	targets := func(s *Scenario) string {
		var names []string
		for _, t := range s.Targets {
			names = append(names, t.Name)
		}
		return strings.Join(names, ",")
	}
	for _, tt := range []struct {
		name, targets string
		rates         []float64
		duration      time.Duration
		reps          int
	}{
		{"default", "direct,meshproxy,meshproxy-pair-mtls,meshproxy-pair-mtls-h1hop,split-90-10,nginx,haproxy", []float64{1000, 10000}, 10 * time.Second, 3},
		{"gate", "direct,meshproxy,meshproxy-pair-mtls", []float64{1000}, 10 * time.Second, 5},
		{"split", "direct,split-90-10", []float64{2000}, 5 * time.Second, 1},
		{"quick", "direct,meshproxy", []float64{500}, time.Second, 1},
		{"soak", "meshproxy-pair-mtls", []float64{500}, 10 * time.Minute, 1},
	} {
		s := byName[tt.name]
		if s == nil {
			t.Errorf("no scenario %q in scenarios/", tt.name)
			continue
		}
		if got := targets(s); got != tt.targets {
			t.Errorf("%s: targets %s, want %s", tt.name, got, tt.targets)
		}
		if !reflect.DeepEqual(s.Load.Rates, tt.rates) || s.Load.Duration != tt.duration || s.Load.Repetitions != tt.reps {
			t.Errorf("%s: load %+v", tt.name, s.Load)
		}
	}
	if q := byName["quick"]; q != nil && q.Load.Warmup != 500*time.Millisecond {
		t.Errorf("quick: warmup %v", q.Load.Warmup)
	}
	if g := byName["gate"]; g != nil && g.Load.Warmup != time.Second {
		t.Errorf("gate: warmup %v", g.Load.Warmup)
	}
	for _, name := range []string{"default", "split"} {
		s := byName[name]
		if s == nil {
			continue
		}
		sp := s.Targets[len(strings.Split(targets(s)[:strings.Index(targets(s), "split-90-10")], ","))-1]
		if sp.Name != "split-90-10" || sp.Split["echo-v1"] != 0.9 || sp.Split["echo-v2"] != 0.1 || sp.Kind != KindMeshproxy {
			t.Errorf("%s: split target %+v", name, sp)
		}
		if s.Load.Service != "echo" || len(s.Objects) != 1 || s.Objects[0]["kind"] != "HTTPRoute" {
			t.Errorf("%s: service %q, objects %v", name, s.Load.Service, s.Objects)
		}
	}
	if d := byName["default"]; d != nil {
		if p := d.Targets[2]; p.Topology != TopoSidecarPair || p.TLS != TLSMutual {
			t.Errorf("default: %+v", p)
		}
		// make bench measures h2 at the HTTP/1.1 rates and gRPC at 1000
		// req/s (10000 saturates a 2-core machine).
		if !reflect.DeepEqual(d.Protocol, Protocols{ProtocolHTTP1, ProtocolH2, ProtocolGRPC}) ||
			!reflect.DeepEqual(d.RatesFor(ProtocolH2), d.Load.Rates) || !reflect.DeepEqual(d.RatesFor(ProtocolGRPC), []float64{1000}) {
			t.Errorf("default: protocol %v, protocolRates %v", d.Protocol, d.Load.ProtocolRates)
		}
	}
	// The CI suite and the soak stay HTTP/1.1: their baselines are.
	for _, name := range []string{"gate", "soak", "quick", "split"} {
		if s := byName[name]; s != nil && !reflect.DeepEqual(s.Protocol, Protocols{ProtocolHTTP1}) {
			t.Errorf("%s: protocol %v", name, s.Protocol)
		}
	}
	// The soak is issue 11's: reloads every 10 s, rotations every minute,
	// kills every 2 minutes, a slow reader, RSS flat within 10 % or 5 MiB,
	// on the gate's mTLS pair with a second server pod to kill.
	if k := byName["soak"]; k != nil {
		want := Soak{
			Reload: 10 * time.Second, Rotate: time.Minute,
			Kill:       SoakKill{Every: 2 * time.Minute, Down: 5 * time.Second, ExpectedFailures: k.Soak.Kill.ExpectedFailures},
			SlowReader: SlowReader{Size: 1 << 20, Rate: 100 << 10},
			RSS:        SoakRSS{Every: 5 * time.Second, Warm: 2 * time.Minute, Window: time.Minute, MaxGrowth: 10, MaxGrowthMiB: 5},
		}
		if k.Soak != want || k.Targets[0].TLS != TLSMutual || k.Targets[0].Topology != TopoSidecarPair || k.Backends[0].Replicas != 2 {
			t.Errorf("soak: %+v, targets %+v, backends %+v", k.Soak, k.Targets, k.Backends)
		}
	}
	// What make bench and make gate run tolerates no failed request.
	for _, name := range []string{"default", "gate"} {
		if s := byName[name]; s != nil && s.Load.MinSuccess != 100 {
			t.Errorf("%s: minSuccess %v, want 100%%", name, s.Load.MinSuccess)
		}
	}
}
