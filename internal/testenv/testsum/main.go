// Command testsum runs `go test -json ...` and prints what plain go test
// prints (package lines, build errors, failed tests' output), then lists
// every skipped test with its reason and every failed test, so that skips
// are visible without -v. It exits 1 when the command fails, a test or
// package fails, or a test named in -require did not pass.
//
//	go run ./internal/testenv/testsum [-require 'TestA TestB'] -- go test -json ./...
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("testsum", flag.ContinueOnError)
	fs.SetOutput(stderr)
	require := fs.String("require", "", "top-level tests (space- or comma-separated) that must pass, e.g. the root-only tests")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "testsum: usage: testsum [-require 'TestA TestB'] -- go test -json ...")
		return 2
	}
	// Ctrl-C reaches go test too (same process group); stay alive to read
	// and summarise what it prints while it stops.
	signal.Notify(make(chan os.Signal, 1), os.Interrupt)

	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(stderr, "testsum: %v\n", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "testsum: starting %s: %v\n", fs.Arg(0), err)
		return 1
	}
	s := newSummary(stdout)
	readErr := s.read(pipe)
	waitErr := cmd.Wait()
	problems := s.report(strings.FieldsFunc(*require, func(r rune) bool { return r == ' ' || r == ',' }))
	if readErr != nil {
		problems = append(problems, readErr.Error())
	}
	if waitErr != nil {
		var exit *exec.ExitError
		if errors.As(waitErr, &exit) {
			problems = append(problems, fmt.Sprintf("%s exited with status %d", fs.Arg(0), exit.ExitCode()))
		} else {
			problems = append(problems, fmt.Sprintf("%s: %v", fs.Arg(0), waitErr))
		}
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "testsum: %s\n", p)
	}
	if len(problems) > 0 {
		return 1
	}
	return 0
}
