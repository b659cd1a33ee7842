package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// ev is one go test -json line.
func ev(action, pkg, test, output string) string {
	b, err := json.Marshal(event{Action: action, Package: pkg, Test: test, Output: output})
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

// testRun is the events of one test that ends with action, printing lines.
func testRun(pkg, test, action string, lines ...string) string {
	s := ev("run", pkg, test, "") + ev("output", pkg, test, "=== RUN   "+test+"\n")
	for _, l := range lines {
		s += ev("output", pkg, test, l+"\n")
	}
	s += ev("output", pkg, test, "--- "+strings.ToUpper(action)+": "+test+" (0.00s)\n")
	return s + ev(action, pkg, test, "")
}

func TestSummary(t *testing.T) {
	const pkg = "example/a"
	okLine := ev("output", pkg, "", "PASS\n") + ev("output", pkg, "", "ok  \texample/a\t0.1s\n") + ev("pass", pkg, "", "")
	failLine := ev("output", pkg, "", "FAIL\n") + ev("output", pkg, "", "FAIL\texample/a\t0.1s\n") + ev("fail", pkg, "", "")
	for _, tt := range []struct {
		name     string
		in       string
		require  []string
		says     []string // in this order
		silent   []string // never printed
		problems []string // each a substring of one problem; none when empty
	}{
		{
			name:   "passing test: only the package line",
			in:     testRun(pkg, "TestPass", "pass", "    a_test.go:3: hello") + okLine,
			says:   []string{"ok  \texample/a", "1 passed, 0 skipped, 0 failed"},
			silent: []string{"hello", "=== RUN", "PASS\n", "SKIPPED", "FAILED"},
		},
		{
			name: "skip listed at the end with its reason",
			in:   testRun(pkg, "TestSkip", "skip", "    a_test.go:4: curl not on PATH") + okLine,
			says: []string{"ok  \texample/a", "SKIPPED (1):", "example/a TestSkip: a_test.go:4: curl not on PATH", "0 passed, 1 skipped"},
		},
		{
			name: "skipped subtest named in full",
			in: ev("run", pkg, "TestFind", "") + testRun(pkg, "TestFind/envoy", "skip", "    p_test.go:9: envoy not on PATH") +
				ev("output", pkg, "TestFind", "--- PASS: TestFind (0.00s)\n") + ev("pass", pkg, "TestFind", "") + okLine,
			says: []string{"example/a TestFind/envoy: p_test.go:9: envoy not on PATH", "1 passed, 1 skipped"},
		},
		{
			name: "failure: FAIL line first, then the log, no markers",
			in: testRun(pkg, "TestFail", "fail", "    a_test.go:5: before", "    a_test.go:5: boom") +
				testRun(pkg, "TestOK", "pass", "    a_test.go:9: quiet") + failLine,
			says:     []string{"--- FAIL: TestFail", "a_test.go:5: before", "a_test.go:5: boom", "FAIL\texample/a", "FAILED (1):", "  example/a TestFail"},
			silent:   []string{"=== RUN", "quiet"},
			problems: []string{"1 tests failed", "1 packages or builds failed"},
		},
		{
			name: "build failure printed and counted once",
			in: `{"ImportPath":"example/c [example/c.test]","Action":"build-output","Output":"# example/c [example/c.test]\n"}` + "\n" +
				`{"ImportPath":"example/c [example/c.test]","Action":"build-output","Output":"c/c_test.go:3:32: undefined: undefined\n"}` + "\n" +
				`{"ImportPath":"example/c [example/c.test]","Action":"build-fail"}` + "\n" +
				ev("output", "example/c", "", "FAIL\texample/c [build failed]\n") +
				`{"Action":"fail","Package":"example/c","FailedBuild":"example/c [example/c.test]"}` + "\n",
			says:     []string{"undefined: undefined", "FAIL\texample/c [build failed]"},
			problems: []string{"1 packages or builds failed"},
		},
		{
			name: "timeout: the unfinished test's output before the package's FAIL",
			in: ev("run", pkg, "TestHang", "") + ev("output", pkg, "TestHang", "    d_test.go:3: waiting\n") +
				ev("output", pkg, "TestHang", "panic: test timed out after 1s\n") + failLine,
			says:     []string{"--- UNFINISHED: TestHang", "waiting", "panic: test timed out", "FAIL\texample/a", "example/a TestHang: did not finish"},
			problems: []string{"1 tests failed", "1 packages or builds failed"},
		},
		{
			name: "text that is not an event is copied",
			in:   "go: downloading example.com/x v1.0.0\n" + testRun(pkg, "TestPass", "pass") + okLine,
			says: []string{"go: downloading example.com/x v1.0.0", "ok  \texample/a"},
		},
		{
			name:     "no events: go test ran without -json",
			in:       "ok  \texample/a\t0.1s\n",
			problems: []string{"no go test -json events"},
		},
		{
			name:    "required test passed",
			in:      testRun(pkg, "TestRoot", "pass") + okLine,
			require: []string{"TestRoot"},
		},
		{
			name:     "required test skipped",
			in:       testRun(pkg, "TestRoot", "skip", "    r_test.go:1: needs root") + okLine,
			require:  []string{"TestRoot"},
			problems: []string{"required test TestRoot did not pass (skipped: r_test.go:1: needs root)"},
		},
		{
			name:     "required test not run",
			in:       testRun(pkg, "TestOther", "pass") + okLine,
			require:  []string{"TestRoot"},
			problems: []string{"required test TestRoot did not pass (not run"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			s := newSummary(&out)
			if err := s.read(strings.NewReader(tt.in)); err != nil {
				t.Fatal(err)
			}
			problems := s.report(tt.require)
			text := out.String()
			checkOrder(t, text, tt.says)
			for _, w := range tt.silent {
				if strings.Contains(text, w) {
					t.Errorf("printed %q:\n%s", w, text)
				}
			}
			if len(problems) != len(tt.problems) {
				t.Fatalf("problems %q, want %d like %q", problems, len(tt.problems), tt.problems)
			}
			for i, p := range tt.problems {
				if !strings.Contains(problems[i], p) {
					t.Errorf("problem %d = %q, want it to say %q", i, problems[i], p)
				}
			}
		})
	}
}

// checkOrder fails unless text holds each of says, in that order.
func checkOrder(t *testing.T, text string, says []string) {
	t.Helper()
	rest := text
	for _, w := range says {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("output lacks %q (after the previous expected text):\n%s", w, text)
		}
		rest = rest[i+len(w):]
	}
}

