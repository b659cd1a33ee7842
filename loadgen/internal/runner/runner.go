// Package runner drives meshload's load: open loop at a fixed rate (request
// i of the run is due at start + i/rate, spread round-robin over the
// workers, and its latency is measured from that due time, so a stalled
// server cannot hide its stall by slowing the generator down — the
// coordinated-omission correction of wrk2), or closed loop when the rate is
// 0. Each worker records into its own histograms; they are merged at the
// end, so recording never takes a lock.
//
// Each finished request is classified once: a success (its status is in
// Config.Expect) goes into the latency and interval histograms; a response
// with any other status, and a request that failed without a response, are
// failures, each kind with its own latency histogram, so a fast error page
// can never make the successes look faster.
package runner

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/internal/expect"
	"github.com/meshbench/meshbench/loadgen/internal/client"
	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// Config is one run.
type Config struct {
	Rate     float64       // total requests per second; 0 = closed loop
	Conns    int           // connections
	Streams  int           // concurrent requests per connection (HTTP/2); 1 for HTTP/1.1
	Duration time.Duration // measured part
	Warmup   time.Duration // run before measuring; not recorded
	// Expect is the set of statuses that count as success; the zero Set
	// means expect.Default (every 2xx).
	Expect expect.Set

	// Dial makes the connection for worker group i (each connection is
	// shared by Streams workers).
	Dial func(i int) (client.Conn, error)

	// Epoll, when set, runs the connections on client.RunEpoll's loops
	// instead of one goroutine per connection (Dial is then unused): it
	// calls RunEpoll with the given connection count and pacer.
	Epoll func(ctx context.Context, conns int, p client.Pacer) (reconnects uint64, err error)

	// Progress, when set, is called about once a second with the requests
	// finished so far in the measured part (responses and errors).
	Progress func(elapsed time.Duration, done uint64)
}

