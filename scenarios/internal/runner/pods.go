package runner

// Netns mode: the scenario's targets in pods made of network namespaces,
// with traffic captured by iptables as istio-init and linkerd-init install
// it (package netns builds the pods and the capture rules).
//
// Every target gets two pods of its own, so no target's capture rules can
// touch another's traffic:
//
//   - a client pod, where meshload runs (as root). For meshproxy
//     client-sidecar and sidecar-pair it also holds the client sidecar (uid
//     1337, exempt from capture), and the pod's outbound TCP connections to
//     the Services' ports are redirected to the sidecar's outbound listener
//     127.0.0.1:15001; meshproxy reads each connection's original
//     destination (SO_ORIGINAL_DST) and picks the Service by cluster
//     IP:port. For server-sidecar, where no client sidecar runs, a DNAT rule
//     per Service stands in for kube-proxy (cluster IP:port -> server pod
//     IP:echo port).
//   - a server pod with one echo process per replica of every backend, each
//     on 0.0.0.0 and a port of its own (18080, 18081, ... in backend order).
//     For server-sidecar and sidecar-pair it also holds the server sidecar
//     (uid 1337): connections arriving for the echo ports are redirected to
//     its inbound listener 0.0.0.0:15006, whose app is 127.0.0.1:PORT of
//     load.service's first echo. The peers (nginx, HAProxy, Envoy) run here
//     too, listening on the pod IP.
//
// The load addresses http://CLUSTER_IP:PORT/ in every meshproxy topology,
// the server pod's IP and the echo port (direct) or the peer's port
// (peers). EndpointSlices list the server pod IP with the echo ports; for a
// pair with mTLS the Service carries the server identity annotation as on
// loopback (the server sidecar's inbound capture takes the traffic).
//
// Processes are started through the supervisor as "ip netns exec POD argv"
// (and setpriv for uid 1337): both exec in place, so the pid the supervisor
// holds is the program itself, which is what /proc sampling needs from the
// root namespace. Readiness checks and the echo servers' /stats are read by
// this process itself from inside a pod: podDial creates the socket on an
// OS thread moved into the pod's namespace for the duration of the dial
// (see there) — no curl, no helper process.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/scenarios/internal/netns"
	"github.com/meshbench/meshbench/scenarios/internal/peers"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// Fixed ports inside the pods (each pod is a namespace of its own, so they
// never clash): Istio's sidecar ports, the peers' listener, the echoes'.
const (
	sidecarUID   = 1337 // istio-proxy's uid; its own traffic is not captured
	adminPort    = 15000
	outboundPort = 15001
	inboundPort  = 15006
	peerPort     = 10080
	echoPortBase = 18080
)

// prefixPattern matches the namespace names of any run: "mbr" PID "r" SEQ "-".
var prefixPattern = regexp.MustCompile(`^(mbr([0-9]+)r[0-9]+)-`)

var runSeq atomic.Int64

// nextPrefix names a run's namespaces: unique within this process, and
// carrying its pid so that a later run can tell a dead run's leftovers.
func nextPrefix() string {
	return fmt.Sprintf("mbr%dr%d", os.Getpid(), runSeq.Add(1))
}

// podNames are the client and server pods of target i.
func podNames(i int) (client, server string) {
	return fmt.Sprintf("t%d-client", i+1), fmt.Sprintf("t%d-server", i+1)
}