// TestRunRealGoTest runs the real go test on a scratch module: the
// summary must read today's go test -json and the exit status must follow
// the tests (a failing test fails; skips alone do not).
func TestRunRealGoTest(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a scratch module with go test")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	files := map[string]string{
		"go.mod":         "module scratch\n\ngo 1.22\n",
		"a/a_test.go":    "package a\nimport \"testing\"\nfunc TestPass(t *testing.T) { t.Log(\"quiet\") }\nfunc TestSkip(t *testing.T) { t.Skip(\"curl not on PATH\") }\n",
		"b/b_test.go":    "package b\nimport \"testing\"\nfunc TestFail(t *testing.T) { t.Error(\"boom\") }\n",
		"c/c_test.go":    "package c\nimport \"testing\"\nfunc TestPanic(t *testing.T) { panic(\"kaboom\") }\n",
		"d/d_test.go":    "package d\nimport \"testing\"\nfunc TestBuild(t *testing.T) { undefinedThing() }\n",
		"e/e_test.go":    "package e\nimport (\"testing\"; \"time\")\nfunc TestHang(t *testing.T) { t.Log(\"waiting\"); time.Sleep(time.Hour) }\n",
		"f/f_test.go":    "package f\nimport \"testing\"\nfunc TestSub(t *testing.T) { t.Run(\"x\", func(t *testing.T) { t.Skip(\"sub skip\") }) }\n",
		"g/g_nothing.go": "package g\n",
	}
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name     string
		pkgs     []string
		require  string
		wantCode int
		says     []string
		stderr   []string
	}{
		{
			name: "skips only", pkgs: []string{"./a", "./f", "./g"}, wantCode: 0,
			says: []string{"SKIPPED (2):", "scratch/a TestSkip: a_test.go:4: curl not on PATH", "scratch/f TestSub/x: f_test.go:3: sub skip", "2 passed, 2 skipped, 0 failed"},
		},
		{
			name: "required test skipped", pkgs: []string{"./a"}, require: "TestSkip", wantCode: 1,
			stderr: []string{"required test TestSkip did not pass"},
		},
		{
			name: "failures of every kind", pkgs: []string{"./..."}, wantCode: 1,
			says: []string{"--- FAIL: TestFail", "boom", "--- FAIL: TestPanic", "kaboom", "undefinedThing",
				"--- UNFINISHED: TestHang", "waiting", "FAILED (3):", "scratch/b TestFail", "scratch/c TestPanic", "scratch/e TestHang: did not finish"},
			stderr: []string{"3 tests failed", "exited with status 1"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"-require", tt.require, "--", goBin, "-C", dir, "test", "-json", "-count=1", "-timeout", "5s"}
			var out, errOut bytes.Buffer
			code := run(append(args, tt.pkgs...), &out, &errOut)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out.String(), errOut.String())
			}
			for _, w := range tt.says {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut.String())
				}
			}
		})
	}
}

func TestRunUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want int
	}{
		{"no command", nil, 2},
		{"bad flag", []string{"-nope", "--", "true"}, 2},
		{"command not found", []string{"--", "/nonexistent/go"}, 1},
		{"command fails with no events", []string{"--", "false"}, 1},
		{"command fails though its events pass", []string{"--", "sh", "-c", `printf '%s' "$0"; exit 3`,
			testRun("example/a", "TestPass", "pass") + ev("pass", "example/a", "", "")}, 1},
		{"command and events pass", []string{"--", "sh", "-c", `printf '%s' "$0"`,
			testRun("example/a", "TestPass", "pass") + ev("pass", "example/a", "", "")}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(tt.args, &out, &errOut); got != tt.want {
				t.Errorf("exit %d, want %d (stderr %q)", got, tt.want, errOut.String())
			}
		})
	}
}
