package scenario

import (
	"cmp"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshbench/meshbench/scenarios/internal/cpus"
)

// Defaults (see the field comments in types.go).
const (
	DefaultMode        = ModeLoopback
	DefaultProtocol    = ProtocolHTTP1
	DefaultConnections = 16
	DefaultDuration    = 10 * time.Second
	DefaultWarmup      = 2 * time.Second
	DefaultRepetitions = 3
	DefaultTimeout     = 5 * time.Second
	DefaultPayload     = 1024
	DefaultPath        = "/"
	DefaultBackend     = "echo"
	DefaultReplicas    = 1
	DefaultPort        = 8080
	DefaultTarget      = "direct"
	DefaultTLS         = TLSNone
	DefaultTolerance   = 0.02
	DefaultMinSuccess  = Percent(100)
	DefaultStreams     = 1
	// DefaultMeshProtocol is an mTLS pair's meshProtocol, as meshproxy's
	// own default.
	DefaultMeshProtocol = ProtocolH2

	// Soak defaults (see the field comments of Soak).
	DefaultSoakReload          = 10 * time.Second
	DefaultSoakRotate          = time.Minute
	DefaultSoakKillEvery       = 2 * time.Minute
	DefaultSoakKillDown        = 5 * time.Second
	DefaultSoakSlowReaderSize  = 1 << 20
	DefaultSoakSlowReaderRate  = 100 << 10
	DefaultSoakRSSEvery        = 5 * time.Second
	DefaultSoakRSSWarm         = 2 * time.Minute
	DefaultSoakRSSWindow       = time.Minute
	DefaultSoakRSSMaxGrowth    = Percent(10)
	DefaultSoakRSSMaxGrowthMiB = 5.0
	DefaultSoakRepetitions     = 1
	MaxSoakExpectedFailures    = 1000000
	MaxSoakSlowReaderRate      = 1 << 30
	MaxSoakRSSMaxGrowthPercent = 1000
)

// Modes and TLS settings (protocols: protocol.go).
const (
	ModeLoopback = "loopback"
	ModeNetns    = "netns"
	TLSNone      = "none"
	TLSMutual    = "mtls"
)

// Limits checked by validation.
const (
	MaxRate        = 1e6
	MaxConnections = 10000
	MaxRepetitions = 100
	MaxBodyBytes   = 64 << 20
	MaxBackends    = 100 // clusterIPs are assigned from 10.96.0.10 up
	MaxReplicas    = 32
	MaxEventLoops  = 256
	MaxStreams     = 1000
	MaxTolerance   = 0.5
	splitEpsilon   = 1e-6
)

// Kinds lists every target kind, direct and meshproxy first.
var Kinds = []string{KindDirect, KindMeshproxy, "nginx", "haproxy", "envoy", "linkerd2-proxy"}

var meshproxyTopologies = []string{TopoClientSidecar, TopoServerSidecar, TopoSidecarPair}

// DefaultTopology returns the topology of a target of kind that sets none:
// client-sidecar for meshproxy, direct for direct, one-hop for the peers.
func DefaultTopology(kind string) string {
	switch kind {
	case KindMeshproxy:
		return TopoClientSidecar
	case KindDirect:
		return TopoDirect
	}
	return TopoOneHop
}

// assignedClusterIP is the clusterIP of backend i when it sets none.
func assignedClusterIP(i int) string { return "10.96.0." + strconv.Itoa(10+i) }

