// Package netns builds throwaway pod networks out of Linux network
// namespaces, so meshbench can run sidecars the way a Kubernetes node does —
// one namespace per pod, traffic captured by iptables as istio-init and
// linkerd-init install it — without a cluster.
//
// Topology: a bridge "br0" (10.240.0.1/24) lives in a "node" namespace
// named prefix+"-node"; each pod is a namespace prefix+"-"+pod whose "eth0"
// (10.240.0.2, .3, … in the order given) is one end of a veth pair, the
// other end ("veth0", "veth1", …) being a port of the bridge. Every pod has
// loopback up and a default route via 10.240.0.1, so connecting to any
// address (a Service's cluster IP, say) reaches the nat OUTPUT hook where
// Capture redirects it; the node itself forwards nothing. A bridge (rather
// than pairwise links) keeps one address per pod however many pods there
// are, like a CNI bridge.
//
// Nothing is created in the root namespace except the namespaces' names
// (bind mounts under /run/netns): the veth pairs are made inside the node
// namespace with their peer moved straight into the pod. All commands are
// the ip and iptables tools; errors name the command and quote its output.
// Everything needs root.
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// Gateway is the node bridge's address: every pod's default route.
	Gateway = "10.240.0.1"
	// PrefixLen is the pod network's prefix length (10.240.0.0/24).
	PrefixLen = 24
	// MaxPods is how many pods fit in the /24 after the gateway.
	MaxPods = 253

	bridge     = "br0"
	podIfName  = "eth0"
	cmdTimeout = 30 * time.Second
)

// Pod is one pod of a Network.
type Pod struct {
	Name  string // as given to Create
	NetNS string // namespace name: prefix-name
	IP    string // on the pod network, e.g. 10.240.0.2
}

// Network is a set of pod namespaces joined by a bridge in a node
// namespace. Its methods are safe for concurrent use.
type Network struct {
	prefix string
	node   string
	pods   []Pod

	mu       sync.Mutex
	created  []string // namespaces created by us, in creation order
	captured map[string]bool
	closed   bool
}

// CaptureOptions are the nat rules Capture installs in a pod, as
// istio-init's flags describe them.
type CaptureOptions struct {
	// OutboundProxyPort is where the pod's outgoing TCP connections are
	// redirected (the sidecar's outbound listener, e.g. 15001); 0 installs
	// no outbound capture.
	OutboundProxyPort int
	// OutboundPorts limits outbound capture to these destination ports;
	// empty captures every TCP destination port. Either way loopback
	// traffic (to 127.0.0.0/8, or leaving through lo — the pod's own IP
	// included) is never captured.
	OutboundPorts []int
	// ProxyUID is the uid the sidecar runs as; its own connections are
	// not captured (-m owner --uid-owner), which is what keeps its
	// upstream connections from looping back into it. Required (> 0) with
	// outbound capture: uid 0 would exempt root, usually the app.
	ProxyUID int
	// InboundProxyPort is where incoming TCP connections to InboundPorts
	// are redirected (the sidecar's inbound listener, e.g. 15006). It
	// must listen on the pod's IP or a wildcard address, not loopback:
	// PREROUTING REDIRECT rewrites the destination to the pod's eth0
	// address.
	InboundProxyPort int
	// InboundPorts are the application ports whose incoming connections
	// are captured; empty (or InboundProxyPort 0) installs no inbound
	// capture.
	InboundPorts []int
}

// Create makes a node namespace and one namespace per pod (see the package
// comment). On any error everything already created is removed. A
// namespace that already exists is an error (try CleanupStale first);
// it is left alone.
func Create(prefix string, pods []string) (*Network, error) {
	if err := checkName("prefix", prefix); err != nil {
		return nil, err
	}
	if len(pods) == 0 || len(pods) > MaxPods {
		return nil, fmt.Errorf("netns: %d pods (want 1-%d)", len(pods), MaxPods)
	}
	n := &Network{prefix: prefix, node: prefix + "-node", captured: map[string]bool{}}
	seen := map[string]bool{}
	for i, name := range pods {
		if err := checkName("pod name", name); err != nil {
			return nil, err
		}
		if name == "node" {
			return nil, errors.New(`netns: pod name "node" is taken by the node namespace`)
		}
		if seen[name] {
			return nil, fmt.Errorf("netns: pod %q given twice", name)
		}
		seen[name] = true
		n.pods = append(n.pods, Pod{Name: name, NetNS: prefix + "-" + name, IP: "10.240.0." + strconv.Itoa(i+2)})
	}
	if err := n.build(); err != nil {
		if cerr := n.Close(); cerr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, cerr)
		}
		return nil, err
	}
	return n, nil
}

