package filewatch

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// dirMask is what changes a watched file's content or which file a watched
// name refers to: written and closed, modified, created, renamed in or out,
// deleted, attributes (a symlink's target swapped in place by some tools).
const dirMask = unix.IN_CLOSE_WRITE | unix.IN_MODIFY | unix.IN_CREATE | unix.IN_MOVED_TO |
	unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

// inotify reads an inotify descriptor on its own goroutine. The descriptor is
// non-blocking and wrapped in an *os.File, so the read parks in Go's poller
// (no thread, no wake-up) and close unblocks it.
type inotify struct {
	f    *os.File
	fd   int
	c    chan struct{}
	done chan struct{}
}

func openEvents() (events, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	in := &inotify{f: os.NewFile(uintptr(fd), "inotify"), fd: fd, c: make(chan struct{}, 1), done: make(chan struct{})}
	go in.read()
	return in, nil
}

func (in *inotify) C() <-chan struct{} { return in.c }

// watch adds dirs; a directory that cannot be watched (gone, no permission)
// is skipped: its files are still read by every poll that other events cause.
func (in *inotify) watch(dirs []string) {
	for _, d := range dirs {
		_, _ = unix.InotifyAddWatch(in.fd, d, dirMask)
	}
}

// read turns each batch of events into one coalesced notification. What
// changed does not matter: the poller re-reads and compares content.
func (in *inotify) read() {
	defer close(in.done)
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := in.f.Read(buf)
		if err != nil {
			return // closed
		}
		if n > 0 {
			select {
			case in.c <- struct{}{}:
			default: // one notification is already pending
			}
		}
	}
}

func (in *inotify) close() {
	_ = in.f.Close()
	<-in.done
}
