package balance

import (
	"fmt"
	"testing"
	"time"
)

func TestIsGatewayFailure(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   bool
	}{
		{200, false}, {404, false}, {500, false}, {501, false},
		{502, true}, {503, true}, {504, true}, {505, false}, {0, false},
	} {
		if got := IsGatewayFailure(tc.status); got != tc.want {
			t.Errorf("IsGatewayFailure(%d) = %v, want %v", tc.status, got, tc.want)
		}
	}
}

// fail reports n gateway failures of e at now and returns whether the last
// one ejected it.
func fail(e *Endpoint, n int, now time.Time, peers []*Endpoint) bool {
	ejected := false
	for range n {
		ejected = e.ReportGatewayFailure(now, peers)
	}
	return ejected
}

func TestGatewayFailureEjection(t *testing.T) {
	now := time.Unix(1000, 0)
	g, f := testRegistry(t, now)
	bad := g.Get("default/web:80", "10.0.0.1:80")
	good := g.Get("default/web:80", "10.0.0.2:80")
	peers := []*Endpoint{bad, good}

	if fail(bad, OutlierConsecutive-1, now, peers) || !bad.Available(now) {
		t.Fatalf("ejected after %d gateway failures, want %d", OutlierConsecutive-1, OutlierConsecutive)
	}
	if !bad.ReportGatewayFailure(now, peers) || bad.Available(now) {
		t.Fatalf("not ejected after %d consecutive gateway failures", OutlierConsecutive)
	}
	if !bad.Available(now.Add(EjectBase)) || bad.Available(now.Add(EjectBase-time.Nanosecond)) {
		t.Errorf("first response ejection should last EjectBase (%v)", EjectBase)
	}

	// Failures of requests sent before the ejection do not lengthen it, and
	// neither a success nor a probe ends it: the endpoint accepts
	// connections all along, so only time does.
	if fail(bad, 3, now, peers) {
		t.Error("failures during an ejection ejected again")
	}
	bad.ReportSuccess()
	if g.probeRound(t.Context()) {
		t.Error("the prober probed an endpoint ejected for its responses")
	}
	if d := f.takeDials(); len(d) != 0 {
		t.Errorf("probe dials %v, want none", d)
	}
	if bad.Available(now) {
		t.Fatal("a success or a probe ended a response ejection")
	}

	// The success reset the streak: after expiry the endpoint is back with
	// a clean record (one more failure does not eject it).
	now = now.Add(EjectBase)
	if bad.ReportGatewayFailure(now, peers) || !bad.Available(now) {
		t.Fatal("after a success, one failure ejected again")
	}

	// Without a success, the streak survives the ejection: each further
	// failure at expiry ejects again for twice as long, up to EjectMax.
	fail(bad, OutlierConsecutive-1, now, peers) // first ejection (1 s)
	for i, want := range []time.Duration{1, 2, 4, 8, 10, 10} {
		want *= time.Second
		if i > 0 && !bad.ReportGatewayFailure(now, peers) {
			t.Fatalf("ejection %d: one failure after expiry did not eject", i+1)
		}
		if bad.Available(now.Add(want-time.Nanosecond)) || !bad.Available(now.Add(want)) {
			t.Fatalf("ejection %d should last %v", i+1, want)
		}
		now = now.Add(want)
	}
	if good.ConsecutiveGatewayFailures() != 0 || !good.Available(now) {
		t.Error("the healthy peer was touched")
	}
	if got := g.outlierEjections.Load(); got != 7 {
		t.Errorf("outlier ejections counted %d, want 7", got)
	}
	if got := g.ejections.Load(); got != 0 {
		t.Errorf("connect ejections counted %d, want 0", got)
	}
}

// TestGatewayFailureMaxEjection: response ejection leaves at least half of
// a backend's endpoints in rotation, counts those out for refused connects,
// and never applies to a backend's only endpoint.
func TestGatewayFailureMaxEjection(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name          string
		endpoints     int
		connectDown   int // endpoints ejected for a refused connect first
		failing       int // endpoints that then fail OutlierConsecutive times, in order
		wantEjected   int // of the failing ones
		wantOverflows uint64
	}{
		{name: "single endpoint", endpoints: 1, failing: 1, wantEjected: 0, wantOverflows: 0},
		{name: "two, both failing", endpoints: 2, failing: 2, wantEjected: 1, wantOverflows: 1},
		{name: "three, all failing", endpoints: 3, failing: 3, wantEjected: 1, wantOverflows: 2},
		{name: "four, all failing", endpoints: 4, failing: 4, wantEjected: 2, wantOverflows: 2},
		{name: "four, one refusing connects", endpoints: 4, connectDown: 1, failing: 3, wantEjected: 1, wantOverflows: 2},
		{name: "ten, three failing", endpoints: 10, failing: 3, wantEjected: 3, wantOverflows: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := testRegistry(t, now)
			peers := make([]*Endpoint, tc.endpoints)
			for i := range peers {
				peers[i] = g.Get("default/web:80", fmt.Sprintf("10.0.0.%d:80", i+1))
			}
			for _, e := range peers[:tc.connectDown] {
				e.ReportConnectFailure(now)
			}
			ejected := 0
			for _, e := range peers[tc.connectDown : tc.connectDown+tc.failing] {
				fail(e, OutlierConsecutive, now, peers)
				if !e.Available(now) {
					ejected++
				}
			}
			if ejected != tc.wantEjected {
				t.Errorf("%d of %d failing endpoints ejected, want %d", ejected, tc.failing, tc.wantEjected)
			}
			if got := g.ejectionOverflows.Load(); got != tc.wantOverflows {
				t.Errorf("overflows %d, want %d", got, tc.wantOverflows)
			}
		})
	}
}
