package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2IdleOptions are the flags of "meshbench h2idle".
type h2IdleOptions struct {
	addr, host, path string
	conns, streams   int
	warm             int
	delay, timeout   time.Duration
}

// runH2Idle implements "meshbench h2idle" for scripts/h2idlebench.sh: it
// holds idle h2c connections to a proxy, each after one request, and then
// streams on them whose responses are still to come, so the script can read
// what each costs the proxy. It speaks HTTP/2 with x/net's Framer directly,
// without a Transport: a stream costs the client a few dozen bytes, not a
// goroutine, so 10,000 of them do not load the machine being measured.
// The protocol with the script is line-based, as "meshbench idle"'s:
//
//	stdout "warm"           one connection served -warm requests (it stays
//	                        open); the script reads the proxy's baseline now
//	stdin  a line           open the connections
//	stdout "ready N"        N connections each served one request and are idle
//	stdin  a line           open the streams
//	stdout "streams N"      N requests were sent, -streams per connection, each
//	                        asking the upstream to wait -delay before answering
//	stdin  EOF              stop holding
//	stdout "open C waiting W"
//	                        C of the connections were still open, W of the
//	                        streams still had neither a response nor a reset
//
// SIGINT or SIGTERM ends it at any point.
func runH2Idle(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshbench h2idle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o h2IdleOptions
	fs.StringVar(&o.addr, "addr", "", "the proxy's listener, `host:port` (h2c with prior knowledge)")
	fs.StringVar(&o.host, "host", "echo", ":authority of the requests (the Service to route to)")
	fs.StringVar(&o.path, "path", "/", "request `path`")
	fs.IntVar(&o.conns, "conns", 100, "h2c connections to open and hold")
	fs.IntVar(&o.streams, "streams", 100, "streams to hold open on each connection (at most the proxy's SETTINGS_MAX_CONCURRENT_STREAMS)")
	fs.IntVar(&o.warm, "warm", 10, "requests on one warm-up connection before the baseline (0: no warm-up, no \"warm\" line)")
	fs.DurationVar(&o.delay, "delay", 60*time.Second, "?delay= of the held streams' requests: how long the upstream waits before answering")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of each connect and of each connection's first request")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: meshbench h2idle -addr HOST:PORT [flags]\n\n"+
			"Opens -conns h2c connections one after another, sends one GET on each, reads\n"+
			"the whole response (any status but 200 fails) and holds them idle; then opens\n"+
			"-streams streams on each (GET PATH?delay=DELAY) and holds them while their\n"+
			"responses are due. Prints \"warm\" after the warm-up, \"ready N\" once the\n"+
			"connections are open and \"streams N\" once the streams are sent, each after a\n"+
			"line on stdin; \"open C waiting W\" after stdin closed.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	usageErr := func(format string, a ...any) int { return usageError(fs, stderr, format, a...) }
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case o.addr == "":
		return usageErr("-addr is required")
	case o.conns < 1:
		return usageErr("-conns %d: want at least 1", o.conns)
	case o.streams < 0:
		return usageErr("-streams %d: want 0 or more", o.streams)
	case o.warm < 0:
		return usageErr("-warm %d: want 0 or more", o.warm)
	case o.delay <= 0:
		return usageErr("-delay %v: want a positive duration", o.delay)
	case o.timeout <= 0:
		return usageErr("-timeout %v: want a positive duration", o.timeout)
	case !strings.HasPrefix(o.path, "/"):
		return usageErr("-path %q: want an absolute path", o.path)
	}
	if err := holdH2Idle(ctx, o, os.Stdin, stdout); err != nil {
		fmt.Fprintf(stderr, "meshbench h2idle: %v\n", err)
		return 1
	}
	return 0
}

// stdinSignals are a reader's lines and its end, as channels: a line sent
// early waits in the channel (one at most), EOF is seen whatever came
// before it.
type stdinSignals struct {
	lines chan struct{}
	eof   chan struct{}
}

func stdinLines(r io.Reader) stdinSignals {
	s := stdinSignals{lines: make(chan struct{}, 1), eof: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case s.lines <- struct{}{}:
			default:
			}
		}
		close(s.eof)
	}()
	return s
}

// next waits for a line; false when the input ended or ctx was cancelled
// first (the script changed its mind: nothing more to do).
func (s stdinSignals) next(ctx context.Context) bool {
	select {
	case <-s.lines:
		return true
	case <-s.eof:
		// A line read before the end is in the channel by now.
		select {
		case <-s.lines:
			return true
		default:
			return false
		}
	case <-ctx.Done():
		return false
	}
}

