// Package scenario is the schema of scenarios/*.yaml: what `meshbench run`
// starts (backends, targets), how it loads them (rates, connections,
// duration, repetitions) and which Kubernetes objects configure meshproxy.
//
// A scenario file is one YAML document, decoded strictly by Parse: unknown
// fields (anywhere but inside objects), duplicate keys, merge keys and
// values of the wrong type are errors; durations are Go duration strings
// ("10s", "500ms", "1m30s"). A field that is absent or null takes its
// default; a field set to its zero value is validated as written (so
// "warmup: 0s" means no warm-up, and "connections: 0" is an error). Every
// error names the file, line and field path (see Error).
package scenario

import (
	"strconv"
	"time"
)

// Scenario is one file after parsing, defaults and validation.
type Scenario struct {
	// File is the path it was read from (not in the YAML).
	File string `yaml:"-" json:"file"`

	// Name is required: a DNS label (lower-case letters, digits and '-',
	// starting and ending with a letter or digit, at most 63 characters),
	// used in result file names.
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description"` // one line
	// Mode is where the topology runs: "loopback" (default, any user) or
	// "netns" (root: pods as network namespaces with iptables capture).
	// `meshbench run -netns` overrides it.
	Mode string `yaml:"mode" json:"mode"`
	// Protocol is what the load speaks to the targets: "http/1.1"
	// (default), "h2" (HTTP/2 as h2c with prior knowledge: every target
	// here is plaintext) or "grpc" (unary gRPC calls of the echo's
	// /meshbench.echo.v1.Echo/Unary over h2c). One protocol, or a list:
	// then every target is measured in each protocol it can carry (see
	// Unsupported), protocols alternating within each rate and repetition,
	// and the steps of a protocol it cannot carry are recorded as skipped
	// with the reason. With one protocol, a target that cannot carry it is
	// an error. A step's target is named after its target and protocol
	// (StepTarget): "meshproxy", "meshproxy-h2", "meshproxy-grpc".
	Protocol Protocols `yaml:"protocol" json:"protocol"`

	Load LoadSpec `yaml:"load" json:"load"`

	// CPUs pins the run's processes to CPU lists (taskset -c syntax: "1",
	// "0,2-3"); unset, they run wherever the kernel puts them. Load is
	// meshload's list, Targets the list of everything it measures: echo
	// backends, proxies and peers. Each CPU must be one the runner may use.
	// Loopback and netns modes only: on kind the kubelet assigns CPUs, and
	// a kind run records that it ignored them.
	CPUs CPUs `yaml:"cpus" json:"cpus,omitzero"`

	// Backends are the echo servers the runner starts. Each becomes a
	// Service (clusterIP assigned by the runner unless set) and an
	// EndpointSlice listing its replicas. Default: one backend "echo".
	// Names are unique DNS labels; at most 100 backends.
	Backends []Backend `yaml:"backends" json:"backends"`

	// Targets are measured in this order, alternating within each rate and
	// repetition (A B C A B C ...). Default: [{name: direct, kind: direct}].
	// Names are unique DNS labels. At most one target is of kind direct,
	// and any other target needs one: added latency is a target's latency
	// minus the direct path's, measured in the same run.
	Targets []Target `yaml:"targets" json:"targets"`

	// Objects are extra Kubernetes objects, exactly as `kubectl get -o
	// yaml` shows them (each a map decoded from YAML, passed through
	// without strict decoding; meshproxy's own parser checks them fully).
	// Allowed kinds: Service (v1), EndpointSlice (discovery.k8s.io/v1) and
	// HTTPRoute (gateway.networking.k8s.io/v1 or v1beta1) with a Service
	// parentRef (the GAMMA pattern). Each needs apiVersion, kind and
	// metadata.name; no Service (or EndpointSlice) may be a backend's, since
	// backends generate their own; HTTPRoute parentRefs and backendRefs to
	// Services must name a backend or a Service in objects.
	//
	// The runner gives objects only to the meshproxy of targets that have a
	// Split: there an HTTPRoute on load.service's Service redirects the
	// load (say, 90/10 between two other backends). Every other meshproxy
	// target gets just the backends' Services and EndpointSlices, so its
	// load goes straight to load.service. Hence objects require a target
	// with a split, and a split requires an HTTPRoute in objects with a
	// parentRef to the Service named by load.service.
	Objects []map[string]any `yaml:"objects" json:"objects"`

	// Soak, when set, makes the run a soak (see Soak): one meshproxy
	// sidecar-pair target at one rate for load.duration, with configuration
	// reloads, certificate rotations, endpoint kills and a slow reader
	// beside the load, judged by its failures against a stated budget and by
	// the flatness of every proxy's RSS. Unset (the zero Soak): no soak.
	Soak Soak `yaml:"soak" json:"soak,omitzero"`
}

