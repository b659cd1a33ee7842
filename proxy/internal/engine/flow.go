package engine

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/meshbench/meshbench/proxy/internal/metrics"
)

// Flow control: the proxy never reads from one side of an exchange faster
// than the other side takes the bytes. Every buffer is bounded by pausing
// reads, not by disconnecting.
//
//   - Download: when the bytes queued for the client exceed the high-water
//     mark, the proxy stops reading the upstream connection (gnet's
//     PauseRead: the kernel's receive buffer fills and TCP slows the
//     upstream down); when the client has taken them down to the low-water
//     mark (OnWritable), reading resumes.
//   - Upload: the same with the roles swapped, for request bodies.
//   - Pipelining: a client that sends requests while its previous response
//     is in flight, or that does not read its responses, is not read
//     further either: at most one request head's worth of pipelined bytes
//     waits while a request is served, and no further request is parsed
//     while the responses queued for the client exceed the high-water mark.
//     (A flood of pipelined requests answered by the proxy itself — 404s,
//     say — is therefore bounded by the client's own reading.)
//
// The marks derive from limits.maxBufferedBytes (the hard limit, which
// only a single oversized write could still reach: it remains a
// disconnect, counted in meshproxy_buffer_overflow_total): high = a quarter
// of it, low = a sixteenth, so a 4 MiB limit pauses at 1 MiB queued and
// resumes at 256 KiB. Pausing costs two epoll_ctl calls and only happens
// when a peer is slower than the proxy: the request path of a normal
// exchange, whose response fits in the socket buffer, never pauses.

// flowControl holds the marks and the pause counters.
type flowControl struct {
	high, low int
	// pauses count PauseRead calls by the side that stopped being read.
	pausesDown, pausesUp *metrics.Counter
}

func (f *flowControl) init(o *Options, reg *metrics.Registry) {
	f.high = o.MaxBufferedBytes / 4
	f.low = o.MaxBufferedBytes / 16
	const help = "Times the proxy stopped reading a connection because the other side of its exchange had not taken the bytes already read (flow control)."
	f.pausesDown = reg.Counter("meshproxy_read_pauses_total", help, "side", "downstream")
	f.pausesUp = reg.Counter("meshproxy_read_pauses_total", help, "side", "upstream")
}

// readsWanted reports whether the client connection should be read now,
// with limit the mark in force (high while reading, low while paused: the
// gap keeps a connection from toggling at every event).
func (d *downConn) readsWanted(limit int) bool {
	if d.ex.tunnel {
		// The two directions of a tunnel are independent: only the
		// upstream's backlog holds the client back.
		n, ok := d.ex.requestBacklog()
		return ok && n <= limit
	}
	if d.io.outbound() > limit {
		return false // the client is not taking its responses
	}
	if d.h2 != nil {
		// Streams are bounded by their flow-control windows, so the
		// connection is read as long as the client takes what it is sent.
		return true
	}
	switch d.state {
	case dsHead:
		return true
	case dsBody:
		if n, ok := d.ex.requestBacklog(); ok {
			return n <= limit // the upstream is not taking the body
		}
		return d.io.buffered() <= limit // the body waits for the connection
	default:
		// dsWait, dsClosing: pipelined requests wait for their turn, one
		// head's worth of them at most.
		return d.io.buffered() <= d.l.p.opts.MaxHeaderBytes
	}
}

// updateReads pauses or resumes reading the client to match readsWanted.
func (d *downConn) updateReads() {
	if d.closed {
		return
	}
	f := &d.l.p.flow
	c := d.io.c
	if c.ReadPaused() {
		if d.readsWanted(f.low) {
			_ = c.ResumeRead()
		}
	} else if !d.readsWanted(f.high) {
		if c.PauseRead() == nil {
			f.pausesDown.Inc()
		}
	}
}

// pauseReads stops reading the upstream connection: its response waits in
// the kernel until the client has taken what is queued for it.
func (u *upConn) pauseReads() {
	if c := u.io.c; c != nil && !c.ReadPaused() && c.PauseRead() == nil {
		u.l.p.flow.pausesUp.Inc()
	}
}

// resumeReads undoes pauseReads; it reports whether reads were paused.
func (u *upConn) resumeReads() bool {
	c := u.io.c
	if c == nil || !c.ReadPaused() {
		return false
	}
	_ = c.ResumeRead()
	return true
}

// onWritable runs when gnet has written bytes queued for the client.
func (d *downConn) onWritable() {
	if d.closed {
		return
	}
	f := &d.l.p.flow
	if d.io.outbound() > f.low {
		return
	}
	if d.state == dsClosing && d.io.outbound() == 0 {
		d.closeConn() // the last response is out
		return
	}
	if d.h2 != nil {
		d.h2.onWritable()
		d.resumeReads()
		return
	}
	// The response's upstream first: its bytes are what the client waits for.
	d.ex.resumeResponse()
	if d.closed {
		return
	}
	d.resumeReads() // pipelined requests may be buffered
}

// resumeReads reads the client again if it is paused and now wanted, and
// processes what was already buffered.
func (d *downConn) resumeReads() {
	if !d.io.c.ReadPaused() {
		return
	}
	d.updateReads()
	if !d.io.c.ReadPaused() {
		d.onTraffic()
	}
}

// onWritable runs when gnet has written bytes queued for the upstream (a
// request body): a client paused for it may be read again.
func (u *upConn) onWritable() {
	if u.h2 != nil {
		u.h2.onWritable()
		return
	}
	ex := u.ex
	if ex == nil || u.io.outbound() > u.l.p.flow.low {
		return
	}
	ex.upstreamWritable() // body bytes may be buffered
}

// OnWritable is gnet's signal (see gnet.WritableHandler) that queued bytes
// of c went out.
func (h *handler) OnWritable(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *downConn:
		x.onWritable()
	case *upConn:
		x.onWritable()
	}
	return gnet.None
}
