package filewatch

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// watched runs Loop over paths with a poll that records how often it ran
// and what the first path held at the last poll.
type watched struct {
	path  string
	polls atomic.Int64
	mu    sync.Mutex
	seen  string
	retry atomic.Bool // a poll that reads "later" asks for a retry
	mode  chan Mode
	stop  chan struct{}
	done  chan struct{}
}

const testInterval = 5 * time.Millisecond

func watch(t *testing.T, paths ...string) *watched {
	t.Helper()
	w := &watched{path: paths[0], mode: make(chan Mode, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		Loop(w.stop, paths, testInterval, func() bool {
			b, _ := os.ReadFile(w.path)
			w.mu.Lock()
			w.seen = string(b)
			w.mu.Unlock()
			w.polls.Add(1)
			return w.retry.Load() && string(b) == "later"
		}, func(m Mode) { w.mode <- m })
	}()
	t.Cleanup(func() {
		close(w.stop)
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			t.Error("Loop did not return within 10 s of stop")
		}
	})
	return w
}

// settled waits until Loop has run its first Settle polls and parked.
func (w *watched) settled(t *testing.T) {
	t.Helper()
	w.waitPolls(t, Settle)
	// Parked means no poll for many intervals.
	for {
		n := w.polls.Load()
		time.Sleep(20 * testInterval)
		if w.polls.Load() == n {
			return
		}
	}
}

func (w *watched) waitPolls(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.polls.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d polls within 10 s, want %d", w.polls.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitSeen waits until a poll read want from the watched path.
func (w *watched) waitSeen(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		got := w.seen
		w.mu.Unlock()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no poll read %q within 10 s (last read %q): the change was not noticed", want, got)
		}
		time.Sleep(time.Millisecond)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoopParksWhileNothingChanges: with kernel events, Loop polls Settle
// times at start and then not at all while the files stay as they are —
// the point of the package: an idle proxy does not wake up.
func TestLoopParksWhileNothingChanges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	write(t, path, "v1")
	w := watch(t, path)
	if m := <-w.mode; m != ModeEvents {
		t.Fatalf("mode %v, want events (inotify) on Linux", m)
	}
	w.waitPolls(t, Settle)
	n := w.polls.Load()
	time.Sleep(100 * testInterval)
	if got := w.polls.Load(); got != n {
		t.Fatalf("%d polls in %v with nothing changing, want 0", got-n, 100*testInterval)
	}
}

