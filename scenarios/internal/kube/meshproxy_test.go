package kube

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
	"github.com/meshbench/meshbench/scenarios/certs"
	"github.com/meshbench/meshbench/scenarios/internal/netns"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func buildMeshproxy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "meshproxy")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./proxy/cmd/meshproxy")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build meshproxy: %v\n%s", err, out)
	}
	return bin
}

// liveFor is a `kubectl get services,endpointslices -o json` answer in
// which each Service's endpoints are the given loopback ports.
func liveFor(ns string, eps map[string]int) []byte {
	var items []any
	i := 0
	for svc, port := range eps {
		i++
		items = append(items,
			map[string]any{"kind": "Service", "metadata": map[string]any{"name": svc, "namespace": ns},
				"spec": map[string]any{"clusterIP": fmt.Sprintf("10.96.7.%d", i), "ports": []any{map[string]any{"name": "http", "port": 8080, "protocol": "TCP"}}}},
			map[string]any{"kind": "EndpointSlice", "metadata": map[string]any{"name": svc + "-abcde", "namespace": ns,
				"labels": map[string]any{"kubernetes.io/service-name": svc}},
				"addressType": "IPv4",
				"endpoints":   []any{map[string]any{"addresses": []any{"127.0.0.1"}, "conditions": map[string]any{"ready": true}}},
				"ports":       []any{map[string]any{"name": "http", "port": port, "protocol": "TCP"}}},
		)
	}
	b, _ := json.Marshal(map[string]any{"kind": "List", "items": items})
	return b
}

// TestGeneratedConfigCarriesTraffic runs the config the kind run gives
// every meshproxy sidecar, as it is generated (only its listen addresses
// and identity directory moved to loopback and a scratch directory), in
// three meshproxy processes: the load generator's client sidecar and the
// server sidecars of echo-v1 and echo-v2, each with its own identity from
// `meshbench certs`' code. Requests for Service echo follow the scenario's
// HTTPRoute to both versions over mutual TLS, and each server sees the
// client's SPIFFE ID.
func TestGeneratedConfigCarriesTraffic(t *testing.T) {
	testenv.SkipShort(t, "builds and runs meshproxy")
	bin := buildMeshproxy(t)
	sc := load(t, "scenarios/default.yaml")
	ns := DefaultOptions().Namespace(MeshMeshproxy)
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if _, err := certs.Generate(certs.Options{Dir: certDir, Identities: identities(ns, sc), TrustDomain: trustDomain}); err != nil {
		t.Fatal(err)
	}

	type proxy struct {
		sa                       string
		admin, outbound, inbound int
		app                      string
	}
	apps := map[string]string{}
	for _, v := range []string{"echo-v1", "echo-v2"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", v, r.Header.Get("x-forwarded-client-cert"))
		}))
		defer srv.Close()
		apps[v] = strings.TrimPrefix(srv.URL, "http://")
	}
	proxies := []*proxy{{sa: loadSA}, {sa: "echo-v1", app: apps["echo-v1"]}, {sa: "echo-v2", app: apps["echo-v2"]}}
	for _, p := range proxies {
		p.admin, p.outbound, p.inbound = freePort(t), freePort(t), freePort(t)
		if p.app == "" {
			p.app = "127.0.0.1:9" // the load pod has no app
		}
	}
	live := liveFor(ns, map[string]int{"echo": freePort(t), // the route never sends to echo itself
		"echo-v1": proxies[1].inbound, "echo-v2": proxies[2].inbound})
	for _, p := range proxies {
		cfg, ready, err := MeshproxyConfig(ns, sc, 1, live)
		if err != nil {
			t.Fatal(err)
		}
		if ready["echo-v1"] != 1 {
			t.Fatalf("ready %v", ready)
		}
		// The pod's Secret volume: the CA and the pod's own identity.
		idDir := filepath.Join(dir, p.sa)
		if err := os.MkdirAll(idDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for src, dst := range map[string]string{"ca.crt": "ca.crt", identityKey(ns, p.sa) + ".crt": "identity.crt", identityKey(ns, p.sa) + ".key": "identity.key"} {
			b, err := os.ReadFile(filepath.Join(certDir, src))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(idDir, dst), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for from, to := range map[string]string{
			"0.0.0.0:15000": "127.0.0.1:" + strconv.Itoa(p.admin), "127.0.0.1:15001": "127.0.0.1:" + strconv.Itoa(p.outbound),
			"0.0.0.0:15006": "127.0.0.1:" + strconv.Itoa(p.inbound), "app: 127.0.0.1:8080": "app: " + p.app, identityDir: idDir,
		} {
			if !strings.Contains(cfg, from) {
				t.Fatalf("config lacks %q:\n%s", from, cfg)
			}
			cfg = strings.ReplaceAll(cfg, from, to)
		}
		path := filepath.Join(dir, p.sa+".yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-config", path, "-log-level", "warn")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Kill()
			cmd.Wait()
		}()
	}
	client := &http.Client{Timeout: 3 * time.Second}
	for _, p := range proxies {
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/ready", p.admin))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s sidecar not ready: %v", p.sa, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	counts := map[string]int{}
	wantPeer := "URI=" + spiffeID(ns, loadSA)
	for range 200 {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", proxies[0].outbound), nil)
		req.Host = "echo:8080"
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), wantPeer) {
			t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("x-meshproxy-error"), body)
		}
		counts[strings.Fields(string(body))[0]]++
	}
	if counts["echo-v1"] < 150 || counts["echo-v2"] == 0 {
		t.Errorf("split %v, want about 90/10", counts)
	}
}