func (n *Network) build() error {
	if err := n.addNS(n.node); err != nil {
		return err
	}
	cidr := Gateway + "/" + strconv.Itoa(PrefixLen)
	for _, args := range [][]string{
		{"-n", n.node, "link", "set", "lo", "up"},
		{"-n", n.node, "link", "add", bridge, "type", "bridge"},
		{"-n", n.node, "addr", "add", cidr, "dev", bridge},
		{"-n", n.node, "link", "set", bridge, "up"},
	} {
		if err := ip(args...); err != nil {
			return err
		}
	}
	for i, p := range n.pods {
		if err := n.addNS(p.NetNS); err != nil {
			return err
		}
		veth := "veth" + strconv.Itoa(i)
		for _, args := range [][]string{
			{"-n", p.NetNS, "link", "set", "lo", "up"},
			// Made in the node namespace, peer created directly in the pod:
			// the root namespace never holds either end.
			{"-n", n.node, "link", "add", veth, "type", "veth", "peer", "name", podIfName, "netns", p.NetNS},
			{"-n", n.node, "link", "set", veth, "master", bridge, "up"},
			{"-n", p.NetNS, "addr", "add", p.IP + "/" + strconv.Itoa(PrefixLen), "dev", podIfName},
			{"-n", p.NetNS, "link", "set", podIfName, "up"},
			{"-n", p.NetNS, "route", "add", "default", "via", Gateway},
		} {
			if err := ip(args...); err != nil {
				return err
			}
		}
	}
	return nil
}

func (n *Network) addNS(name string) error {
	if err := ip("netns", "add", name); err != nil {
		return err
	}
	n.mu.Lock()
	n.created = append(n.created, name)
	n.mu.Unlock()
	return nil
}

// Pods returns the pods in the order given to Create.
func (n *Network) Pods() []Pod { return append([]Pod(nil), n.pods...) }

// Pod returns the named pod, or the zero Pod if there is none.
func (n *Network) Pod(name string) Pod {
	for _, p := range n.pods {
		if p.Name == name {
			return p
		}
	}
	return Pod{}
}

// NodeNetNS is the name of the node namespace that holds the bridge.
func (n *Network) NodeNetNS() string { return n.node }

func (n *Network) mustPod(name string) Pod {
	p := n.Pod(name)
	if p.NetNS == "" {
		panic(fmt.Sprintf("netns: no pod %q in network %s", name, n.prefix))
	}
	return p
}

// Command returns argv wrapped to run inside the pod's network namespace:
// "ip netns exec NS argv...". ip execs argv in place, so the process
// started is argv itself (signals and Wait reach it directly). It panics
// for an unknown pod.
//
// To run as another user (the sidecar, excluded from capture by uid), use
// CommandAs: setting exec.Cmd.SysProcAttr.Credential on this command does
// not work, because then ip itself runs unprivileged and cannot enter the
// namespace ("setting the network namespace ... failed: Operation not
// permitted").
func (n *Network) Command(pod string, argv ...string) []string {
	p := n.mustPod(pod)
	return append([]string{"ip", "netns", "exec", p.NetNS}, argv...)
}