// Soak is Scenario.Soak. Every period is a Go duration; 0s turns that
// disturbance off. Disturbances and RSS samples are timed from the start of
// the measured load (after load.warmup), so every failure they cause is in
// meshload's counts.
type Soak struct {
	// Reload rewrites the client sidecar's config file this often (default
	// 10s) with a real change the load still satisfies: its HTTPRoute on
	// load.service alternates between a rule with a header match on
	// x-meshbench-soak (which the load and the slow reader send) and weight
	// 2, and a rule without it and weight 1. The sidecar reloads on the
	// file change.
	Reload time.Duration `yaml:"reload" json:"reload"`
	// Rotate issues new leaf certificates (same CA) to every sidecar this
	// often (default 1m), where they read them; needs tls: mtls.
	Rotate time.Duration `yaml:"rotate" json:"rotate"`
	// Kill stops a pod abruptly and brings it back.
	Kill SoakKill `yaml:"kill" json:"kill"`
	// SlowReader is one more client beside the load, on one connection for
	// the whole run, that asks for large responses and reads them slowly.
	SlowReader SlowReader `yaml:"slowReader" json:"slowReader"`
	// RSS is the flatness verdict on every proxy's memory.
	RSS SoakRSS `yaml:"rss" json:"rss"`
}

// SoakKill is Soak.Kill. The pod killed is the last replica of
// load.service: its server sidecar and its echo, both with SIGKILL (a pod
// lost, as on a node failure), restarted Down later on the same addresses
// with the same certificates. The client sidecar keeps the endpoint in its
// EndpointSlice throughout (no control plane noticed), so new requests meet
// a refused connect, which meshproxy retries once on another endpoint.
type SoakKill struct {
	Every time.Duration `yaml:"every" json:"every"` // default 2m; 0s: no kills
	Down  time.Duration `yaml:"down" json:"down"`   // default 5s; above 0 and below every
	// ExpectedFailures is the failed requests allowed per kill (default
	// 0): the soak fails when the load's and the slow reader's failures
	// together exceed ExpectedFailures × the kills done. A request that
	// was in flight to the killed pod cannot be answered and is not safe
	// to retry once sent, so each kill may cost up to one request per load
	// connection plus the slow reader's.
	ExpectedFailures int `yaml:"expectedFailures" json:"expectedFailures"`
}

// SlowReader is Soak.SlowReader: one keep-alive connection to the client
// sidecar that asks for Size-byte responses (the echo's ?size=) one after
// another and reads each at Rate bytes/s, checking every byte. Size 0: no
// slow reader.
type SlowReader struct {
	Size int `yaml:"size" json:"size"` // default 1048576 (1 MiB); 0-64 MiB
	Rate int `yaml:"rate" json:"rate"` // bytes/s; default 102400 (100 KiB/s); above 0
}

// SoakRSS is Soak.RSS. Every proxy's VmRSS is sampled every Every. A
// proxy that ran the whole soak passes when the median of its samples in
// the last Window grew by at most the larger of MaxGrowth (of the
// reference) and MaxGrowthMiB over the reference, the median of its
// samples in [Warm, Warm+Window). A proxy the kills restarted is shown,
// not judged: each incarnation starts afresh.
type SoakRSS struct {
	Every        time.Duration `yaml:"every" json:"every"`               // default 5s; at most window/2
	Warm         time.Duration `yaml:"warm" json:"warm"`                 // default 2m
	Window       time.Duration `yaml:"window" json:"window"`             // default 1m
	MaxGrowth    Percent       `yaml:"maxGrowth" json:"maxGrowth"`       // default 10%
	MaxGrowthMiB float64       `yaml:"maxGrowthMiB" json:"maxGrowthMiB"` // default 5
}

// Enabled reports whether the scenario is a soak.
func (s Soak) Enabled() bool { return s != Soak{} }

