package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gomaint/maintenance"
)

// Watch returns a channel that receives a value soon after any change to the
// state, made through this Store, another one or another process. It polls
// PRAGMA data_version every PollInterval on a connection of its own; when it
// moved (another connection committed something), it reads the state's
// version, and signals only when that changed too: heartbeats, which write
// the gates table only, wake no watcher. Values are coalesced (the channel
// holds at most one); after an error the connection is opened again and a
// value is sent, since a change may have been missed. The channel is closed
// when ctx is done or the store is closed. Watch returns an error wrapping
// maintenance.ErrClosed after Close.
func (s *Store) Watch(ctx context.Context) (<-chan struct{}, error) {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil, s.wrap("watching", maintenance.ErrClosed)
	}
	s.watchers.Add(1)
	s.mu.Unlock()

	// The first versions are read now, so that no change made after Watch
	// returns is missed.
	conn, v, err := s.watchConn(ctx)
	if err != nil {
		s.watchers.Done()
		return nil, s.wrap("watching", err)
	}
	ch := make(chan struct{}, 1)
	go s.watch(ctx, conn, v, ch)
	return ch, nil
}

// versions is what a watcher compares between polls.
type versions struct {
	// data is PRAGMA data_version: it moves whenever another connection
	// commits, whatever it wrote.
	data int64
	// state is the state's version: it moves with every change.
	state int64
}

// watchConn takes a connection from the pool for a watcher and reads its
// versions.
func (s *Store) watchConn(ctx context.Context) (*sql.Conn, versions, error) {
	conn, err := s.db().Conn(ctx)
	if err != nil {
		return nil, versions{}, fmt.Errorf("opening a connection: %w", err)
	}
	var v versions
	if v.data, err = dataVersion(ctx, conn); err == nil {
		v.state, err = stateVersion(ctx, conn)
	}
	if err != nil {
		conn.Close()
		return nil, versions{}, err
	}
	return conn, v, nil
}

func dataVersion(ctx context.Context, conn *sql.Conn) (int64, error) {
	var v int64
	if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading data_version: %w", err)
	}
	return v, nil
}

func stateVersion(ctx context.Context, conn *sql.Conn) (int64, error) {
	var v int64
	if err := conn.QueryRowContext(ctx, `SELECT version FROM state WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the state version: %w", err)
	}
	return v, nil
}

// poll reads the versions again on conn and reports whether the state
// changed since last. data_version is read first: a commit after it moves it
// again for the next poll, so a change is never missed.
func poll(ctx context.Context, conn *sql.Conn, last versions) (versions, bool, error) {
	data, err := dataVersion(ctx, conn)
	if err != nil || data == last.data {
		return last, false, err
	}
	state, err := stateVersion(ctx, conn)
	if err != nil {
		return last, false, err
	}
	return versions{data: data, state: state}, state != last.state, nil
}

// watch polls until ctx is done or the store is closed, then closes ch.
// Errors are not fatal: the connection is dropped and opened again at the
// next tick.
func (s *Store) watch(ctx context.Context, conn *sql.Conn, last versions, ch chan<- struct{}) {
	ctx, stop := context.WithCancel(ctx)
	unlink := context.AfterFunc(s.ctx, stop)
	defer func() {
		unlink()
		stop()
		if conn != nil {
			conn.Close()
		}
		close(ch)
		s.watchers.Done()
	}()
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	missing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// The path may name another file now, or none: a watcher on a
		// file that was replaced would never see a change again.
		reopened, err := s.follow()
		if err != nil || reopened {
			if conn != nil {
				conn.Close()
				conn = nil
			}
		}
		if err != nil {
			// Once: the receiver reads the store, gets the error and
			// shows the store as unreachable.
			if !missing {
				missing = true
				signal(ch)
			}
			continue
		}
		missing = false
		changed := false
		if conn == nil {
			c, v, err := s.watchConn(ctx)
			if err != nil {
				continue
			}
			conn, last, changed = c, v, true
		} else {
			v, moved, err := poll(ctx, conn, last)
			if err != nil {
				conn.Close()
				conn = nil
				continue
			}
			last, changed = v, moved
		}
		if changed {
			signal(ch)
		}
	}
}

// signal sends a value on ch unless one is pending already, which then
// stands for this change too.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
