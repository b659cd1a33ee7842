//go:build linux

package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// The epoll engine runs plain-TCP HTTP/1.1 connections the way wrk does:
// a few loops (one per CPU by default), each owning a share of the
// connections and waiting for all of them in one epoll_wait, instead of one
// goroutine per connection parked in Go's netpoller. Per request that is one
// write, one read and a share of one epoll_wait. Go's netpoller costs more
// per response: a read that returns EAGAIN before the goroutine parks, and a
// goroutine wake-up (often a futex to wake an idle thread) when the bytes
// arrive — the difference measured against wrk in BENCHMARKS.md.
//
// Sockets are registered once, edge-triggered for input and output, so a
// request costs no epoll_ctl. Edge triggering needs every read to run until
// the socket is drained; a read that returns less than the space offered
// means the receive queue was empty at that moment, and bytes arriving later
// raise a new edge, so the loop stops there without the extra read that
// would return EAGAIN.
//
// Due times are met with a timerfd (nanosecond resolution, no timer slack)
// instead of epoll_wait's millisecond timeout. Waking from a timer is late
// by a machine-dependent amount (50-150 µs on the 2-vCPU VM this was built
// on), and lateness is charged to the server as latency, so each loop learns
// how late its timer wake-ups are and arms the timer that much early, then
// polls for the last stretch.

// spinBelow is the wait under which a loop polls instead of sleeping; the
// timer is armed to fire this long before a due time, plus the learned
// wake-up lateness.
const spinBelow = 20 * time.Microsecond

// maxLate caps the learned wake-up lateness, so one long stall of the
// machine does not turn the loop into a spinner.
const maxLate = 500 * time.Microsecond

// Pacer tells the epoll engine when requests are due and takes their
// outcomes. Each connection's calls come from one loop goroutine, in order;
// different connections may be called from different goroutines.
type Pacer interface {
	// Next returns when request k (0, 1, 2, ...) of connection c is due.
	// ok=false ends the connection's schedule. A zero due means "now"
	// (closed loop): the request is sent as soon as the previous one ends
	// and its latency is measured from its send time.
	Next(c, k int) (due time.Time, ok bool)
	// Done reports request k of connection c: when it was due, sent and
	// finished, its status, or an error whose Kind is one of result.Err*.
	Done(c int, due, sent, done time.Time, status int, err error)
}

// EpollCapable reports whether o can run on the epoll engine: HTTP/1.1 over
// plain TCP.
func EpollCapable(o Options) bool {
	return !o.HTTP2 && !o.GRPC && o.URL != nil && (o.URL.Scheme == "http" || o.URL.Scheme == "HTTP")
}

// RunEpoll runs conns connections on loops epoll loops until every
// connection's schedule has ended (and its last request finished) or ctx is
// cancelled; in-flight requests are then abandoned unrecorded. It returns
// how many connections were re-opened after the first one of each.
func RunEpoll(ctx context.Context, o Options, conns, loops int, pacer Pacer) (uint64, error) {
	if !EpollCapable(o) {
		return 0, errors.New("meshload client: the epoll engine runs only HTTP/1.1 over plain TCP")
	}
	p, err := prepare(o)
	if err != nil {
		return 0, err
	}
	sa, err := resolveSockaddr(p.addr)
	if err != nil {
		return 0, err
	}
	loops = max(1, min(loops, conns))
	req := p.requestBytes()
	ls := make([]*loop, loops)
	for i := range ls {
		l, err := newLoop(pacer, p.timeout)
		if err != nil {
			for _, l := range ls[:i] {
				l.close()
			}
			return 0, err
		}
		ls[i] = l
	}
	for c := 0; c < conns; c++ {
		l := ls[c%loops]
		l.conns = append(l.conns, &evConn{
			idx: c, token: len(l.conns), fd: -1, sa: cloneSockaddr(sa), req: req,
			buf: make([]byte, bufSize),
			p:   parser{head: p.method == "HEAD"},
		})
	}
	woken := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(woken)
		for _, l := range ls {
			l.wake()
		}
	})
	var wg sync.WaitGroup
	errs := make([]error, loops)
	for i, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.run(ctx)
		}()
	}
	wg.Wait()
	if !stop() {
		<-woken // the wake-ups write to the loops' eventfds: close those after
	}
	var reconnects uint64
	for _, l := range ls {
		reconnects += l.reconnects.Load()
		l.close()
	}
	return reconnects, errors.Join(errs...)
}

