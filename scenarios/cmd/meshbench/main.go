// Command meshbench is the benchmark harness for meshproxy. It is one binary
// with subcommands so that a benchmark host needs a single artifact for every
// role (upstream server, load generator, scenario runner):
//
//	meshbench echo -listen 127.0.0.1:8080 [-name NAME] [-delay D] [-size N]
//	meshbench certs -out DIR -identities ns/sa[,ns/sa...] [-trust-domain TD] [-validity D] [-new-ca]
//	meshbench run [-o DIR] [-bin DIR] [-keep] scenarios/X.yaml...
//	meshbench list [DIR]
//	meshbench validate FILE...
//	meshbench report [-results DIR] [-md FILE] [-html FILE] [-published FILE] [RESULT.json...]
//	meshbench gate -baseline FILE -current FILE [-noise F] [-k K] [-floor-...] [-baseline-bench F] [-current-bench F]
//	meshbench gate -baseline FILE -write-noise OUT.tsv [SAME-CODE-RESULT.json...]
//	meshbench gate -baseline FILE -doctor [-md F] [-tsv F] CURRENT.json...
//	meshbench idle -addr HOST:PORT [-host H] [-path P] [-conns N] [-warm N] [-timeout D]
//	meshbench h2idle -addr HOST:PORT [-host H] [-path P] [-conns N] [-streams N] [-warm N] [-delay D] [-timeout D]
//	meshbench -version
//
// Exit status: 0 on success, 1 on runtime errors, 2 on usage errors.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// version is the release version, set at build time with
// -ldflags "-X main.version=v1.2.3"; otherwise it comes from the module's
// build info.
var version = ""

// command is one subcommand. run gets the arguments after the subcommand
// name and returns the exit status; ctx is cancelled on SIGINT or SIGTERM.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands in the order usage shows them.
var commands = []command{
	{"echo", "run the upstream echo server that benchmarks put behind the proxy", runEcho},
	{"certs", "write a CA and SPIFFE certificates for the proxy's mutual TLS", runCerts},
	{"run", "run scenarios on loopback and write result files", runRun},
	{"list", "list the scenarios in a directory", runList},
	{"validate", "check scenario files", runValidate},
	{"report", "regenerate BENCHMARKS.md and the HTML report from result files", runReport},
	{"gate", "compare a run with a baseline; exit 1 on a regression", runGate},
	{"idle", "hold idle keep-alive connections to a proxy (scripts/idlebench.sh)", runIdle},
	{"h2idle", "hold idle h2c connections and open streams to a proxy (scripts/h2idlebench.sh)", runH2Idle},
}

func main() {
	// Subcommands shut down cleanly on the context instead of dying on the
	// signal, so servers drain and profiles are flushed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it parses the global flags and dispatches
// to a subcommand. It is separate so tests can drive the CLI in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() { usage(stderr, fs) }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionString())
		return 0
	}
	if fs.NArg() == 0 {
		usage(stderr, fs)
		return 2
	}
	name := fs.Arg(0)
	if name == "help" {
		usage(stdout, fs)
		return 0
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, fs.Args()[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "meshbench: unknown command %q\n\n", name)
	usage(stderr, fs)
	return 2
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: meshbench [-version] <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'meshbench <command> -h' for the flags of a command.\n\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func versionString() string {
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	return fmt.Sprintf("meshbench %s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// parseFlags parses a subcommand's flags. When ok is false the subcommand
// returns code: 0 after -h, 2 after a bad flag (the flag package has
// already said which).
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

// usageError reports a usage mistake as "<flag set name>: ...", prints the
// subcommand's usage, and returns exit code 2.
func usageError(fs *flag.FlagSet, stderr io.Writer, format string, a ...any) int {
	fmt.Fprintf(stderr, fs.Name()+": "+format+"\n", a...)
	fs.Usage()
	return 2
}
