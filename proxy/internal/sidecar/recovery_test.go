package sidecar

import (
	"testing"
	"time"

	"github.com/meshbench/meshbench/scenarios/echo"
)

// An endpoint that died and came back on the same port gets traffic again
// within a couple of seconds, not at the end of its ejection back-off
// (issue 11, defect 7: a restarted pod got no request for >= 10 s).
//
// Two endpoints behind one Service; one is closed and requests keep flowing
// until the proxy has failed to connect to it at least 4 times, which
// ejects it for at least 8 s. It then listens again on the same port and
// must receive a request within recoveryDeadline, which only the recovery
// probe can achieve.
func TestEndpointRecoversAfterRestart(t *testing.T) {
	const recoveryDeadline = 5 * time.Second
	a, b := startEcho(t, "a", 0), startEcho(t, "b", 0)
	bAddr := b.Addr()
	s := startSidecar(t, &mesh{services: []svc{{name: "web", ports: []string{portOf(t, a.Addr()), portOf(t, bAddr)}}}})
	ep := s.eps.Lookup("default/web:80", bAddr)
	if ep == nil {
		t.Fatalf("no endpoint %s for backend default/web:80", bAddr)
	}

	stop := s.load("web", nil)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); b.Requests() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("endpoint b got no request before it was closed")
		}
	}

	_ = b.Close()
	// Back-off 1, 2, 4 s: the fourth failure comes about 7 s after the first.
	for deadline := time.Now().Add(60 * time.Second); ep.ConsecutiveFailures() < 4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d connect failures to the closed endpoint in 60 s", ep.ConsecutiveFailures())
		}
	}
	if ep.Available(time.Now().Add(recoveryDeadline)) {
		t.Fatalf("setup: after %d failures the ejection ends within %v; the test could not tell probing from back-off",
			ep.ConsecutiveFailures(), recoveryDeadline)
	}

	reopened := time.Now()
	b2 := reopen(t, bAddr)
	for b2.Requests() == 0 {
		if time.Since(reopened) > recoveryDeadline {
			t.Fatalf("restarted endpoint got no request within %v (failures %d, ejected now: %v)",
				recoveryDeadline, ep.ConsecutiveFailures(), !ep.Available(time.Now()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("restarted endpoint got its first request %v after listening again", time.Since(reopened).Round(time.Millisecond))
	total, failed := stop()
	stopped = true
	t.Logf("%d requests, %d failed (in flight on b when it closed)", total, failed)

	text := s.metricsText(t)
	for _, m := range []struct{ name, label string }{
		{"meshproxy_endpoint_ejections_total", `reason="connect_failure"`},
		{"meshproxy_endpoint_probes_total", `result="success"`},
	} {
		if v, ok := metricLine(text, m.name, m.label); !ok || v == "0" {
			t.Errorf("%s{%s} = %q (present %v), want > 0", m.name, m.label, v, ok)
		}
	}
	// Whether a probe failed depends on how fast the failures piled up
	// (the first round is a second after the ejection): present is enough.
	for _, m := range []struct{ name, label string }{
		{"meshproxy_endpoint_probes_total", `result="failure"`},
		{"meshproxy_endpoints_ejected", ""},
	} {
		if _, ok := metricLine(text, m.name, m.label); !ok {
			t.Errorf("%s{%s} missing", m.name, m.label)
		}
	}
}

// reopen starts an echo server on addr, the port a closed one used,
// retrying briefly in case the port is still being released.
func reopen(t *testing.T, addr string) *echo.Server {
	t.Helper()
	var err error
	for range 50 {
		var s *echo.Server
		s, err = echo.Start(echo.Options{Listen: addr, Name: "b2"})
		if err == nil {
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("listen again on %s: %v", addr, err)
	return nil
}