func resolveSockaddr(addr string) (unix.Sockaddr, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, &kindError{result.ErrConnect, err}
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: ta.Port}
		copy(sa.Addr[:], ip4)
		return sa, nil
	}
	sa := &unix.SockaddrInet6{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To16())
	return sa, nil
}

// cloneSockaddr copies sa: unix.Connect caches the raw address inside it,
// so connections on different loops must not share one.
func cloneSockaddr(sa unix.Sockaddr) unix.Sockaddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &unix.SockaddrInet4{Port: a.Port, Addr: a.Addr}
	case *unix.SockaddrInet6:
		return &unix.SockaddrInet6{Port: a.Port, ZoneId: a.ZoneId, Addr: a.Addr}
	}
	return sa
}

// loop is one epoll instance and the connections it owns.
type loop struct {
	pacer   Pacer
	timeout time.Duration
	epfd    int
	timerfd int
	wakefd  int // eventfd: written when ctx is cancelled
	conns   []*evConn
	events  [128]unix.EpollEvent
	armed   time.Time     // the due time the timerfd is armed for; zero: disarmed
	fire    time.Time     // when the timerfd was asked to fire
	late    time.Duration // learned lateness of timer wake-ups (moving average)

	reconnects atomic.Uint64
}

// Event data values for the loop's own descriptors; connections use their
// index in loop.conns.
const (
	tokenTimer = -1
	tokenWake  = -2
)

func newLoop(pacer Pacer, timeout time.Duration) (*loop, error) {
	l := &loop{pacer: pacer, timeout: timeout, epfd: -1, timerfd: -1, wakefd: -1, late: 50 * time.Microsecond}
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("meshload: epoll_create1: %w", err)
	}
	if l.timerfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		l.close()
		return nil, fmt.Errorf("meshload: timerfd_create: %w", err)
	}
	if l.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		l.close()
		return nil, fmt.Errorf("meshload: eventfd: %w", err)
	}
	// The timer is edge-triggered and never read: each expiry raises an
	// edge, and re-arming resets its count.
	if err := l.add(l.timerfd, tokenTimer, unix.EPOLLIN|unix.EPOLLET); err != nil {
		l.close()
		return nil, err
	}
	if err := l.add(l.wakefd, tokenWake, unix.EPOLLIN); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func (l *loop) add(fd, token int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(token)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("meshload: epoll_ctl: %w", err)
	}
	return nil
}

func (l *loop) wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(l.wakefd, one[:])
}

