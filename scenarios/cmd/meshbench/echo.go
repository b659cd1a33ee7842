package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/meshbench/meshbench/scenarios/echo"
	"github.com/pkg/profile"
)

// profileModes maps -profile values to github.com/pkg/profile modes.
var profileModes = map[string]func(*profile.Profile){
	"cpu":   profile.CPUProfile,
	"mem":   profile.MemProfile,
	"block": profile.BlockProfile,
	"mutex": profile.MutexProfile,
	"trace": profile.TraceProfile,
}

// runEcho implements "meshbench echo": it serves until ctx is cancelled
// (SIGINT/SIGTERM), then closes the server and flushes any profile.
func runEcho(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshbench echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", echo.DefaultListen, "TCP `address` to listen on; port 0 picks a free port")
	name := fs.String("name", "", "value of the X-Echo-Name response header (default: the bound address)")
	delay := fs.Duration("delay", 0, "wait `duration` before every response (?delay= overrides)")
	// The CLI defaults to 1 KiB, a typical small API response, because that
	// is what a benchmark wants; the library's zero Options mean an empty body.
	size := fs.Int("size", 1024, "response body size in `bytes` (?size= overrides)")
	profMode := fs.String("profile", "", "write a `kind` profile to the current directory: "+strings.Join(slices.Sorted(maps.Keys(profileModes)), ", "))
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: meshbench echo [flags]\n\n"+
			"Runs the upstream test server until SIGINT or SIGTERM. Per-request query\n"+
			"parameters: size=N delay=D status=N echo=headers|body chunked=1; GET /stats\n"+
			"returns {\"requests\": N}.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	usageErr := func(format string, a ...any) int { return usageError(fs, stderr, format, a...) }
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case *listen == "":
		return usageErr("-listen must not be empty")
	case *size < 0 || *size > echo.MaxSize:
		return usageErr("-size %d out of range 0..%d", *size, echo.MaxSize)
	case *delay < 0 || *delay > echo.MaxDelay:
		return usageErr("-delay %v out of range 0..%v", *delay, echo.MaxDelay)
	}
	if *profMode != "" {
		mode, ok := profileModes[*profMode]
		if !ok {
			return usageErr("unknown -profile %q (want one of %s)", *profMode, strings.Join(slices.Sorted(maps.Keys(profileModes)), ", "))
		}
		// NoShutdownHook: pkg/profile's own SIGINT hook would os.Exit before
		// the server closes; we stop the profile ourselves on the way out.
		defer profile.Start(mode, profile.ProfilePath("."), profile.NoShutdownHook).Stop()
	}

	srv, err := echo.Start(echo.Options{Listen: *listen, Name: *name, Delay: *delay, Size: *size})
	if err != nil {
		fmt.Fprintf(stderr, "meshbench echo: %v\n", err)
		return 1
	}
	// Harnesses wait for this exact line (and parse the address from it when
	// they asked for port 0).
	fmt.Fprintf(stderr, "echo listening on %s\n", srv.Addr())
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "meshbench echo: close: %v\n", err)
		return 1
	}
	return 0
}
