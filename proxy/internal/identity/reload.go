package identity

import (
	"errors"
	"time"

	"github.com/meshbench/meshbench/proxy/internal/filewatch"
)

// DefaultPollInterval is how often Start checks the files while they may be
// changing (see filewatch.Loop), when given no interval: rotation takes
// effect within one interval plus a file read.
const DefaultPollInterval = 200 * time.Millisecond

// reportAfter is how many consecutive polls must see the same bad content
// before it is reported. Writers that update the files one at a time leave
// an inconsistent set for a moment on every rotation; only content that
// stays bad is worth a log line.
const reportAfter = 2

// Start polls the files every interval (DefaultPollInterval if interval <= 0)
// while they may be changing — after a kernel event on their directories,
// while they hold a certificate not valid yet, and always where there are no
// such events (filewatch.Loop) — and installs new material when their
// content changes and validates. A set
// that does not validate is left alone and tried again on the next poll; the
// old material stays in use. onReload (may be nil) is called after each
// reload; onError (may be nil) once for each distinct bad content that
// persists for two polls in a row. Both run on the polling goroutine and must
// not call Stop. Start on a Source that is already polling does nothing.
func (s *Source) Start(interval time.Duration, onReload func(), onError func(error)) {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		return
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.run(interval, onReload, onError, s.stop, s.done)
}

// Stop stops polling and waits for the poller to return, so no callback runs
// after it. The current material stays in use. Stop may be called more than
// once; Start may be called again afterwards.
func (s *Source) Stop() {
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.stop, s.done = nil, nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

func (s *Source) run(interval time.Duration, onReload func(), onError func(error), stop, done chan struct{}) {
	defer close(done)
	var st pollState
	paths := []string{s.files.cert, s.files.key, s.files.ca}
	filewatch.Loop(stop, paths, interval, func() bool { return s.poll(&st, onReload, onError) }, nil)
}

// pollState is what the poller remembers between polls: the last bad content
// and how many polls in a row have seen it.
type pollState struct {
	badSum   [32]byte
	badPolls int
}

// poll checks the files once. Content is compared by hash, not modification
// time: a Kubernetes Secret volume swaps a symlink to a new directory, and a
// copy can preserve mtimes. It reports retry when the files hold a
// certificate that is not valid yet (an issuer's clock ahead of this node's):
// that heals with time, not with a file change, so it must be polled again.
func (s *Source) poll(st *pollState, onReload func(), onError func(error)) (retry bool) {
	c, sum, err := s.files.read()
	if err == nil && sum == s.cur.Load().sum {
		st.badPolls = 0
		return false
	}
	var m *material
	if err == nil {
		m, err = s.files.build(c, sum, time.Now())
	}
	if err == nil {
		s.install(m)
		st.badPolls = 0
		if onReload != nil {
			onReload()
		}
		return false
	}
	if sum != st.badSum || st.badPolls == 0 {
		st.badSum, st.badPolls = sum, 0
	}
	st.badPolls++
	if st.badPolls == reportAfter && onError != nil {
		onError(err)
	}
	var early *notYetValidError
	return errors.As(err, &early)
}
