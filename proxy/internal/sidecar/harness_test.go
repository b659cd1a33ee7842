package sidecar

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshbench/meshbench/scenarios/echo"
)

// Test harness: real echo upstreams and a real meshproxy on loopback ports.

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startEcho starts an echo upstream named name.
func startEcho(t testing.TB, name string, size int) *echo.Server {
	t.Helper()
	s, err := echo.Start(echo.Options{Listen: "127.0.0.1:0", Name: name, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func portOf(t testing.TB, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mesh describes a test config: one Proxy plus services.
type mesh struct {
	outbound, inbound, admin string
	app                      string
	inboundExtra             string // more YAML inside spec.inbound, indented by 4
	extraProxy               string // more YAML under spec:, indented by 2
	services                 []svc
	routes                   string // raw HTTPRoute documents
}

type svc struct {
	name  string
	ports []string // endpoint ports (127.0.0.1)
}

func (m *mesh) yaml() string {
	var b strings.Builder
	b.WriteString("apiVersion: meshbench.dev/v1alpha1\nkind: Proxy\nmetadata: {name: test}\nspec:\n")
	if m.admin != "" {
		fmt.Fprintf(&b, "  admin: {address: %q}\n", m.admin)
	}
	if m.outbound != "" {
		fmt.Fprintf(&b, "  outbound: {address: %q}\n", m.outbound)
	}
	if m.inbound != "" {
		fmt.Fprintf(&b, "  inbound:\n    address: %q\n    app: %q\n%s", m.inbound, m.app, m.inboundExtra)
	}
	b.WriteString(m.extraProxy)
	for _, s := range m.services {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: %s, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %s-1
  namespace: default
  labels: {kubernetes.io/service-name: %s}
addressType: IPv4
ports: [{name: http, port: PORT}]
endpoints:
`, s.name, s.name, s.name)
		// One slice per port keeps the YAML simple: port lives on the slice.
		out := b.String()
		b.Reset()
		if len(s.ports) == 0 {
			out = strings.Replace(out, "PORT", "1", 1)
			b.WriteString(out)
			b.WriteString("  []\n")
			continue
		}
		out = strings.Replace(out, "PORT", s.ports[0], 1)
		b.WriteString(out)
		b.WriteString("  - addresses: [127.0.0.1]\n")
		for i, p := range s.ports[1:] {
			fmt.Fprintf(&b, `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %s-%d
  namespace: default
  labels: {kubernetes.io/service-name: %s}
addressType: IPv4
ports: [{name: http, port: %s}]
endpoints:
  - addresses: [127.0.0.1]
`, s.name, i+2, s.name, p)
		}
	}
	if m.routes != "" {
		b.WriteString("---\n")
		b.WriteString(m.routes)
	}
	return b.String()
}

// started is a running sidecar plus what tests need to talk to it.
type started struct {
	*Sidecar
	file   string
	out    string // outbound address
	client *http.Client
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	// Write-then-rename so the watcher never sees a half-written file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func startSidecar(t testing.TB, m *mesh) *started {
	t.Helper()
	if m.outbound == "" && m.inbound == "" {
		m.outbound = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	if m.admin == "" {
		m.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	file := filepath.Join(t.TempDir(), "mesh.yaml")
	writeFile(t, file, m.yaml())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := Start(file, log)
	if err != nil {
		t.Fatalf("start sidecar: %v\nconfig:\n%s", err, m.yaml())
	}
	t.Cleanup(func() { _ = s.Close() })
	tr := &http.Transport{
		MaxIdleConnsPerHost: 64,
		DisableCompression:  true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &started{Sidecar: s, file: file, out: m.outbound, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// get sends a request for host+path through the outbound listener.
func (s *started) do(t testing.TB, method, host, path string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.out+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s%s: read body: %v", method, host, path, err)
	}
	return resp, b
}

// metricsText scrapes the admin listener.
func (s *started) metricsText(t testing.TB) string {
	t.Helper()
	resp, err := http.Get("http://" + s.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricValue finds the value of the series whose line starts with prefix
// (name plus a label subset written in registry order).
func metricLine(text, name string, labels ...string) (string, bool) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(line, l) {
				ok = false
				break
			}
		}
		if ok {
			f := strings.Fields(line)
			return f[len(f)-1], true
		}
	}
	return "", false
}

// waitMetric waits up to 3 s for a series to be non-zero: a response can
// reach the client a moment before the loop records it.
func waitMetric(t *testing.T, s *started, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if v, ok := metricLine(s.metricsText(t), name, labels...); ok && v != "0" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v not counted:\n%s", name, labels, s.metricsText(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// load sends GET / with Host host through s's outbound listener from 8
// workers until stop is called, which returns the requests sent and those
// that failed (transport error or non-200). onOK, if set, sees each 200
// response and when its request was sent.
func (s *started) load(host string, onOK func(resp *http.Response, sent time.Time)) (stop func() (total, failures int64)) {
	var tot, fail atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				req, _ := http.NewRequest("GET", "http://"+s.out+"/", nil)
				req.Host = host
				sent := time.Now()
				resp, err := s.client.Do(req)
				tot.Add(1)
				if err != nil {
					fail.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					fail.Add(1)
					continue
				}
				if onOK != nil {
					onOK(resp, sent)
				}
			}
		}()
	}
	return func() (int64, int64) {
		close(done)
		wg.Wait()
		return tot.Load(), fail.Load()
	}
}
