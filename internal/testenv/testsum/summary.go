package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json), with the build
// events go test adds (build-output, build-fail).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string
	FailedBuild string
}

// result is a finished test: its package, name, and for a skip the reason.
type result struct {
	pkg, test, reason string
}

// summary reads go test -json output and writes what plain go test would:
// package lines (ok, FAIL, no test files), build errors, and the output of
// failed tests; passing and skipped tests' output is dropped. At the end it
// lists every skipped and failed test.
type summary struct {
	out     io.Writer
	running map[string][]string // "pkg\x00test" -> output so far
	passed  map[string]int      // top-level and subtest names that passed
	skipped []result
	failed  []result
	// pkgFailed counts failed packages and failed builds: a package can
	// fail with no failed test (a panic in TestMain, a timeout, a build).
	pkgFailed int
	events    int
}

func newSummary(out io.Writer) *summary {
	return &summary{out: out, running: map[string][]string{}, passed: map[string]int{}}
}

// read consumes the stream; lines that are not JSON events are copied
// through (go test prints some messages, e.g. about flags, as text).
func (s *summary) read(r io.Reader) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			s.line(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading go test output: %w", err)
		}
	}
}

func (s *summary) line(line string) {
	var e event
	if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil || e.Action == "" {
		s.print(line)
		return
	}
	s.events++
	switch {
	case e.Action == "build-output":
		s.print(e.Output)
	case e.Action == "build-fail":
		s.pkgFailed++
	case e.Test == "":
		s.packageEvent(e)
	default:
		s.testEvent(e)
	}
}

// packageEvent prints the package's own lines (ok, FAIL, no test files).
// When the package fails, the output of its tests that never finished
// comes first: that is where a panic or a timeout shows which test hung.
func (s *summary) packageEvent(e event) {
	switch e.Action {
	case "output":
		if strings.HasPrefix(e.Output, "FAIL") {
			s.flushUnfinished(e.Package)
		}
		if e.Output != "PASS\n" {
			s.print(e.Output)
		}
	case "fail":
		s.flushUnfinished(e.Package)
		if e.FailedBuild == "" { // a failed build was counted at build-fail
			s.pkgFailed++
		}
	}
}

// flushUnfinished prints and counts as failed the tests of pkg that
// started and never ended.
func (s *summary) flushUnfinished(pkg string) {
	prefix := pkg + "\x00"
	var keys []string
	for k := range s.running {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		_, test, _ := strings.Cut(k, "\x00")
		s.print(fmt.Sprintf("--- UNFINISHED: %s (its output follows)\n", test))
		s.printOutput(s.running[k])
		s.failed = append(s.failed, result{pkg: pkg, test: test, reason: "did not finish"})
		delete(s.running, k)
	}
}

func (s *summary) testEvent(e event) {
	key := e.Package + "\x00" + e.Test
	switch e.Action {
	case "run":
		s.running[key] = nil
	case "output":
		s.running[key] = append(s.running[key], e.Output)
	case "pass":
		s.passed[e.Test]++
		delete(s.running, key)
	case "skip":
		s.skipped = append(s.skipped, result{pkg: e.Package, test: e.Test, reason: skipReason(s.running[key])})
		delete(s.running, key)
	case "fail":
		s.printOutput(s.running[key])
		s.failed = append(s.failed, result{pkg: e.Package, test: e.Test})
		delete(s.running, key)
	}
}

// printOutput prints a failed test's output as plain go test does: the
// "--- FAIL" line first, then what the test logged, without the "=== RUN"
// markers that -json mode adds.
func (s *summary) printOutput(lines []string) {
	var head, body []string
	for _, l := range lines {
		switch {
		case isMarker(l):
		case strings.HasPrefix(strings.TrimLeft(l, " "), "--- FAIL: "):
			head = append(head, l)
		default:
			body = append(body, l)
		}
	}
	for _, l := range append(head, body...) {
		s.print(l)
	}
}

// isMarker reports the lines -v output adds to show which test runs.
func isMarker(l string) bool {
	for _, m := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(l, m) {
			return true
		}
	}
	return false
}

// skipReason is what a skipped test said (t.Skip's message, with its
// file:line), on one line.
func skipReason(lines []string) string {
	var parts []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || isMarker(l) || strings.HasPrefix(t, "--- SKIP: ") {
			continue
		}
		parts = append(parts, t)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " | ")
}

func (s *summary) print(text string) {
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	io.WriteString(s.out, text)
}

// report writes the lists of skipped and failed tests and the totals, and
// returns the problems that make the run fail: failures, and each test in
// require that did not pass.
func (s *summary) report(require []string) []string {
	var problems []string
	if s.events == 0 {
		problems = append(problems, "no go test -json events read: run go test with -json")
	}
	byName := func(a, b result) int { return strings.Compare(a.pkg+"\x00"+a.test, b.pkg+"\x00"+b.test) }
	slices.SortFunc(s.skipped, byName)
	slices.SortFunc(s.failed, byName)
	if len(s.skipped) > 0 {
		s.print(fmt.Sprintf("\nSKIPPED (%d):", len(s.skipped)))
		for _, r := range s.skipped {
			s.print(fmt.Sprintf("  %s %s: %s", r.pkg, r.test, r.reason))
		}
	}
	if len(s.failed) > 0 {
		s.print(fmt.Sprintf("\nFAILED (%d):", len(s.failed)))
		for _, r := range s.failed {
			line := "  " + r.pkg + " " + r.test
			if r.reason != "" {
				line += ": " + r.reason
			}
			s.print(line)
		}
		problems = append(problems, fmt.Sprintf("%d tests failed", len(s.failed)))
	}
	if s.pkgFailed > 0 {
		problems = append(problems, fmt.Sprintf("%d packages or builds failed", s.pkgFailed))
	}
	for _, name := range require {
		if s.passed[name] == 0 {
			problems = append(problems, fmt.Sprintf("required test %s did not pass (%s)", name, s.whyNotPassed(name)))
		}
	}
	passed := 0
	for _, n := range s.passed {
		passed += n
	}
	s.print(fmt.Sprintf("\n%d passed, %d skipped, %d failed (tests and subtests)", passed, len(s.skipped), len(s.failed)))
	return problems
}

func (s *summary) whyNotPassed(name string) string {
	for _, r := range s.skipped {
		if r.test == name {
			return "skipped: " + r.reason
		}
	}
	for _, r := range s.failed {
		if r.test == name {
			return "failed"
		}
	}
	return "not run: no test of that name in the packages run"
}
