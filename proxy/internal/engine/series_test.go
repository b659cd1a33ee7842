package engine

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/metrics"
	"github.com/meshbench/meshbench/proxy/internal/route"
)

// seriesConfig renders a Proxy with an inbound listener and, per name, a
// Service "name" whose one endpoint is 127.0.0.1:port; routes is appended
// as is.
func seriesConfig(out string, ports map[string]int, routes string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: meshbench.dev/v1alpha1
kind: Proxy
metadata: {name: t, namespace: default}
spec:
  outbound: {address: %q}
  inbound: {address: "127.0.0.1:1", app: "127.0.0.1:2"}
`, out)
	for _, name := range slices.Sorted(maps.Keys(ports)) {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: default}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %[1]s-1, namespace: default, labels: {kubernetes.io/service-name: %[1]s}}
addressType: IPv4
ports: [{name: http, port: %[2]d}]
endpoints: [{addresses: [127.0.0.1]}]
`, name, ports[name])
	}
	if routes != "" {
		b.WriteString("---\n" + routes)
	}
	return b.String()
}

// TestTableSeries pins the request series a table can produce: exactly
// the label sets dispatch records requests under.
func TestTableSeries(t *testing.T) {
	const routes = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: a, port: 80}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /x}}]
      backendRefs: [{name: b, port: 80, weight: 1}, {name: c, port: 80, weight: 0}]
    - matches: [{path: {type: PathPrefix, value: /y}}]
      backendRefs: [{name: c, port: 80, weight: 0}]
    - matches: [{path: {type: PathPrefix, value: /z}}]
      backendRefs: [{name: nosuch, port: 80}]
`
	tbl := compileTable(t, balance.NewRegistry(), seriesConfig(freeAddr(t), map[string]int{"a": 1001, "b": 1002, "c": 1003}, routes))
	got := slices.SortedFunc(maps.Keys(tableSeries(tbl)), func(x, y seriesLabels) int {
		return cmp.Or(strings.Compare(x.direction, y.direction), strings.Compare(x.route, y.route), strings.Compare(x.backend, y.backend))
	})
	want := []seriesLabels{
		{"inbound", "", ""},
		{"inbound", "", "inbound"},
		{"outbound", "", ""},
		{"outbound", "default/b/default", "default/b:80"},
		{"outbound", "default/c/default", "default/c:80"},
		{"outbound", "default/split/0", "default/b:80"}, // c has weight 0: never picked
		{"outbound", "default/split/1", ""},             // all weights 0: 500 no_backend
		{"outbound", "default/split/2", "default/nosuch:80"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("tableSeries:\n got %v\nwant %v", got, want)
	}
}

func scrapeText(t *testing.T, reg *metrics.Registry) string {
	t.Helper()
	var buf bytes.Buffer
	if err := reg.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestSetTablePrunesSeries: after SetTable, the series of a Service and
// endpoint the new table dropped are no longer exported or reachable (from
// the registry, p.connectErr, or a loop's cache after its next tick); kept
// ones keep counting; and a request still routed on the old table cannot
// bring a dropped series back.
func TestSetTablePrunesSeries(t *testing.T) {
	eps := balance.NewRegistry()
	out := freeAddr(t)
	t1 := compileTable(t, eps, seriesConfig(out, map[string]int{"a": 1001, "b": 1002}, ""))
	t2 := compileTable(t, eps, seriesConfig(out, map[string]int{"b": 1002, "c": 1003}, ""))
	reg := metrics.NewRegistry()
	p, err := New(Options{OutboundAddr: out}, t1, reg)
	if err != nil {
		t.Fatal(err)
	}
	l := newLoop(p, nil, 1)

	ruleOf := func(tbl *route.Table, svc string) (*route.Rule, *route.Backend) {
		for _, s := range tbl.Services() {
			if s.Name == svc {
				return s.Rules()[0], s.Backend
			}
		}
		t.Fatalf("no Service %s", svc)
		return nil, nil
	}
	ra, ba := ruleOf(t1, "a")
	rb, bb := ruleOf(t1, "b")
	l.requestSeries(t1, false, ra, ba).Observe(200, time.Millisecond)
	sb := l.requestSeries(t1, false, rb, bb)
	sb.Observe(200, time.Millisecond)
	p.connectErrors("127.0.0.1:1001").Inc()
	cb := p.connectErrors("127.0.0.1:1002")
	cb.Add(2)
	goneSeries := weak.Make(l.requestSeries(t1, false, ra, ba))
	goneCounter := weak.Make(p.connectErrors("127.0.0.1:1001"))
	text := scrapeText(t, reg)
	for _, s := range []string{`route="default/a/default"`, `endpoint="127.0.0.1:1001"`} {
		if !strings.Contains(text, s) {
			t.Fatalf("before the reload, %s is not exported:\n%s", s, text)
		}
	}

	p.SetTable(t2)
	_ = l.sweep(context.Background()) // the loop's next tick, before any request
	runtime.GC()
	runtime.GC()
	if goneSeries.Value() != nil {
		t.Error("the dropped request series is still reachable (registry or loop cache)")
	}
	if goneCounter.Value() != nil {
		t.Error("the dropped connect-error counter is still reachable")
	}

	// A request routed on t1 just before the swap finishes after it.
	stale := l.requestSeries(t1, false, ra, ba)
	stale.Observe(200, time.Millisecond)
	p.connectErrors("127.0.0.1:1001").Inc()
	if l.requestSeries(t1, false, rb, bb) != sb {
		t.Error("a request on the old table lost the series the new table kept")
	}
	if p.connectErrors("127.0.0.1:1002") != cb {
		t.Error("a connect failure lost the counter the new table kept")
	}

	text = scrapeText(t, reg)
	for _, s := range []string{`route="default/a/default"`, `backend="default/a:80"`, `endpoint="127.0.0.1:1001"`} {
		if strings.Contains(text, s) {
			t.Errorf("after the reload, %s is still exported:\n%s", s, text)
		}
	}
	if v, ok := sampleValue(text, `meshproxy_requests_total{direction="outbound",route="default/b/default",backend="default/b:80",code="200"}`); !ok || v != "1" {
		t.Errorf("kept request series: %q (exported %v), want 1", v, ok)
	}
	if v, ok := sampleValue(text, `meshproxy_upstream_connect_errors_total{endpoint="127.0.0.1:1002"}`); !ok || v != "2" {
		t.Errorf("kept connect-error counter: %q (exported %v), want 2", v, ok)
	}
	if _, ok := p.connectErr["127.0.0.1:1001"]; ok {
		t.Error("p.connectErr still holds the dropped endpoint's counter")
	}

	// The new table's own series are registered as usual.
	rc, bc := ruleOf(t2, "c")
	l.requestSeries(t2, false, rc, bc).Observe(200, time.Millisecond)
	p.connectErrors("127.0.0.1:1003").Inc()
	text = scrapeText(t, reg)
	for _, s := range []string{`route="default/c/default"`, `endpoint="127.0.0.1:1003"`} {
		if !strings.Contains(text, s) {
			t.Errorf("the new table's series %s is not exported:\n%s", s, text)
		}
	}

}

// sampleValue returns the value of the sample line that starts with series.
func sampleValue(text, series string) (string, bool) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v, true
		}
	}
	return "", false
}
