package sidecar

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
	"github.com/meshbench/meshbench/proxy/internal/metrics"
)

// churnGen is generation g of a config whose every route, backend and
// endpoint is renamed on each reload, as a rolling deployment renames
// EndpointSlice addresses: Services s<g>-0..3 on the live echo, an
// HTTPRoute r<g> sending s<g>-0's traffic to s<g>-1, and a Service dead<g>
// whose one endpoint, 127.1.x.y:deadPort, refuses connections (so each
// generation has its own connect-error counter).
func churnGen(m *mesh, g int, echoPort string, deadPort int) {
	m.services = m.services[:0]
	for k := range 4 {
		m.services = append(m.services, svc{name: fmt.Sprintf("s%d-%d", g, k), ports: []string{echoPort}})
	}
	m.routes = fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r%[1]d, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: s%[1]d-0, port: 80}]
  rules:
    - backendRefs: [{name: s%[1]d-1, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: dead%[1]d, namespace: default}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: dead%[1]d-1
  namespace: default
  labels: {kubernetes.io/service-name: dead%[1]d}
addressType: IPv4
ports: [{name: http, port: %[2]d}]
endpoints:
  - addresses: [127.1.%[3]d.%[4]d]
`, g, deadPort, g/250, 1+g%250)
}

// churnRequests sends generation g's requests, one per Service, so that
// each of its series exists.
func churnRequests(t *testing.T, s *started, g int) {
	t.Helper()
	for k := range 4 {
		if resp, _ := s.do(t, "GET", fmt.Sprintf("s%d-%d", g, k), "/", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("generation %d, s%d-%d: status %d", g, g, k, resp.StatusCode)
		}
	}
	if resp, _ := s.do(t, "GET", fmt.Sprintf("dead%d", g), "/", nil, nil); resp.StatusCode < 500 {
		t.Fatalf("generation %d, dead%d: status %d, want a 5xx (the endpoint refuses)", g, g, resp.StatusCode)
	}
}

// configSeries returns the exported series labelled by a config object
// (route, backend or endpoint), one entry per series: a histogram's
// buckets, sum and count and a request counter's codes collapse into it.
func configSeries(text string) []string {
	set := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		labels, _, _ := strings.Cut(rest, "}")
		if !strings.Contains(labels, `route="`) && !strings.Contains(labels, `backend="`) && !strings.Contains(labels, `endpoint="`) {
			continue
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && base == metrics.RequestDurationName {
				name = base
			}
		}
		var keep []string
		for _, l := range strings.Split(labels, ",") {
			if !strings.HasPrefix(l, "le=") && !strings.HasPrefix(l, "code=") {
				keep = append(keep, l)
			}
		}
		set[name+"{"+strings.Join(keep, ",")+"}"] = true
	}
	series := make([]string, 0, len(set))
	for k := range set {
		series = append(series, k)
	}
	slices.Sort(series)
	return series
}

// gcHeap is the live Go heap after full collections.
func gcHeap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC() // the first cycle may leave finalizer-reachable objects
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// seriesCost measures what the registry holds per series, registering n
// generations' worth of the label sets the churn test's configs produce.
func seriesCost(n, perGen int) float64 {
	reg := metrics.NewRegistry()
	before := gcHeap()
	for g := 100000; g < 100000+n; g++ {
		reg.Requests("outbound", fmt.Sprintf("default/r%d/0", g), fmt.Sprintf("default/s%d-1:80", g))
		for k := 1; k < 4; k++ {
			svc := fmt.Sprintf("s%d-%d", g, k)
			reg.Requests("outbound", "default/"+svc+"/default", "default/"+svc+":80")
		}
		reg.Requests("outbound", fmt.Sprintf("default/dead%d/default", g), fmt.Sprintf("default/dead%d:80", g))
		reg.Counter("meshproxy_upstream_connect_errors_total", "", "endpoint", fmt.Sprintf("127.1.%d.%d:65535", g/250, 1+g%250))
	}
	cost := gcHeap() - before
	runtime.KeepAlive(reg)
	return float64(cost) / float64(n*perGen)
}

