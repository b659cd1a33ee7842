package engine

import (
	"context"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/meshbench/meshbench/proxy/internal/balance"
	"github.com/meshbench/meshbench/proxy/internal/http1"
	"github.com/meshbench/meshbench/proxy/internal/metrics"
	"github.com/meshbench/meshbench/proxy/internal/route"
)

// epoch anchors monotonic time: every timestamp the engine keeps is
// nanoseconds since epoch, read through the monotonic clock so wall-clock
// jumps never fire or suppress a timeout.
var epoch = time.Now()

func monotime() int64 { return int64(time.Since(epoch)) }

// loop is the state one gnet event loop owns. Everything in it is touched
// only from that loop's goroutine, which is why none of it is locked: the
// downstream connection, the upstream connection that serves it, their pools
// and the timeout sweep all run on the same goroutine.
type loop struct {
	p   *Proxy
	el  gnet.EventLoop
	rnd *balance.Rand

	// pools holds idle keep-alive upstream connections by endpoint and by
	// what was verified on them.
	pools map[poolKey]*upList

	downs downList // every open downstream connection, for the timeout sweep
	ups   upList   // upstream connections in use or connecting, for the sweep

	// series caches the metric children per (rule, backend) so the hot path
	// never takes the registry's lock; it is cleared when the table changes
	// (by the next request or the next tick), so it never keeps the series
	// a reload removed alive for long.
	series      map[seriesKey]*metrics.RequestSeries
	seriesTable *route.Table
	replies     map[replyKey]*metrics.Counter

	sweepFn gnet.RunnableFunc // pre-built so each tick does not allocate a method value
	// reads counts downstream read events; sweep compares it with its
	// value at the previous sweep, so traffic between two sweeps keeps the
	// sweep clock fast even if it left nothing pending (sweepclock.go).
	reads, readsSwept uint64
	scratch           [64]byte

	// req is the parse state of the request head being dispatched. A head
	// is parsed and dispatched within one call on this loop, and nothing
	// reads it afterwards, so one per loop serves every connection: kept
	// in downConn it would cost each idle keep-alive connection ~1.8 KiB
	// (http1.Request holds MaxHeaders field spans).
	req http1.Request
	// coalesce joins a response head with its first body bytes for one
	// write (upConn.writeBody). Per loop for the same reason: a per-
	// connection buffer would keep up to coalesceMax per idle connection.
	coalesce []byte

	// HTTP/2 streams (h2server.go): a free list, so a new stream costs no
	// allocation, and scratch for numbers, local reply bodies and chunks.
	h2free   *h2Stream
	h2upFree *h2UpStream
	// h2ups is the HTTP/2 connection new streams go on, per endpoint
	// (h2client.go).
	h2ups map[poolKey]*upConn
	// meshH1 lists mesh peers (by address) that answered an h2 offer with
	// http/1.1: they get HTTP/1.1 connections without asking again.
	meshH1         map[string]bool
	scratchUpChunk []byte
	scratchNum     []byte
	scratchBody    []byte
	scratchChunk   []byte
}

type seriesKey struct {
	inbound bool
	rule    *route.Rule
	backend *route.Backend
}

type replyKey struct {
	inbound bool
	reason  string
	status  int
}

func newLoop(p *Proxy, el gnet.EventLoop, seed uint64) *loop {
	l := &loop{
		p:       p,
		el:      el,
		rnd:     balance.NewRand(seed),
		pools:   make(map[poolKey]*upList),
		h2ups:   make(map[poolKey]*upConn),
		meshH1:  make(map[string]bool),
		series:  make(map[seriesKey]*metrics.RequestSeries),
		replies: make(map[replyKey]*metrics.Counter),
	}
	l.sweepFn = l.sweep
	return l
}

// requestSeries returns the pre-resolved metric child for a request's route
// and backend, creating it once per loop and table.
func (l *loop) requestSeries(t *route.Table, inbound bool, r *route.Rule, b *route.Backend) *metrics.RequestSeries {
	if l.seriesTable != t {
		clear(l.series)
		l.seriesTable = t
	}
	k := seriesKey{inbound: inbound, rule: r, backend: b}
	if s, ok := l.series[k]; ok {
		return s
	}
	ls := labelsOf(inbound, r, b)
	s := l.p.requestSeries(t, ls.direction, ls.route, ls.backend)
	l.series[k] = s
	return s
}

// localReplies returns the counter of replies the proxy made itself.
func (l *loop) localReplies(inbound bool, status int, reason string) *metrics.Counter {
	k := replyKey{inbound: inbound, reason: reason, status: status}
	if c, ok := l.replies[k]; ok {
		return c
	}
	c := l.p.reg.Counter("meshproxy_local_replies_total",
		"Responses meshproxy generated itself instead of forwarding, by reason.",
		"direction", direction(inbound), "code", statusLabel(status), "reason", reason)
	l.replies[k] = c
	return c
}

func direction(inbound bool) string {
	if inbound {
		return "inbound"
	}
	return "outbound"
}

// poolKey says which requests a pooled connection may serve: those for the
// same endpoint, over the same transport, to the same verified identity. A
// connection checked against one SPIFFE ID (or against "any in the trust
// domain") must not serve a backend that expects another.
type poolKey struct {
	addr     string
	tls      bool
	identity string
	proto    uint8 // protoHTTP1 or protoH2C
}

// idle takes an idle keep-alive connection for key from the pool, or nil.
func (l *loop) idle(key poolKey) *upConn {
	pl := l.pools[key]
	if pl == nil {
		return nil
	}
	return pl.popFront()
}

// release puts a healthy upstream connection back in its pool.
func (l *loop) release(u *upConn) {
	pl := l.pools[u.key]
	if pl == nil {
		pl = &upList{}
		l.pools[u.key] = pl
	}
	u.idleSince = monotime()
	u.resumeReads() // an idle connection is read: bytes on it mean it broke
	pl.pushFront(u)
}

// sweep runs on the loop every tick: it enforces header-read, idle and
// request timeouts, closes connections that finished flushing, and drops
// idle upstream connections. Timeouts therefore have the tick's resolution.
// It tells the sweep clock (p.sweepDone) whether anything on this loop needs
// the fast tick: a short timeout running, an upstream connection in use or
// connecting, or downstream traffic since the previous sweep.
func (l *loop) sweep(_ context.Context) error {
	now := monotime()
	o := &l.p.opts
	pending := l.reads != l.readsSwept || l.ups.head != nil
	l.readsSwept = l.reads
	if l.seriesTable != nil && l.seriesTable != l.p.table.Load() {
		// A reload replaced the table: release the old series now rather
		// than at this loop's next request, which may be long in coming.
		clear(l.series)
		l.seriesTable = nil
	}
	for d := l.downs.head; d != nil; {
		next := d.next
		if d.checkTimeouts(now, o) {
			pending = true
		}
		d = next
	}
	for _, pl := range l.pools {
		for u := pl.tail; u != nil; {
			prev := u.prev
			if l.p.draining.Load() || now-u.idleSince > int64(o.UpstreamIdleTimeout) {
				u.closeConn()
			}
			u = prev
		}
	}
	for _, u := range l.h2ups {
		if c := u.h2; u.connected && c.streams == 0 && (l.p.draining.Load() || now-c.idle > int64(o.UpstreamIdleTimeout)) {
			u.closeConn()
			c.closed()
		}
	}
	if l.p.draining.Load() {
		l.p.maybeFinishDrain()
	}
	select {
	case l.p.sweepDone <- pending:
	default: // the clock stopped waiting (engine stopping)
	}
	return nil
}