// defaults fills in every field the file did not set (d.set records which
// it did: a field set to its zero value is validated, not defaulted).
func (d *decoder) defaults(s *Scenario) {
	str := func(path string, v *string, def string) {
		if !d.set[path] {
			*v = def
		}
	}
	num := func(path string, v *int, def int) {
		if !d.set[path] {
			*v = def
		}
	}
	dur := func(path string, v *time.Duration, def time.Duration) {
		if !d.set[path] {
			*v = def
		}
	}
	str("mode", &s.Mode, DefaultMode)
	if !d.set["protocol"] {
		s.Protocol = Protocols{DefaultProtocol}
	}

	if !d.set["backends"] {
		s.Backends = []Backend{{Name: DefaultBackend}}
	}
	for i := range s.Backends {
		b, p := &s.Backends[i], item("backends", i)
		num(p+".replicas", &b.Replicas, DefaultReplicas)
		num(p+".port", &b.Port, DefaultPort)
		str(p+".clusterIP", &b.ClusterIP, assignedClusterIP(i))
	}

	l := &s.Load
	num("load.connections", &l.Connections, DefaultConnections)
	dur("load.duration", &l.Duration, DefaultDuration)
	dur("load.warmup", &l.Warmup, DefaultWarmup)
	if d.set["soak"] {
		num("load.repetitions", &l.Repetitions, DefaultSoakRepetitions)
	} else {
		num("load.repetitions", &l.Repetitions, DefaultRepetitions)
	}
	dur("load.timeout", &l.Timeout, DefaultTimeout)
	num("load.payload", &l.Payload, DefaultPayload)
	num("load.streams", &l.Streams, DefaultStreams)
	str("load.path", &l.Path, DefaultPath)
	if !d.set["load.minSuccess"] {
		l.MinSuccess = DefaultMinSuccess
	}
	if !d.set["load.service"] && len(s.Backends) > 0 {
		l.Service = s.Backends[0].Name
	}

	if !d.set["targets"] {
		s.Targets = []Target{{Name: DefaultTarget, Kind: KindDirect}}
	}
	for i := range s.Targets {
		t, p := &s.Targets[i], item("targets", i)
		str(p+".topology", &t.Topology, DefaultTopology(t.Kind))
		str(p+".tls", &t.TLS, DefaultTLS)
		if t.Kind == KindMeshproxy && t.Topology == TopoSidecarPair && t.TLS == TLSMutual {
			// Recorded in the result's spec: which hop a pair was measured over.
			str(p+".meshProtocol", &t.MeshProtocol, DefaultMeshProtocol)
		}
		if d.set[p+".split"] && !d.set[p+".tolerance"] {
			t.Tolerance = DefaultTolerance
		}
	}
	if s.Objects == nil {
		s.Objects = []map[string]any{}
	}
	if d.set["soak"] {
		k := &s.Soak
		dur("soak.reload", &k.Reload, DefaultSoakReload)
		dur("soak.rotate", &k.Rotate, DefaultSoakRotate)
		dur("soak.kill.every", &k.Kill.Every, DefaultSoakKillEvery)
		dur("soak.kill.down", &k.Kill.Down, DefaultSoakKillDown)
		num("soak.slowReader.size", &k.SlowReader.Size, DefaultSoakSlowReaderSize)
		num("soak.slowReader.rate", &k.SlowReader.Rate, DefaultSoakSlowReaderRate)
		dur("soak.rss.every", &k.RSS.Every, DefaultSoakRSSEvery)
		dur("soak.rss.warm", &k.RSS.Warm, DefaultSoakRSSWarm)
		dur("soak.rss.window", &k.RSS.Window, DefaultSoakRSSWindow)
		if !d.set["soak.rss.maxGrowth"] {
			k.RSS.MaxGrowth = DefaultSoakRSSMaxGrowth
		}
		if !d.set["soak.rss.maxGrowthMiB"] {
			k.RSS.MaxGrowthMiB = DefaultSoakRSSMaxGrowthMiB
		}
	}
}

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

const labelRule = "want a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"

func isLabel(s string) bool { return len(s) <= 63 && labelRE.MatchString(s) }

// oneOf formats an enum for messages: "a, b or c".
func oneOf(vals ...string) string {
	if len(vals) == 1 {
		return vals[0]
	}
	return strings.Join(vals[:len(vals)-1], ", ") + " or " + vals[len(vals)-1]
}

func q(s string) string          { return strconv.Quote(s) }
func qd(v time.Duration) string  { return strconv.Quote(v.String()) }
func num(f float64) string       { return strconv.FormatFloat(f, 'g', -1, 64) }
func itoa(i int) string          { return strconv.Itoa(i) }
func between(v, lo, hi int) bool { return v >= lo && v <= hi }

// name checks a required DNS-label name at field and reports whether it is
// usable (for duplicate checks).
func (d *decoder) name(field, v string) bool {
	switch {
	case !d.set[field] && v == "":
		d.errorf(field, "", "required")
	case !isLabel(v):
		d.errorf(field, q(v), labelRule)
	default:
		return true
	}
	return false
}

