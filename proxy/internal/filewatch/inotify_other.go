//go:build !linux

package filewatch

import "errors"

// openEvents has no event source outside Linux: Loop polls.
func openEvents() (events, error) {
	return nil, errors.New("file change events are implemented for Linux (inotify) only")
}
