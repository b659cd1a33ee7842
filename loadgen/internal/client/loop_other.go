//go:build !linux

package client

import (
	"context"
	"errors"
	"time"
)

// Pacer tells the epoll engine when requests are due and takes their
// outcomes (see loop_linux.go).
type Pacer interface {
	Next(c, k int) (due time.Time, ok bool)
	Done(c int, due, sent, done time.Time, status int, err error)
}

// EpollCapable is false off Linux: the goroutine engine runs everything.
func EpollCapable(Options) bool { return false }

// RunEpoll is unavailable off Linux.
func RunEpoll(context.Context, Options, int, int, Pacer) (uint64, error) {
	return 0, errors.New("meshload client: the epoll engine needs Linux")
}
