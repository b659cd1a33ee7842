package metrics

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"
)

// scrape returns the exposition of r.
func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.Len() == 0 {
		return ""
	}
	if err := checkExposition(buf.String()); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	return buf.String()
}

// linesWith returns the sample lines of text that contain every one of subs.
func linesWith(text string, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

func TestRetainRequests(t *testing.T) {
	r := NewRegistry()
	names := []string{"a", "b", "c", "d"}
	for i, n := range names {
		s := r.Requests("outbound", "route-"+n, "backend-"+n)
		for range i + 1 {
			s.Observe(200, time.Duration(i+1)*time.Millisecond)
		}
		s.Observe(503, time.Second)
	}
	before := scrape(t, r)

	gone := r.Requests("outbound", "route-b", "backend-b")
	keep := map[string]bool{"route-a": true, "route-c": true}
	if n := r.RetainRequests(func(direction, route, backend string) bool { return keep[route] }); n != 2 {
		t.Fatalf("RetainRequests removed %d series, want 2", n)
	}
	after := scrape(t, r)

	for _, n := range []string{"b", "d"} {
		if ls := linesWith(after, `route="route-`+n+`"`); len(ls) != 0 {
			t.Errorf("removed series route-%s still exported:\n%s", n, strings.Join(ls, "\n"))
		}
		if r.LookupRequests("outbound", "route-"+n, "backend-"+n) != nil {
			t.Errorf("removed series route-%s still registered", n)
		}
	}
	for _, n := range []string{"a", "c"} {
		want := linesWith(before, `route="route-`+n+`"`)
		got := linesWith(after, `route="route-`+n+`"`)
		if len(want) == 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("kept series route-%s changed:\nbefore\n%s\nafter\n%s", n, strings.Join(want, "\n"), strings.Join(got, "\n"))
		}
	}

	// A holder of the removed series may keep recording; nothing exports it.
	gone.Observe(200, time.Millisecond)
	if ls := linesWith(scrape(t, r), `route="route-b"`); len(ls) != 0 {
		t.Errorf("detached series exported after Observe:\n%s", strings.Join(ls, "\n"))
	}
	// The same labels registered again start from zero.
	again := r.Requests("outbound", "route-b", "backend-b")
	if again == gone || again.Count() != 0 {
		t.Errorf("re-registered series: same pointer %v, count %d; want a new series at 0", again == gone, again.Count())
	}
	if got := r.Requests("outbound", "route-a", "backend-a").Count(); got != 2 {
		t.Errorf("kept series route-a count %d, want 2", got)
	}

	if n := r.RetainRequests(func(string, string, string) bool { return true }); n != 0 {
		t.Errorf("RetainRequests keeping everything removed %d", n)
	}
}

func TestLookupRequestsDoesNotCreate(t *testing.T) {
	r := NewRegistry()
	if s := r.LookupRequests("inbound", "x", "y"); s != nil {
		t.Fatal("LookupRequests found a series never registered")
	}
	if strings.Contains(scrape(t, r), `route="x"`) {
		t.Fatal("LookupRequests registered a series")
	}
	s := r.Requests("inbound", "x", "y")
	if r.LookupRequests("inbound", "x", "y") != s {
		t.Fatal("LookupRequests did not return the registered series")
	}
}

func TestRemove(t *testing.T) {
	r := NewRegistry()
	const name = "meshproxy_upstream_connect_errors_total"
	for i, ep := range []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"} {
		r.Counter(name, "Failed connects.", "endpoint", ep).Add(uint64(i + 1))
	}
	r.Gauge("g", "A gauge.", "endpoint", "10.0.0.1:80", "zone", "a").Set(7)
	r.GaugeFunc("f", "A func.", func() float64 { return 3 }, "endpoint", "10.0.0.1:80")
	gone := r.Counter(name, "", "endpoint", "10.0.0.2:80")
	before := scrape(t, r)

	for _, tc := range []struct {
		name   string
		labels []string
		want   bool
	}{
		{name, []string{"endpoint", "10.0.0.2:80"}, true},
		{name, []string{"endpoint", "10.0.0.2:80"}, false}, // already gone
		{name, []string{"endpoint", "10.9.9.9:80"}, false},
		{"g", []string{"zone", "a", "endpoint", "10.0.0.1:80"}, true}, // label order does not matter
		{"f", []string{"endpoint", "10.0.0.1:80"}, true},
		{"no_such_family", []string{"endpoint", "10.0.0.1:80"}, false},
		{RequestsTotalName, nil, false}, // request series go through RetainRequests
	} {
		if got := r.Remove(tc.name, tc.labels...); got != tc.want {
			t.Errorf("Remove(%s, %q) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	after := scrape(t, r)
	for _, s := range []string{`endpoint="10.0.0.2:80"`, "\ng{", "\nf{"} {
		if strings.Contains(after, s) {
			t.Errorf("removed series %s still exported:\n%s", s, after)
		}
	}
	for _, ep := range []string{"10.0.0.1:80", "10.0.0.3:80"} {
		want := linesWith(before, name, ep)
		got := linesWith(after, name, ep)
		if len(want) != 1 || strings.Join(got, "\n") != want[0] {
			t.Errorf("kept counter %s: before %q after %q", ep, want, got)
		}
	}
	gone.Inc() // still usable, unseen
	if strings.Contains(scrape(t, r), `endpoint="10.0.0.2:80"`) {
		t.Error("detached counter exported after Inc")
	}
	if c := r.Counter(name, "", "endpoint", "10.0.0.2:80"); c == gone || c.Value() != 0 {
		t.Errorf("re-registered counter: same pointer %v, value %d; want a new counter at 0", c == gone, c.Value())
	}
}

// TestRemovedSeriesAreFreed checks that the registry keeps no reference to
// a removed series: the heap, not only the scrape, must stop growing.
func TestRemovedSeriesAreFreed(t *testing.T) {
	r := NewRegistry()
	req := weak.Make(r.Requests("outbound", "old", "old"))
	ctr := weak.Make(r.Counter("c_total", "", "endpoint", "old"))
	kept := r.Requests("outbound", "new", "new")
	r.RetainRequests(func(_, route, _ string) bool { return route == "new" })
	r.Remove("c_total", "endpoint", "old")
	runtime.GC()
	runtime.GC()
	if req.Value() != nil {
		t.Error("a removed request series is still reachable")
	}
	if ctr.Value() != nil {
		t.Error("a removed counter is still reachable")
	}
	if r.Requests("outbound", "new", "new") != kept {
		t.Error("a kept request series changed identity")
	}
}

// TestRetainConcurrent removes and re-registers series while others record
// and scrape: each scrape must be a valid exposition (run with -race).
func TestRetainConcurrent(t *testing.T) {
	r := NewRegistry()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				route := string(rune('a' + (i+g)%8))
				r.Requests("outbound", route, "b").Observe(200, time.Millisecond)
				r.Counter("c_total", "", "endpoint", route).Inc()
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			var buf bytes.Buffer
			if err := r.WriteText(&buf); err != nil {
				t.Error(err)
				return
			}
			if buf.Len() == 0 {
				continue // nothing registered yet
			}
			if err := checkExposition(buf.String()); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for i := range 200 {
		odd := i%2 == 1
		r.RetainRequests(func(_, route, _ string) bool { return (route[0]%2 == 1) == odd })
		for c := 'a'; c < 'i'; c++ {
			if (c%2 == 1) != odd {
				r.Remove("c_total", "endpoint", string(c))
			}
		}
	}
	close(stop)
	wg.Wait()
}
