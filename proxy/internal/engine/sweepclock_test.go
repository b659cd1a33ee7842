package engine

import (
	"net"
	"testing"
	"time"
)

// waitFor polls cond every few ms until it holds or d passes (a bound for
// a loaded machine, not a timing claim).
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSweepClockParksWhileIdle: the timeout sweep ticks while a client or
// an upstream connection is open, stops ticking when none is, and the next
// client connection starts it again — even one that sends nothing, whose
// idle timeout must still fire.
func TestSweepClockParksWhileIdle(t *testing.T) {
	const tick = 10 * time.Millisecond
	hp := startHotPathProxyOpts(t, "", func(o *Options) {
		o.Tick = tick
		o.IdleTimeout = 300 * time.Millisecond
		o.UpstreamIdleTimeout = 100 * time.Millisecond
	})
	p := hp.p

	// A request leaves a pooled upstream connection behind the closed
	// client; only the sweep closes it, after UpstreamIdleTimeout.
	c := hp.dial(t, hotPathCases[0])
	c.roundTrip(t)
	_ = c.c.Close()
	waitFor(t, 10*time.Second, "pooled upstream connection closed by the sweep", func() bool {
		return p.upstreamConns.Value() == 0 && p.activeOut.Value()+p.activeIn.Value() == 0
	})

	// Nothing open: within a few ticks the clock parks and stays parked.
	waitFor(t, 10*time.Second, "clock parked", p.sweepParked.Load)
	before := p.sweepRounds.Load()
	time.Sleep(30 * tick)
	if n := p.sweepRounds.Load() - before; n != 0 {
		t.Fatalf("%d sweep ticks in %v with no connection open, want 0", n, 30*tick)
	}

	// A client that connects and sends nothing wakes the clock by
	// connecting alone: its idle timeout closes it.
	d, err := net.Dial("tcp", hp.out)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_ = d.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := d.Read(buf)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("a silent connection was not closed within 20 s: the sweep clock did not wake")
		}
		if err != nil {
			break // closed by the idle timeout
		}
	}
	if n := p.sweepRounds.Load() - before; n == 0 {
		t.Fatal("the silent connection was closed without a sweep tick")
	}
}

// TestSweepClockSlowsForIdleKeepAlive: with only an idle keep-alive client
// connection and a pooled upstream connection open (long timeouts only),
// the sweep slows down; traffic on the idle connection speeds it up at
// once, so the new request head's header-read timeout still fires. The
// slow speed is stretched to hours here, so only that wake-up can make the
// timeout fire within the test.
func TestSweepClockSlowsForIdleKeepAlive(t *testing.T) {
	saved := maxSlowTick
	maxSlowTick = time.Hour
	t.Cleanup(func() { maxSlowTick = saved })
	const tick = 10 * time.Millisecond
	hp := startHotPathProxyOpts(t, "", func(o *Options) {
		o.Tick = tick
		o.HeaderReadTimeout = 300 * time.Millisecond
		o.IdleTimeout = time.Hour
		o.UpstreamIdleTimeout = time.Hour
	})
	p := hp.p
	c := hp.dial(t, hotPathCases[0])
	c.roundTrip(t)
	waitFor(t, 10*time.Second, "clock slowed down", p.sweepSlow.Load)
	before := p.sweepRounds.Load()
	time.Sleep(30 * tick)
	if n := p.sweepRounds.Load() - before; n != 0 {
		t.Fatalf("%d sweep ticks in %v with only idle connections open, want 0 at the slow speed", n, 30*tick)
	}

	if _, err := c.c.Write([]byte("GET / HTTP/1.1\r\nHost: reviews\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, err := c.c.Read(c.buf)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("a stalled request head on an idle keep-alive connection was not closed within 20 s: traffic did not speed the sweep clock up")
		}
		if err != nil {
			break // closed after the 408
		}
	}
}