// TestCaptureRulesMatchNetns installs the kind pods' capture twice, in two
// network namespaces: with scenarios/internal/netns (as the netns runner
// does) and with deploy/docker/meshproxy-init.sh fed CaptureRules (as the
// init container does), and compares the nat tables. Root only.
func TestCaptureRulesMatchNetns(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Need(t, netns.Available())
	prefix := fmt.Sprintf("mbk%d", os.Getpid()%100000)
	n, err := netns.Create(prefix, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	sc := load(t, "scenarios/default.yaml")
	o := podCapture(sc)
	if err := n.Capture("a", netns.CaptureOptions{OutboundProxyPort: o.OutboundProxyPort, OutboundPorts: o.OutboundPorts,
		ProxyUID: o.ProxyUID, InboundProxyPort: o.InboundProxyPort, InboundPorts: o.InboundPorts}); err != nil {
		t.Fatal(err)
	}
	rules, err := netns.CaptureRules(o)
	if err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs(filepath.Join(repo, "deploy/docker/meshproxy-init.sh"))
	cmd := exec.Command("ip", "netns", "exec", n.Pod("b").NetNS, "sh", script)
	cmd.Env = append(os.Environ(), "MESHPROXY_CAPTURE_RULES="+rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("meshproxy-init.sh: %v\n%s", err, out)
	}
	nat := func(pod string) string {
		out, err := exec.Command("ip", "netns", "exec", n.Pod(pod).NetNS, "iptables-save", "-t", "nat").CombinedOutput()
		if err != nil {
			t.Fatalf("iptables-save: %v\n%s", err, out)
		}
		var keep []string
		for _, l := range strings.Split(string(out), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				keep = append(keep, regexp.MustCompile(`\[\d+:\d+\]`).ReplaceAllString(l, "[0:0]"))
			}
		}
		return strings.Join(keep, "\n")
	}
	a, b := nat("a"), nat("b")
	if a != b {
		t.Errorf("netns installed:\n%s\nmeshproxy-init installed:\n%s", a, b)
	}
	if !strings.Contains(b, "--uid-owner 1337") || !strings.Contains(b, "--dport 8080 -j REDIRECT --to-ports 15006") {
		t.Errorf("nat table:\n%s", b)
	}
}