// holdH2Idle is runH2Idle after the flags, with stdin as a parameter for tests.
func holdH2Idle(ctx context.Context, o h2IdleOptions, stdin io.Reader, stdout io.Writer) error {
	in := stdinLines(stdin)
	var all []*h2IdleConn
	defer func() {
		for _, c := range all {
			c.close()
		}
	}()
	dial := func() (*h2IdleConn, error) {
		c, err := dialH2Idle(ctx, o)
		if c != nil {
			all = append(all, c)
		}
		return c, err
	}

	if o.warm > 0 {
		c, err := dial()
		if err != nil {
			return fmt.Errorf("warm-up connection: %w", err)
		}
		for i := 0; i < o.warm; i++ {
			if err := c.roundTrip(o.path, o.timeout); err != nil {
				return fmt.Errorf("warm-up request %d: %w", i+1, err)
			}
		}
		fmt.Fprintln(stdout, "warm")
		if !in.next(ctx) {
			return nil
		}
	}

	// One at a time, as "meshbench idle" does: what the proxy holds
	// afterwards is the idle connections' cost, not a burst's.
	held := make([]*h2IdleConn, 0, o.conns)
	for i := 0; i < o.conns; i++ {
		if ctx.Err() != nil {
			return nil
		}
		c, err := dial()
		if err != nil {
			return fmt.Errorf("connection %d of %d: %w", i+1, o.conns, err)
		}
		held = append(held, c)
		if err := c.roundTrip(o.path, o.timeout); err != nil {
			return fmt.Errorf("connection %d of %d: %w", i+1, o.conns, err)
		}
	}
	fmt.Fprintf(stdout, "ready %d\n", len(held))
	if !in.next(ctx) {
		return nil
	}

	sep := "?"
	if strings.Contains(o.path, "?") {
		sep = "&"
	}
	delayed := o.path + sep + "delay=" + o.delay.String()
	sent := 0
	for i, c := range held {
		if ctx.Err() != nil {
			return nil
		}
		// The streams must all be open at once: more than the proxy
		// admits would be refused, and the figure would be per refusal.
		if max, ok := c.peerMaxStreams(); ok && o.streams > max {
			return fmt.Errorf("connection %d: -streams %d exceeds the proxy's SETTINGS_MAX_CONCURRENT_STREAMS %d", i+1, o.streams, max)
		}
		if err := c.openStreams(delayed, o.streams, o.timeout); err != nil {
			return fmt.Errorf("connection %d of %d: streams: %w", i+1, len(held), err)
		}
		sent += o.streams
	}
	fmt.Fprintf(stdout, "streams %d\n", sent)

	select {
	case <-in.eof:
	case <-ctx.Done():
		return nil
	}
	open, waiting := 0, 0
	for _, c := range held {
		if o, w := c.counts(); o {
			open++
			waiting += w
		}
	}
	fmt.Fprintf(stdout, "open %d waiting %d\n", open, waiting)
	return nil
}

// h2IdleConn is one client connection: frames are written under wmu (the
// caller and the reader's acknowledgements), the reader goroutine records
// what each stream received under mu.
type h2IdleConn struct {
	nc   net.Conn
	host string

	wmu    sync.Mutex
	bw     *bufio.Writer
	fr     *http2.Framer // writes to bw, reads from nc (only the reader goroutine)
	enc    *hpack.Encoder
	encBuf bytes.Buffer
	nextID uint32

	mu       sync.Mutex
	streams  map[uint32]*h2IdleStream
	peerMax  uint32
	settings bool  // the peer's SETTINGS arrived
	goAway   bool  // the peer sent GOAWAY: it takes no new streams
	readErr  error // the reader stopped: the connection is gone
	done     chan struct{}
}

// h2IdleStream is what one stream received.
type h2IdleStream struct {
	status int
	body   int
	ended  bool          // END_STREAM received
	reset  http2.ErrCode // RST_STREAM received (ended too)
	wait   chan struct{} // closed when it ends; nil for held streams
}

func dialH2Idle(ctx context.Context, o h2IdleOptions) (*h2IdleConn, error) {
	d := net.Dialer{Timeout: o.timeout}
	nc, err := d.DialContext(ctx, "tcp", o.addr)
	if err != nil {
		return nil, err
	}
	c := &h2IdleConn{nc: nc, host: o.host, nextID: 1, streams: map[uint32]*h2IdleStream{}, done: make(chan struct{})}
	// A small writer: a connection's held streams go out in a few writes.
	c.bw = bufio.NewWriterSize(nc, 4096)
	c.fr = http2.NewFramer(c.bw, nc)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.encBuf)
	err = c.write(func() error {
		if _, err := c.bw.WriteString(http2.ClientPreface); err != nil {
			return err
		}
		return c.fr.WriteSettings()
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("preface: %w", err)
	}
	go c.read()
	return c, nil
}

// write runs f with the framer and flushes what it wrote.
func (c *h2IdleConn) write(f func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := f(); err != nil {
		return err
	}
	return c.bw.Flush()
}

