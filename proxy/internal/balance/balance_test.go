package balance

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

func endpoints(n int) []*Endpoint {
	eps := make([]*Endpoint, n)
	for i := range eps {
		eps[i] = NewEndpoint(fmt.Sprintf("127.0.0.1:%d", 18000+i))
	}
	return eps
}

func TestP2CSpreadsEqualLoadEvenly(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, n := range []int{2, 3, 5, 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			eps := endpoints(n)
			r := NewRand(uint64(n))
			counts := make(map[*Endpoint]int)
			const picks = 100000
			for range picks {
				counts[P2C(eps, r, now)]++
			}
			want := float64(picks) / float64(n)
			for _, e := range eps {
				if got := float64(counts[e]); math.Abs(got-want) > want*0.05 {
					t.Errorf("%s picked %v times, want %v ± 5%%", e.Addr, got, want)
				}
			}
		})
	}
}

func TestP2CAvoidsLoadedEndpoint(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name string
		n    int
		// maxShare is the largest share of picks the loaded endpoint may get.
		maxShare float64
	}{
		// With two endpoints both are always compared: never picked.
		{"two", 2, 0},
		// With more, the loaded endpoint loses every comparison.
		{"four", 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps := endpoints(tt.n)
			loaded := eps[0]
			for range 100 {
				loaded.Begin()
			}
			r := NewRand(42)
			got := 0
			const picks = 10000
			for range picks {
				if P2C(eps, r, now) == loaded {
					got++
				}
			}
			if share := float64(got) / picks; share > tt.maxShare {
				t.Errorf("loaded endpoint got %.2f%% of picks, want <= %.2f%%", share*100, tt.maxShare*100)
			}
		})
	}
}

func TestP2CPrefersLessLoaded(t *testing.T) {
	now := time.Unix(1000, 0)
	eps := endpoints(2)
	eps[0].Begin()
	eps[0].Begin()
	eps[1].Begin()
	r := NewRand(1)
	for range 100 {
		if got := P2C(eps, r, now); got != eps[1] {
			t.Fatalf("P2C picked %s (outstanding %d), want %s", got.Addr, got.Outstanding(), eps[1].Addr)
		}
	}
	eps[0].End()
	eps[0].End()
	if eps[0].Outstanding() != 0 {
		t.Fatalf("Outstanding = %d after balanced Begin/End, want 0", eps[0].Outstanding())
	}
}

func TestP2CEdgeCases(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewRand(7)
	if got := P2C(nil, r, now); got != nil {
		t.Errorf("P2C(nil) = %v, want nil", got)
	}
	one := endpoints(1)
	if got := P2C(one, r, now); got != one[0] {
		t.Errorf("P2C(one) = %v, want %v", got, one[0])
	}
	one[0].ReportConnectFailure(now)
	if got := P2C(one, r, now); got != nil {
		t.Errorf("P2C(one ejected) = %v, want nil", got)
	}

	eps := endpoints(5)
	for _, e := range eps {
		e.ReportConnectFailure(now)
	}
	if got := P2C(eps, r, now); got != nil {
		t.Errorf("P2C(all ejected) = %v, want nil", got)
	}
	eps[3].ReportSuccess()
	for range 100 {
		if got := P2C(eps, r, now); got != eps[3] {
			t.Fatalf("P2C(one available) = %v, want %v", got, eps[3])
		}
	}
	// Two available out of five: both used, ejected ones never.
	eps[1].ReportSuccess()
	counts := map[*Endpoint]int{}
	for range 10000 {
		counts[P2C(eps, r, now)]++
	}
	if len(counts) != 2 || counts[eps[1]] < 4500 || counts[eps[3]] < 4500 {
		t.Errorf("picks with two available = %v, want ~even over %s and %s only", counts, eps[1], eps[3])
	}
}

func TestEjectionAndRecovery(t *testing.T) {
	start := time.Unix(1000, 0)
	e := NewEndpoint("10.0.0.1:80")
	if !e.Available(start) {
		t.Fatal("new endpoint not available")
	}
	// Each consecutive failure, reported when the previous ejection ends,
	// doubles the ejection up to EjectMax.
	now := start
	for i, want := range []time.Duration{1, 2, 4, 8, 10, 10, 10} {
		want *= time.Second
		e.ReportConnectFailure(now)
		if e.Available(now) || e.Available(now.Add(want-time.Nanosecond)) {
			t.Fatalf("failure %d: available before %v", i+1, want)
		}
		if !e.Available(now.Add(want)) {
			t.Fatalf("failure %d: not available after %v", i+1, want)
		}
		now = now.Add(want)
	}
	if got := e.ConsecutiveFailures(); got != 7 {
		t.Errorf("ConsecutiveFailures = %d, want 7", got)
	}
	// A success clears both the streak and a running ejection.
	e.ReportConnectFailure(now)
	e.ReportSuccess()
	if !e.Available(now) || e.ConsecutiveFailures() != 0 {
		t.Fatalf("after success: available=%v failures=%d", e.Available(now), e.ConsecutiveFailures())
	}
	e.ReportConnectFailure(now)
	if e.Available(now.Add(EjectBase-time.Nanosecond)) || !e.Available(now.Add(EjectBase)) {
		t.Error("first failure after recovery should eject for EjectBase again")
	}
}