// TestReliabilityMetricSeriesAcrossReloads reloads a config that renames
// every route, backend and endpoint 1000 times (400 under -race), with requests creating
// each generation's series, and checks that the proxy exports only the
// series of the last config (exactly those a fresh proxy shows for it) and
// that its heap does not grow with the number of configs seen (issue 11,
// defect 8).
func TestReliabilityMetricSeriesAcrossReloads(t *testing.T) {
	const early = 100
	reloads := 1000
	if testenv.Race {
		// About 10 s under the race detector; make test runs the
		// reliability suite once more without it, at full length.
		reloads = 400
	}
	// Each generation registers 5 request series (exported in two
	// families, requests_total and request_duration_ms) and 1
	// connect-error counter.
	const reqPerGen, perGen = 5, 6
	echoSrv := startEcho(t, "app", 16)
	echoPort := portOf(t, echoSrv.Addr())
	deadPort := freePort(t) // refused on every 127/8 address: nothing listens on it
	m := &mesh{}
	churnGen(m, 0, echoPort, deadPort)
	s := startSidecar(t, m)
	// Reloads come from Reload alone: the file watcher, reading a
	// generation just before Reload applies it, could apply it again
	// after the next one.
	s.stopWatching()
	churnRequests(t, s, 0)

	start := time.Now()
	var heapEarly int64
	for g := 1; g <= reloads; g++ {
		churnGen(m, g, echoPort, deadPort)
		writeFile(t, s.file, m.yaml())
		if err := s.Reload("test"); err != nil {
			t.Fatalf("reload %d: %v", g, err)
		}
		churnRequests(t, s, g)
		if g == early {
			heapEarly = gcHeap()
		}
	}
	heapLate := gcHeap()
	elapsed := time.Since(start)

	// The same last config alone, in a fresh proxy.
	fresh := &mesh{}
	churnGen(fresh, reloads, echoPort, deadPort)
	f := startSidecar(t, fresh)
	churnRequests(t, f, reloads)

	// A response can reach the client a moment before the loop records
	// it: poll until both agree, with a deadline that only tells "never"
	// from "late".
	var got, want []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, want = configSeries(s.metricsText(t)), configSeries(f.metricsText(t))
		if slices.Equal(got, want) || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Equal(got, want) {
		extra, missing := diffSorted(got, want)
		t.Fatalf("after %d reloads %d config series are exported, the last config alone has %d\nnot in the last config (%d): %s\nmissing (%d): %s",
			reloads, len(got), len(want), len(extra), head(extra, 10), len(missing), head(missing, 10))
	}
	// Besides its own, every config has the (never observed) histogram of
	// requests that match no route (route="", backend="").
	if n := 2*reqPerGen + (perGen - reqPerGen) + 1; len(want) != n {
		t.Fatalf("the last config exports %d config series, want %d:\n%s", len(want), n, strings.Join(want, "\n"))
	}

	// Had the series of the configs between the two measurements been
	// kept, the heap would have grown by at least what the registry holds
	// for them; allow a quarter of that for noise.
	per := seriesCost(200, perGen)
	retained := float64((reloads-early)*perGen) * per
	growth := heapLate - heapEarly
	t.Logf("%d reloads in %v; live heap after reload %d: %d KiB, after reload %d: %d KiB (%+d KiB); a series costs %.0f B, so %d configs' series would hold %.0f KiB",
		reloads, elapsed.Round(time.Millisecond), early, heapEarly>>10, reloads, heapLate>>10, growth>>10,
		per, reloads-early, retained/1024)
	if float64(growth) > retained/4 {
		t.Errorf("the heap grew by %d KiB over %d reloads with churn; keeping their series would cost %.0f KiB, bound %.0f KiB",
			growth>>10, reloads-early, retained/1024, retained/4/1024)
	}
}

// diffSorted returns what is only in a and what is only in b (both sorted).
func diffSorted(a, b []string) (onlyA, onlyB []string) {
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range b {
		if _, ok := slices.BinarySearch(a, x); !ok {
			onlyB = append(onlyB, x)
		}
	}
	return onlyA, onlyB
}

func head(s []string, n int) string {
	if len(s) > n {
		return strings.Join(s[:n], " ") + " …"
	}
	return strings.Join(s, " ")
}
