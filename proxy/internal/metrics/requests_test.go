package metrics

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestObserveBuckets(t *testing.T) {
	tests := []struct {
		d      time.Duration
		bucket int // index into durationBoundsMs; len() means +Inf
	}{
		{-time.Second, 0},
		{0, 0},
		{100 * time.Microsecond, 0}, // le is inclusive
		{100*time.Microsecond + 1, 1},
		{time.Millisecond, 3},
		{time.Minute, 17},
		{time.Minute + 1, 18},
		{time.Hour, 18},
	}
	for _, tt := range tests {
		var s RequestSeries
		s.Observe(200, tt.d)
		for i := range s.buckets {
			want := uint64(0)
			if i == tt.bucket {
				want = 1
			}
			if got := s.buckets[i].Load(); got != want {
				t.Errorf("Observe(%v): bucket %d = %d, want %d", tt.d, i, got, want)
			}
		}
	}
}

func TestObserveCodes(t *testing.T) {
	var s RequestSeries
	for code, n := range map[int]int{200: 3, 404: 2, 0: 1, 99: 1, 600: 1, -1: 1, 100: 1, 599: 1} {
		for range n {
			s.Observe(code, time.Millisecond)
		}
	}
	for code, want := range map[int]uint64{200: 3, 404: 2, 0: 4, 100: 1, 599: 1, 500: 0} {
		if got := s.CodeCount(code); got != want {
			t.Errorf("CodeCount(%d) = %d, want %d", code, got, want)
		}
	}
	if got := s.Count(); got != 11 {
		t.Errorf("Count() = %d, want 11", got)
	}
}

func TestObserveSlotOverflow(t *testing.T) {
	var s RequestSeries
	// 304 and 400 share a home slot (both ≡ 0 mod 16): probing must keep them apart.
	codes := []int{304, 400, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213}
	for _, c := range codes {
		s.Observe(c, 0)
		s.Observe(c, 0)
	}
	s.Observe(500, 0) // 17th distinct code
	s.Observe(501, 0)
	for _, c := range codes {
		if got := s.CodeCount(c); got != 2 {
			t.Errorf("CodeCount(%d) = %d, want 2", c, got)
		}
	}
	if got := s.other.Load(); got != 2 {
		t.Errorf("other = %d, want 2", got)
	}
}

// TestObserveConcurrent hammers one series from 8 goroutines (the proxy's
// event loops) and checks that not a single observation is lost. Run it with
// -race.
func TestObserveConcurrent(t *testing.T) {
	const (
		goroutines = 8
		perG       = 20000
	)
	// Ten distinct codes fit the slots, so each must be counted exactly even
	// though all goroutines race to claim the same free slots at first.
	codes := []int{200, 201, 204, 304, 400, 404, 500, 502, 503, 0}
	r := NewRegistry()
	s := r.Requests("inbound", "route", "backend")
	var start sync.WaitGroup
	start.Add(1)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			start.Wait()
			for i := range perG {
				s.Observe(codes[(i+g)%len(codes)], time.Duration(i%1000)*time.Microsecond)
			}
		})
	}
	// Scrape concurrently too: reads must not disturb writers.
	stop := make(chan struct{})
	var scrapes atomic.Int64
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				var buf bytes.Buffer
				r.WriteText(&buf)
				scrapes.Add(1)
			}
		}
	})
	start.Done()
	for s.Count() < goroutines*perG {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()

	if got := s.Count(); got != goroutines*perG {
		t.Errorf("Count() = %d, want %d", got, goroutines*perG)
	}
	perCode := uint64(goroutines * perG / len(codes))
	for _, c := range codes {
		if got := s.CodeCount(c); got != perCode {
			t.Errorf("CodeCount(%d) = %d, want %d", c, got, perCode)
		}
	}
	if got := s.other.Load(); got != 0 {
		t.Errorf("other = %d, want 0", got)
	}
	// Each goroutine observes 0..999 µs perG/1000 times.
	wantSum := uint64(goroutines * (perG / 1000) * (999 * 1000 / 2))
	if got := s.sumMicros.Load(); got != wantSum {
		t.Errorf("sum = %d µs, want %d", got, wantSum)
	}
	// 0..100 µs is 101 values per 1000 in the first bucket.
	if got, want := s.buckets[0].Load(), uint64(goroutines*(perG/1000)*101); got != want {
		t.Errorf("bucket le=0.1 = %d, want %d", got, want)
	}
	claimed := 0
	for i := range s.codes {
		if s.codes[i].Load() != 0 {
			claimed++
		}
	}
	if claimed != len(codes) {
		t.Errorf("%d slots claimed for %d codes: a code was claimed twice", claimed, len(codes))
	}
	t.Logf("%d concurrent scrapes", scrapes.Load())
}

// TestObserveConcurrentOverflow has more distinct codes than slots: which
// codes win slots depends on scheduling, but the total must still be exact.
func TestObserveConcurrentOverflow(t *testing.T) {
	var s RequestSeries
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10000 {
				s.Observe(200+(i+g)%40, time.Millisecond)
			}
		})
	}
	wg.Wait()
	total := s.other.Load()
	for i := range s.counts {
		total += s.counts[i].Load()
	}
	if total != 80000 || s.Count() != 80000 {
		t.Errorf("codes total %d, Count() %d, want 80000", total, s.Count())
	}
}

func TestZeroAllocs(t *testing.T) {
	r := NewRegistry()
	s := r.Requests("inbound", "r", "b")
	c := r.Counter("c_total", "")
	g := r.Gauge("g", "")
	s.Observe(200, time.Millisecond) // claim the slot outside the measurement
	for name, f := range map[string]func(){
		"Observe":          func() { s.Observe(200, 1234*time.Microsecond) },
		"Observe new code": func() { s.Observe(0, time.Hour) },
		"Counter.Inc":      func() { c.Inc() },
		"Counter.Add":      func() { c.Add(3) },
		"Gauge.Add":        func() { g.Add(-1) },
		"Gauge.Set":        func() { g.Set(7) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, n)
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	s := NewRegistry().Requests("outbound", "route", "backend")
	codes := [...]int{200, 200, 200, 200, 200, 200, 404, 503}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.Observe(codes[i&7], time.Duration(i&1023)*time.Microsecond)
			i++
		}
	})
}

// BenchmarkObserveSeries gives each goroutine its own series, as with
// requests spread over routes: it shows the cost without cache-line
// contention on a single series.
func BenchmarkObserveSeries(b *testing.B) {
	r := NewRegistry()
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := r.Requests("outbound", "route", string(rune('a'+next.Add(1))))
		i := 0
		for pb.Next() {
			s.Observe(200, time.Duration(i&1023)*time.Microsecond)
			i++
		}
	})
}

func BenchmarkCounterInc(b *testing.B) {
	c := NewRegistry().Counter("c_total", "")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}

// BenchmarkWriteText scrapes 100 request series plus process metrics.
func BenchmarkWriteText(b *testing.B) {
	r := NewRegistry()
	r.RegisterProcessMetrics()
	for i := range 100 {
		s := r.Requests("outbound", "route", string(rune('a'+i)))
		s.Observe(200, time.Millisecond)
		s.Observe(503, time.Second)
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := r.WriteText(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}