// setupNetwork removes what dead runs left, creates the pods of every
// target and prepares the work directory for the sidecars' uid.
func (r *run) setupNetwork() error {
	cleanupDeadRuns(r.log)
	if err := netns.CleanupStale(r.prefix + "-"); err != nil {
		return err
	}
	if 2*len(r.sc.Targets) > netns.MaxPods {
		return fmt.Errorf("%d targets need %d pods; at most %d fit", len(r.sc.Targets), 2*len(r.sc.Targets), netns.MaxPods)
	}
	var pods []string
	for i := range r.sc.Targets {
		c, s := podNames(i)
		pods = append(pods, c, s)
	}
	// The sidecars run as uid 1337: they must read their configs (in the
	// work directory, 0700 from MkdirTemp) and execute meshproxy, whose
	// directory (a test's temporary one, or bin/ under /root) they may not
	// be able to enter — so they run a copy in the work directory.
	if err := os.Chmod(r.work, 0o755); err != nil {
		return err
	}
	dir := filepath.Join(r.work, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	proxyBin := filepath.Join(dir, filepath.Base(r.bin.Meshproxy))
	if err := copyFile(r.bin.Meshproxy, proxyBin, 0o755); err != nil {
		return fmt.Errorf("copying meshproxy for uid %d: %w", sidecarUID, err)
	}
	n, err := netns.Create(r.prefix, pods)
	if err != nil {
		return err
	}
	r.net = n
	r.tp.net, r.tp.proxyBin = n, proxyBin
	fmt.Fprintf(r.log, "network namespaces %s-*: %d pods (client and server per target)\n", r.prefix, len(pods))
	return nil
}

// closeNetwork deletes the run's namespaces (the network, then anything
// else with its prefix). Idempotent; only for after stopAll.
func (r *run) closeNetwork() error {
	if r.prefix == "" {
		return nil
	}
	var errs []error
	if r.net != nil {
		errs = append(errs, r.net.Close())
	}
	errs = append(errs, netns.CleanupStale(r.prefix+"-"))
	return errors.Join(errs...)
}

// cleanupDeadRuns removes the namespaces of runs whose process no longer
// exists (a runner killed with SIGKILL cannot remove its own; its sidecars,
// running as another uid, do not get its parent-death signal either and
// are killed here with their namespace).
func cleanupDeadRuns(log io.Writer) {
	names, err := netns.List()
	if err != nil {
		return
	}
	done := map[string]bool{}
	for _, name := range names {
		m := prefixPattern.FindStringSubmatch(name)
		if m == nil || done[m[1]] {
			continue
		}
		done[m[1]] = true
		pid, err := strconv.Atoi(m[2])
		if err != nil || pid == os.Getpid() || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue
		}
		if err := netns.CleanupStale(m[1] + "-"); err != nil {
			fmt.Fprintf(log, "removing namespaces of dead run %s: %v\n", m[1], err)
		} else {
			fmt.Fprintf(log, "removed namespaces left by dead run %s\n", m[1])
		}
	}
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// startInPods brings up target i in its two pods; like start, a peer that
// is not installed is skipped, any other failure fails the target.
func (tp *topology) startInPods(ctx context.Context, i int, spec scenario.Target) *target {
	t := &target{spec: spec, topology: spec.Topology, tls: spec.TLS}
	if t.tls == "" {
		t.tls = "none"
	}
	cname, sname := podNames(i)
	client, server := tp.net.Pod(cname), tp.net.Pod(sname)
	t.launch = func(argv []string) []string { return tp.net.Command(cname, argv...) }
	t.stats = podHTTPClient(server.NetNS, 2*time.Second)
	svc := tp.sc.Load.Service
	t.host = svc + ":" + strconv.Itoa(tp.backend(svc).Port)
	err := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var peer peers.Peer
		var peerPath string
		switch spec.Kind {
		case scenario.KindDirect:
			t.topology = scenario.TopoDirect
		case scenario.KindMeshproxy:
			if t.topology == "" {
				t.topology = scenario.TopoClientSidecar
			}
			if len(spec.Split) > 0 && t.topology != scenario.TopoClientSidecar {
				return fmt.Errorf("target %s: a split check needs topology client-sidecar", spec.Name)
			}
		default:
			t.topology = scenario.TopoOneHop
			var ok bool
			if peer, ok = peers.Lookup(spec.Kind); !ok {
				return fmt.Errorf("target %s: unknown kind %q", spec.Name, spec.Kind)
			}
			// Before anything starts: a peer that is not installed is skipped.
			path, version, err := peer.Find()
			if err != nil {
				return err
			}
			tp.versions[peer.Name] = version
			peerPath = path
		}
		if err := tp.startPodEchoes(ctx, t, sname, server); err != nil {
			return err
		}
		var last *process // the process to watch while the whole path is checked
		switch spec.Kind {
		case scenario.KindDirect:
			t.url = "http://" + t.echoes[svc][0].addr + tp.sc.Load.Path
			last = t.echoes[svc][0].proc
		case scenario.KindMeshproxy:
			if err := tp.startPodMeshproxy(ctx, t, cname, sname, client, server); err != nil {
				return err
			}
			last = t.proxies[0]
		default:
			if err := tp.startPodPeer(ctx, t, peer, peerPath, sname, server); err != nil {
				return err
			}
			last = t.proxies[0]
		}
		// The whole path, from the client pod as the load will take it
		// (through the capture rules): one GET must answer 200.
		check := podHTTPClient(client.NetNS, 2*time.Second)
		what := fmt.Sprintf("GET %s from pod %s", t.url, client.NetNS)
		return waitReady(ctx, last, readyWithin, what, httpCheckWith(check, t.url))
	}()
	t.setStartError(err)
	return t
}