// writeGet writes a GET's HEADERS (END_STREAM) on a new stream; wmu is held.
func (c *h2IdleConn) writeGet(path string) (uint32, error) {
	id := c.nextID
	c.nextID += 2
	c.encBuf.Reset()
	for _, f := range [...]hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: c.host}, {Name: ":path", Value: path},
	} {
		if err := c.enc.WriteField(f); err != nil {
			return 0, err
		}
	}
	return id, c.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: c.encBuf.Bytes(), EndStream: true, EndHeaders: true,
	})
}

// roundTrip sends one GET and waits for its whole response, which must be
// a 200 that ends the stream: only then is the connection idle.
func (c *h2IdleConn) roundTrip(path string, timeout time.Duration) error {
	wait := make(chan struct{})
	st := &h2IdleStream{wait: wait}
	var id uint32
	err := c.write(func() error {
		var err error
		if id, err = c.writeGet(path); err == nil {
			c.mu.Lock()
			c.streams[id] = st
			c.mu.Unlock()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-wait:
	case <-c.done:
	case <-t.C:
		return fmt.Errorf("no complete response on stream %d within %v", id, timeout)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !st.ended:
		return fmt.Errorf("connection closed before the response on stream %d ended: %v", id, c.readErr)
	case st.reset != 0:
		return fmt.Errorf("stream %d reset: %v", id, st.reset)
	case st.status != 200:
		return fmt.Errorf("stream %d: status %d, want 200", id, st.status)
	case c.goAway:
		return errors.New("the proxy sent GOAWAY: it closes the connection after the response")
	}
	delete(c.streams, id) // done: an idle connection tracks no stream
	return nil
}

// openStreams sends n GETs, each on a new stream, and leaves them open.
func (c *h2IdleConn) openStreams(path string, n int, timeout time.Duration) error {
	if n == 0 {
		return nil
	}
	if err := c.nc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	err := c.write(func() error {
		for i := 0; i < n; i++ {
			id, err := c.writeGet(path)
			if err != nil {
				return err
			}
			c.mu.Lock()
			c.streams[id] = &h2IdleStream{}
			c.mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.nc.SetWriteDeadline(time.Time{})
}

// peerMaxStreams is the peer's SETTINGS_MAX_CONCURRENT_STREAMS; false
// when it has sent no SETTINGS or no limit.
func (c *h2IdleConn) peerMaxStreams() (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.peerMax), c.settings && c.peerMax != 0
}

// counts reports whether the connection is still open (and was not told
// to go away), and how many of its streams have had neither a response
// nor a reset.
func (c *h2IdleConn) counts() (open bool, waiting int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readErr != nil || c.goAway {
		return false, 0
	}
	for _, st := range c.streams {
		if st.status == 0 && !st.ended {
			waiting++
		}
	}
	return true, waiting
}

// read is the connection's reader: it answers SETTINGS and PING, gives
// back flow-control credit for DATA, and records each stream's response.
func (c *h2IdleConn) read() {
	defer close(c.done)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		var reply func() error
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				break
			}
			c.mu.Lock()
			c.settings = true
			if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
				c.peerMax = v
			}
			c.mu.Unlock()
			reply = c.fr.WriteSettingsAck
		case *http2.PingFrame:
			if !f.IsAck() {
				data := f.Data
				reply = func() error { return c.fr.WritePing(true, data) }
			}
		case *http2.MetaHeadersFrame:
			c.record(f.StreamID, func(st *h2IdleStream) {
				if s, err := strconv.Atoi(f.PseudoValue("status")); err == nil && st.status == 0 && s >= 200 {
					st.status = s
				}
				st.ended = f.StreamEnded()
			})
		case *http2.DataFrame:
			n := f.Length // padding counts against the window too
			ended := f.StreamEnded()
			c.record(f.StreamID, func(st *h2IdleStream) {
				st.body += len(f.Data())
				st.ended = ended
			})
			if n > 0 {
				id := f.StreamID
				reply = func() error {
					if err := c.fr.WriteWindowUpdate(0, n); err != nil {
						return err
					}
					if ended {
						return nil // no credit for a closed stream
					}
					return c.fr.WriteWindowUpdate(id, n)
				}
			}
		case *http2.RSTStreamFrame:
			c.record(f.StreamID, func(st *h2IdleStream) {
				st.reset = f.ErrCode
				st.ended = true
			})
		case *http2.GoAwayFrame:
			c.mu.Lock()
			c.goAway = true
			c.mu.Unlock()
		}
		if reply != nil {
			if err := c.write(reply); err != nil {
				c.mu.Lock()
				c.readErr = fmt.Errorf("write: %w", err)
				c.mu.Unlock()
				return
			}
		}
	}
}

// record applies f to stream id's record (frames of unknown streams are
// ignored) and wakes a round trip waiting for it to end.
func (c *h2IdleConn) record(id uint32, f func(*h2IdleStream)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.streams[id]
	if st == nil {
		return
	}
	f(st)
	if st.ended && st.wait != nil {
		close(st.wait)
		st.wait = nil
	}
}

func (c *h2IdleConn) close() {
	c.nc.Close()
	<-c.done
}
