package balance

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeNet is an injectable probe dialer: addresses in up accept, every
// other address refuses; every dial is recorded.
type fakeNet struct {
	mu    sync.Mutex
	up    map[string]bool
	dials []string
}

func (f *fakeNet) dial(_ context.Context, addr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dials = append(f.dials, addr)
	if f.up[addr] {
		return nil
	}
	return errors.New("connection refused")
}

func (f *fakeNet) setUp(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up[addr] = true
}

// takeDials returns the dials so far, sorted, and forgets them.
func (f *fakeNet) takeDials() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.dials
	f.dials = nil
	slices.Sort(d)
	return d
}

// testRegistry returns a Registry whose clock stands still at now and whose
// probes go to a fakeNet. Its background prober (started by the first
// ejection) waits an hour between rounds, so only the rounds a test runs
// itself with probeRound happen.
func testRegistry(t *testing.T, now time.Time) (*Registry, *fakeNet) {
	t.Helper()
	f := &fakeNet{up: map[string]bool{}}
	g := &Registry{now: func() time.Time { return now }, dialer: f.dial, interval: time.Hour}
	t.Cleanup(g.Close)
	return g, f
}

func TestEjectionPerBackend(t *testing.T) {
	now := time.Unix(1000, 0)
	g, _ := testRegistry(t, now)
	a := g.Get("default/a:80", "10.0.0.1:8080")
	b := g.Get("default/b:80", "10.0.0.1:8080")
	if a == b {
		t.Fatal("two backends got one Endpoint for a shared address")
	}
	if a.Addr != b.Addr || a.Backend != "default/a:80" || b.Backend != "default/b:80" {
		t.Errorf("endpoints %s %s / %s %s, want one address (the pool key) under two backends", a.Backend, a.Addr, b.Backend, b.Addr)
	}
	for range 3 {
		a.ReportConnectFailure(now)
	}
	if a.Available(now) {
		t.Fatal("backend a's endpoint available after its failures")
	}
	if !b.Available(now) || b.ConsecutiveFailures() != 0 {
		t.Fatalf("backend b's endpoint: available %v, failures %d; want true, 0 (a's failures are not b's)",
			b.Available(now), b.ConsecutiveFailures())
	}
	// b's own first failure starts its own streak: EjectBase, not a's 8 s.
	b.ReportConnectFailure(now)
	if !b.Available(now.Add(EjectBase)) || a.Available(now.Add(EjectBase)) {
		t.Errorf("one EjectBase later: a available %v, b available %v; want false, true",
			a.Available(now.Add(EjectBase)), b.Available(now.Add(EjectBase)))
	}
	// Retain works per Endpoint too.
	g.Retain([]*Endpoint{a})
	if g.Lookup("default/a:80", "10.0.0.1:8080") != a || g.Lookup("default/b:80", "10.0.0.1:8080") != nil {
		t.Error("Retain([a]) did not keep exactly a")
	}
}

