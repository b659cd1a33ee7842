// Package testenv decides what a test does when the machine lacks something
// it needs (a program, root, a kernel feature).
//
// On a developer's machine the test skips and says what is missing. In CI
// (CI=true in the environment, as GitHub Actions and .ci/run set it) it
// fails instead and names what to install: a CI run that skips a test has
// not tested that feature, and a skip is easy to miss among hundreds of
// passing tests.
//
// A few things can never be on a CI machine (no Debian package exists, or
// they need a service CI does not run); CannotProvide keeps those as skips
// everywhere, and its callers say why in a comment.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Replaced by this package's tests.
var (
	geteuid = os.Geteuid
	short   = testing.Short
)

// InCI reports whether the environment variable CI is true (any value
// strconv.ParseBool accepts as true: "true", "1", "TRUE", ...).
func InCI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// Missing skips the test with the message, or fails it when InCI: the
// message should say what is missing and how to get it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s (CI=true: CI must provide this rather than skip the test)", msg)
		return
	}
	t.Skip(msg)
}

// Need calls Missing with err's text when err is not nil: for checks a
// package already has (e.g. one that probes for network namespaces).
func Need(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		Missing(t, "%v", err)
	}
}

// NeedProgram returns the path of the program name, or calls Missing
// naming the Debian package pkg that installs it.
func NeedProgram(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not on PATH: apt-get install %s", name, pkg)
	}
	return path
}

// NeedRoot calls Missing unless the test runs as root. The Makefile lists
// the root-only tests in ROOT_TESTS; `make test-root` runs just those.
func NeedRoot(t testing.TB) {
	t.Helper()
	if uid := geteuid(); uid != 0 {
		Missing(t, "needs root (running as uid %d): run as root, e.g. sudo -E env \"PATH=$PATH\" make test-root "+
			"(which runs the Makefile's ROOT_TESTS; add %s there if it is missing)", uid, topLevel(t.Name()))
	}
}

// CannotProvide skips the test even in CI, for what no CI machine of this
// project can have (e.g. an Envoy binary: there is no Debian package). The
// caller says in a comment why it cannot be provided.
func CannotProvide(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Skipf(format+" (cannot be provided in CI either)", args...)
}

// SkipShort skips the test under -short. It stays a skip in CI: -short is
// a choice made on the command line, and make test never passes it.
func SkipShort(t testing.TB, why string) {
	t.Helper()
	if short() {
		t.Skip("-short: " + why)
	}
}

// AllocPattern is the -run pattern of make test's second pass, which runs
// without the race detector.
const AllocPattern = "Alloc"

// SkipUnderRace skips an allocation-counting test under the race detector,
// where sync.Pool drops items at random and allocation counts mean
// nothing. make test runs the tests matching AllocPattern a second time
// without -race, so a test that skips here must match it, or it would
// never run: such a test fails instead, asking to be renamed.
func SkipUnderRace(t testing.TB) {
	t.Helper()
	skipUnderRace(t, Race)
}

func skipUnderRace(t testing.TB, race bool) {
	t.Helper()
	if !race {
		return
	}
	if top := topLevel(t.Name()); !strings.Contains(top, AllocPattern) {
		t.Fatalf("%s skips under -race, but make test's pass without -race runs only tests matching %q: "+
			"rename it so it runs there", top, AllocPattern)
		return
	}
	t.Skip("allocation counts are meaningless under -race; make test runs this again without it")
}

// topLevel is the top-level test's name of a (sub)test name.
func topLevel(name string) string {
	top, _, _ := strings.Cut(name, "/")
	return top
}