// validate checks a decoded scenario with its defaults applied.
func (d *decoder) validate(s *Scenario) {
	d.name("name", s.Name)
	if strings.ContainsAny(s.Description, "\n\r") {
		d.errorf("description", "", "must be one line")
	}
	if s.Mode != ModeLoopback && s.Mode != ModeNetns {
		d.errorf("mode", q(s.Mode), "want %s or %s", ModeLoopback, ModeNetns)
	}
	d.validateProtocols(s)
	backends := d.validateBackends(s)
	d.validateLoad(s, backends)
	d.validateCPUs(s)
	d.validateTargets(s, backends)
	d.validateCarried(s)
	d.validateObjects(s, backends)
	d.validateSoak(s, backends)
}

func (d *decoder) validateLoad(s *Scenario, backends map[string]int) {
	l := &s.Load
	if len(l.Rates) == 0 {
		if d.set["load.rates"] {
			d.errorf("load.rates", "", "must not be empty (requests/s, e.g. [1000, 10000])")
		} else {
			d.errorf("load.rates", "", "required (requests/s, e.g. [1000, 10000])")
		}
	}
	d.validateRates("load.rates", l.Rates)
	if !between(l.Connections, 1, MaxConnections) {
		d.errorf("load.connections", itoa(l.Connections), "want 1-%d", MaxConnections)
	}
	if l.Duration <= 0 {
		d.errorf("load.duration", qd(l.Duration), "must be positive")
	}
	if l.Warmup < 0 {
		d.errorf("load.warmup", qd(l.Warmup), "must not be negative (0s: no warm-up)")
	}
	if !between(l.Repetitions, 1, MaxRepetitions) {
		d.errorf("load.repetitions", itoa(l.Repetitions), "want 1-%d", MaxRepetitions)
	}
	if l.Timeout <= 0 {
		d.errorf("load.timeout", qd(l.Timeout), "must be positive")
	}
	if !between(l.Payload, 0, MaxBodyBytes) {
		d.errorf("load.payload", itoa(l.Payload), "want 0-%d bytes (64 MiB)", MaxBodyBytes)
	}
	switch {
	case !between(l.RequestBody, 0, MaxBodyBytes):
		d.errorf("load.requestBody", itoa(l.RequestBody), "want 0-%d bytes (64 MiB)", MaxBodyBytes)
	case l.RequestBody > 0 && s.Protocol.Has(ProtocolGRPC):
		d.errorf("load.requestBody", itoa(l.RequestBody), "not with protocol %s: the echo returns a call's request message, so load.payload sizes it both ways (want 0)", ProtocolGRPC)
	}
	d.validateStreams(s)
	d.validateProtocolRates(s)
	switch {
	case !strings.HasPrefix(l.Path, "/"):
		d.errorf("load.path", q(l.Path), `must start with "/"`)
	case strings.ContainsFunc(l.Path, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		d.errorf("load.path", q(l.Path), "must not contain spaces or control characters (percent-encode them)")
	}
	if l.MinSuccess < 0 || l.MinSuccess > 100 {
		d.errorf("load.minSuccess", q(l.MinSuccess.String()), "want 0%%-100%%")
	}
	// (A default service is the first backend, checked as such.)
	if _, ok := backends[l.Service]; !ok && d.set["load.service"] {
		d.errorf("load.service", q(l.Service), "not a backend (want %s)", oneOf(backendNames(s)...))
	}
}

// validateRates checks a list of rates at path: each above 0 and at most
// MaxRate, no duplicates.
func (d *decoder) validateRates(path string, rates []float64) {
	first := map[float64]int{}
	for i, r := range rates {
		p := item(path, i)
		if r <= 0 || r > MaxRate {
			d.errorf(p, num(r), "want a rate above 0 and at most %s requests/s", num(MaxRate))
			continue
		}
		if j, dup := first[r]; dup {
			d.errorf(p, num(r), "duplicate of %s[%d]", path, j)
			continue
		}
		first[r] = i
	}
}

func (d *decoder) validateCPUs(s *Scenario) {
	for _, f := range []struct{ path, list string }{{"cpus.load", s.CPUs.Load}, {"cpus.targets", s.CPUs.Targets}} {
		path, list := f.path, f.list
		if !d.set[path] {
			continue
		}
		if _, err := cpus.Parse(list); err != nil {
			d.errorf(path, q(list), "%v", err)
		}
	}
}

func backendNames(s *Scenario) []string {
	names := make([]string, len(s.Backends))
	for i, b := range s.Backends {
		names[i] = b.Name
	}
	return names
}

// validateBackends checks backends and returns their indexes by name.
func (d *decoder) validateBackends(s *Scenario) map[string]int {
	byName := map[string]int{}
	if len(s.Backends) == 0 {
		d.errorf("backends", "", "must not be empty (omit it for one backend %q)", DefaultBackend)
	}
	if len(s.Backends) > MaxBackends {
		d.errorf("backends", "", "%d backends; at most %d", len(s.Backends), MaxBackends)
	}
	ips := map[netip.Addr]int{}
	for i, b := range s.Backends {
		p := item("backends", i)
		if d.name(p+".name", b.Name) {
			if j, dup := byName[b.Name]; dup {
				d.errorf(p+".name", q(b.Name), "duplicate of backends[%d].name", j)
			} else {
				byName[b.Name] = i
			}
		}
		if !between(b.Replicas, 1, MaxReplicas) {
			d.errorf(p+".replicas", itoa(b.Replicas), "want 1-%d", MaxReplicas)
		}
		if b.Delay < 0 {
			d.errorf(p+".delay", qd(b.Delay), "must not be negative")
		}
		if !between(b.Port, 1, 65535) {
			d.errorf(p+".port", itoa(b.Port), "want 1-65535")
		}
		ip, err := netip.ParseAddr(b.ClusterIP)
		if err != nil || !ip.Is4() {
			d.errorf(p+".clusterIP", q(b.ClusterIP), "want an IPv4 address such as %s", assignedClusterIP(i))
			continue
		}
		if j, dup := ips[ip]; dup {
			// Report it on a clusterIP the file sets (assigned ones differ).
			at, other := p, item("backends", j)
			if !d.set[at+".clusterIP"] {
				at, other = other, at
			}
			how := ""
			if !d.set[other+".clusterIP"] {
				how = ", assigned by default"
			}
			d.errorf(at+".clusterIP", q(b.ClusterIP), "same as %s.clusterIP%s", other, how)
			continue
		}
		ips[ip] = i
	}
	return byName
}

func (d *decoder) validateTargets(s *Scenario, backends map[string]int) {
	if len(s.Targets) == 0 {
		d.errorf("targets", "", "must not be empty (omit it to measure only the direct path)")
		return
	}
	names := map[string]int{}
	direct := -1
	var others []string
	for i := range s.Targets {
		t, p := &s.Targets[i], item("targets", i)
		if d.name(p+".name", t.Name) {
			if j, dup := names[t.Name]; dup {
				d.errorf(p+".name", q(t.Name), "duplicate of targets[%d].name", j)
			} else {
				names[t.Name] = i
			}
		}
		switch {
		case t.Kind == "" && !d.set[p+".kind"]:
			d.errorf(p+".kind", "", "required (want %s)", oneOf(Kinds...))
			continue
		case !slices.Contains(Kinds, t.Kind):
			d.errorf(p+".kind", q(t.Kind), "want %s", oneOf(Kinds...))
			continue
		case t.Kind == KindDirect && direct >= 0:
			d.errorf(p+".kind", q(t.Kind), "a second direct target (targets[%d] is one; the direct path is measured once)", direct)
		case t.Kind == KindDirect:
			direct = i
		default:
			others = append(others, t.Name)
		}
		mesh := t.Kind == KindMeshproxy
		switch {
		case mesh && !slices.Contains(meshproxyTopologies, t.Topology):
			d.errorf(p+".topology", q(t.Topology), "want %s", oneOf(meshproxyTopologies...))
		case !mesh && t.Topology != DefaultTopology(t.Kind):
			d.errorf(p+".topology", q(t.Topology), "only meshproxy targets choose a topology; kind %s is always %s", t.Kind, DefaultTopology(t.Kind))
		}
		switch {
		case t.TLS != TLSNone && t.TLS != TLSMutual:
			d.errorf(p+".tls", q(t.TLS), "want %s or %s", TLSNone, TLSMutual)
		case t.TLS == TLSMutual && (!mesh || t.Topology != TopoSidecarPair):
			d.errorf(p+".tls", q(t.TLS), "needs kind meshproxy with topology %s (mutual TLS runs between the two sidecars of a pair)", TopoSidecarPair)
		}
		switch {
		case !d.set[p+".meshProtocol"]:
		case !slices.Contains(MeshProtocols, t.MeshProtocol):
			d.errorf(p+".meshProtocol", q(t.MeshProtocol), "want %s", oneOf(MeshProtocols...))
		case !mesh || t.Topology != TopoSidecarPair || t.TLS != TLSMutual:
			d.errorf(p+".meshProtocol", q(t.MeshProtocol), "needs kind meshproxy with topology %s and tls %s (it is what the client sidecar offers by ALPN on the mTLS hop)", TopoSidecarPair, TLSMutual)
		}
		switch {
		case !between(t.EventLoops, 0, MaxEventLoops):
			d.errorf(p+".eventLoops", itoa(t.EventLoops), "want 0-%d (0: one per core)", MaxEventLoops)
		case t.EventLoops != 0 && !mesh:
			d.errorf(p+".eventLoops", itoa(t.EventLoops), "only for kind meshproxy")
		}
		d.validateSplit(s, p, t, backends)
	}
	if direct < 0 && len(others) > 0 && !d.set["soak"] { // a soak judges no added latency (validateSoak)
		d.errorf("targets", "", "no direct target: a proxy's added latency is its latency minus the direct path's, measured in the same run, so %s need one (add {name: direct, kind: direct})", oneOf(others...))
	}
}

func (d *decoder) validateSplit(s *Scenario, p string, t *Target, backends map[string]int) {
	hasSplit := d.set[p+".split"]
	if d.set[p+".tolerance"] && !hasSplit {
		d.errorf(p+".tolerance", num(t.Tolerance), "only with split")
	}
	if !hasSplit {
		return
	}
	if t.Kind != KindMeshproxy {
		d.errorf(p+".split", "", "only for kind meshproxy (the split is an HTTPRoute meshproxy applies)")
		return
	}
	if len(t.Split) == 0 {
		d.errorf(p+".split", "", "must not be empty (omit it, or give each backend's share)")
		return
	}
	keys := make([]string, 0, len(t.Split))
	for k := range t.Split {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { // file order, near enough
		return cmp.Or(cmp.Compare(d.lines[p+".split["+a+"]"], d.lines[p+".split["+b+"]"]), strings.Compare(a, b))
	})
	sum, ok := 0.0, true
	for _, k := range keys {
		v, f := t.Split[k], p+".split["+k+"]"
		if _, isBackend := backends[k]; !isBackend {
			d.errorf(f, "", "not a backend (want %s)", oneOf(backendNames(s)...))
			ok = false
		}
		if v <= 0 || v > 1 {
			d.errorf(f, num(v), "want a share above 0 and at most 1")
			ok = false
		}
		sum += v
	}
	if ok && math.Abs(sum-1) > splitEpsilon {
		d.errorf(p+".split", "", "shares sum to %s, want 1", num(sum))
	}
	if t.Tolerance <= 0 || t.Tolerance > MaxTolerance {
		d.errorf(p+".tolerance", num(t.Tolerance), "want above 0 and at most %s (an absolute share)", num(MaxTolerance))
	}
	if !routesService(s.Objects, s.Load.Service) {
		d.errorf(p+".split", "", "needs an HTTPRoute in objects with parentRef Service %q (load.service), or meshproxy sends all traffic to %[1]s and nothing is split", s.Load.Service)
	}
}

// objectKinds are the kinds objects may hold, with their apiVersions.
var objectKinds = []struct {
	kind     string
	versions []string
}{
	{"Service", []string{"v1"}},
	{"EndpointSlice", []string{"discovery.k8s.io/v1"}},
	{"HTTPRoute", []string{"gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"}},
}

const objectKindsText = "Service (v1), EndpointSlice (discovery.k8s.io/v1) or HTTPRoute (gateway.networking.k8s.io/v1)"

func str(m map[string]any, key string) (string, bool) {
	s, ok := m[key].(string)
	return s, ok
}

func objMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// isServiceRef reports whether a parentRef or backendRef refers to a core
// Service: group "" (or absent for a backendRef, whose default is core) and
// kind Service (or absent).
func isServiceRef(ref map[string]any, parent bool) bool {
	group, hasGroup := ref["group"]
	kind, hasKind := ref["kind"]
	if parent && !hasGroup { // parentRef group defaults to gateway.networking.k8s.io
		return false
	}
	return (!hasGroup || group == "") && (!hasKind && !parent || kind == "Service")
}

// routesService reports whether some HTTPRoute in objects has a Service
// parentRef named svc.
func routesService(objects []map[string]any, svc string) bool {
	for _, o := range objects {
		if o["kind"] != "HTTPRoute" {
			continue
		}
		for _, r := range list(objMap(o["spec"])["parentRefs"]) {
			if ref := objMap(r); isServiceRef(ref, true) && ref["name"] == svc {
				return true
			}
		}
	}
	return false
}

func (d *decoder) validateObjects(s *Scenario, backends map[string]int) {
	if len(s.Objects) == 0 {
		return
	}
	split := false
	for i := range s.Targets {
		split = split || d.set[item("targets", i)+".split"]
	}
	if !split {
		d.errorf("objects", "", "given only to meshproxy targets with a split, and no target has one")
	}
	services := map[string]bool{}
	for name := range backends {
		services[name] = true
	}
	seen := map[string]int{}
	valid := make([]bool, len(s.Objects))
	for i, o := range s.Objects {
		p := item("objects", i)
		ok := true
		for _, f := range []string{"apiVersion", "kind"} {
			v, isStr := str(o, f)
			switch {
			case o[f] == nil:
				d.errorf(p+"."+f, "", "required")
				ok = false
			case !isStr || v == "":
				d.errorf(p+"."+f, "", "want a non-empty string")
				ok = false
			}
		}
		md, isMap := o["metadata"].(map[string]any)
		name, isStr := str(md, "name")
		switch {
		case o["metadata"] == nil:
			d.errorf(p+".metadata", "", "required (with name)")
			ok = false
		case !isMap:
			d.errorf(p+".metadata", "", "want a mapping (with name)")
			ok = false
		case md["name"] == nil:
			d.errorf(p+".metadata.name", "", "required")
			ok = false
		case !isStr || name == "":
			d.errorf(p+".metadata.name", "", "want a non-empty string")
			ok = false
		}
		if !ok {
			continue
		}
		apiVersion, _ := str(o, "apiVersion")
		kind, _ := str(o, "kind")
		k := slices.IndexFunc(objectKinds, func(ok struct {
			kind     string
			versions []string
		}) bool {
			return ok.kind == kind
		})
		if k < 0 {
			d.errorf(p+".kind", q(kind), "want %s; backends generate their own Services and EndpointSlices, and meshproxy reads no other kind", objectKindsText)
			continue
		}
		if versions := objectKinds[k].versions; !slices.Contains(versions, apiVersion) {
			d.errorf(p+".apiVersion", q(apiVersion), "want %s for kind %s", oneOf(versions...), kind)
			continue
		}
		ns, _ := str(md, "namespace")
		if ns == "" {
			ns = "default"
		}
		key := kind + " " + ns + "/" + name
		if j, dup := seen[key]; dup {
			d.errorf(p+".metadata.name", q(name), "duplicate %s %s/%s (first is objects[%d])", kind, ns, name, j)
			continue
		}
		seen[key] = i
		switch kind {
		case "Service":
			if j, isBackend := backends[name]; isBackend {
				d.errorf(p+".metadata.name", q(name), "the Service of backends[%d] has this name, and backends generate their own Service and EndpointSlice; rename one", j)
				continue
			}
			services[name] = true
		case "EndpointSlice":
			const label = "kubernetes.io/service-name"
			if svc, _ := str(objMap(md["labels"]), label); svc != "" {
				if j, isBackend := backends[svc]; isBackend {
					d.errorf(p+".metadata.labels["+label+"]", q(svc), "an EndpointSlice of backends[%d]'s Service; backends generate their own", j)
					continue
				}
			}
		}
		valid[i] = true
	}
	// HTTPRoute references, now that every Service is known.
	for i, o := range s.Objects {
		if !valid[i] || o["kind"] != "HTTPRoute" {
			continue
		}
		p := item("objects", i) + ".spec"
		spec := objMap(o["spec"])
		check := func(f string, ref map[string]any, parent bool) {
			if name, _ := str(ref, "name"); isServiceRef(ref, parent) && !services[name] {
				d.errorf(f+".name", q(name), "no backend or Service object of that name")
			}
		}
		for j, r := range list(spec["parentRefs"]) {
			check(item(p+".parentRefs", j), objMap(r), true)
		}
		for j, rule := range list(spec["rules"]) {
			for k, r := range list(objMap(rule)["backendRefs"]) {
				check(item(item(p+".rules", j)+".backendRefs", k), objMap(r), false)
			}
		}
	}
}