func TestBackoffCap(t *testing.T) {
	if EjectMax != 10*time.Second {
		t.Errorf("EjectMax = %v, want 10s", EjectMax)
	}
	for _, tc := range []struct {
		failures int32
		want     time.Duration
	}{
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{4, 8 * time.Second},
		{5, 10 * time.Second},
		{6, 10 * time.Second},
		{1 << 30, 10 * time.Second},
	} {
		if got := backoff(tc.failures); got != tc.want {
			t.Errorf("backoff(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestProbeEndsEjection(t *testing.T) {
	now := time.Unix(1000, 0)
	g, f := testRegistry(t, now)
	const addrX, addrY, addrZ = "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"
	x1 := g.Get("default/a:80", addrX)
	x2 := g.Get("default/b:80", addrX)
	y := g.Get("default/a:80", addrY)
	z := g.Get("default/a:80", addrZ) // never fails: never probed
	bad := g.Get("default/a:80", "nonsense")
	x1.ReportConnectFailure(now)
	x1.ReportConnectFailure(now) // lengthens the running ejection
	x2.ReportConnectFailure(now)
	y.ReportConnectFailure(now)
	bad.ReportConnectFailure(now)
	if got := g.ejections.Load(); got != 4 {
		t.Errorf("ejections = %d, want 4 (x1 once, x2, y, bad)", got)
	}
	if got := g.Ejected(now); got != 4 {
		t.Errorf("Ejected = %d, want 4", got)
	}

	f.setUp(addrX)
	if !g.probeRound(context.Background()) {
		t.Fatal("probeRound found nothing ejected")
	}
	// One dial per address, whatever the number of backends; none to the
	// healthy or the unparsable endpoint.
	if got, want := f.takeDials(), []string{addrX, addrY}; !slices.Equal(got, want) {
		t.Errorf("probed %v, want %v", got, want)
	}
	for _, e := range []*Endpoint{x1, x2} {
		if !e.Available(now) || e.ConsecutiveFailures() != 0 {
			t.Errorf("%s %s after a successful probe: available %v, failures %d; want true, 0",
				e.Backend, e.Addr, e.Available(now), e.ConsecutiveFailures())
		}
	}
	if y.Available(now) || !z.Available(now) {
		t.Errorf("y available %v (its probe failed), z available %v", y.Available(now), z.Available(now))
	}
	if ok, ko := g.probesOK.Load(), g.probesFailed.Load(); ok != 1 || ko != 1 {
		t.Errorf("probes ok %d failed %d, want 1 and 1", ok, ko)
	}
	if got := g.Ejected(now); got != 2 {
		t.Errorf("Ejected = %d, want 2 (y, bad)", got)
	}

	f.setUp(addrY)
	g.probeRound(context.Background())
	if !y.Available(now) {
		t.Error("y still ejected after a successful probe")
	}
	g.Retain([]*Endpoint{x1, x2, y, z})
	f.takeDials()
	if g.probeRound(context.Background()) {
		t.Error("probeRound reports ejected endpoints after every one recovered")
	}
	if d := f.takeDials(); len(d) != 0 {
		t.Errorf("probed %v with nothing ejected", d)
	}
}

func TestRetainStopsProbing(t *testing.T) {
	now := time.Unix(1000, 0)
	g, f := testRegistry(t, now)
	a := g.Get("default/a:80", "10.0.0.1:80")
	b := g.Get("default/a:80", "10.0.0.2:80")
	a.ReportConnectFailure(now)
	b.ReportConnectFailure(now)
	g.probeRound(context.Background())
	if got := f.takeDials(); len(got) != 2 {
		t.Fatalf("probed %v, want both endpoints", got)
	}
	g.Retain([]*Endpoint{a})
	g.probeRound(context.Background())
	if got, want := f.takeDials(), []string{a.Addr}; !slices.Equal(got, want) {
		t.Errorf("after Retain([a]): probed %v, want %v", got, want)
	}
	g.Retain(nil)
	if g.probeRound(context.Background()) {
		t.Error("probeRound found ejected endpoints after Retain(nil)")
	}
	if got := f.takeDials(); len(got) != 0 {
		t.Errorf("after Retain(nil): probed %v, want nothing", got)
	}
}

// The background prober: not running before the first ejection, probes on
// its own once one happens, and is gone after Close.
func TestProberRunsAndStops(t *testing.T) {
	dialed := make(chan string, 100)
	g := &Registry{interval: time.Millisecond, dialer: func(_ context.Context, addr string) error {
		dialed <- addr
		return nil
	}}
	defer g.Close()
	e := g.Get("default/a:80", "10.0.0.1:80")
	g.pmu.Lock()
	started := g.started
	g.pmu.Unlock()
	if started {
		t.Fatal("prober started before any ejection")
	}
	e.ReportConnectFailure(time.Now())
	select {
	case addr := <-dialed:
		if addr != e.Addr {
			t.Errorf("probed %s, want %s", addr, e.Addr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no probe within 10 s of an ejection")
	}
	// ReportSuccess follows the dial on the prober's goroutine.
	for deadline := time.Now().Add(10 * time.Second); !e.Available(time.Now()); {
		if time.Now().After(deadline) {
			t.Fatal("endpoint still ejected 10 s after a successful probe")
		}
		time.Sleep(time.Millisecond)
	}
	g.Close()
	g.pmu.Lock()
	done := g.probeDone
	g.pmu.Unlock()
	select {
	case <-done:
	default:
		t.Fatal("prober still running after Close")
	}
	// After Close an ejection is counted but starts no prober.
	e.ReportConnectFailure(time.Now())
	g.pmu.Lock()
	same := g.probeDone == done
	g.pmu.Unlock()
	if !same || g.ejections.Load() != 2 {
		t.Errorf("after Close: new prober %v, ejections %d (want no prober, 2)", !same, g.ejections.Load())
	}
}

// The real probe: a TCP connect to a listening port succeeds, one to a
// closed port fails.
func TestProbeRealDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneAddr := gone.Addr().String()
	gone.Close()

	now := time.Unix(1000, 0)
	g := &Registry{now: func() time.Time { return now }, interval: time.Hour}
	defer g.Close()
	up := g.Get("default/a:80", ln.Addr().String())
	down := g.Get("default/a:80", goneAddr)
	up.ReportConnectFailure(now)
	down.ReportConnectFailure(now)
	g.probeRound(context.Background())
	if !up.Available(now) || down.Available(now) {
		t.Errorf("after a probe: listening endpoint available %v, closed one %v; want true, false",
			up.Available(now), down.Available(now))
	}
	if ok, ko := g.probesOK.Load(), g.probesFailed.Load(); ok != 1 || ko != 1 {
		t.Errorf("probes ok %d failed %d, want 1 and 1", ok, ko)
	}
}
