// Package dashboards holds Grafana dashboards and a Prometheus scrape
// config (no Go code); this test checks them against what meshproxy really
// exports.
package dashboards

import (
	"bufio"
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
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// cadvisorMetrics are the kubelet (cAdvisor) container metrics the
// benchmark dashboard may query beside meshproxy's own; the scrape config's
// kubernetes-cadvisor job collects them. They are the figures
// scenarios/internal/kube reads per step (its CAdvisorMetrics).
var cadvisorMetrics = map[string]bool{
	"container_cpu_usage_seconds_total":  true,
	"container_memory_working_set_bytes": true,
	"machine_cpu_cores":                  true,
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// exported builds and runs meshproxy, sends it a routed request and one
// for an unknown host, and returns the metric families of its /metrics
// (name -> type), as the admin listener really serves them.
func exported(t *testing.T) map[string]string {
	t.Helper()
	testenv.SkipShort(t, "builds and runs meshproxy")
	dir := t.TempDir()
	bin := filepath.Join(dir, "meshproxy")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./proxy/cmd/meshproxy")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build meshproxy: %v\n%s", err, out)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	upHost, upPort, _ := net.SplitHostPort(strings.TrimPrefix(up.URL, "http://"))
	admin, outbound := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: dash, namespace: default}
spec:
  admin: {address: 127.0.0.1:%d}
  outbound: {address: 127.0.0.1:%d}
  eventLoops: 1
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo-1, namespace: default, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
ports: [{name: http, port: %s}]
endpoints: [{addresses: [%s]}]
`, admin, outbound, upPort, upHost)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	proxy := exec.Command(bin, "-config", path, "-log-level", "warn")
	proxy.Stderr = os.Stderr
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		proxy.Process.Kill()
		proxy.Wait()
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	base := fmt.Sprintf("http://127.0.0.1:%d", admin)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get(base + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("meshproxy not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for host, want := range map[string]int{"echo:8080": 200, "nosuch": 404} {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", outbound), nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("Host %s: status %d, want %d", host, resp.StatusCode, want)
		}
	}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	fams := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			fams[f[2]] = f[3]
		}
	}
	if len(fams) < 5 || fams["meshproxy_requests_total"] != "counter" {
		t.Fatalf("/metrics families: %v", fams)
	}
	return fams
}

// family is the family a series name belongs to: a histogram's _bucket,
// _sum and _count series belong to the histogram.
func family(name string, fams map[string]string) (string, bool) {
	if _, ok := fams[name]; ok {
		return name, true
	}
	for _, sfx := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, sfx); ok && (fams[base] == "histogram" || fams[base] == "summary") {
			return base, true
		}
	}
	return "", false
}

var (
	grafanaVar  = regexp.MustCompile(`\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`)
	labelValues = regexp.MustCompile(`^label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)$`)
)

// queries returns every PromQL expression of a dashboard: its panels'
// targets and its templating queries (label_values(SELECTOR, label) gives
// SELECTOR), with Grafana's variables replaced by values PromQL parses.
func queries(t *testing.T, dash map[string]any) []string {
	var out []string
	add := func(q string) {
		if m := labelValues.FindStringSubmatch(q); m != nil {
			q = m[1]
		}
		q = strings.ReplaceAll(q, "$__rate_interval", "1m")
		q = strings.ReplaceAll(q, "$__interval", "1m")
		q = grafanaVar.ReplaceAllString(q, ".*")
		out = append(out, q)
	}
	panels, _ := dash["panels"].([]any)
	for _, p := range panels {
		pm := p.(map[string]any)
		targets, _ := pm["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %v has no queries", pm["title"])
		}
		for _, tg := range targets {
			if e, ok := tg.(map[string]any)["expr"].(string); ok {
				add(e)
			}
		}
	}
	tmpl, _ := dash["templating"].(map[string]any)
	list, _ := tmpl["list"].([]any)
	for _, v := range list {
		vm := v.(map[string]any)
		if vm["type"] != "query" {
			continue
		}
		if q, ok := vm["query"].(map[string]any); ok {
			add(q["query"].(string))
		} else if q, ok := vm["query"].(string); ok {
			add(q)
		}
	}
	return out
}

// selectors parses a PromQL expression and returns its vector selectors.
func selectors(expr string) ([]*parser.VectorSelector, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var vs []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if v, ok := n.(*parser.VectorSelector); ok {
			vs = append(vs, v)
		}
		return nil
	})
	return vs, nil
}

func loadDashboard(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, k := range []string{"uid", "title", "panels", "templating", "schemaVersion"} {
		if _, ok := d[k]; !ok {
			t.Errorf("%s: no %q", file, k)
		}
	}
	return d
}

// scrapeJobs are the job names of prometheus.yml.
func scrapeJobs(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	jobs := map[string]bool{}
	for _, s := range cfg.ScrapeConfigs {
		jobs[s.JobName] = true
	}
	return jobs
}

// TestDashboardMetricsExist: every metric a dashboard queries is one
// meshproxy really serves on /metrics (the benchmark dashboard may also
// query the cAdvisor container metrics), and every job="..." a query
// names is a job of prometheus.yml.
func TestDashboardMetricsExist(t *testing.T) {
	fams := exported(t)
	jobs := scrapeJobs(t)
	if !jobs["meshproxy"] || !jobs["kubernetes-cadvisor"] {
		t.Errorf("prometheus.yml jobs %v: want meshproxy and kubernetes-cadvisor", jobs)
	}
	files, _ := filepath.Glob("*.json")
	if len(files) < 2 {
		t.Fatalf("dashboards: %v", files)
	}
	used := map[string]bool{}
	for _, f := range files {
		d := loadDashboard(t, f)
		qs := queries(t, d)
		if len(qs) == 0 {
			t.Errorf("%s: no queries", f)
		}
		for _, q := range qs {
			vs, err := selectors(q)
			if err != nil {
				t.Errorf("%s: %q: %v", f, q, err)
				continue
			}
			for _, v := range vs {
				name := v.Name
				if fam, ok := family(name, fams); ok {
					used[fam] = true
				} else if !(f == "benchmark.json" && cadvisorMetrics[name]) {
					t.Errorf("%s queries %s, which meshproxy does not export (it exports %d families)", f, name, len(fams))
				}
				for _, m := range v.LabelMatchers {
					if m.Name == "job" && !jobs[m.Value] {
						t.Errorf("%s: job=%q is no job of prometheus.yml", f, m.Value)
					}
				}
			}
		}
	}
	for _, want := range []string{"meshproxy_requests_total", "meshproxy_request_duration_ms", "meshproxy_active_connections", "process_resident_memory_bytes"} {
		if !used[want] {
			t.Errorf("no dashboard charts %s", want)
		}
	}
}

// TestSelectorsParser makes sure the check would catch a wrong name.
func TestSelectorsParser(t *testing.T) {
	vs, err := selectors(`histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y"}[1m]))) / on() group_left b`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vs {
		names = append(names, v.Name)
	}
	if strings.Join(names, ",") != "a_bucket,b" {
		t.Errorf("names %v", names)
	}
	fams := map[string]string{"a": "histogram", "c": "counter"}
	if _, ok := family("a_bucket", fams); !ok {
		t.Error("a_bucket not in histogram a")
	}
	if _, ok := family("c_bucket", fams); ok {
		t.Error("c_bucket accepted for counter c")
	}
}
