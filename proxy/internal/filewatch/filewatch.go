// Package filewatch runs a file poller only while its files may be changing,
// so an idle proxy does not wake up several times a second to re-read a
// config and three identity files that have not changed.
//
// The pollers keep their own logic (read, hash, compare, validate, report
// content that stays bad): Loop only decides when they run. Where the kernel
// can report changes (inotify on Linux), Loop parks until something happens
// in a directory that holds one of the files, then polls every interval until
// Settle polls in a row have run with no further event, and parks again.
// Where it cannot, Loop polls every interval forever, as the pollers did
// before.
//
// Directories, not files, are watched: a file replaced by rename (editors,
// `kubectl cp`, atomic writers) or a Kubernetes ConfigMap/Secret volume (its
// files are symlinks through `..data`, which the kubelet swaps) changes the
// directory's entries, and a watch on the old file would go deaf after the
// first replacement. Both the directory of each path as written and the
// directory of the file it resolves to are watched, re-resolved after every
// event, so a symlink to a file elsewhere that is edited in place is seen too.
package filewatch

import (
	"path/filepath"
	"time"
)

// Settle is how many polls in a row, each an interval apart, run after the
// last event before Loop parks again. Writers that update several files one
// at a time (cert, then key) leave an inconsistent set for a moment, and a
// poller that reports content only when it stays bad for two polls (see
// identity.Source) needs two polls of the settled content.
const Settle = 3

// Mode says how Loop learns about changes.
type Mode int

const (
	ModeEvents Mode = iota // kernel events (inotify): no wake-ups while nothing changes
	ModePoll               // a ticker: poll every interval (no event source here)
)

func (m Mode) String() string {
	if m == ModeEvents {
		return "events"
	}
	return "poll"
}

// events is a source of "something changed in a watched directory"
// notifications: C receives (coalesced) after each batch of events, and
// watch adds directories (again: adding a watched one is harmless).
type events interface {
	C() <-chan struct{}
	watch(dirs []string)
	close()
}

// newEvents opens the platform's event source; an error means Loop polls.
// A variable so tests can take the fallback path on Linux.
var newEvents = openEvents

// Loop calls poll whenever the files at paths may have changed, until stop
// is closed. It runs on the caller's goroutine, so poll never runs
// concurrently with itself; started (may be nil) is told the Mode before the
// first wait. poll returns retry = true when what it read cannot be used yet
// but may become usable with no change to the files (a certificate that is
// not valid until a moment from now): Loop then keeps polling every interval
// until poll stops asking. Content that is wrong until someone changes the
// files needs no retry: the change is an event.
func Loop(stop <-chan struct{}, paths []string, interval time.Duration, poll func() (retry bool), started func(Mode)) {
	ev, err := newEvents()
	if err != nil {
		if started != nil {
			started(ModePoll)
		}
		pollForever(stop, interval, poll)
		return
	}
	defer ev.close()
	ev.watch(dirsOf(paths))
	if started != nil {
		started(ModeEvents)
	}
	t := time.NewTimer(interval)
	t.Stop()
	// Start as if a change had just been reported: a file replaced between
	// the caller's first read and the watch being set up is caught here.
	for {
		// Changing: poll every interval until Settle polls have run since
		// the last event. An event does not delay the next poll, so a
		// directory that never stops changing (a log beside the config)
		// gets a poll every interval, as without events, not none.
		for quiet := 0; quiet < Settle; {
			t.Reset(interval)
		wait:
			for {
				select {
				case <-stop:
					t.Stop()
					return
				case <-ev.C():
					quiet = 0
				case <-t.C:
					break wait
				}
			}
			// A symlink swap may have moved a file to a new directory.
			ev.watch(dirsOf(paths))
			if poll() {
				quiet = 0
				continue
			}
			quiet++
		}
		// Parked: no timer, no wake-up until the kernel reports a change.
		select {
		case <-stop:
			return
		case <-ev.C():
		}
	}
}

func pollForever(stop <-chan struct{}, interval time.Duration, poll func() bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			poll()
		}
	}
}

// dirsOf returns the directory of each path and of the file it resolves
// to, without repeats.
func dirsOf(paths []string) []string {
	var dirs []string
	add := func(d string) {
		for _, x := range dirs {
			if x == d {
				return
			}
		}
		dirs = append(dirs, d)
	}
	for _, p := range paths {
		add(filepath.Dir(p))
		if r, err := filepath.EvalSymlinks(p); err == nil {
			add(filepath.Dir(r))
		}
	}
	return dirs
}
