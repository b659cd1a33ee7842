package metrics

import (
	"bufio"
	"cmp"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// codeSlots is how many distinct status codes a RequestSeries counts exactly.
// A route normally sees a handful (200, 204, 304, 404, 500, 502, 503, 504);
// 16 slots cost 192 bytes per series where a [600] array would cost 4.7 KiB.
// Codes beyond the 16th distinct one are counted under code="other".
const codeSlots = 16

// durationBoundsMs are the histogram's upper bounds (le) in milliseconds as
// written in the output; durationBounds holds the same bounds as Durations
// for the hot path. The buckets are Istio's defaults with 0.1..0.5 ms added
// at the bottom, where a sidecar on loopback actually lives, and 30 s and
// 60 s at the top for long polls and slow uploads.
var (
	durationBoundsMs = [...]string{
		"0.1", "0.25", "0.5", "1", "2.5", "5", "10", "25", "50", "100",
		"250", "500", "1000", "2500", "5000", "10000", "30000", "60000",
	}
	durationBounds = [len(durationBoundsMs)]time.Duration{
		100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
		time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
		10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2500 * time.Millisecond, 5 * time.Second,
		10 * time.Second, 30 * time.Second, 60 * time.Second,
	}
)

// RequestSeries holds the request counters and latency histogram of one
// (direction, route, backend). Obtain it once from Registry.Requests when
// compiling config and call Observe on every finished request.
type RequestSeries struct {
	// codes[i] holds status code+1 once slot i is claimed (0 = free; the +1
	// lets code 0, "no valid status", have a slot too). counts[i] counts it.
	// Slots are claimed by CAS and never released, which is what makes the
	// lock-free linear probing in slot correct.
	codes  [codeSlots]atomic.Uint32
	counts [codeSlots]atomic.Uint64
	other  atomic.Uint64

	// buckets are per-bucket (not cumulative) counts, so Observe touches one
	// of them; the last is the +Inf overflow. WriteText accumulates them, and
	// derives _count from them instead of keeping a separate atomic that
	// every Observe would have to increment.
	buckets   [len(durationBounds) + 1]atomic.Uint64
	sumMicros atomic.Uint64

	// grpc counts gRPC calls by grpc-status (0..16); grpcOther any other
	// value, or none where one was due.
	grpc      [17]atomic.Uint64
	grpcOther atomic.Uint64

	key    requestKey
	labels string // rendered direction/route/backend labels
}

type requestKey struct{ direction, route, backend string }

// Requests returns the series for these labels, creating it on first use.
// The same labels return the same pointer until RetainRequests removes the
// series, so counters survive config reloads that keep the route and
// backend. direction is "inbound" or "outbound" by convention; it is not
// checked. Safe for concurrent use; it locks and may allocate, so call it
// when compiling config, not per request.
//
// The zero RequestSeries also counts, but is exported nowhere: a caller
// that must record a request whose series was removed can use one.
func (r *Registry) Requests(direction, route, backend string) *RequestSeries {
	k := requestKey{direction, route, backend}
	r.mu.RLock()
	s := r.requests[k]
	r.mu.RUnlock()
	if s != nil {
		return s
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.requests[k]; s != nil {
		return s
	}
	s = &RequestSeries{key: k}
	b := appendLabel(nil, "direction", direction)
	b = append(b, ',')
	b = appendLabel(b, "route", route)
	b = append(b, ',')
	b = appendLabel(b, "backend", backend)
	s.labels = string(b)
	r.requests[k] = s
	i, _ := slices.BinarySearchFunc(r.reqSorted, k, func(e *RequestSeries, k requestKey) int {
		return compareKeys(e.key, k)
	})
	r.reqSorted = slices.Insert(slices.Clone(r.reqSorted), i, s)
	return s
}

// LookupRequests returns the series for these labels if it is registered,
// else nil; unlike Requests it never creates one.
func (r *Registry) LookupRequests(direction, route, backend string) *RequestSeries {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.requests[requestKey{direction, route, backend}]
}

// RetainRequests removes the request series for which keep returns false
// and returns how many it removed. A reload calls it with the (direction,
// route, backend) label sets its new config can produce, so the series of
// routes and backends that are gone stop being exported and are freed:
// without it, a config that churns (rolling deployments renaming backends)
// grows the scrape and the heap with every reload.
//
// A removed series is detached, not reset: whoever still holds its pointer
// (a request in flight on the old config) may keep calling Observe, and
// nothing reads it. If the same labels are registered again later, the new
// series starts at zero; Prometheus's rate() and increase() treat that as
// a counter reset, as with a restarted process (Envoy, too, drops a
// removed cluster's stats).
//
// keep runs under the registry's lock and must not call back into it.
func (r *Registry) RetainRequests(keep func(direction, route, backend string) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var kept []*RequestSeries // allocated at the first removal
	for i, s := range r.reqSorted {
		switch {
		case !keep(s.key.direction, s.key.route, s.key.backend):
			if kept == nil {
				kept = make([]*RequestSeries, i, len(r.reqSorted)-1)
				copy(kept, r.reqSorted[:i])
			}
		case kept != nil:
			kept = append(kept, s)
		}
	}
	if kept == nil {
		return 0
	}
	removed := len(r.reqSorted) - len(kept)
	// Copy-on-write: a scrape in progress keeps its snapshot. The map is
	// rebuilt rather than deleted from so that it shrinks after a large
	// config is replaced by a small one.
	r.reqSorted = kept
	r.requests = make(map[requestKey]*RequestSeries, len(kept))
	for _, s := range kept {
		r.requests[s.key] = s
	}
	return removed
}

func compareKeys(a, b requestKey) int {
	return cmp.Or(
		cmp.Compare(a.direction, b.direction),
		cmp.Compare(a.route, b.route),
		cmp.Compare(a.backend, b.backend),
	)
}

// Observe records one finished request: its status code (100..599; anything
// else, such as 0 for a connection that failed before a response, counts as
// code "0") and its duration (negative durations count as 0).
//
// It is lock-free and allocation-free: four atomic operations in the common
// case of an already-seen status code.
func (s *RequestSeries) Observe(code int, d time.Duration) {
	s.slot(code).Add(1)

	d = max(d, 0)
	i := 0
	for i < len(durationBounds) && d > durationBounds[i] {
		i++
	}
	s.buckets[i].Add(1)
	// Round to the nearest microsecond so that sub-microsecond requests do
	// not all truncate to zero and bias the sum low.
	s.sumMicros.Add(uint64((d + time.Microsecond/2) / time.Microsecond))
}

// ObserveGRPC counts a gRPC call that ended with grpc-status code; a code
// outside 0..16 (or -1: none) counts as "other". Observe records the same
// call's HTTP status and duration.
func (s *RequestSeries) ObserveGRPC(code int) {
	if code < 0 || code >= len(s.grpc) {
		s.grpcOther.Add(1)
		return
	}
	s.grpc[code].Add(1)
}

// GRPCCount returns how many gRPC calls ended with code (for tests).
func (s *RequestSeries) GRPCCount(code int) uint64 {
	if code < 0 || code >= len(s.grpc) {
		return s.grpcOther.Load()
	}
	return s.grpc[code].Load()
}

// slot returns the counter for code, claiming a free slot on first sight.
//
// Probing starts at code%codeSlots and moves linearly. Because a claimed slot
// never changes, every goroutine probing for the same code walks past the same
// foreign slots and stops at the same slot: a code can never end up counted in
// two places, even when two goroutines race to claim it.
func (s *RequestSeries) slot(code int) *atomic.Uint64 {
	if code < 100 || code > 599 {
		code = 0
	}
	key := uint32(code) + 1
	i := uint32(code) % codeSlots
	for range codeSlots {
		switch s.codes[i].Load() {
		case key:
			return &s.counts[i]
		case 0:
			if s.codes[i].CompareAndSwap(0, key) || s.codes[i].Load() == key {
				return &s.counts[i]
			}
			// Lost the race to a different code: keep probing.
		}
		i = (i + 1) % codeSlots
	}
	return &s.other
}

// Count returns the number of requests observed so far (all codes).
func (s *RequestSeries) Count() uint64 {
	var n uint64
	for i := range s.buckets {
		n += s.buckets[i].Load()
	}
	return n
}

// CodeCount returns how many requests finished with code (normalised as in
// Observe). Codes that overflowed into "other" are not included. It exists
// for tests and debugging endpoints; it is not on the hot path.
func (s *RequestSeries) CodeCount(code int) uint64 {
	if code < 100 || code > 599 {
		code = 0
	}
	for i := range s.codes {
		if s.codes[i].Load() == uint32(code)+1 {
			return s.counts[i].Load()
		}
	}
	return 0
}

// codeCount is one (code, count) pair read at scrape time.
type codeCount struct {
	code uint32 // the status code, not the +1 slot key
	n    uint64
}

// writeRequestsTotal writes the meshproxy_requests_total family, one sample
// per claimed code slot, codes in numeric order, "other" last.
func writeRequestsTotal(bw *bufio.Writer, buf []byte, f *family, reqs []*RequestSeries) []byte {
	header := false
	var codes [codeSlots]codeCount
	var codeBuf [3]byte
	for _, s := range reqs {
		n := 0
		for i := range s.codes {
			if k := s.codes[i].Load(); k != 0 {
				codes[n] = codeCount{code: k - 1, n: s.counts[i].Load()}
				n++
			}
		}
		other := s.other.Load()
		if n == 0 && other == 0 {
			continue
		}
		if !header {
			bw.Write(appendHeader(buf[:0], f))
			header = true
		}
		cs := codes[:n]
		slices.SortFunc(cs, func(a, b codeCount) int { return cmp.Compare(a.code, b.code) })
		for _, c := range cs {
			code := strconv.AppendUint(codeBuf[:0], uint64(c.code), 10)
			buf = appendSampleStart(buf[:0], f.name, "", s.labels, "code", string(code))
			buf = strconv.AppendUint(buf, c.n, 10)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
		if other > 0 {
			buf = appendSampleStart(buf[:0], f.name, "", s.labels, "code", "other")
			buf = strconv.AppendUint(buf, other, 10)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
	}
	return buf
}

// writeGRPCResponses writes the meshproxy_grpc_responses_total family: per
// series, each grpc-status seen, in numeric order, "other" last.
func writeGRPCResponses(bw *bufio.Writer, buf []byte, f *family, reqs []*RequestSeries) []byte {
	header := false
	var codeBuf [2]byte
	for _, s := range reqs {
		for code := range s.grpc {
			n := s.grpc[code].Load()
			if n == 0 {
				continue
			}
			if !header {
				bw.Write(appendHeader(buf[:0], f))
				header = true
			}
			c := strconv.AppendUint(codeBuf[:0], uint64(code), 10)
			buf = appendSampleStart(buf[:0], f.name, "", s.labels, "grpc_status", string(c))
			buf = strconv.AppendUint(buf, n, 10)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
		if n := s.grpcOther.Load(); n > 0 {
			if !header {
				bw.Write(appendHeader(buf[:0], f))
				header = true
			}
			buf = appendSampleStart(buf[:0], f.name, "", s.labels, "grpc_status", "other")
			buf = strconv.AppendUint(buf, n, 10)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
	}
	return buf
}

// writeRequestDuration writes the meshproxy_request_duration_ms histograms.
// Every series is written, even with no observations yet, so that rate()
// over the buckets has a starting point at zero.
func writeRequestDuration(bw *bufio.Writer, buf []byte, f *family, reqs []*RequestSeries) []byte {
	if len(reqs) == 0 {
		return buf
	}
	bw.Write(appendHeader(buf[:0], f))
	for _, s := range reqs {
		var cum uint64
		for i := range s.buckets {
			cum += s.buckets[i].Load()
			le := "+Inf"
			if i < len(durationBoundsMs) {
				le = durationBoundsMs[i]
			}
			buf = appendSampleStart(buf[:0], f.name, "_bucket", s.labels, "le", le)
			buf = strconv.AppendUint(buf, cum, 10)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
		buf = appendSampleStart(buf[:0], f.name, "_sum", s.labels, "", "")
		buf = appendMicrosAsMillis(buf, s.sumMicros.Load())
		buf = append(buf, '\n')
		buf = appendSampleStart(buf, f.name, "_count", s.labels, "", "")
		buf = strconv.AppendUint(buf, cum, 10)
		buf = append(buf, '\n')
		bw.Write(buf)
	}
	return buf
}

// appendMicrosAsMillis writes us/1000 exactly in decimal ("12.5", "0.003",
// "7"): integer arithmetic avoids float rounding noise in the sum.
func appendMicrosAsMillis(b []byte, us uint64) []byte {
	b = strconv.AppendUint(b, us/1000, 10)
	frac := us % 1000
	if frac == 0 {
		return b
	}
	b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	return b
}