// startPodEchoes starts one echo per replica of every backend in the
// server pod, on 0.0.0.0 and ports echoPortBase, +1, ... in backend order.
func (tp *topology) startPodEchoes(ctx context.Context, t *target, pod string, server netns.Pod) error {
	t.echoes = map[string][]echoServer{}
	check := podHTTPClient(server.NetNS, 500*time.Millisecond)
	port := echoPortBase
	for _, b := range tp.sc.Backends {
		for i := 0; i < b.Replicas; i++ {
			local := "127.0.0.1:" + strconv.Itoa(port)
			name := fmt.Sprintf("%s-%d", b.Name, i+1)
			argv := tp.net.Command(pod, tp.bin.Meshbench, "echo", "-listen", "0.0.0.0:"+strconv.Itoa(port), "-name", name,
				"-size", strconv.Itoa(tp.sc.Load.Payload), "-delay", b.Delay.String())
			p, err := tp.sup.start(t.spec.Name+"-echo-"+name, roleTarget, argv, nil)
			if err != nil {
				return err
			}
			if err := waitReady(ctx, p, readyWithin, "GET http://"+local+"/stats in pod "+server.NetNS, httpCheckWith(check, "http://"+local+"/stats")); err != nil {
				return err
			}
			t.echoes[b.Name] = append(t.echoes[b.Name], echoServer{
				backend: b.Name, addr: server.IP + ":" + strconv.Itoa(port), local: local, proc: p,
			})
			port++
		}
	}
	return nil
}

// echoPorts are the ports of every echo of t.
func (t *target) echoPorts() []int {
	var ports []int
	for _, es := range t.echoes {
		for _, e := range es {
			_, p := splitAddr(e.addr)
			ports = append(ports, p)
		}
	}
	return ports
}

// servicePorts are the distinct Service ports of the backends.
func (tp *topology) servicePorts() []int {
	seen := map[int]bool{}
	var ports []int
	for _, b := range tp.sc.Backends {
		if !seen[b.Port] {
			seen[b.Port] = true
			ports = append(ports, b.Port)
		}
	}
	return ports
}

