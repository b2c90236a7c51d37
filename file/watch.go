package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Watch returns a channel that receives a value soon after the file changes,
// through this Store, another one or another process. It compares the file's
// os.Stat every PollInterval: identity (os.SameFile: a write replaces the
// file), modification time and size, and whether it exists. Values are
// coalesced (the channel holds at most one). An error from os.Stat is
// retried at the next tick, and a value is sent when it clears, since a
// change may have been missed. The channel is closed when ctx is done or the
// store is closed. Watch returns an error wrapping maintenance.ErrClosed
// after Close.
func (s *Store) Watch(ctx context.Context) (<-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, s.errClosed("watching")
	}
	// The first stat is taken now, so that no change made after Watch
	// returns is missed.
	fi, err := stat(s.path)
	if err != nil {
		return nil, fmt.Errorf("watching: %w", err)
	}
	ch := make(chan struct{}, 1)
	s.watchers.Add(1)
	go s.watch(ctx, fi, ch)
	return ch, nil
}

// stat returns the file's metadata, nil when it does not exist.
func stat(path string) (os.FileInfo, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return fi, err
}

// sameFile reports whether a and b, from stat, describe the same content.
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// watch polls until ctx is done or the store is closed, then closes ch.
func (s *Store) watch(ctx context.Context, last os.FileInfo, ch chan<- struct{}) {
	ctx, stop := context.WithCancel(ctx)
	unlink := context.AfterFunc(s.ctx, stop)
	defer func() {
		unlink()
		stop()
		close(ch)
		s.watchers.Done()
	}()
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	failed := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		fi, err := stat(s.path)
		if err != nil {
			failed = true
			continue
		}
		changed := failed || !sameFile(last, fi)
		last, failed = fi, false
		if changed {
			select {
			case ch <- struct{}{}:
			default: // a value is pending already: it stands for this change too
			}
		}
	}
}
