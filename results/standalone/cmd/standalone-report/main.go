// Command standalone-report rewrites the stand-alone sections of
// BENCHMARKS.md from the raw files under results/standalone (see its
// README.md), or prints the section of one raw file (-show).
//
//	go run ./results/standalone/cmd/standalone-report                 # rewrite BENCHMARKS.md
//	go run ./results/standalone/cmd/standalone-report -check          # exit 1 if it is out of date
//	go run ./results/standalone/cmd/standalone-report -show FILE.tsv  # print one section
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/meshbench/meshbench/results/standalone"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "standalone-report:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("standalone-report", flag.ContinueOnError)
	doc := fs.String("doc", "BENCHMARKS.md", "the Markdown `file` whose standalone sections are rewritten")
	dir := fs.String("dir", "results/standalone", "the `directory` of raw files, one subdirectory per bench")
	show := fs.String("show", "", "print the section of this raw `file` and exit")
	check := fs.Bool("check", false, "do not write: exit 1 if -doc differs from what the raw files give")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *show != "" {
		s, err := standalone.RenderFile(*show, *show)
		if err != nil {
			return err
		}
		fmt.Print(s)
		return nil
	}
	old, err := os.ReadFile(*doc)
	if err != nil {
		return err
	}
	updated, unused, err := standalone.Update(old, *dir, filepath.Dir(*doc))
	if err != nil {
		return fmt.Errorf("%s: %w", *doc, err)
	}
	for _, k := range unused {
		fmt.Fprintf(os.Stderr, "standalone-report: note: raw data for %q has no section in %s (add %s ... %s to show it)\n",
			k, *doc, standalone.BeginMarker(k), standalone.EndMarker(k))
	}
	if *check {
		if !bytes.Equal(old, updated) {
			return fmt.Errorf("%s is out of date with %s: run make report-standalone", *doc, *dir)
		}
		return nil
	}
	if bytes.Equal(old, updated) {
		return nil
	}
	return os.WriteFile(*doc, updated, 0o644)
}
