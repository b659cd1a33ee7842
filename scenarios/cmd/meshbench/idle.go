package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// idleOptions are the flags of "meshbench idle".
type idleOptions struct {
	addr, host, path string
	conns, warm      int
	timeout          time.Duration
}

// runIdle implements "meshbench idle" for scripts/idlebench.sh: it holds
// many idle keep-alive connections to a proxy, each after one request, so
// the script can read what they cost the proxy. The protocol with the
// script is line-based, so a bash coproc can drive it:
//
//	stdout "warm"       one connection served -warm requests (it stays open);
//	                    the script reads the proxy's baseline now
//	stdin  any line     open the connections
//	stdout "ready N"    N connections each served one request and are idle
//	stdin  EOF          stop holding
//	stdout "open N"     N of them were still open (the proxy closed the rest)
//
// SIGINT or SIGTERM ends it at any point.
func runIdle(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshbench idle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o idleOptions
	fs.StringVar(&o.addr, "addr", "", "the proxy's listener, `host:port`")
	fs.StringVar(&o.host, "host", "echo", "Host header of the requests (the Service to route to)")
	fs.StringVar(&o.path, "path", "/", "request `path`")
	fs.IntVar(&o.conns, "conns", 10000, "keep-alive connections to open and hold")
	fs.IntVar(&o.warm, "warm", 10, "requests on one warm-up connection before the baseline (0: no warm-up, no \"warm\" line)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of each connect and request")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: meshbench idle -addr HOST:PORT [flags]\n\n"+
			"Opens -conns keep-alive connections one after another, sends one GET on each,\n"+
			"reads the whole response (any status but 200 fails), and holds them idle until\n"+
			"stdin closes. Prints \"warm\" after the warm-up (then waits for a line on\n"+
			"stdin), \"ready N\" once all are open, \"open N\" after stdin closed.\n\nFlags:\n")
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
	case o.warm < 0:
		return usageErr("-warm %d: want 0 or more", o.warm)
	case o.timeout <= 0:
		return usageErr("-timeout %v: want a positive duration", o.timeout)
	}
	if err := holdIdle(ctx, o, os.Stdin, stdout); err != nil {
		fmt.Fprintf(stderr, "meshbench idle: %v\n", err)
		return 1
	}
	return 0
}

// holdIdle is runIdle after the flags, with stdin as a parameter for tests.
func holdIdle(ctx context.Context, o idleOptions, stdin io.Reader, stdout io.Writer) error {
	// One descriptor per connection plus the runtime's own: fail before
	// opening anything rather than at connection 1019 with EMFILE. (Go
	// raises the soft limit to the hard one at start-up.)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && uint64(o.conns)+64 > lim.Cur {
		return fmt.Errorf("%d connections need about %d file descriptors, RLIMIT_NOFILE is %d (raise ulimit -n)",
			o.conns, o.conns+64, lim.Cur)
	}
	req := []byte("GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + "\r\n\r\n")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// stdin is read by one goroutine to its end, so EOF is seen whatever
	// was written before it; a line sent early waits in the channel, extra
	// lines are dropped.
	lines := make(chan struct{}, 1)
	eof := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- struct{}{}:
			default:
			}
		}
		close(eof)
	}()

	if o.warm > 0 {
		c, err := dialIdle(ctx, o)
		if err != nil {
			return fmt.Errorf("warm-up connection: %w", err)
		}
		conns = append(conns, c)
		for i := 0; i < o.warm; i++ {
			if err := roundTripIdle(c, req, o.timeout); err != nil {
				return fmt.Errorf("warm-up request %d: %w", i+1, err)
			}
		}
		fmt.Fprintln(stdout, "warm")
		select {
		case <-lines:
		case <-eof:
			return nil // the script changed its mind: nothing to hold
		case <-ctx.Done():
			return nil
		}
	}
	held := make([]net.Conn, 0, o.conns)
	// One at a time: a single upstream connection serves them all, so what
	// the proxy holds afterwards is the downstream connections' cost.
	for i := 0; i < o.conns; i++ {
		if ctx.Err() != nil {
			return nil
		}
		c, err := dialIdle(ctx, o)
		if err != nil {
			return fmt.Errorf("connection %d of %d: %w", i+1, o.conns, err)
		}
		conns = append(conns, c)
		held = append(held, c)
		if err := roundTripIdle(c, req, o.timeout); err != nil {
			return fmt.Errorf("connection %d of %d: %w", i+1, o.conns, err)
		}
	}
	fmt.Fprintf(stdout, "ready %d\n", len(held))
	select {
	case <-eof:
	case <-ctx.Done():
		return nil
	}
	open := 0
	for _, c := range held {
		if stillOpen(c) {
			open++
		}
	}
	fmt.Fprintf(stdout, "open %d\n", open)
	return nil
}

func dialIdle(ctx context.Context, o idleOptions) (net.Conn, error) {
	d := net.Dialer{Timeout: o.timeout}
	return d.DialContext(ctx, "tcp", o.addr)
}

// roundTripIdle sends one request on c and reads the whole response; only
// a 200 with nothing after its body leaves the connection idle and
// reusable, which is what the benchmark needs to hold.
func roundTripIdle(c net.Conn, req []byte, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	// A reader per request, dropped afterwards: an idle connection holds no
	// buffer on this side.
	br := bufio.NewReaderSize(c, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %d, want 200", resp.StatusCode)
	case resp.Close:
		return errors.New("the proxy closes the connection after the response (Connection: close)")
	case br.Buffered() > 0:
		return fmt.Errorf("%d bytes after the response", br.Buffered())
	}
	return c.SetDeadline(time.Time{})
}

// stillOpen reports whether the peer has not closed c: a non-blocking peek
// that would block means open; end of stream or an error means closed.
// Bytes waiting to be read (an unsolicited response) also count as open.
func stillOpen(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		open = n > 0 || errors.Is(err, syscall.EAGAIN)
		return true // never wait: this is a probe
	})
	return err == nil && open
}