// TestLoopSeesChanges: every way a config or certificate file is replaced
// in practice reaches a poll that reads the new content.
func TestLoopSeesChanges(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(t *testing.T, dir string) string // returns the path Loop watches
		change func(t *testing.T, dir, path string)
	}{
		{"write in place", plainFile, func(t *testing.T, _, path string) { write(t, path, "v2") }},
		{"rename over", plainFile, func(t *testing.T, dir, path string) {
			tmp := filepath.Join(dir, ".config.yaml.tmp")
			write(t, tmp, "v2")
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
		// Written elsewhere (a temporary directory on the same file
		// system), then renamed into place: the watched directory sees
		// only the name arriving.
		{"rename in from another directory", func(t *testing.T, dir string) string {
			if err := os.Mkdir(filepath.Join(dir, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			return plainFile(t, filepath.Join(dir, "etc"))
		}, func(t *testing.T, dir, path string) {
			tmp := filepath.Join(dir, "config.yaml.new")
			write(t, tmp, "v2")
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"delete and create", plainFile, func(t *testing.T, _, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			write(t, path, "v2")
		}},
		// A Kubernetes ConfigMap or Secret volume: config.yaml ->
		// ..data/config.yaml, ..data -> ..v1; the kubelet writes ..v2 and
		// renames a new ..data symlink over the old one.
		{"kubernetes ..data swap", func(t *testing.T, dir string) string {
			mkdirWrite(t, filepath.Join(dir, "..v1"), "config.yaml", "v1")
			symlink(t, "..v1", filepath.Join(dir, "..data"))
			symlink(t, "..data/config.yaml", filepath.Join(dir, "config.yaml"))
			return filepath.Join(dir, "config.yaml")
		}, func(t *testing.T, dir, _ string) {
			mkdirWrite(t, filepath.Join(dir, "..v2"), "config.yaml", "v2")
			symlink(t, "..v2", filepath.Join(dir, "..data_tmp"))
			if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Join(dir, "..v1")); err != nil {
				t.Fatal(err)
			}
		}},
		// A symlink to a file in another directory, edited there: only the
		// watch on the resolved file's directory sees it.
		{"symlink target edited elsewhere", func(t *testing.T, dir string) string {
			mkdirWrite(t, filepath.Join(dir, "real"), "config.yaml", "v1")
			if err := os.Mkdir(filepath.Join(dir, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			symlink(t, filepath.Join(dir, "real", "config.yaml"), filepath.Join(dir, "etc", "config.yaml"))
			return filepath.Join(dir, "etc", "config.yaml")
		}, func(t *testing.T, dir, _ string) { write(t, filepath.Join(dir, "real", "config.yaml"), "v2") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.setup(t, dir)
			w := watch(t, path)
			if m := <-w.mode; m != ModeEvents {
				t.Fatalf("mode %v, want events", m)
			}
			w.waitSeen(t, "v1")
			w.settled(t)
			tc.change(t, dir, path)
			w.waitSeen(t, "v2")
		})
	}
}

// TestLoopRetriesWhatHealsWithTime: while poll asks for a retry (content
// that becomes usable with time alone, like a certificate not valid yet),
// Loop keeps polling with no event; once poll stops asking, it parks.
func TestLoopRetriesWhatHealsWithTime(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cert.pem")
	write(t, path, "v1")
	w := watch(t, path)
	w.retry.Store(true)
	w.waitSeen(t, "v1")
	w.settled(t)
	write(t, path, "later")
	w.waitSeen(t, "later")
	n := w.polls.Load()
	w.waitPolls(t, n+3*Settle) // well past the settle count, with no event
	w.retry.Store(false)
	w.settled(t)
}

// TestLoopPollsABusyDirectory: a directory that never stops changing (a
// log written beside the config) must not starve the poll: events do not
// push the next poll back. The event source here is always ready, so with
// events that did push the poll back no poll would ever run.
func TestLoopPollsABusyDirectory(t *testing.T) {
	saved := newEvents
	newEvents = func() (events, error) { return endlessEvents{}, nil }
	t.Cleanup(func() { newEvents = saved })
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	write(t, path, "v1")
	w := watch(t, path)
	w.waitSeen(t, "v1")
	write(t, path, "v2")
	w.waitSeen(t, "v2")
}

// endlessEvents reports a change at every look.
type endlessEvents struct{}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (endlessEvents) C() <-chan struct{} { return closedChan }
func (endlessEvents) watch([]string)     {}
func (endlessEvents) close()             {}

// TestLoopFallsBackToPolling: without an event source Loop polls every
// interval, as the pollers did before it existed.
func TestLoopFallsBackToPolling(t *testing.T) {
	saved := newEvents
	newEvents = func() (events, error) { return nil, errors.New("no inotify here") }
	t.Cleanup(func() { newEvents = saved })
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	write(t, path, "v1")
	w := watch(t, path)
	if m := <-w.mode; m != ModePoll {
		t.Fatalf("mode %v, want poll", m)
	}
	w.waitPolls(t, 3*Settle) // keeps polling past the settle count
	write(t, path, "v2")
	w.waitSeen(t, "v2")
}

func plainFile(t *testing.T, dir string) string {
	path := filepath.Join(dir, "config.yaml")
	write(t, path, "v1")
	return path
}

func mkdirWrite(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, name), content)
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