func (c *Config) validate() error {
	switch {
	case c.Rate < 0:
		return fmt.Errorf("rate %v: must be >= 0", c.Rate)
	case c.Conns < 1:
		return fmt.Errorf("connections %d: must be >= 1", c.Conns)
	case c.Duration <= 0:
		return fmt.Errorf("duration %v: must be > 0", c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("warmup %v: must be >= 0", c.Warmup)
	case c.Dial == nil && c.Epoll == nil:
		return errors.New("no Dial function")
	case c.Epoll != nil && c.Streams > 1:
		return errors.New("the epoll engine runs HTTP/1.1 only (one request per connection)")
	}
	if c.Streams < 1 {
		c.Streams = 1
	}
	if c.Expect.Empty() {
		c.Expect = expect.MustParse(expect.Default)
	}
	return nil
}

// worker is one sequential request loop and its private recording.
type worker struct {
	conn        client.Conn
	expect      expect.Set
	latency     *hdrhistogram.Histogram   // successes
	intervals   []*hdrhistogram.Histogram // successes, per second of due time
	failures    []uint64                  // failures, per second of due time
	unexpected  *hdrhistogram.Histogram   // responses with an unexpected status; made at the first
	errLatency  *hdrhistogram.Histogram   // transport errors, due to failure; made at the first
	lag         *hdrhistogram.Histogram
	codes       map[int]uint64 // every response by status
	errs        map[string]uint64
	requests    uint64 // responses of any status
	successes   uint64
	unexpectedN uint64
	errors      uint64
	done        atomic.Uint64 // finished requests, read by the progress line
}

// spinWindow is how long before a due time a worker stops sleeping and
// yields instead. Go's timers wait in epoll with millisecond resolution, so
// a sleep can end up to a millisecond late (measured: send lag p50 0.54 ms
// with a 100 µs window), and lateness here is charged to the server as
// latency. Yielding costs CPU only in the last 1.2 ms before each request.
const spinWindow = 1200 * time.Microsecond

// Run executes the load and returns the merged result.
func Run(ctx context.Context, cfg Config) (*result.Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	nWorkers := cfg.Conns * cfg.Streams
	seconds := int(cfg.Duration/time.Second) + 1
	workers := make([]*worker, nWorkers)
	var conns []client.Conn
	if cfg.Epoll == nil {
		conns = make([]client.Conn, cfg.Conns)
	}
	for i := range conns {
		c, err := cfg.Dial(i)
		if err != nil {
			for _, c := range conns[:i] {
				_ = c.Close()
			}
			return nil, err
		}
		conns[i] = c
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range workers {
		w := &worker{
			expect:    cfg.Expect,
			latency:   result.NewHistogram(),
			lag:       result.NewHistogram(),
			intervals: make([]*hdrhistogram.Histogram, seconds),
			failures:  make([]uint64, seconds),
			codes:     make(map[int]uint64),
			errs:      make(map[string]uint64),
		}
		if conns != nil {
			w.conn = conns[i%cfg.Conns]
		}
		for s := range w.intervals {
			w.intervals[s] = result.NewHistogram()
		}
		workers[i] = w
	}

	var cpu0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cpu0)
	start := time.Now().Add(10 * time.Millisecond) // let every worker be ready for request 0
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopProgress := make(chan struct{})
	if cfg.Progress != nil {
		go progress(cfg.Progress, workers, measureFrom, stopProgress)
	}
	var reconnects uint64
	var loopErr error
	if cfg.Epoll != nil {
		p := &pacer{workers: workers, rate: cfg.Rate, start: start, measureFrom: measureFrom, end: end}
		if cfg.Rate == 0 {
			waitUntil(ctx, start) // closed loop: every connection starts together
		}
		reconnects, loopErr = cfg.Epoll(ctx, cfg.Conns, p)
	} else {
		var wg sync.WaitGroup
		for i, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.run(ctx, i, nWorkers, cfg.Rate, start, measureFrom, end)
			}()
		}
		wg.Wait()
	}
	close(stopProgress)
	if loopErr != nil {
		return nil, loopErr
	}
	var cpu1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cpu1)

	r := merge(workers, seconds, measureFrom, cfg.Duration)
	r.Expect = cfg.Expect
	r.TargetRate = cfg.Rate
	r.Connections = cfg.Conns
	r.GeneratorCPU = rusageCPU(&cpu1) - rusageCPU(&cpu0)
	r.Reconnects = reconnects
	for _, c := range conns {
		r.Reconnects += c.Reconnects()
	}
	if cfg.Rate > 0 {
		if got := r.AchievedRate(); got < cfg.Rate*0.99 {
			r.Warnings = append(r.Warnings, fmt.Sprintf(
				"achieved %.1f req/s is %.1f %% below the target %.0f req/s: the server (or the generator, see scheduler lag) could not keep up; latency includes the backlog",
				got, 100*(1-got/cfg.Rate), cfg.Rate))
		}
		if lag := r.SchedLag.ValueAtQuantile(99); lag > 1000 {
			r.Warnings = append(r.Warnings, fmt.Sprintf(
				"scheduler lag p99 %.3f ms: requests were sent late (waiting on earlier responses with -c %d, or the generator is short of CPU)",
				float64(lag)/1000, cfg.Conns))
		}
	}
	if ctx.Err() != nil && time.Now().Before(end) {
		r.Warnings = append(r.Warnings, "run interrupted before its end")
	}
	return r, nil
}

// run is worker index i of n: it sends requests i, i+n, i+2n, ... of the
// schedule.
func (w *worker) run(ctx context.Context, i, n int, rate float64, start, measureFrom, end time.Time) {
	for k := 0; ; k++ {
		if ctx.Err() != nil {
			return
		}
		due := start
		if rate > 0 {
			due = start.Add(time.Duration(float64(time.Second) * float64(i+k*n) / rate))
			if !due.Before(end) {
				return
			}
		} else if !time.Now().Before(end) {
			return
		}
		waitUntil(ctx, due)
		sent := time.Now()
		if rate == 0 {
			due = sent // closed loop: no schedule, latency is service time
		}
		status, err := w.conn.Do()
		w.record(due, sent, time.Now(), measureFrom, status, err)
	}
}

// record files one finished request (not during the warm-up) under exactly
// one class: success, unexpected status or error. Latency is always taken
// from the due time, for failures too: a request that failed after waiting
// behind a stall failed that late. It allocates nothing once a status or
// error kind has been seen (the epoll engine's zero-allocation promise).
func (w *worker) record(due, sent, doneAt, measureFrom time.Time, status int, err error) {
	if due.Before(measureFrom) {
		return // warm-up
	}
	w.done.Add(1)
	_ = w.lag.RecordValue(clampUS(sent.Sub(due)))
	us := clampUS(doneAt.Sub(due))
	sec := int(due.Sub(measureFrom) / time.Second)
	switch {
	case err != nil:
		w.errors++
		w.errs[client.Kind(err)]++
		w.errLatency = recordLazily(w.errLatency, us)
		w.failed(sec)
	case !w.expect.Match(status):
		w.requests++
		w.codes[status]++
		w.unexpectedN++
		w.unexpected = recordLazily(w.unexpected, us)
		w.failed(sec)
	default:
		w.requests++
		w.codes[status]++
		w.successes++
		_ = w.latency.RecordValue(us)
		if sec < len(w.intervals) {
			_ = w.intervals[sec].RecordValue(us)
		}
	}
}