// LoadSpec is the load at each step. (It is not named Load because the
// package's Load function reads a file.)
type LoadSpec struct {
	// Rates in requests/s, measured in this order; required, each above 0
	// and at most 1e6, no duplicates.
	Rates       []float64     `yaml:"rates" json:"rates"`
	Connections int           `yaml:"connections" json:"connections"` // default 16; 1-10000
	Duration    time.Duration `yaml:"duration" json:"duration"`       // measured part of each step; default 10s; > 0
	Warmup      time.Duration `yaml:"warmup" json:"warmup"`           // before measuring; default 2s; >= 0
	Repetitions int           `yaml:"repetitions" json:"repetitions"` // default 3; 1-100
	Timeout     time.Duration `yaml:"timeout" json:"timeout"`         // per request; default 5s; > 0
	// Payload is the response body size in bytes the echo servers send
	// (default 1024); RequestBody the request body size (default 0). Each
	// 0-64 MiB. A gRPC call's message is Payload bytes both ways (the echo
	// returns the request message), so grpc needs RequestBody 0.
	Payload     int `yaml:"payload" json:"payload"`
	RequestBody int `yaml:"requestBody" json:"requestBody"`
	// Streams is how many requests each connection has in flight at most
	// with h2 and grpc (meshload -streams); default 1, 1-1000. Above 1
	// only when protocol has h2 or grpc: HTTP/1.1 has one at a time.
	Streams int `yaml:"streams" json:"streams"`
	// ProtocolRates replaces Rates for the protocols it names (each one
	// of protocol's list), e.g. {grpc: [1000]} where gRPC at 10000 req/s
	// would saturate a small machine. Each list follows Rates' rules.
	ProtocolRates map[string][]float64 `yaml:"protocolRates" json:"protocolRates,omitempty"`
	// Service is the backend the load addresses (its Host header), default
	// the first backend. With an HTTPRoute on it, that route decides (for
	// targets with a split only; see Scenario.Objects).
	Service string `yaml:"service" json:"service"`
	// Path is the request path (default "/"); it starts with "/" and has
	// no spaces or control characters.
	Path string `yaml:"path" json:"path"`
	// MinSuccess is the lowest share of a step's requests that must
	// succeed (a response with an expected status, 2xx) for the step to
	// pass: a percentage 0%-100% written with its sign, "99.9%" (a bare
	// number is an error: it could be a ratio or a percent). Default 100%:
	// any failed request fails the step. A step with no response fails
	// whatever the minimum.
	MinSuccess Percent `yaml:"minSuccess" json:"minSuccess"`
}

// CPUs is Scenario.CPUs: CPU lists as written (validated by cpus.Parse).
type CPUs struct {
	Load    string `yaml:"load" json:"load,omitempty"`
	Targets string `yaml:"targets" json:"targets,omitempty"`
}

// Percent is a percentage, 0-100 (99.9 means 99.9 %).
type Percent float64

// String formats p as a scenario file writes it: "99.9%".
func (p Percent) String() string { return strconv.FormatFloat(float64(p), 'f', -1, 64) + "%" }

// Backend is one echo service.
type Backend struct {
	Name      string        `yaml:"name" json:"name"`           // Service name, a DNS label; required
	Replicas  int           `yaml:"replicas" json:"replicas"`   // echo processes, default 1; 1-32
	Delay     time.Duration `yaml:"delay" json:"delay"`         // upstream delay per response, default 0; >= 0
	ClusterIP string        `yaml:"clusterIP" json:"clusterIP"` // IPv4, unique; default: assigned, 10.96.0.10 + index
	Port      int           `yaml:"port" json:"port"`           // Service port, default 8080; 1-65535
}

// Target is one thing measured.
type Target struct {
	Name string `yaml:"name" json:"name"` // unique DNS label; required
	// Kind (required): "direct" (no proxy), "meshproxy", or a peer:
	// "nginx", "haproxy", "envoy", "linkerd2-proxy" (one-hop reverse
	// proxies).
	Kind string `yaml:"kind" json:"kind"`
	// Topology for meshproxy: "client-sidecar" (default), "server-sidecar"
	// or "sidecar-pair". Peers and direct are "one-hop" / "direct" (their
	// defaults) and may set only that value.
	Topology string `yaml:"topology" json:"topology"`
	// TLS between the sidecars of a pair: "none" (default) or "mtls"
	// (only with kind meshproxy, topology sidecar-pair).
	TLS string `yaml:"tls" json:"tls"`
	// MeshProtocol is what the client sidecar of an mTLS pair offers on
	// the mesh hop (meshproxy's spec.http.meshProtocol): "h2" (default for
	// such a pair: one multiplexed HTTP/2 connection per event loop) or
	// "http/1.1" (a connection per request in flight). Only with kind
	// meshproxy, topology sidecar-pair and tls mtls, so two targets can
	// compare the two hops in one run.
	MeshProtocol string `yaml:"meshProtocol" json:"meshProtocol,omitempty"`
	// EventLoops for meshproxy (0, the default: one per core); 0-256.
	// Other kinds may not set it (other than to 0).
	EventLoops int `yaml:"eventLoops" json:"eventLoops"`
	// Split, when set (meshproxy only), checks the traffic split: the
	// expected share per backend name (each in (0, 1], summing to 1 within
	// 1e-6), compared with what the echo servers counted during each step,
	// within Tolerance (absolute; default 0.02 when Split is set; (0, 0.5];
	// only with Split). A target with a split gets Scenario.Objects.
	Split     map[string]float64 `yaml:"split" json:"split,omitempty"`
	Tolerance float64            `yaml:"tolerance" json:"tolerance,omitempty"`
}

// Kinds of target.
const (
	KindDirect    = "direct"
	KindMeshproxy = "meshproxy"
)

// Topologies.
const (
	TopoDirect        = "direct"
	TopoOneHop        = "one-hop"
	TopoClientSidecar = "client-sidecar"
	TopoServerSidecar = "server-sidecar"
	TopoSidecarPair   = "sidecar-pair"
)
