//go:build linux

package client

import (
	"context"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/testenv"
	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// countPacer is a closed-loop schedule of perConn requests per connection
// that records outcomes.
type countPacer struct {
	perConn int
	mu      sync.Mutex // Done is called from several loops
	codes   map[int]int
	kinds   map[string]int
	sentOK  bool // every sent time is at or after its due time
}

func newCountPacer(perConn int) *countPacer {
	return &countPacer{perConn: perConn, codes: map[int]int{}, kinds: map[string]int{}, sentOK: true}
}

func (p *countPacer) Next(c, k int) (time.Time, bool) { return time.Time{}, k < p.perConn }

func (p *countPacer) Done(c int, due, sent, done time.Time, status int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sent.Before(due) || done.Before(sent) {
		p.sentOK = false
	}
	if err != nil {
		p.kinds[Kind(err)]++
		return
	}
	p.codes[status]++
}

func runEpoll(t *testing.T, o Options, conns, loops, perConn int) (*countPacer, uint64) {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	p := newCountPacer(perConn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reconnects, err := RunEpoll(ctx, o, conns, loops, p)
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("RunEpoll did not finish its schedule within 20 s")
	}
	if !p.sentOK {
		t.Fatal("a request was reported sent before it was due, or done before it was sent")
	}
	return p, reconnects
}

// TestEpollResponses: every framing, delivered in one piece or in small
// pieces, parses on the epoll engine; close-delimited and Connection: close
// responses reconnect and are counted.
func TestEpollResponses(t *testing.T) {
	tests := []struct {
		name       string
		resp       string
		chunk      int
		closeAfter bool
		reconnects bool
	}{
		{"content-length", allocResponses[0].resp, 0, false, false},
		{"content-length in 3-byte pieces", allocResponses[0].resp, 3, false, false},
		{"chunked in 1-byte pieces", allocResponses[1].resp, 1, false, false},
		{"204", allocResponses[2].resp, 0, false, false},
		{"100 KiB body", allocResponses[3].resp, 0, false, false},
		{"100 KiB body in 1000-byte pieces", allocResponses[3].resp, 1000, false, false},
		{"connection close", "HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbusy", 0, true, true},
		{"close-delimited body", "HTTP/1.1 200 OK\r\n\r\nuntil the end", 0, true, true},
		{"interim 100", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", 2, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRawServer(t, serveResponses(tt.resp, tt.chunk, tt.closeAfter))
			p, reconnects := runEpoll(t, Options{URL: s.url()}, 4, 2, 25)
			want := 0
			for _, n := range p.codes {
				want += n
			}
			if want != 100 || len(p.kinds) != 0 {
				t.Fatalf("codes %v errors %v, want 100 responses", p.codes, p.kinds)
			}
			if tt.reconnects != (reconnects > 0) {
				t.Fatalf("%d reconnects (server connections %d)", reconnects, s.conns.Load())
			}
			if !tt.reconnects && s.conns.Load() != 4 {
				t.Fatalf("%d server connections for 4 keep-alive connections", s.conns.Load())
			}
			if tt.reconnects && uint64(s.conns.Load()) != 4+reconnects {
				t.Fatalf("%d server connections, 4 + %d reconnects", s.conns.Load(), reconnects)
			}
		})
	}
}

// TestEpollErrorKinds: the epoll engine classifies failures as the
// goroutine client does.
func TestEpollErrorKinds(t *testing.T) {
	acceptClose := newRawServer(t, func(c net.Conn) {})
	garbage := newRawServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		if _, err := c.Read(buf); err == nil {
			c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
		}
	})
	resetMid := newRawServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		if _, err := c.Read(buf); err == nil {
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"))
		}
	})
	silent := newRawServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	tests := []struct {
		name string
		url  string
		kind string
	}{
		{"refused", "http://" + freeAddr(t) + "/", result.ErrConnect},
		{"accept and close", acceptClose.url().String(), result.ErrConnect},
		{"not HTTP", garbage.url().String(), result.ErrProtocol},
		{"closed mid-body", resetMid.url().String(), result.ErrReset},
		{"no answer", silent.url().String(), result.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := runEpoll(t, Options{URL: mustURL(t, tt.url), Timeout: 150 * time.Millisecond}, 2, 1, 2)
			if p.kinds[tt.kind] != 4 || len(p.kinds) != 1 || len(p.codes) != 0 {
				t.Fatalf("errors %v codes %v, want 4 %s errors", p.kinds, p.codes, tt.kind)
			}
		})
	}
}

// TestEpollCancel: cancelling the context ends a run whose requests never
// get answers.
func TestEpollCancel(t *testing.T) {
	silent := newRawServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := RunEpoll(ctx, Options{URL: silent.url(), Timeout: time.Minute}, 4, 2, newCountPacer(10))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("RunEpoll returned %v after cancel", d)
	}
}

// TestEpollZeroAllocs: the epoll engine allocates nothing per request. The
// whole process is counted (the raw server allocates nothing either), so
// two runs that differ by 2000 requests must differ by (almost) no
// allocations: set-up costs the same in both.
func TestEpollZeroAllocs(t *testing.T) {
	testenv.SkipUnderRace(t)
	for _, tt := range allocResponses {
		t.Run(tt.name, func(t *testing.T) {
			s := newRawServer(t, fixedResponder([]byte(tt.resp)))
			o := Options{URL: s.url(), Timeout: 5 * time.Second}
			mallocs := func(perConn int) uint64 {
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				p, _ := runEpoll(t, o, 4, 1, perConn)
				runtime.ReadMemStats(&m1)
				if len(p.kinds) != 0 {
					t.Fatalf("errors %v", p.kinds)
				}
				return m1.Mallocs - m0.Mallocs
			}
			mallocs(50) // warm up the server's connections and the runtime
			small, large := mallocs(50), mallocs(550)
			perRequest := (float64(large) - float64(small)) / 2000
			t.Logf("%d allocations for 200 requests, %d for 2200", small, large)
			if perRequest > 0.01 {
				t.Fatalf("%.3f allocations per request, want 0", perRequest)
			}
		})
	}
}