func (tp *topology) startPodMeshproxy(ctx context.Context, t *target, cname, sname string, client, server netns.Pod) error {
	svc := tp.sc.Load.Service
	b := tp.backend(svc)
	t.url = "http://" + b.ClusterIP + ":" + strconv.Itoa(b.Port) + tp.sc.Load.Path
	app := t.echoes[svc][0].local
	outbound := netns.CaptureOptions{OutboundProxyPort: outboundPort, OutboundPorts: tp.servicePorts(), ProxyUID: sidecarUID}
	inbound := netns.CaptureOptions{InboundProxyPort: inboundPort, InboundPorts: t.echoPorts()}
	switch t.topology {
	case scenario.TopoClientSidecar:
		objs := tp.serviceObjects(t.echoes, nil, nil)
		if len(t.spec.Split) > 0 {
			objs = append(objs, anySlice(tp.sc.Objects)...)
		}
		if err := tp.net.Capture(cname, outbound); err != nil {
			return err
		}
		p, err := tp.runPodProxy(ctx, cname, client, t.spec.Name+"-client", t.spec, false, "", "", objs)
		if err != nil {
			return err
		}
		t.proxies, t.names = []*process{p}, []string{"client-sidecar"}
	case scenario.TopoServerSidecar:
		if err := tp.net.Capture(sname, inbound); err != nil {
			return err
		}
		if err := tp.kubeProxy(cname, t); err != nil {
			return err
		}
		p, err := tp.runPodProxy(ctx, sname, server, t.spec.Name+"-server", t.spec, true, app, "", nil)
		if err != nil {
			return err
		}
		t.proxies, t.names = []*process{p}, []string{"server-sidecar"}
	case scenario.TopoSidecarPair:
		var clientID, serverID string
		var identities map[string]string
		if t.tls == "mtls" {
			if err := tp.makeCerts(); err != nil {
				return err
			}
			if err := chownTree(tp.certs, sidecarUID, sidecarUID); err != nil {
				return fmt.Errorf("certificates for uid %d: %w", sidecarUID, err)
			}
			clientID, serverID = "default/client", "default/"+svc
			identities = map[string]string{svc: "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + svc}
		}
		if err := tp.net.Capture(sname, inbound); err != nil {
			return err
		}
		srv, err := tp.runPodProxy(ctx, sname, server, t.spec.Name+"-server", t.spec, true, app, serverID, nil)
		if err != nil {
			return err
		}
		if err := tp.net.Capture(cname, outbound); err != nil {
			return err
		}
		cli, err := tp.runPodProxy(ctx, cname, client, t.spec.Name+"-client", t.spec, false, "", clientID, tp.serviceObjects(t.echoes, nil, identities))
		if err != nil {
			return err
		}
		t.proxies, t.names = []*process{cli, srv}, []string{"client-sidecar", "server-sidecar"}
	default:
		return fmt.Errorf("target %s: unknown topology %q", t.spec.Name, t.topology)
	}
	return nil
}

// runPodProxy writes a meshproxy config with the pod's fixed ports (admin
// 127.0.0.1:15000; outbound 127.0.0.1:15001 where REDIRECT in OUTPUT
// delivers, or inbound 0.0.0.0:15006 where REDIRECT in PREROUTING does) and
// starts it in the pod as uid 1337.
func (tp *topology) runPodProxy(ctx context.Context, pod string, p netns.Pod, name string, spec scenario.Target, inbound bool, app, id string, objs []any) (*process, error) {
	proxy := map[string]any{
		"admin":      map[string]any{"address": "127.0.0.1:" + strconv.Itoa(adminPort)},
		"eventLoops": spec.EventLoops,
	}
	if inbound {
		proxy["inbound"] = map[string]any{"address": "0.0.0.0:" + strconv.Itoa(inboundPort), "app": app}
	} else {
		proxy["outbound"] = map[string]any{"address": "127.0.0.1:" + strconv.Itoa(outboundPort)}
	}
	meshHTTP(proxy, spec)
	cfg, err := tp.writeProxyConfig(name, proxy, id, objs)
	if err != nil {
		return nil, err
	}
	argv := tp.net.CommandAs(pod, sidecarUID, sidecarUID, tp.proxyBin, "-config", cfg, "-log-level", "warn")
	proc, err := tp.sup.start(name, roleTarget, argv, nil)
	if err != nil {
		return nil, err
	}
	ready := fmt.Sprintf("http://127.0.0.1:%d/ready", adminPort)
	check := podHTTPClient(p.NetNS, 500*time.Millisecond)
	if err := waitReady(ctx, proc, readyWithin, "GET "+ready+" in pod "+p.NetNS, httpCheckWith(check, ready)); err != nil {
		return nil, err
	}
	return proc, nil
}

// kubeProxy stands in for kube-proxy in the client pod of a target without
// a client sidecar: each Service's cluster IP:port is DNATed to its first
// echo in the server pod (whose inbound capture then takes it).
func (tp *topology) kubeProxy(pod string, t *target) error {
	var b strings.Builder
	b.WriteString("*nat\n:MESHBENCH_SERVICES - [0:0]\n-A OUTPUT -p tcp -j MESHBENCH_SERVICES\n")
	for _, be := range tp.sc.Backends {
		es := t.echoes[be.Name]
		if len(es) == 0 {
			continue
		}
		fmt.Fprintf(&b, "-A MESHBENCH_SERVICES -d %s/32 -p tcp --dport %d -j DNAT --to-destination %s\n", be.ClusterIP, be.Port, es[0].addr)
	}
	b.WriteString("COMMIT\n")
	argv := tp.net.Command(pod, "iptables-restore", "--noflush")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kube-proxy rules in pod %s: %s: %v: %s\nrules:\n%s", pod, strings.Join(argv, " "), err, strings.TrimSpace(string(out)), b.String())
	}
	return nil
}

