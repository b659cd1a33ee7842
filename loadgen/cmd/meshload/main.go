// Command meshload is meshbench's open-loop HTTP load generator.
//
//	meshload [flags] URL
//
// At -rate R, request i is due at start + i/R and its latency is measured
// from that moment (coordinated omission corrected, as wrk2 does); -rate 0
// runs closed loop, as fast as the connections allow. Latency is recorded
// in HdrHistogram (1 µs to 60 s, 3 significant digits).
//
// A response counts as a success only when its status is in -expect (2xx by
// default); other statuses and transport errors are failures, counted and
// timed apart. meshload exits 1 when failures exceed -max-failure-ratio of
// the requests (default 0: any failure), after writing every output.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/profile"

	"github.com/meshbench/meshbench/internal/expect"
	"github.com/meshbench/meshbench/loadgen/internal/client"
	"github.com/meshbench/meshbench/loadgen/internal/report"
	"github.com/meshbench/meshbench/loadgen/internal/result"
	"github.com/meshbench/meshbench/loadgen/internal/runner"
)

var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// headerFlags collects repeated -H "Name: value" flags.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

type options struct {
	rate                                 float64
	conns, streams, bodySize             int
	duration, warmup, timeout            time.Duration
	method, bodyFile                     string
	headers                              headerFlags
	http2, insecure, quiet, showVersion  bool
	grpc                                 bool
	grpcMethod                           string
	cacert, cert, key                    string
	jsonOut, hlogOut, hgrmOut, fortioOut string
	profileMode                          string
	engine                               string
	expectSpec                           string
	maxFailureRatio                      float64
	expect                               expect.Set
	url                                  *url.URL
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("meshload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&o.rate, "rate", 1000, "total requests per `second` (0 = closed loop, as fast as possible)")
	fs.IntVar(&o.conns, "c", 16, "`connections`")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "measured `duration`")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load before measuring, not recorded")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&o.method, "method", "GET", "request `method`")
	fs.Var(&o.headers, "H", "request header `\"Name: value\"` (repeatable)")
	fs.IntVar(&o.bodySize, "body-size", 0, "send a request body of `n` bytes")
	fs.StringVar(&o.bodyFile, "body-file", "", "send this `file` as the request body")
	fs.BoolVar(&o.http2, "http2", false, "HTTP/2: h2 over TLS (ALPN) for https://, h2c for http://")
	fs.IntVar(&o.streams, "streams", 1, "HTTP/2 and gRPC: concurrent requests per connection")
	fs.BoolVar(&o.grpc, "grpc", false, "unary gRPC calls of -grpc-method with a request message of -body-size bytes (or -body-file, sent as is): h2c for http://, TLS for https://; -expect then names gRPC status codes (default OK)")
	fs.StringVar(&o.grpcMethod, "grpc-method", "/meshbench.echo.v1.Echo/Unary", "gRPC `method` to call, /package.Service/Method")
	fs.StringVar(&o.cacert, "cacert", "", "CA bundle `file` to verify the server")
	fs.StringVar(&o.cert, "cert", "", "client certificate `file` (mTLS)")
	fs.StringVar(&o.key, "key", "", "client key `file` (mTLS)")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify the server's certificate")
	fs.StringVar(&o.jsonOut, "json", "", "write the result as JSON to `file` (- for stdout)")
	fs.StringVar(&o.hlogOut, "hlog", "", "write an HdrHistogram interval log to `file`")
	fs.StringVar(&o.hgrmOut, "hgrm", "", "write the percentile distribution (HdrHistogram plotter format) to `file`")
	fs.StringVar(&o.fortioOut, "fortio-json", "", "write fortio's result JSON to `file`")
	fs.StringVar(&o.expectSpec, "expect", "", "statuses that count as success: comma-separated `codes`, classes or ranges (200,204 or 2xx,3xx or 200-299; default 2xx); with -grpc, gRPC codes or names (OK,UNAVAILABLE or 0-2; default OK); any other status is a failure")
	fs.Float64Var(&o.maxFailureRatio, "max-failure-ratio", 0, "exit 1 when failures (unexpected statuses and errors) exceed this `ratio` (0..1) of the requests; 0: any failure")
	fs.StringVar(&o.engine, "engine", "auto", "`auto`, epoll or goroutines: epoll runs plain-HTTP/1.1 connections on one epoll loop per CPU (auto picks it for http:// without -http2 on Linux), goroutines runs one goroutine per connection (always used for https:// and -http2)")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line and no summary")
	fs.StringVar(&o.profileMode, "profile", "", "profile meshload itself: cpu, mem, block, mutex or trace")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: meshload [flags] URL\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.showVersion {
		fmt.Fprintf(stdout, "meshload %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}
	if err := o.validate(fs); err != nil {
		fmt.Fprintf(stderr, "meshload: %v\n", err)
		fs.Usage()
		return 2
	}
	copts, err := o.clientOptions()
	if err != nil {
		fmt.Fprintf(stderr, "meshload: %v\n", err)
		return 2
	}
	if mode := profileModes[o.profileMode]; mode != nil {
		defer profile.Start(mode, profile.ProfilePath("."), profile.NoShutdownHook, profile.Quiet).Stop()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := runner.Config{
		Rate:     o.rate,
		Expect:   o.expect,
		Conns:    o.conns,
		Streams:  o.streams,
		Duration: o.duration,
		Warmup:   o.warmup,
		Dial:     func(int) (client.Conn, error) { return client.New(copts) },
	}
	if !o.http2 && !o.grpc {
		cfg.Streams = 1
	}
	switch {
	case o.engine == "epoll" && !client.EpollCapable(copts):
		fmt.Fprintf(stderr, "meshload: -engine epoll runs HTTP/1.1 over plain TCP (http:// without -http2) on Linux only\n")
		return 2
	case o.engine != "goroutines" && client.EpollCapable(copts):
		loops := min(runtime.GOMAXPROCS(0), o.conns)
		// One P more than there are loops: a loop blocked in epoll_wait
		// holds its P in a system call, and when no P is idle Go's sysmon
		// takes it back after 20 µs and keeps polling every 20 µs (measured:
		// 0.8 s of system time in 4 s at 2000 req/s). The extra P stays idle.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(loops + 1))
		cfg.Epoll = func(ctx context.Context, conns int, p client.Pacer) (uint64, error) {
			return client.RunEpoll(ctx, copts, conns, loops, p)
		}
	}
	live := !o.quiet && isTerminal(stdout)
	if live {
		cfg.Progress = func(elapsed time.Duration, done uint64) {
			fmt.Fprintf(stdout, "\r%5.1fs  %d requests  %.0f req/s   ", elapsed.Seconds(), done, float64(done)/max(elapsed.Seconds(), 0.001))
		}
	}
	res, err := runner.Run(ctx, cfg)
	if live {
		fmt.Fprint(stdout, "\r\033[K")
	}
	if err != nil {
		fmt.Fprintf(stderr, "meshload: %v\n", err)
		return 1
	}
	res.URL, res.Method = o.url.String(), o.method
	res.Protocol, res.Streams = "http/1.1", 0
	switch {
	case o.grpc:
		res.Protocol, res.Streams, res.Method = "grpc", o.streams, o.grpcMethod
	case o.http2:
		res.Protocol, res.Streams = "h2", o.streams
	}
	if !o.quiet {
		_ = report.WriteSummary(stdout, res)
	} else {
		for _, w := range res.Warnings {
			fmt.Fprintf(stderr, "WARNING: %s\n", w)
		}
	}
	code := 0
	if err := writeOutputs(&o, res, stdout); err != nil {
		fmt.Fprintf(stderr, "meshload: %v\n", err)
		code = 1
	}
	// The verdict comes last, so a failed run still leaves every output.
	if why := verdict(res, o.maxFailureRatio); why != "" {
		fmt.Fprintf(stderr, "meshload: %s\n", why)
		code = 1
	}
	return code
}

// grpcPayload is the request message of a -grpc run: a protobuf message
// whose field 1 (bytes) holds n bytes, as meshbench.echo.v1.Payload
// (scenarios/echo/echo.proto) defines it.
func grpcPayload(n int) []byte {
	b := binary.AppendUvarint([]byte{0x0a}, uint64(n))
	return append(b, bytes.Repeat([]byte("x"), n)...)
}

// verdict says why the run failed, or "" when failures stayed within
// maxRatio of the requests handled. A run that finished no request fails:
// it measured nothing.
func verdict(r *result.Result, maxRatio float64) string {
	n := r.Handled()
	if n == 0 {
		return "no request finished in the measured part: nothing was measured"
	}
	failed := r.Failures()
	ratio := float64(failed) / float64(n)
	if ratio <= maxRatio {
		return ""
	}
	return fmt.Sprintf("%d of %d requests failed (%.2f %%: %d unexpected status, %d errors), above -max-failure-ratio %v",
		failed, n, 100*ratio, r.UnexpectedStatus, r.Errors, maxRatio)
}

var profileModes = map[string]func(*profile.Profile){
	"cpu": profile.CPUProfile, "mem": profile.MemProfile, "block": profile.BlockProfile,
	"mutex": profile.MutexProfile, "trace": profile.TraceProfile,
}

// validate checks every flag; errors name the flag.
func (o *options) validate(fs *flag.FlagSet) error {
	switch {
	case fs.NArg() != 1:
		return errors.New("exactly one URL argument is required")
	case o.rate < 0:
		return fmt.Errorf("-rate %v: must be >= 0", o.rate)
	case o.conns < 1:
		return fmt.Errorf("-c %d: must be >= 1", o.conns)
	case o.duration <= 0:
		return fmt.Errorf("-d %v: must be > 0", o.duration)
	case o.warmup < 0:
		return fmt.Errorf("-warmup %v: must be >= 0", o.warmup)
	case o.timeout <= 0:
		return fmt.Errorf("-timeout %v: must be > 0", o.timeout)
	case o.streams < 1:
		return fmt.Errorf("-streams %d: must be >= 1", o.streams)
	case o.streams > 1 && !o.http2 && !o.grpc:
		return errors.New("-streams needs -http2 or -grpc (HTTP/1.1 has one request in flight per connection)")
	case o.grpc && o.http2:
		return errors.New("-grpc and -http2 are exclusive (gRPC always runs over HTTP/2)")
	case o.grpc && o.method != "GET":
		return errors.New("-method does not apply to -grpc (gRPC calls are POSTs; choose the call with -grpc-method)")
	case o.grpc && o.engine == "epoll":
		return errors.New("-engine epoll runs HTTP/1.1 only; -grpc uses goroutines")
	case o.grpc && (!strings.HasPrefix(o.grpcMethod, "/") || strings.Count(o.grpcMethod, "/") != 2):
		return fmt.Errorf("-grpc-method %q: want /package.Service/Method", o.grpcMethod)
	case o.bodySize < 0:
		return fmt.Errorf("-body-size %d: must be >= 0", o.bodySize)
	case o.bodySize > 0 && o.bodyFile != "":
		return errors.New("-body-size and -body-file are exclusive")
	case (o.cert == "") != (o.key == ""):
		return errors.New("-cert and -key go together")
	case o.engine != "auto" && o.engine != "epoll" && o.engine != "goroutines":
		return fmt.Errorf("-engine %q: want auto, epoll or goroutines", o.engine)
	case o.profileMode != "" && profileModes[o.profileMode] == nil:
		return fmt.Errorf("-profile %q: want cpu, mem, block, mutex or trace", o.profileMode)
	case o.method == "" || strings.ContainsAny(o.method, " \t\r\n"):
		return fmt.Errorf("-method %q: not an HTTP method", o.method)
	case !(o.maxFailureRatio >= 0 && o.maxFailureRatio <= 1): // NaN fails too
		return fmt.Errorf("-max-failure-ratio %v: want a ratio from 0 to 1", o.maxFailureRatio)
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "expect" })
	parse, spec := expect.Parse, o.expectSpec
	switch {
	case o.grpc:
		parse = expect.ParseGRPC
		if !given {
			spec = expect.DefaultGRPC
		}
	case !given:
		spec = expect.Default
	}
	set, err := parse(spec)
	if err != nil {
		return fmt.Errorf("-expect %q: %v", spec, err)
	}
	o.expect = set
	u, err := url.Parse(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("URL %q: %v", fs.Arg(0), err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("URL %q: want http://host[:port]/path or https://...", fs.Arg(0))
	}
	o.url = u
	for _, h := range o.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
			return fmt.Errorf("-H %q: want \"Name: value\"", h)
		}
	}
	return nil
}

func (o *options) clientOptions() (client.Options, error) {
	c := client.Options{URL: o.url, Method: o.method, Headers: http.Header{}, HTTP2: o.http2, Streams: o.streams, Timeout: o.timeout,
		GRPC: o.grpc, GRPCMethod: o.grpcMethod}
	for _, h := range o.headers {
		name, value, _ := strings.Cut(h, ":")
		c.Headers.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	switch {
	case o.grpc && o.bodyFile == "":
		c.Body = grpcPayload(o.bodySize)
	case o.bodySize > 0:
		c.Body = bytes.Repeat([]byte("x"), o.bodySize)
	case o.bodyFile != "":
		b, err := os.ReadFile(o.bodyFile)
		if err != nil {
			return c, fmt.Errorf("-body-file: %w", err)
		}
		c.Body = b
	}
	if o.url.Scheme == "https" {
		tc := &tls.Config{InsecureSkipVerify: o.insecure}
		if o.cacert != "" {
			pem, err := os.ReadFile(o.cacert)
			if err != nil {
				return c, fmt.Errorf("-cacert: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return c, fmt.Errorf("-cacert %s: no PEM certificates", o.cacert)
			}
			tc.RootCAs = pool
		}
		if o.cert != "" {
			kp, err := tls.LoadX509KeyPair(o.cert, o.key)
			if err != nil {
				return c, fmt.Errorf("-cert/-key: %w", err)
			}
			tc.Certificates = []tls.Certificate{kp}
		}
		c.TLS = tc
	} else if o.cacert != "" || o.cert != "" || o.insecure {
		return c, errors.New("-cacert, -cert, -key and -insecure need an https:// URL")
	}
	return c, nil
}

// writeOutputs writes each requested output file.
func writeOutputs(o *options, r *result.Result, stdout io.Writer) error {
	outputs := []struct {
		flag, path string
		write      func(io.Writer, *result.Result) error
	}{
		{"-json", o.jsonOut, report.WriteJSON},
		{"-hlog", o.hlogOut, report.WriteHlog},
		{"-hgrm", o.hgrmOut, report.WriteHgrm},
		{"-fortio-json", o.fortioOut, report.WriteFortioJSON},
	}
	for _, out := range outputs {
		if out.path == "" {
			continue
		}
		if out.path == "-" {
			if err := out.write(stdout, r); err != nil {
				return fmt.Errorf("%s: %w", out.flag, err)
			}
			continue
		}
		f, err := os.Create(out.path)
		if err != nil {
			return fmt.Errorf("%s: %w", out.flag, err)
		}
		err = out.write(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", out.flag, out.path, err)
		}
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
