//go:build unix && !aix

package file

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lock takes the exclusive flock(2) lock on the file at path, creating the
// file when it is missing, and returns the function that releases it. While
// another process, or another Store or goroutine of this one, holds the lock,
// it waits until ctx is done.
func lock(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, newFileMode)
	if err != nil {
		return nil, fmt.Errorf("opening the lock file: %w", err)
	}
	fd := int(f.Fd())
	release := func() {
		unix.Flock(fd, unix.LOCK_UN)
		f.Close()
	}
	err = flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		return release, nil
	}
	if err != unix.EWOULDBLOCK {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// Wait in the kernel, which wakes a waiter as soon as the lock is free.
	// A flock cannot be interrupted, so when ctx is done first the waiting
	// goroutine is left to take the lock and drop it at once.
	locked := make(chan error, 1)
	go func() { locked <- flock(fd, unix.LOCK_EX) }()
	select {
	case err := <-locked:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		return release, nil
	case <-ctx.Done():
		go func() {
			if err := <-locked; err == nil {
				release()
			} else {
				f.Close()
			}
		}()
		return nil, fmt.Errorf("waiting for the lock on %s: %w", path, ctx.Err())
	}
}

// flock is unix.Flock, retried when a signal interrupts it.
func flock(fd, how int) error {
	for {
		if err := unix.Flock(fd, how); err != unix.EINTR {
			return err
		}
	}
}