// failed counts a failure in the interval of its due time.
func (w *worker) failed(sec int) {
	if sec < len(w.failures) {
		w.failures[sec]++
	}
}

// recordLazily records us into h, making h at the first value: most runs
// have no failures, and a histogram is ~140 KiB per worker.
func recordLazily(h *hdrhistogram.Histogram, us int64) *hdrhistogram.Histogram {
	if h == nil {
		h = result.NewHistogram()
	}
	_ = h.RecordValue(us)
	return h
}

// clampUS is d in whole µs within the histograms' range.
func clampUS(d time.Duration) int64 {
	return min(max(d.Microseconds(), result.LowestUS), result.HighestUS)
}

// pacer is the schedule and recording for the epoll engine: connection c
// is worker c (one request in flight per connection).
type pacer struct {
	workers                 []*worker
	rate                    float64
	start, measureFrom, end time.Time
}

// Next gives request k of connection c the same due time the goroutine
// engine's worker c would: request c + k*n of the run.
func (p *pacer) Next(c, k int) (time.Time, bool) {
	if p.rate > 0 {
		due := p.start.Add(time.Duration(float64(time.Second) * float64(c+k*len(p.workers)) / p.rate))
		return due, due.Before(p.end)
	}
	return time.Time{}, time.Now().Before(p.end)
}

func (p *pacer) Done(c int, due, sent, done time.Time, status int, err error) {
	p.workers[c].record(due, sent, done, p.measureFrom, status, err)
}

// waitUntil sleeps until shortly before t, then yields until t.
func waitUntil(ctx context.Context, t time.Time) {
	if d := time.Until(t) - spinWindow; d > 0 {
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
	for time.Now().Before(t) {
		runtime.Gosched()
	}
}

func progress(report func(time.Duration, uint64), workers []*worker, from time.Time, stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			var done uint64
			for _, w := range workers {
				done += w.done.Load()
			}
			report(now.Sub(from), done)
		}
	}
}

// merge folds the workers' recordings into one result.
func merge(workers []*worker, seconds int, from time.Time, d time.Duration) *result.Result {
	r := &result.Result{
		Start:             from,
		Duration:          d,
		ErrorsByKind:      make(map[string]uint64),
		StatusCodes:       make(map[int]uint64),
		Latency:           result.NewHistogram(),
		UnexpectedLatency: result.NewHistogram(),
		ErrorLatency:      result.NewHistogram(),
		SchedLag:          result.NewHistogram(),
		Intervals:         make([]*hdrhistogram.Histogram, 0, seconds),
		IntervalFailures:  make([]uint64, 0, seconds),
	}
	for s := 0; s < seconds; s++ {
		h := result.NewHistogram()
		begin := from.Add(time.Duration(s) * time.Second)
		stop := begin.Add(time.Second)
		if e := from.Add(d); stop.After(e) {
			stop = e
		}
		if !stop.After(begin) {
			break
		}
		h.SetStartTimeMs(begin.UnixMilli())
		h.SetEndTimeMs(stop.UnixMilli())
		var failures uint64
		for _, w := range workers {
			h.Merge(w.intervals[s])
			failures += w.failures[s]
		}
		r.Intervals = append(r.Intervals, h)
		r.IntervalFailures = append(r.IntervalFailures, failures)
	}
	for _, w := range workers {
		r.Latency.Merge(w.latency)
		if w.unexpected != nil {
			r.UnexpectedLatency.Merge(w.unexpected)
		}
		if w.errLatency != nil {
			r.ErrorLatency.Merge(w.errLatency)
		}
		r.SchedLag.Merge(w.lag)
		r.Requests += w.requests
		r.Successes += w.successes
		r.UnexpectedStatus += w.unexpectedN
		r.Errors += w.errors
		for k, v := range w.errs {
			r.ErrorsByKind[k] += v
		}
		for k, v := range w.codes {
			r.StatusCodes[k] += v
		}
	}
	return r
}

func rusageCPU(u *syscall.Rusage) time.Duration {
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