// CommandAs is Command running argv as uid:gid with no supplementary groups
// and no capabilities: ip enters the namespace as root, then setpriv
// (util-linux) drops to the user and execs argv, so the process started is
// still argv itself.
func (n *Network) CommandAs(pod string, uid, gid int, argv ...string) []string {
	p := n.mustPod(pod)
	return append([]string{"ip", "netns", "exec", p.NetNS,
		"setpriv", "--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), "--clear-groups", "--"}, argv...)
}

// Capture installs istio-init style nat rules in the pod's namespace, in
// two chains of their own (MESHBENCH_OUTPUT from OUTPUT, MESHBENCH_INBOUND
// from PREROUTING), atomically with iptables-restore:
//
//	-A OUTPUT -p tcp -j MESHBENCH_OUTPUT
//	-A MESHBENCH_OUTPUT -m owner --uid-owner UID -j RETURN
//	-A MESHBENCH_OUTPUT -o lo -j RETURN
//	-A MESHBENCH_OUTPUT -d 127.0.0.0/8 -j RETURN
//	-A MESHBENCH_OUTPUT -p tcp [--dport P] -j REDIRECT --to-ports OUT
//	-A PREROUTING -p tcp -j MESHBENCH_INBOUND
//	-A MESHBENCH_INBOUND -p tcp --dport P -j REDIRECT --to-ports IN
//
// It may be called once per pod.
func (n *Network) Capture(pod string, opts CaptureOptions) error {
	p := n.Pod(pod)
	if p.NetNS == "" {
		return fmt.Errorf("netns: capture: no pod %q in network %s", pod, n.prefix)
	}
	rules, err := CaptureRules(opts)
	if err != nil {
		return fmt.Errorf("netns: capture in pod %s: %w", pod, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errors.New("netns: capture: network closed")
	}
	if n.captured[pod] {
		return fmt.Errorf("netns: capture: pod %s already has capture rules", pod)
	}
	if err := run(rules, "ip", "netns", "exec", p.NetNS, "iptables-restore", "--noflush"); err != nil {
		return fmt.Errorf("%w\nrules:\n%s", err, rules)
	}
	n.captured[pod] = true
	return nil
}

// CaptureRules renders o as iptables-restore input, the rules Capture
// installs (and the kind path's meshproxy-init container installs in a pod).
func CaptureRules(o CaptureOptions) (string, error) {
	checkPort := func(field string, p int) error {
		if p < 1 || p > 65535 {
			return fmt.Errorf("%s %d out of range (1-65535)", field, p)
		}
		return nil
	}
	out := o.OutboundProxyPort != 0
	in := o.InboundProxyPort != 0 && len(o.InboundPorts) > 0
	if !out && !in {
		return "", errors.New("nothing to capture (set OutboundProxyPort, or InboundProxyPort and InboundPorts)")
	}
	var b strings.Builder
	b.WriteString("*nat\n")
	if out {
		if err := checkPort("OutboundProxyPort", o.OutboundProxyPort); err != nil {
			return "", err
		}
		if o.ProxyUID <= 0 {
			return "", fmt.Errorf("ProxyUID %d: outbound capture needs the sidecar's uid (> 0) to exempt its own connections", o.ProxyUID)
		}
		redirect := " -j REDIRECT --to-ports " + strconv.Itoa(o.OutboundProxyPort) + "\n"
		b.WriteString(":MESHBENCH_OUTPUT - [0:0]\n")
		b.WriteString("-A OUTPUT -p tcp -j MESHBENCH_OUTPUT\n")
		fmt.Fprintf(&b, "-A MESHBENCH_OUTPUT -m owner --uid-owner %d -j RETURN\n", o.ProxyUID)
		b.WriteString("-A MESHBENCH_OUTPUT -o lo -j RETURN\n")
		b.WriteString("-A MESHBENCH_OUTPUT -d 127.0.0.0/8 -j RETURN\n")
		if len(o.OutboundPorts) == 0 {
			b.WriteString("-A MESHBENCH_OUTPUT -p tcp" + redirect)
		}
		for _, p := range o.OutboundPorts {
			if err := checkPort("OutboundPorts:", p); err != nil {
				return "", err
			}
			b.WriteString("-A MESHBENCH_OUTPUT -p tcp --dport " + strconv.Itoa(p) + redirect)
		}
	}
	if in {
		if err := checkPort("InboundProxyPort", o.InboundProxyPort); err != nil {
			return "", err
		}
		b.WriteString(":MESHBENCH_INBOUND - [0:0]\n")
		b.WriteString("-A PREROUTING -p tcp -j MESHBENCH_INBOUND\n")
		for _, p := range o.InboundPorts {
			if err := checkPort("InboundPorts:", p); err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "-A MESHBENCH_INBOUND -p tcp --dport %d -j REDIRECT --to-ports %d\n", p, o.InboundProxyPort)
		}
	}
	b.WriteString("COMMIT\n")
	return b.String(), nil
}

// Close deletes every namespace Create made, which takes their veth pairs
// and the bridge with them. A process still running inside one would keep
// it (and its links) alive after its name is gone, so Close first kills
// (SIGKILL) any process left in them: stop your own processes first for a
// clean exit. Close is idempotent; it reports every failure.
func (n *Network) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	var errs []error
	// Pods first, the node (holding the bridge) last.
	for i := len(n.created) - 1; i >= 0; i-- {
		if err := deleteNS(n.created[i]); err != nil {
			errs = append(errs, err)
		}
	}
	n.created = nil
	return errors.Join(errs...)
}

// deleteNS kills what runs in the namespace, then deletes it.
func deleteNS(name string) error {
	var errs []error
	if err := killPids(name); err != nil {
		errs = append(errs, err)
	}
	if err := ip("netns", "delete", name); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// killPids SIGKILLs every process in the namespace and waits (bounded) for
// them to leave it.
func killPids(name string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := Pids(name)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netns: processes %v still in namespace %s after SIGKILL", pids, name)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pids lists the processes whose network namespace is the named one
// ("ip netns pids").
func Pids(netns string) ([]int, error) {
	out, err := output("ip", "netns", "pids", netns)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("netns: ip netns pids %s: unexpected output %q", netns, out)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// List returns the names of all named network namespaces ("ip netns list").
func List() ([]string, error) {
	out, err := output("ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		// "name" or "name (id: 3)"
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// CleanupStale removes the namespaces whose names start with prefix — what
// a killed run left behind — killing any process still in them. An empty
// prefix is refused. Pass prefix+"-" to match one Network exactly.
func CleanupStale(prefix string) error {
	if prefix == "" {
		return errors.New("netns: CleanupStale needs a non-empty prefix")
	}
	names, err := List()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if strings.HasPrefix(name, prefix) {
			if err := deleteNS(name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Available reports nil when this process can build networks: it runs as
// root, ip, iptables-restore and setpriv are on PATH, and a probe namespace
// can be made, with a nat table, and deleted. Otherwise the error says what
// is missing.
func Available() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (running as uid "+strconv.Itoa(os.Geteuid())+")")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-restore", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" on PATH (apt-get install iproute2 iptables util-linux)")
		}
	}
	if len(missing) > 0 {
		return errors.New("netns: unavailable: needs " + strings.Join(missing, ", "))
	}
	probe := "mbprobe" + strconv.Itoa(os.Getpid())
	if err := ip("netns", "add", probe); err != nil {
		return fmt.Errorf("netns: unavailable: %w", err)
	}
	err := run("", "ip", "netns", "exec", probe, "iptables", "-w", "-t", "nat", "-L", "-n")
	if derr := ip("netns", "delete", probe); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return fmt.Errorf("netns: unavailable: %w", err)
	}
	return nil
}

// checkName accepts names that are safe as namespace names and in
// commands: letters, digits, '-', '_' and '.', starting with a letter or
// digit, at most 64 bytes.
func checkName(what, s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("netns: %s %q: want 1-64 characters", what, s)
	}
	for i, c := range s {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			i > 0 && (c == '-' || c == '_' || c == '.')
		if !ok {
			return fmt.Errorf("netns: %s %q: only letters, digits, '-', '_' and '.' (not first) allowed", what, s)
		}
	}
	return nil
}

func ip(args ...string) error { return run("", "ip", args...) }

// run executes a command (with stdin, if any), bounded by cmdTimeout; the
// error names the command and quotes its output.
func run(stdin string, name string, args ...string) error {
	_, err := runOutput(stdin, name, args...)
	return err
}

func output(name string, args ...string) (string, error) { return runOutput("", name, args...) }

func runOutput(stdin string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(stderr.String() + stdout.String())
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %v", cmdTimeout)
		}
		return "", fmt.Errorf("netns: %s %s: %v: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}