func (l *loop) close() {
	for _, c := range l.conns {
		c.closeFD()
	}
	for _, fd := range []int{l.wakefd, l.timerfd, l.epfd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	l.wakefd, l.timerfd, l.epfd = -1, -1, -1
}

// run is the loop: start due requests, expire timeouts, sleep until the
// next due time or deadline or socket event, handle the events.
func (l *loop) run(ctx context.Context) error {
	for _, c := range l.conns {
		l.schedule(c)
	}
	for {
		if ctx.Err() != nil {
			return nil
		}
		now := time.Now()
		var next time.Time
		live := 0
		for _, c := range l.conns {
			if c.state == csFinished {
				continue
			}
			live++
			t := l.tick(c, now)
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
		if live == 0 {
			return nil
		}
		msec := -1
		if !next.IsZero() {
			wait := next.Sub(now)
			switch {
			case wait < spinBelow+l.late:
				msec = 0 // too close to sleep: poll
			case l.armed.IsZero() || next.Before(l.armed) || !l.armed.After(now):
				d := wait - spinBelow - l.late
				if err := l.arm(d); err != nil {
					return err
				}
				l.armed, l.fire = next, now.Add(d)
			}
		}
		n, err := unix.EpollWait(l.epfd, l.events[:], msec)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return fmt.Errorf("meshload: epoll_wait: %w", err)
		}
		for i := 0; i < n; i++ {
			ev := &l.events[i]
			switch tok := int(ev.Fd); tok {
			case tokenWake:
				return nil
			case tokenTimer:
				// Learn how late this wake-up was (1/8 weight).
				sample := min(max(time.Since(l.fire), 0), maxLate)
				l.late += (sample - l.late) / 8
				l.armed = time.Time{}
			default:
				l.event(l.conns[tok], ev.Events)
			}
		}
	}
}

func (l *loop) arm(d time.Duration) error {
	if d < time.Microsecond {
		d = time.Microsecond
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := unix.TimerfdSettime(l.timerfd, 0, &spec, nil); err != nil {
		return fmt.Errorf("meshload: timerfd_settime: %w", err)
	}
	return nil
}

// Connection states.
const (
	csIdle       = iota // waiting for the next request's due time
	csConnecting        // non-blocking connect in progress
	csWriting           // request partly written
	csReading           // request written, response not complete
	csFinished          // schedule ended
)

// evConn is one connection of a loop.
type evConn struct {
	idx   int // connection index, the Pacer's c
	token int // index in loop.conns, the epoll event's data
	state int
	fd    int // -1: not connected
	sa    unix.Sockaddr
	req   []byte
	wrote int

	k              int // request number
	due, sent      time.Time
	deadline       time.Time
	closedLoop     bool // the due time was "now"
	connected      bool // a connection was opened before (Reconnects)
	answered       bool // fd has carried a complete response
	gotBytes       bool // some of this request's response arrived
	buf            []byte
	r, w           int
	p              parser
	dropAfterReply bool
}

// schedule asks the pacer for c's next request.
func (l *loop) schedule(c *evConn) {
	due, ok := l.pacer.Next(c.idx, c.k)
	if !ok {
		c.state = csFinished
		c.closeFD()
		return
	}
	c.state = csIdle
	c.due = due
	c.closedLoop = due.IsZero()
}

// tick starts c's request when it is due and fails it past its deadline.
// It returns when c next needs the loop's attention (zero: only on a socket
// event).
func (l *loop) tick(c *evConn, now time.Time) time.Time {
	if c.state == csIdle {
		if !c.closedLoop && now.Before(c.due) {
			return c.due
		}
		l.start(c, now)
		if c.state == csIdle || c.state == csFinished {
			// Failed at once (connect refused): the next one is due.
			if c.state == csIdle && !c.closedLoop {
				return c.due
			}
			return now
		}
	}
	if c.state != csFinished && !now.Before(c.deadline) {
		l.fail(c, now, &kindError{result.ErrTimeout, os.ErrDeadlineExceeded})
		return now
	}
	return c.deadline
}

// start sends c's due request, connecting first if needed.
func (l *loop) start(c *evConn, now time.Time) {
	c.sent = now
	if c.closedLoop {
		c.due = now
	}
	c.deadline = now.Add(l.timeout)
	c.gotBytes = false
	c.wrote = 0
	c.p.reset()
	if c.fd < 0 {
		if err := l.connect(c); err != nil {
			l.finish(c, now, 0, err)
			return
		}
		if c.state == csConnecting {
			return
		}
	}
	l.write(c, now)
}

func (l *loop) connect(c *evConn) error {
	family := unix.AF_INET
	if _, ok := c.sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return &kindError{result.ErrConnect, os.NewSyscallError("socket", err)}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	err = unix.Connect(fd, c.sa)
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return &kindError{result.ErrConnect, os.NewSyscallError("connect", err)}
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(c.token)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return &kindError{result.ErrConnect, os.NewSyscallError("epoll_ctl", err)}
	}
	c.fd = fd
	c.r, c.w = 0, 0
	c.answered = false
	if c.connected {
		l.reconnects.Add(1)
	}
	c.connected = true
	c.state = csWriting
	if err != nil { // EINPROGRESS: writable when connected
		c.state = csConnecting
	}
	return nil
}

// write sends the rest of the request; a full socket buffer waits for the
// next writable edge.
func (l *loop) write(c *evConn, now time.Time) {
	c.state = csWriting
	for c.wrote < len(c.req) {
		n, err := rawWrite(c.fd, c.req[c.wrote:])
		if n > 0 {
			c.wrote += n
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err == unix.EINTR {
			continue
		}
		l.fail(c, now, os.NewSyscallError("write", err))
		return
	}
	c.state = csReading
}

// event handles epoll events for c.
func (l *loop) event(c *evConn, events uint32) {
	if c.fd < 0 {
		return // closed after the event was queued
	}
	now := time.Now()
	switch c.state {
	case csConnecting:
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if soErr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soErr != 0 {
			if err == nil {
				err = unix.Errno(soErr)
			}
			c.closeFD()
			l.finish(c, now, 0, &kindError{result.ErrConnect, os.NewSyscallError("connect", err)})
			return
		}
		l.write(c, now)
		if c.state != csReading {
			return
		}
		// The response cannot be here yet, but an error can.
		if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
			return
		}
	case csWriting:
		if events&unix.EPOLLOUT != 0 {
			l.write(c, now)
		}
		if c.fd < 0 {
			return
		}
	case csIdle, csFinished:
		if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			c.probeIdle()
		}
		return
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.read(c, now, events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
	}
}

// probeIdle handles input on a connection between requests. An edge can
// arrive late for bytes already read with the last response (nothing to
// read now: keep the connection); otherwise the server closed it or sent
// bytes nobody asked for, and it cannot be reused.
func (c *evConn) probeIdle() {
	var b [1]byte
	n, err := unix.Read(c.fd, b[:])
	if n < 0 && err == unix.EAGAIN {
		return
	}
	c.closeFD()
}

// read drains the socket into the parser. After a hang-up it reads until
// EOF, since no further edge will come.
func (l *loop) read(c *evConn, now time.Time, hup bool) {
	for {
		if c.r == c.w {
			c.r, c.w = 0, 0
		} else if c.w == len(c.buf) && c.r > 0 {
			c.w = copy(c.buf, c.buf[c.r:c.w])
			c.r = 0
		}
		space := len(c.buf) - c.w
		n, err := rawRead(c.fd, c.buf[c.w:])
		switch {
		case n > 0:
			c.w += n
			c.gotBytes = true
			used, perr := c.p.feed(c.buf[c.r:c.w], c.w-c.r == len(c.buf))
			c.r += used
			if perr != nil {
				l.fail(c, now, perr)
				return
			}
			if c.p.done() {
				l.complete(c, now)
				return
			}
			if n < space && !hup {
				return // drained; more bytes raise a new edge
			}
		case n == 0 && err == nil: // EOF
			if c.p.eof() {
				l.complete(c, now)
				return
			}
			l.fail(c, now, errEOF)
			return
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR:
		default:
			l.fail(c, now, os.NewSyscallError("read", err))
			return
		}
	}
}

// errEOF is a connection closed before the response was complete.
var errEOF = fmt.Errorf("meshload client: %w", errors.New("connection closed before the response ended (EOF)"))

// complete records a finished response and schedules the next request.
func (l *loop) complete(c *evConn, now time.Time) {
	status := c.p.status
	keep := c.p.keep && c.r == c.w && c.wrote == len(c.req)
	c.answered = true
	if !keep {
		c.closeFD()
	}
	l.finish(c, now, status, nil)
}

// fail records a failed request; the connection is not reused.
func (l *loop) fail(c *evConn, now time.Time, err error) {
	ke := ioErr(err, !c.answered && !c.gotBytes)
	c.closeFD()
	l.finish(c, now, 0, ke)
}

func (l *loop) finish(c *evConn, now time.Time, status int, err error) {
	l.pacer.Done(c.idx, c.due, c.sent, now, status, err)
	c.k++
	l.schedule(c)
}

func (c *evConn) closeFD() {
	if c.fd >= 0 {
		unix.Close(c.fd) // closing also removes it from the epoll set
		c.fd = -1
	}
	c.r, c.w = 0, 0
}

// rawRead and rawWrite are read(2) and write(2) on a non-blocking socket
// without Go's system-call bookkeeping (entersyscall/exitsyscall, a few
// hundred ns per call): they never block, and the loop owns its thread's P
// anyway. b is never empty.
func rawRead(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}
