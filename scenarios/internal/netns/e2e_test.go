package netns_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
	"github.com/meshbench/meshbench/scenarios/internal/netns"
)

const proxyUID = 1337

// The client sidecar: outbound only, Service web = cluster IP 10.96.0.10
// port 8080, whose endpoint is the server pod's port 8080.
const clientConfig = `apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: client, namespace: default}
spec:
  admin:    {address: 127.0.0.1:15000}
  outbound: {address: 127.0.0.1:15001}
  eventLoops: 1
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [%s]}]
`

// The server sidecar: inbound only. It listens on the wildcard address
// because PREROUTING REDIRECT delivers to the pod's eth0 address.
const serverConfig = `apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: server, namespace: default}
spec:
  admin:   {address: 127.0.0.1:15000}
  inbound: {address: 0.0.0.0:15006, app: 127.0.0.1:8080}
  eventLoops: 1
`

// proc is a process the test started inside a pod.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan error
	log  string
}

// TestTransparentCapture runs a client pod and a server pod, each with a
// meshproxy sidecar, with traffic captured by iptables as istio-init does:
// curl in the client pod asks for the Service's cluster IP, the client
// sidecar (uid 1337, exempt from capture) reads the original destination
// and routes to the server pod, whose PREROUTING rule hands the connection
// to the server sidecar's inbound listener, which forwards to the app.
func TestTransparentCapture(t *testing.T) {
	testenv.SkipShort(t, "builds binaries and namespaces")
	testenv.NeedRoot(t)
	testenv.Need(t, netns.Available())
	testenv.NeedProgram(t, "curl", "curl")

	dir := t.TempDir()
	// The sidecars run as uid 1337: they must reach the binaries and configs
	// (t.TempDir and its parent are 0700).
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		"github.com/meshbench/meshbench/proxy/cmd/meshproxy",
		"github.com/meshbench/meshbench/scenarios/cmd/meshbench")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	meshproxy, meshbench := filepath.Join(dir, "meshproxy"), filepath.Join(dir, "meshbench")

	prefix := fmt.Sprintf("mbt%d", os.Getpid())
	if err := netns.CleanupStale(prefix + "-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netns.CleanupStale(prefix + "-"); err != nil {
			t.Error(err)
		}
	})
	n, err := netns.Create(prefix, []string{"client", "server"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	client, server := n.Pod("client"), n.Pod("server")
	if client.IP != "10.240.0.2" || server.IP != "10.240.0.3" || client.NetNS != prefix+"-client" {
		t.Fatalf("pods: %+v %+v", client, server)
	}

	if err := n.Capture("client", netns.CaptureOptions{OutboundProxyPort: 15001, ProxyUID: proxyUID}); err != nil {
		t.Fatal(err)
	}
	if err := n.Capture("server", netns.CaptureOptions{InboundProxyPort: 15006, InboundPorts: []int{8080}}); err != nil {
		t.Fatal(err)
	}

	clientCfg, serverCfg := filepath.Join(dir, "client.yaml"), filepath.Join(dir, "server.yaml")
	writeFile(t, clientCfg, fmt.Sprintf(clientConfig, server.IP))
	writeFile(t, serverCfg, serverConfig)

	var procs []*proc
	start := func(name string, argv []string) {
		t.Helper()
		logPath := filepath.Join(dir, name+".log")
		f, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		p := &proc{name: name, cmd: cmd, done: make(chan error, 1), log: logPath}
		go func() { p.done <- cmd.Wait() }()
		procs = append(procs, p)
	}
	stopped := false
	stopAll := func() {
		if stopped {
			return
		}
		stopped = true
		for _, p := range procs {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("%s ignored SIGTERM for 10s; killing it", p.name)
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
	}
	t.Cleanup(stopAll) // a no-op once stopped
	logs := func() string {
		var b strings.Builder
		for _, p := range procs {
			out, _ := os.ReadFile(p.log)
			fmt.Fprintf(&b, "--- %s:\n%s", p.name, out)
		}
		return b.String()
	}

	start("echo", n.Command("server", meshbench, "echo", "-listen", "127.0.0.1:8080", "-name", "server-app"))
	start("server-sidecar", n.CommandAs("server", proxyUID, proxyUID, meshproxy, "-config", serverCfg))
	start("client-sidecar", n.CommandAs("client", proxyUID, proxyUID, meshproxy, "-config", clientCfg))

	// curl runs in a pod as root, so the client pod's capture applies to it.
	curl := func(pod string, args ...string) (string, error) {
		argv := n.Command(pod, append([]string{"curl", "-sS", "--max-time", "5"}, args...)...)
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		return string(out), err
	}
	waitFor := func(what, pod, url string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			out, err := curl(pod, "-o", "/dev/null", "-w", "%{http_code}", url)
			if err == nil && out == "200" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready after 15s (%s: %v)\n%s", what, out, err, logs())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("echo", "server", "http://127.0.0.1:8080/")
	waitFor("server sidecar", "server", "http://127.0.0.1:15000/ready")
	waitFor("client sidecar", "client", "http://127.0.0.1:15000/ready")

	// 20 GETs of the cluster IP: 10 on connections of their own (half with
	// a Host header naming no Service: the original destination decides),
	// then 10 on one keep-alive connection.
	const format = "%{http_code} %header{x-echo-name} %{num_connects}\n"
	url := "http://10.96.0.10:8080/?size=0"
	for i := range 10 {
		args := []string{"-o", "/dev/null", "-w", format}
		if i%2 == 1 {
			args = append(args, "-H", "Host: nosuch.example")
		}
		out, err := curl("client", append(args, url)...)
		if err != nil || out != "200 server-app 1\n" {
			t.Fatalf("GET %s #%d: %q %v, want 200 from server-app\n%s", url, i, out, err, logs())
		}
	}
	args := []string{"-H", "Host: nosuch.example", "-w", format}
	for range 10 {
		args = append(args, url)
	}
	out, err := curl("client", args...)
	if want := "200 server-app 1\n" + strings.Repeat("200 server-app 0\n", 9); err != nil || out != want {
		t.Fatalf("10 GETs on one connection: %q %v, want %q\n%s", out, err, want, logs())
	}

	// A captured destination that is no Service: 404 unknown_host.
	out, err = curl("client", "-o", "/dev/null", "-w", "%{http_code} %header{x-meshproxy-error}", "http://10.96.0.99:80/")
	if err != nil || out != "404 unknown_host" {
		t.Fatalf("GET of a non-Service address: %q %v, want 404 unknown_host", out, err)
	}

	waitMetric := func(pod, series string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			text, err := curl(pod, "http://127.0.0.1:15000/metrics")
			if err == nil && strings.Contains(text, series+"\n") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s metrics lack %s:\n%s", pod, series, text)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitMetric("client", `meshproxy_requests_total{direction="outbound",route="default/web/default",backend="default/web:8080",code="200"} 20`)
	waitMetric("client", `meshproxy_local_replies_total{code="404",direction="outbound",reason="unknown_host"} 1`)
	waitMetric("server", `meshproxy_requests_total{direction="inbound",route="",backend="inbound",code="200"} 20`)

	stopAll()
	for _, p := range procs {
		// A SIGTERM'd sidecar or echo server drains and exits 0.
		if s := p.cmd.ProcessState; !s.Success() {
			t.Errorf("%s: %v\n%s", p.name, s, logs())
		}
	}
	for _, pod := range []string{client.NetNS, server.NetNS, n.NodeNetNS()} {
		if pids, err := netns.Pids(pod); err != nil || len(pids) > 0 {
			t.Errorf("processes left in %s: %v %v", pod, pids, err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	names, err := netns.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasPrefix(name, prefix+"-") {
			t.Errorf("namespace %s left after Close", name)
		}
	}
	for _, p := range procs {
		if err := syscall.Kill(p.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists: %v", p.name, p.cmd.Process.Pid, err)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
