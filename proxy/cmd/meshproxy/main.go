// Command meshproxy is meshbench's service-mesh sidecar data plane.
//
//	meshproxy -config mesh.yaml [-log-level info] [-profile cpu]
//
// The config file holds one Proxy document (listeners, limits, timeouts)
// and any number of Service, EndpointSlice and HTTPRoute documents. It is
// re-read when it changes and on SIGHUP; SIGTERM or SIGINT drain and exit 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/pkg/profile"

	"github.com/meshbench/meshbench/proxy/internal/sidecar"
)

// version is set by the linker (make build).
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to the multi-document YAML config (required)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	prof := fs.String("profile", "", "write a profile to the working directory: cpu, mem, block, mutex or trace")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: meshproxy -config FILE [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Printf("meshproxy %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "meshproxy: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "meshproxy: -config is required")
		fs.Usage()
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "meshproxy: -log-level %q: want debug, info, warn or error\n", *logLevel)
		return 2
	}
	profileMode, err := profileOption(*prof)
	if err != nil {
		fmt.Fprintf(stderr, "meshproxy: %v\n", err)
		return 2
	}
	if profileMode != nil {
		defer profile.Start(profileMode, profile.ProfilePath("."), profile.NoShutdownHook).Stop()
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	s, err := sidecar.Start(*configPath, log)
	if err != nil {
		fmt.Fprintf(stderr, "meshproxy: %v\n", err)
		return 1
	}
	if n, ok := maxProcsFor(s.EventLoops(), os.Getenv("GOMAXPROCS")); ok {
		runtime.GOMAXPROCS(n)
	}
	log.Info("meshproxy started", "version", version, "config", *configPath, "gomaxprocs", runtime.GOMAXPROCS(0))

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				_ = s.Reload("SIGHUP") // logged and counted inside
				continue
			}
			log.Info("draining", "signal", sig.String(), "timeout", s.DrainTimeout())
			ctx, cancel := context.WithTimeout(context.Background(), s.DrainTimeout())
			err := s.Shutdown(ctx)
			cancel()
			if err != nil {
				log.Warn("drain incomplete", "err", err)
			}
			log.Info("stopped")
			return 0
		case err := <-s.Done():
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Error("data plane stopped", "err", err)
				return 1
			}
			return 0
		}
	}
}

func profileOption(mode string) (func(*profile.Profile), error) {
	switch mode {
	case "":
		return nil, nil
	case "cpu":
		return profile.CPUProfile, nil
	case "mem":
		return profile.MemProfile, nil
	case "block":
		return profile.BlockProfile, nil
	case "mutex":
		return profile.MutexProfile, nil
	case "trace":
		return profile.TraceProfile, nil
	}
	return nil, fmt.Errorf("-profile %q: want cpu, mem, block, mutex or trace", mode)
}

// maxProcsFor is the GOMAXPROCS policy for a proxy with loops event loops
// (0: one per core, the runtime's default stands); ok false leaves the
// runtime's value, as does a GOMAXPROCS set in the environment.
//
// One P more than loops: each loop sleeps in a blocking epoll_wait, and
// when every P is held by a goroutine in a system call, the runtime's
// sysmon takes the P away from it after 20 µs and hands it to another
// thread (futex wake-ups, nanosleeps, a slow path when the call returns).
// The spare P keeps an idle P in sight, so sysmon leaves the loops alone.
// One loop at 1000 req/s cost 138-159 µs of CPU per request with 1 P and
// 66-76 µs with 2 (5 alternating rounds); at 10000 req/s, where the loop
// rarely sleeps, the spare P costs about a fifth more (41 vs 50 µs)
// (BENCHMARKS.md, "GOMAXPROCS for the event loops").
func maxProcsFor(loops int, env string) (int, bool) {
	if loops <= 0 || env != "" {
		return 0, false
	}
	return loops + 1, true
}
