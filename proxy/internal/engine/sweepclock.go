package engine

import (
	"context"
	"time"
)

// The timeout sweep's clock (loop.sweep is the sweep). It ticks every
// Options.Tick only while there is something to sweep: a client connection,
// an upstream connection (pooled ones are closed by the sweep when they have
// idled for UpstreamIdleTimeout) or a drain. Otherwise it parks with no
// timer, and the next connection wakes it. gnet's own ticker cannot park:
// it woke every loop 20 times a second at the default 50 ms with nothing
// open, most of what an idle sidecar cost.

// sweepWork reports whether a tick would have anything to do.
func (p *Proxy) sweepWork() bool {
	return p.activeOut.Value()+p.activeIn.Value() > 0 || p.upstreamConns.Value() > 0 || p.draining.Load()
}

// runSweepClock runs until stop is closed; OnBoot starts it.
func (p *Proxy) runSweepClock(stop <-chan struct{}) {
	t := time.NewTimer(p.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		p.sweepRounds.Add(1)
		p.loopsMu.Lock()
		for _, l := range p.loops {
			_ = l.el.Execute(context.Background(), l.sweepFn)
		}
		p.loopsMu.Unlock()
		if p.draining.Load() {
			p.maybeFinishDrain()
		}
		if !p.sweepWork() {
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
		}
		t.Reset(p.opts.Tick)
	}
}

// wakeSweeps restarts a parked clock. It is called after the work it
// announces is visible to sweepWork (a gauge raised, draining set), so
// either the clock's second look sees the work or this sees sweepParked.
// A wake-up the clock did not need leaves a token that costs one tick.
func (p *Proxy) wakeSweeps() {
	if p.sweepParked.Load() {
		select {
		case p.sweepWake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}
