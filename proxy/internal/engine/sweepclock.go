package engine

import (
	"context"
	"time"
)

// The timeout sweep's clock (loop.sweep is the sweep). An idle sidecar must
// not wake up for nothing: every wake-up of an event loop that blocks in
// epoll_wait also sets Go's sysmon polling at 20 µs intervals for a while
// (about 60 nanosleeps per tick measured here), so gnet's ticker, which woke
// every loop 20 times a second, cost an idle proxy about 3 % of a core. The
// clock has three speeds:
//
//   - fast, every Options.Tick, while anything on a loop has a short timeout
//     running (a request head started, an exchange in flight, a close being
//     flushed, an upstream connection in use or connecting) or saw traffic
//     since the previous sweep;
//   - slow, every slowTick (an eighth of the shorter idle timeout, at most
//     5 s: 3.75 s with the defaults), while the only timeouts left
//     are the long ones of idle keep-alive client connections and pooled
//     upstream connections (defaults 60 s and 30 s);
//   - parked, no timer at all, while no connection is open.
//
// Downstream traffic or a new connection wakes a slow or parked clock at
// once (wakeSweeps), so a request's own timeouts keep the tick's resolution.

// maxLoops bounds the sweep results a round waits for (sweepDone's
// capacity); a round with more loops than this waits sweepWait, then ticks
// fast.
const maxLoops = 256

// sweepWait is how long a round waits for the loops' sweeps; a loop busy
// with traffic answers late, and is pending anyway.
const sweepWait = time.Second

// maxSlowTick caps the slow speed (a variable so that a test can tell a
// clock woken by traffic from one that merely ticked).
var maxSlowTick = 5 * time.Second

// slowTick is the slow speed: an eighth of the shorter idle timeout, so
// those expire within 12.5 % of their value, between Tick and maxSlowTick.
func (o *Options) slowTick() time.Duration {
	d := maxSlowTick
	for _, t := range []time.Duration{o.IdleTimeout, o.UpstreamIdleTimeout} {
		if t > 0 && t/8 < d {
			d = t / 8
		}
	}
	return max(d, o.Tick)
}

// sweepWork reports whether a tick would have anything to do.
func (p *Proxy) sweepWork() bool {
	return p.activeOut.Value()+p.activeIn.Value() > 0 || p.upstreamConns.Value() > 0 || p.draining.Load()
}

// runSweepClock runs until stop is closed; OnBoot starts it.
func (p *Proxy) runSweepClock(stop <-chan struct{}) {
	slow := p.opts.slowTick()
	t := time.NewTimer(p.opts.Tick)
	defer t.Stop()
	wait := time.NewTimer(sweepWait)
	wait.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-p.sweepWake:
			t.Stop()
		}
		p.sweepRounds.Add(1)
		// Slow unless this round's sweeps find something: traffic before
		// this store is counted by the sweeps (loop.reads), traffic after
		// it sees sweepSlow and wakes the clock.
		p.sweepSlow.Store(true)
		pending, ok := p.sweepLoops(stop, wait)
		if !ok {
			return
		}
		if p.draining.Load() {
			p.maybeFinishDrain()
		}
		if !p.sweepWork() {
			p.sweepSlow.Store(false)
			// Park. Announce it first, then look again: a connection that
			// opened between the look above and the announcement saw
			// sweepParked false and sent nothing, but is seen here.
			p.sweepParked.Store(true)
			if !p.sweepWork() {
				select {
				case <-stop:
					return
				case <-p.sweepWake:
				}
			}
			p.sweepParked.Store(false)
			t.Reset(p.opts.Tick)
			continue
		}
		next := slow
		if pending || p.draining.Load() {
			next = p.opts.Tick
			p.sweepSlow.Store(false)
			select {
			case <-p.sweepWake: // traffic during the sweeps: fast already
			default:
			}
		}
		t.Reset(next)
	}
}

// sweepLoops runs every loop's sweep and waits for their answers; pending
// is true when any loop needs the fast tick (or did not answer in time). ok
// is false when stop closed meanwhile.
func (p *Proxy) sweepLoops(stop <-chan struct{}, wait *time.Timer) (pending, ok bool) {
	for drained := false; !drained; { // answers a previous round gave up on
		select {
		case <-p.sweepDone:
		default:
			drained = true
		}
	}
	n := 0
	p.loopsMu.Lock()
	for _, l := range p.loops {
		if l.el.Execute(context.Background(), l.sweepFn) == nil {
			n++
		}
	}
	p.loopsMu.Unlock()
	if n > maxLoops {
		return true, true
	}
	wait.Reset(sweepWait)
	defer wait.Stop()
	for ; n > 0; n-- {
		select {
		case <-stop:
			return false, false
		case <-wait.C:
			return true, true
		case pend := <-p.sweepDone:
			pending = pending || pend
		}
	}
	return pending, true
}

// wakeSweeps restarts a parked or slow clock. It is called after the work
// it announces is visible to sweepWork (a gauge raised, draining set) or to
// the sweeps (loop.reads), so either the clock sees the work or this sees
// the flag. A wake-up the clock did not need costs one extra round.
func (p *Proxy) wakeSweeps() {
	if p.sweepParked.Load() || p.sweepSlow.Load() {
		select {
		case p.sweepWake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}
