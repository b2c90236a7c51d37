package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gomaint/maintenance"
)

// Watch returns a channel that receives a value soon after any change to the
// database, made through this Store, another one or another process. It
// polls PRAGMA data_version every PollInterval on a connection of its own.
// Values are coalesced (the channel holds at most one); after an error the
// connection is opened again and a value is sent, since a change may have
// been missed. The channel is closed when ctx is done or the store is closed.
// Watch returns an error wrapping maintenance.ErrClosed after Close.
func (s *Store) Watch(ctx context.Context) (<-chan struct{}, error) {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil, s.wrap("watching", maintenance.ErrClosed)
	}
	s.watchers.Add(1)
	s.mu.Unlock()

	// The first version is read now, so that no change made after Watch
	// returns is missed.
	conn, version, err := s.watchConn(ctx)
	if err != nil {
		s.watchers.Done()
		return nil, s.wrap("watching", err)
	}
	ch := make(chan struct{}, 1)
	go s.watch(ctx, conn, version, ch)
	return ch, nil
}

// watchConn takes a connection from the pool for a watcher and reads its
// data_version.
func (s *Store) watchConn(ctx context.Context) (*sql.Conn, int64, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("opening a connection: %w", err)
	}
	v, err := dataVersion(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, 0, err
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

// watch polls until ctx is done or the store is closed, then closes ch.
// Errors are not fatal: the connection is dropped and opened again at the
// next tick.
func (s *Store) watch(ctx context.Context, conn *sql.Conn, version int64, ch chan<- struct{}) {
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
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		changed := false
		if conn == nil {
			c, v, err := s.watchConn(ctx)
			if err != nil {
				continue
			}
			conn, version, changed = c, v, true
		} else {
			v, err := dataVersion(ctx, conn)
			if err != nil {
				conn.Close()
				conn = nil
				continue
			}
			changed = v != version
			version = v
		}
		if changed {
			select {
			case ch <- struct{}{}:
			default: // a value is pending already: it stands for this change too
			}
		}
	}
}