func TestP2CZeroAllocs(t *testing.T) {
	now := time.Unix(1000, 0)
	eps := endpoints(8)
	eps[2].ReportConnectFailure(now) // exercise the slow path too
	eps[5].ReportConnectFailure(now)
	r := NewRand(3)
	allocs := testing.AllocsPerRun(1000, func() {
		e := P2C(eps, r, now)
		e.Begin()
		e.End()
	})
	if allocs != 0 {
		t.Errorf("P2C allocates %v times per call, want 0", allocs)
	}
}

func TestRandIntn(t *testing.T) {
	r := NewRand(0)
	const n, draws = 7, 70000
	var counts [n]int
	for range draws {
		v := r.Intn(n)
		if v < 0 || v >= n {
			t.Fatalf("Intn(%d) = %d out of range", n, v)
		}
		counts[v]++
	}
	for i, c := range counts {
		if c < draws/n*9/10 || c > draws/n*11/10 {
			t.Errorf("value %d drawn %d times, want ~%d", i, c, draws/n)
		}
	}
	if NewRand(1).Uint64() == NewRand(2).Uint64() {
		t.Error("different seeds gave the same first value")
	}
	if NewRand(5).Uint64() != NewRand(5).Uint64() {
		t.Error("same seed gave different first values")
	}
	defer func() {
		if recover() == nil {
			t.Error("Intn(0) did not panic")
		}
	}()
	r.Intn(0)
}

func TestRegistry(t *testing.T) {
	var g Registry
	const web = "default/web:80"
	a := g.Get(web, "127.0.0.1:8080")
	if a != g.Get(web, "127.0.0.1:8080") {
		t.Fatal("Get returned different Endpoints for one address")
	}
	if a != g.Get(web, "localhost:8080") || a != g.Get(web, "[::ffff:127.0.0.1]:8080") {
		t.Error("equivalent addresses not canonicalised to one Endpoint")
	}
	if a.TCPAddr == nil || a.TCPAddr.String() != "127.0.0.1:8080" {
		t.Errorf("TCPAddr = %v, want 127.0.0.1:8080", a.TCPAddr)
	}
	v6 := g.Get(web, "[::1]:9090")
	if v6.Addr != "[::1]:9090" || v6.TCPAddr.Port != 9090 {
		t.Errorf("IPv6 endpoint = %q %v", v6.Addr, v6.TCPAddr)
	}
	bad := g.Get(web, "nonsense")
	if bad.TCPAddr != nil || bad.Addr != "nonsense" {
		t.Errorf("unparsable endpoint = %q %v, want as given with nil TCPAddr", bad.Addr, bad.TCPAddr)
	}

	// State survives a "reload" (a second Get) ...
	a.Begin()
	if g.Get(web, "127.0.0.1:8080").Outstanding() != 1 {
		t.Error("outstanding count lost across Get")
	}
	// ... and Retain drops what the new table no longer uses.
	g.Retain([]*Endpoint{a})
	if g.Len() != 1 || g.Get(web, "127.0.0.1:8080") != a || g.Lookup(web, "[::1]:9090") != nil {
		t.Errorf("after Retain: Len = %d", g.Len())
	}

	// Concurrent Gets of one address agree.
	var wg sync.WaitGroup
	got := make([]*Endpoint, 16)
	for i := range got {
		wg.Go(func() { got[i] = g.Get(web, "10.1.2.3:80") })
	}
	wg.Wait()
	for _, e := range got {
		if e != got[0] {
			t.Fatal("concurrent Get returned different Endpoints")
		}
	}
}

func TestEndpointConcurrentState(t *testing.T) {
	e := NewEndpoint("10.0.0.9:80")
	now := time.Unix(1000, 0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				e.Begin()
				_ = e.Available(now)
				e.End()
			}
			e.ReportConnectFailure(now)
			e.ReportSuccess()
		})
	}
	wg.Wait()
	if e.Outstanding() != 0 {
		t.Errorf("Outstanding = %d, want 0", e.Outstanding())
	}
}

func BenchmarkP2C(b *testing.B) {
	now := time.Unix(1000, 0)
	eps := endpoints(10)
	r := NewRand(1)
	b.ReportAllocs()
	for b.Loop() {
		P2C(eps, r, now)
	}
}
