package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meshbench/meshbench/internal/atomicfile"
	"github.com/meshbench/meshbench/results/schema"
	"github.com/meshbench/meshbench/scenarios/internal/netns"
	"github.com/meshbench/meshbench/scenarios/internal/peers"
	"github.com/meshbench/meshbench/scenarios/internal/procstat"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

const (
	namespace   = "default"
	trustDomain = "cluster.local"
	readyWithin = 15 * time.Second
)

// echoServer is one replica of a backend.
type echoServer struct {
	backend string
	addr    string // 127.0.0.1:port; in netns mode the server pod's IP:port
	local   string // netns mode: 127.0.0.1:port, its address inside the pod
	proc    *process
}

// target is one scenario target, started and ready to be loaded.
type target struct {
	spec     scenario.Target
	topology string
	tls      string
	url      string // what meshload sends to
	protocol string // what meshload speaks (scenario.ProtocolHTTP1, ...)
	host     string // Host header
	proxies  []*process
	names    []string // proxy names, parallel to proxies ("client-sidecar", ...)
	admins   []string // meshproxy admin addresses, parallel to proxies ("" for peers)
	skipped  string   // why the target is not measured (a peer not installed)
	failed   string   // why it could not start

	// echoes are the echo replicas this target's load reaches, by backend
	// (on loopback the run's shared ones; in netns mode its server pod's).
	echoes map[string][]echoServer
	// launch wraps the load generator's command line (netns mode: run it
	// in the target's client pod); nil runs it as is.
	launch func(argv []string) []string
	// stats reads the echo servers' /stats (netns mode: from inside the
	// server pod); nil: a plain client on loopback.
	stats *http.Client

	// A loopback sidecar pair: its server pods (one per replica of
	// load.service) and the client sidecar's config name, which a soak
	// rewrites.
	pods   []*pod
	client string
}

// pod is one replica of a sidecar pair's server side on loopback: an echo
// and the server sidecar in front of it, as a Kubernetes pod would hold
// them.
type pod struct {
	echo    echoServer
	sidecar *process
	admin   string // the sidecar's admin address
	proxy   int    // the sidecar's index in target.proxies
}

// setStartError records why t could not start: a peer that is not
// installed or cannot run this way is skipped, anything else failed.
func (t *target) setStartError(err error) {
	switch {
	case err == nil:
	case errors.Is(err, peers.ErrNotFound), errors.Is(err, peers.ErrUnsupported):
		t.skipped = err.Error()
	default:
		t.failed = err.Error()
	}
}

func (t *target) groups() []procstat.Group {
	g := make([]procstat.Group, len(t.proxies))
	for i, p := range t.proxies {
		g[i] = procstat.Group{Name: t.names[i], Root: p.pid()}
	}
	return g
}

// topology starts the backends and every target of a scenario on loopback.
type topology struct {
	sc       *scenario.Scenario
	bin      Binaries
	sup      *supervisor
	work     string
	echoes   map[string][]echoServer // by backend name
	certs    string                  // dir with ca.crt and identities, made on first mTLS target
	versions map[string]string

	// netns mode (pods.go): the pods, and the meshproxy copy the sidecars
	// (uid 1337) run.
	net      *netns.Network
	proxyBin string

	// confs are the meshproxy configs written, by name, so that a soak
	// can rewrite one with a change.
	confs map[string]proxyConf
}

// proxyConf is what writeProxyConfig wrote: the Proxy spec, its identity
// ("ns/sa" or "") and the objects after it.
type proxyConf struct {
	proxy map[string]any
	id    string
	objs  []any
	path  string
}

func (tp *topology) startBackends(ctx context.Context) error {
	tp.echoes = map[string][]echoServer{}
	for _, b := range tp.sc.Backends {
		for i := 0; i < b.Replicas; i++ {
			port, err := freePort()
			if err != nil {
				return err
			}
			addr := "127.0.0.1:" + strconv.Itoa(port)
			name := fmt.Sprintf("%s-%d", b.Name, i+1)
			argv := []string{tp.bin.Meshbench, "echo", "-listen", addr, "-name", name,
				"-size", strconv.Itoa(tp.sc.Load.Payload), "-delay", b.Delay.String()}
			p, err := tp.sup.start("echo-"+name, roleTarget, argv, nil)
			if err != nil {
				return err
			}
			if err := waitReady(ctx, p, readyWithin, "TCP connect "+addr, tcpCheck(addr)); err != nil {
				return err
			}
			tp.echoes[b.Name] = append(tp.echoes[b.Name], echoServer{backend: b.Name, addr: addr, proc: p})
		}
	}
	return nil
}