// chownTree gives dir and every file in it to uid:gid (the sidecars read
// their private keys, mode 0600).
func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

func (tp *topology) startPodPeer(ctx context.Context, t *target, peer peers.Peer, path, pod string, server netns.Pod) error {
	dir := filepath.Join(tp.work, t.spec.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var ups []string
	for _, e := range t.echoes[tp.sc.Load.Service] {
		ups = append(ups, e.local)
	}
	listen := server.IP + ":" + strconv.Itoa(peerPort)
	argv, err := peer.Prepare(path, peers.Options{Listen: listen, Upstreams: ups, Workers: runtime.NumCPU(), Dir: dir})
	if err != nil {
		return err
	}
	p, err := tp.sup.start(t.spec.Name, roleTarget, tp.net.Command(pod, argv...), nil)
	if err != nil {
		return err
	}
	if err := waitReady(ctx, p, readyWithin, "TCP connect "+listen+" in pod "+server.NetNS, podTCPCheck(server.NetNS, listen)); err != nil {
		return err
	}
	t.proxies, t.names = []*process{p}, []string{peer.Name}
	t.url = "http://" + listen + tp.sc.Load.Path
	return nil
}

// podDial returns a DialContext whose sockets belong to the named network
// namespace. A socket belongs to the namespace of the thread that created
// it and stays there, so the dial runs on an OS thread locked to this
// goroutine and moved into the namespace (setns) for its duration, then
// moved back. The Go runtime never clones new threads from a locked one
// (it hands that to its template thread), so no other goroutine ever runs
// in the pod's namespace. If the way back fails, the thread stays locked
// and is discarded when the goroutine ends.
func podDial(netnsName string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		// An address literal keeps the whole dial on this goroutine (a name
		// would be resolved on others).
		if host, _, err := net.SplitHostPort(addr); err != nil || net.ParseIP(host) == nil {
			return nil, fmt.Errorf("dial %s in network namespace %s: want an IP address and a port", addr, netnsName)
		}
		target, err := os.Open(filepath.Join("/run/netns", netnsName))
		if err != nil {
			return nil, err
		}
		defer target.Close()
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return nil, fmt.Errorf("entering network namespace %s: %w", netnsName, err)
		}
		d := net.Dialer{FallbackDelay: -1} // no parallel dials on other goroutines
		conn, err := d.DialContext(ctx, network, addr)
		if rerr := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); rerr != nil {
			if conn != nil {
				conn.Close()
			}
			return nil, fmt.Errorf("leaving network namespace %s: %w", netnsName, rerr)
		}
		runtime.UnlockOSThread()
		return conn, err
	}
}

// podHTTPClient makes its connections inside the named namespace, one per
// request (no idle connection is left to hold a deleted namespace alive).
func podHTTPClient(netnsName string, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       podDial(netnsName),
			DisableKeepAlives: true,
			Proxy:             nil,
		},
	}
}

func httpCheckWith(client *http.Client, url string) func() error {
	return func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

func podTCPCheck(netnsName, addr string) func() error {
	dial := podDial(netnsName)
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		c, err := dial(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}
