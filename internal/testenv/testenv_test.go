package testenv

import (
	"fmt"
	"strings"
	"testing"
)

// fakeTB records what a helper did instead of stopping the test; the
// embedded TB supplies the methods the helpers do not call.
type fakeTB struct {
	testing.TB
	name    string
	skipped string
	fatal   string
}

func (f *fakeTB) Helper()                       {}
func (f *fakeTB) Name() string                  { return f.name }
func (f *fakeTB) Skip(args ...any)              { f.skipped = fmt.Sprint(args...) }
func (f *fakeTB) Skipf(format string, a ...any) { f.skipped = fmt.Sprintf(format, a...) }
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.fatal = fmt.Sprintf(format, a...)
}

// outcome is what a helper did: "pass", "skip: MSG" or "fail: MSG".
func (f *fakeTB) outcome() string {
	switch {
	case f.fatal != "" && f.skipped != "":
		return "both failed and skipped: " + f.fatal + " / " + f.skipped
	case f.fatal != "":
		return "fail: " + f.fatal
	case f.skipped != "":
		return "skip: " + f.skipped
	}
	return "pass"
}

func TestInCI(t *testing.T) {
	for _, tt := range []struct {
		env  string
		want bool
	}{
		{"", false},
		{"true", true},
		{"1", true},
		{"TRUE", true},
		{"false", false},
		{"0", false},
		{"yes", false}, // not a boolean strconv knows: not CI
	} {
		t.Run(tt.env, func(t *testing.T) {
			t.Setenv("CI", tt.env)
			if got := InCI(); got != tt.want {
				t.Errorf("CI=%q: InCI() = %v, want %v", tt.env, got, tt.want)
			}
		})
	}
}

// TestHelpers runs each helper outside and inside CI and checks whether
// it passed, skipped or failed, and that its message says what to do.
func TestHelpers(t *testing.T) {
	for _, tt := range []struct {
		name     string
		ci       bool
		uid      int
		short    bool
		race     bool
		testName string
		call     func(t testing.TB)
		want     string // outcome prefix
		says     []string
	}{
		{name: "program present", call: func(t testing.TB) { NeedProgram(t, "sh", "dash") }, want: "pass"},
		{name: "program present in CI", ci: true, call: func(t testing.TB) { NeedProgram(t, "sh", "dash") }, want: "pass"},
		{name: "program missing", call: func(t testing.TB) { NeedProgram(t, "no-such-program-x", "pkg-x") },
			want: "skip", says: []string{"no-such-program-x not on PATH", "apt-get install pkg-x"}},
		{name: "program missing in CI", ci: true, call: func(t testing.TB) { NeedProgram(t, "no-such-program-x", "pkg-x") },
			want: "fail", says: []string{"no-such-program-x not on PATH", "apt-get install pkg-x", "CI=true"}},
		{name: "root", uid: 0, call: NeedRoot, want: "pass"},
		{name: "root in CI", ci: true, uid: 0, call: NeedRoot, want: "pass"},
		{name: "not root", uid: 1000, testName: "TestNet/sub", call: NeedRoot,
			want: "skip", says: []string{"needs root (running as uid 1000)", "sudo -E", "make test-root", "add TestNet there"}},
		{name: "not root in CI", ci: true, uid: 1000, call: NeedRoot,
			want: "fail", says: []string{"needs root", "sudo -E"}},
		{name: "need nil", ci: true, call: func(t testing.TB) { Need(t, nil) }, want: "pass"},
		{name: "need error", call: func(t testing.TB) { Need(t, fmt.Errorf("netns: unavailable: needs ip")) },
			want: "skip", says: []string{"netns: unavailable: needs ip"}},
		{name: "need error in CI", ci: true, call: func(t testing.TB) { Need(t, fmt.Errorf("netns: unavailable")) },
			want: "fail", says: []string{"netns: unavailable"}},
		{name: "missing", call: func(t testing.TB) { Missing(t, "no %s", "auxv") }, want: "skip", says: []string{"no auxv"}},
		{name: "missing in CI", ci: true, call: func(t testing.TB) { Missing(t, "no %s", "auxv") }, want: "fail", says: []string{"no auxv"}},
		{name: "cannot provide", call: func(t testing.TB) { CannotProvide(t, "%s not on PATH", "envoy") },
			want: "skip", says: []string{"envoy not on PATH"}},
		{name: "cannot provide in CI", ci: true, call: func(t testing.TB) { CannotProvide(t, "%s not on PATH", "envoy") },
			want: "skip", says: []string{"envoy not on PATH", "cannot be provided in CI"}},
		{name: "short", short: true, call: func(t testing.TB) { SkipShort(t, "builds binaries") },
			want: "skip", says: []string{"-short: builds binaries"}},
		{name: "not short", call: func(t testing.TB) { SkipShort(t, "builds binaries") }, want: "pass"},
		{name: "no race", testName: "TestEcho", call: func(t testing.TB) { skipUnderRace(t, false) }, want: "pass"},
		{name: "race, Alloc test", race: true, testName: "TestHandlerZeroAlloc/sub",
			call: func(t testing.TB) { skipUnderRace(t, true) }, want: "skip", says: []string{"without it"}},
		{name: "race, Alloc test in CI", ci: true, race: true, testName: "TestSampleAllocs",
			call: func(t testing.TB) { skipUnderRace(t, true) }, want: "skip"},
		{name: "race, test the second pass misses", race: true, testName: "TestZeroGarbage/Alloc",
			call: func(t testing.TB) { skipUnderRace(t, true) }, want: "fail", says: []string{"TestZeroGarbage", `"Alloc"`, "rename"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ci {
				t.Setenv("CI", "true")
			} else {
				t.Setenv("CI", "")
			}
			savedUID, savedShort := geteuid, short
			t.Cleanup(func() { geteuid, short = savedUID, savedShort })
			geteuid = func() int { return tt.uid }
			short = func() bool { return tt.short }
			f := &fakeTB{TB: t, name: tt.testName}
			if f.name == "" {
				f.name = "TestX"
			}
			tt.call(f)
			got := f.outcome()
			if !strings.HasPrefix(got, tt.want) {
				t.Fatalf("outcome %q, want %s", got, tt.want)
			}
			for _, s := range tt.says {
				if !strings.Contains(got, s) {
					t.Errorf("outcome %q does not say %q", got, s)
				}
			}
		})
	}
}