func (tp *topology) backend(name string) scenario.Backend {
	for _, b := range tp.sc.Backends {
		if b.Name == name {
			return b
		}
	}
	return scenario.Backend{}
}

// start brings up one target; a peer that is not installed or cannot run
// this way is returned as skipped, any other failure as failed.
func (tp *topology) start(ctx context.Context, spec scenario.Target, protocol string) *target {
	t := &target{spec: spec, topology: spec.Topology, tls: spec.TLS, echoes: tp.echoes, protocol: protocol}
	if t.tls == "" {
		t.tls = "none"
	}
	svc := tp.sc.Load.Service
	first := tp.echoes[svc][0].addr
	t.host = svc + ":" + strconv.Itoa(tp.backend(svc).Port)
	var err error
	switch spec.Kind {
	case scenario.KindDirect:
		t.topology = scenario.TopoDirect
		t.url = "http://" + first + tp.sc.Load.Path
	case scenario.KindMeshproxy:
		err = tp.startMeshproxy(ctx, t)
	default:
		t.topology = scenario.TopoOneHop
		err = tp.startPeer(ctx, t)
	}
	t.setStartError(err)
	return t
}

func (tp *topology) startPeer(ctx context.Context, t *target) error {
	peer, ok := peers.Lookup(t.spec.Kind)
	if !ok {
		return fmt.Errorf("target %s: unknown kind %q", t.spec.Name, t.spec.Kind)
	}
	path, version, err := peer.Find()
	if err != nil {
		return err
	}
	tp.versions[peer.Name] = version
	port, err := freePort()
	if err != nil {
		return err
	}
	dir := filepath.Join(tp.work, t.spec.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var ups []string
	for _, e := range tp.echoes[tp.sc.Load.Service] {
		ups = append(ups, e.addr)
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	argv, err := peer.Prepare(path, peers.Options{Listen: listen, Upstreams: ups, Workers: runtime.NumCPU(), Dir: dir, Protocol: t.protocol})
	if err != nil {
		return err
	}
	p, err := tp.sup.start(t.spec.Name, roleTarget, argv, nil)
	if err != nil {
		return err
	}
	if err := waitReady(ctx, p, readyWithin, "TCP connect "+listen, tcpCheck(listen)); err != nil {
		return err
	}
	t.proxies, t.names = []*process{p}, []string{peer.Name}
	t.url = "http://" + listen + tp.sc.Load.Path
	return nil
}

// proxyPorts are one meshproxy's listeners.
type proxyPorts struct{ admin, outbound, inbound int }

func (tp *topology) startMeshproxy(ctx context.Context, t *target) error {
	if t.topology == "" {
		t.topology = scenario.TopoClientSidecar
	}
	if len(t.spec.Split) > 0 && t.topology != scenario.TopoClientSidecar {
		return fmt.Errorf("target %s: a split check needs topology client-sidecar", t.spec.Name)
	}
	svc := tp.sc.Load.Service
	app := tp.echoes[svc][0].addr
	switch t.topology {
	case scenario.TopoClientSidecar:
		objs := tp.backendObjects(nil, "")
		if t.protocol == scenario.ProtocolGRPC {
			appProtocolH2C(objs)
		}
		if len(t.spec.Split) > 0 {
			objs = append(objs, anySlice(tp.sc.Objects)...)
		}
		p, ports, err := tp.runProxy(ctx, t.spec.Name+"-client", t.spec, proxyPorts{outbound: 1}, nil, "", objs)
		if err != nil {
			return err
		}
		t.proxies, t.names, t.admins = []*process{p}, []string{"client-sidecar"}, []string{adminAddr(ports)}
		t.url = fmt.Sprintf("http://127.0.0.1:%d%s", ports.outbound, tp.sc.Load.Path)
	case scenario.TopoServerSidecar:
		p, ports, err := tp.runProxy(ctx, t.spec.Name+"-server", t.spec, proxyPorts{inbound: 1}, inboundApp(app, t.protocol), "", nil)
		if err != nil {
			return err
		}
		t.proxies, t.names, t.admins = []*process{p}, []string{"server-sidecar"}, []string{adminAddr(ports)}
		t.url = fmt.Sprintf("http://127.0.0.1:%d%s", ports.inbound, tp.sc.Load.Path)
	case scenario.TopoSidecarPair:
		var clientID, serverID string
		if t.tls == "mtls" {
			if err := tp.makeCerts(); err != nil {
				return err
			}
			clientID, serverID = "default/client", "default/"+svc
		}
		// One server pod per replica of the Service: its echo behind its
		// own server sidecar, and the client sidecar's EndpointSlices list
		// the sidecars' inbound listeners, as Kubernetes would.
		echoes := tp.echoes[svc]
		var inbound []string
		var servers []*process
		var serverNames, serverAdmins []string
		for i, e := range echoes {
			name, pname := t.spec.Name+"-server", "server-sidecar"
			if len(echoes) > 1 {
				name, pname = fmt.Sprintf("%s-%d", name, i+1), fmt.Sprintf("%s-%d", pname, i+1)
			}
			srv, sports, err := tp.runProxy(ctx, name, t.spec, proxyPorts{inbound: 1}, inboundApp(e.addr, t.protocol), serverID, nil)
			if err != nil {
				return err
			}
			inbound = append(inbound, "127.0.0.1:"+strconv.Itoa(sports.inbound))
			servers, serverNames, serverAdmins = append(servers, srv), append(serverNames, pname), append(serverAdmins, adminAddr(sports))
			t.pods = append(t.pods, &pod{echo: e, sidecar: srv, admin: adminAddr(sports), proxy: 1 + i})
		}
		override := map[string][]string{svc: inbound}
		identity := ""
		if serverID != "" {
			identity = "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + svc
		}
		objs := tp.backendObjects(override, identity)
		if t.protocol == scenario.ProtocolGRPC {
			appProtocolH2C(objs)
		}
		if r := tp.sc.Soak.Reload; r > 0 {
			// The route a soak's reloads rewrite, there from the start.
			objs = append(objs, soakRoute(svc, tp.backend(svc).Port, 0))
		}
		t.client = t.spec.Name + "-client"
		cli, cports, err := tp.runProxy(ctx, t.client, t.spec, proxyPorts{outbound: 1}, nil, clientID, objs)
		if err != nil {
			return err
		}
		t.proxies = append([]*process{cli}, servers...)
		t.names = append([]string{"client-sidecar"}, serverNames...)
		t.admins = append([]string{adminAddr(cports)}, serverAdmins...)
		t.url = fmt.Sprintf("http://127.0.0.1:%d%s", cports.outbound, tp.sc.Load.Path)
	default:
		return fmt.Errorf("target %s: unknown topology %q", t.spec.Name, t.topology)
	}
	return nil
}

// appProtocolH2C marks every Service port in objs (generated ones, never
// the scenario's own objects) appProtocol kubernetes.io/h2c: that is how
// meshproxy learns to speak HTTP/2 to the endpoints, which gRPC needs end
// to end. (Over an mTLS hop the ALPN offer decides instead.)
func appProtocolH2C(objs []any) {
	for _, o := range objs {
		m, _ := o.(map[string]any)
		if m["kind"] != "Service" {
			continue
		}
		spec, _ := m["spec"].(map[string]any)
		ports, _ := spec["ports"].([]any)
		for _, p := range ports {
			if pm, ok := p.(map[string]any); ok {
				pm["appProtocol"] = "kubernetes.io/h2c"
			}
		}
	}
}

func anySlice(objs []map[string]any) []any {
	out := make([]any, len(objs))
	for i, o := range objs {
		out[i] = o
	}
	return out
}

// makeCerts writes a CA and the identities every mTLS pair uses, once.
func (tp *topology) makeCerts() error {
	if tp.certs != "" {
		return nil
	}
	dir := filepath.Join(tp.work, "certs")
	ids := strings.Join(tp.certIdentities(), ",")
	p, err := tp.sup.start("certs", roleTool, []string{tp.bin.Meshbench, "certs", "-out", dir, "-identities", ids, "-trust-domain", trustDomain}, nil)
	if err != nil {
		return err
	}
	<-p.done
	if p.err != nil {
		return fmt.Errorf("meshbench certs: %v: %s", p.err, tail(p.log, 5))
	}
	tp.certs = dir
	return nil
}

// certIdentities are the identities ("ns/sa") makeCerts issues: the
// client's and one per backend.
func (tp *topology) certIdentities() []string {
	ids := []string{"default/client"}
	for _, b := range tp.sc.Backends {
		ids = append(ids, "default/"+b.Name)
	}
	return ids
}

// backendObjects are a Service and one EndpointSlice per replica for every
// backend. override replaces a backend's endpoints with one address (the
// server sidecar of a pair), and identity annotates that Service with the
// SPIFFE ID its endpoints must present.
func (tp *topology) backendObjects(override map[string][]string, identity string) []any {
	var identities map[string]string
	if identity != "" {
		identities = map[string]string{}
		for b := range override {
			identities[b] = identity
		}
	}
	return tp.serviceObjects(tp.echoes, override, identities)
}

// serviceObjects are a Service and one EndpointSlice per replica (listed
// in echoes, or the addresses in override) for every backend; identities
// annotates the named backends' Services with the SPIFFE ID their
// endpoints must present.
func (tp *topology) serviceObjects(echoes map[string][]echoServer, override map[string][]string, identities map[string]string) []any {
	var objs []any
	for _, b := range tp.sc.Backends {
		meta := map[string]any{"name": b.Name, "namespace": namespace}
		if id := identities[b.Name]; id != "" {
			meta["annotations"] = map[string]any{"meshbench.dev/identity": id}
		}
		objs = append(objs, map[string]any{
			"apiVersion": "v1", "kind": "Service", "metadata": meta,
			"spec": map[string]any{
				"clusterIP": b.ClusterIP,
				"ports":     []any{map[string]any{"name": "http", "port": b.Port}},
			},
		})
		addrs := []string{}
		if a, ok := override[b.Name]; ok {
			addrs = append(addrs, a...)
		} else {
			for _, e := range echoes[b.Name] {
				addrs = append(addrs, e.addr)
			}
		}
		for i, a := range addrs {
			host, port := splitAddr(a)
			objs = append(objs, map[string]any{
				"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
				"metadata": map[string]any{
					"name": fmt.Sprintf("%s-%d", b.Name, i+1), "namespace": namespace,
					"labels": map[string]any{"kubernetes.io/service-name": b.Name},
				},
				"addressType": "IPv4",
				"ports":       []any{map[string]any{"name": "http", "port": port}},
				"endpoints":   []any{map[string]any{"addresses": []any{host}}},
			})
		}
	}
	return objs
}

func splitAddr(a string) (string, int) {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == ':' {
			p, _ := strconv.Atoi(a[i+1:])
			return a[:i], p
		}
	}
	return a, 0
}

// inboundApp is spec.inbound without its address: the application behind
// the inbound listener at addr, and for gRPC steps appProtocol grpc, since
// the echo answers gRPC only over HTTP/2 and meshproxy speaks HTTP/1.1 to
// an app that does not say otherwise.
func inboundApp(addr, protocol string) map[string]any {
	in := map[string]any{"app": addr}
	if protocol == scenario.ProtocolGRPC {
		in["appProtocol"] = "grpc"
	}
	return in
}

// meshHTTP sets spec.http.meshProtocol from the target's meshProtocol
// (set for mTLS pairs only) on a proxy with an outbound listener: the
// client sidecar's ALPN offer on the mesh hop.
func meshHTTP(proxy map[string]any, spec scenario.Target) {
	if spec.MeshProtocol != "" && proxy["outbound"] != nil {
		proxy["http"] = map[string]any{"meshProtocol": spec.MeshProtocol}
	}
}

// runProxy writes a meshproxy config (the Proxy document, then objs) and
// starts it. want says which listeners to open (non-zero fields); inbound
// is the inbound listener's spec without its address (inboundApp); id is
// "ns/sa" for mTLS.
func (tp *topology) runProxy(ctx context.Context, name string, spec scenario.Target, want proxyPorts, inbound map[string]any, id string, objs []any) (*process, proxyPorts, error) {
	var ports proxyPorts
	var err error
	if ports.admin, err = freePort(); err != nil {
		return nil, ports, err
	}
	proxy := map[string]any{
		"admin":      map[string]any{"address": "127.0.0.1:" + strconv.Itoa(ports.admin)},
		"eventLoops": spec.EventLoops,
	}
	if want.outbound != 0 {
		if ports.outbound, err = freePort(); err != nil {
			return nil, ports, err
		}
		proxy["outbound"] = map[string]any{"address": "127.0.0.1:" + strconv.Itoa(ports.outbound)}
	}
	if want.inbound != 0 {
		if ports.inbound, err = freePort(); err != nil {
			return nil, ports, err
		}
		inbound["address"] = "127.0.0.1:" + strconv.Itoa(ports.inbound)
		proxy["inbound"] = inbound
	}
	meshHTTP(proxy, spec)
	cfg, err := tp.writeProxyConfig(name, proxy, id, objs)
	if err != nil {
		return nil, ports, err
	}
	p, err := tp.sup.start(name, roleTarget, []string{tp.bin.Meshproxy, "-config", cfg, "-log-level", "warn"}, nil)
	if err != nil {
		return nil, ports, err
	}
	ready := fmt.Sprintf("http://127.0.0.1:%d/ready", ports.admin)
	if err := waitReady(ctx, p, readyWithin, "GET "+ready, httpCheck(ready)); err != nil {
		return nil, ports, err
	}
	return p, ports, nil
}

// writeProxyConfig writes work/NAME.yaml: the Proxy document with spec
// proxy (plus the identity files of id, "ns/sa", when set), then objs. It
// returns the file's path. The file is replaced atomically: a running
// meshproxy polls it and must never read half of a rewrite.
func (tp *topology) writeProxyConfig(name string, proxy map[string]any, id string, objs []any) (string, error) {
	if id != "" {
		file := filepath.Join(tp.certs, identityFile(id))
		proxy["identity"] = map[string]any{"certFile": file + ".crt", "keyFile": file + ".key", "caFile": filepath.Join(tp.certs, "ca.crt")}
	}
	docs := append([]any{map[string]any{
		"apiVersion": "meshbench.dev/v1alpha1", "kind": "Proxy",
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec":     proxy,
	}}, objs...)
	var buf bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := yaml.Marshal(d)
		if err != nil {
			return "", fmt.Errorf("%s config: %w", name, err)
		}
		buf.Write(b)
	}
	cfg := filepath.Join(tp.work, name+".yaml")
	err := atomicfile.Write(cfg, "."+name+"-*.yaml", func(w io.Writer) error {
		if f, ok := w.(*os.File); ok {
			// Readable by sidecars running as another user (netns mode).
			if err := f.Chmod(0o644); err != nil {
				return err
			}
		}
		_, err := w.Write(buf.Bytes())
		return err
	})
	if err != nil {
		return "", err
	}
	if tp.confs == nil {
		tp.confs = map[string]proxyConf{}
	}
	tp.confs[name] = proxyConf{proxy: proxy, id: id, objs: objs, path: cfg}
	return cfg, nil
}

func adminAddr(p proxyPorts) string { return "127.0.0.1:" + strconv.Itoa(p.admin) }

// identityFile is the file stem `meshbench certs` writes for "ns/sa".
func identityFile(id string) string {
	b := []byte(id)
	for i, c := range b {
		if c == '/' {
			b[i] = '-'
		}
	}
	return string(b)
}

// stepBase is the static part of a step of t.
func (t *target) stepBase(rate float64, rep int) schema.Step {
	return schema.Step{
		Target: t.spec.Name, Kind: t.spec.Kind, Topology: t.topology, TLS: t.tls,
		Protocol: t.protocol, Rate: rate, Repetition: rep, Proxies: []schema.Proxy{},
	}
}
