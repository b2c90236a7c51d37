package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gomaint/maintenance"
)

// Reconnection and liveness of the LISTEN connection.
const (
	// minBackoff and maxBackoff bound the wait between two failed connection
	// attempts; each wait is jittered. The first attempt after a connection
	// is lost is immediate, and with maxBackoff at 1 s a watcher is back
	// within about a second of the server's return.
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
	// listenTimeout bounds the LISTEN command, and pingTimeout a check of an
	// idle connection.
	listenTimeout = 5 * time.Second
	pingTimeout   = 5 * time.Second
)

// idleCheck is how long the listener waits for a notification before it
// checks that its connection still works: a connection to a server that
// vanished without closing it would otherwise wait forever. Open copies it
// into the Store; tests shorten it.
var idleCheck = 30 * time.Second

// watcher is one Watch call's channel.
type watcher struct {
	ch   chan struct{}
	stop func() bool // unregisters the context.AfterFunc that ends it
}

// Watch returns a channel that receives a value soon after any change, made
// through this Store, another one or another process, and after the store's
// connection to the server was lost and is back, since a change may have
// been missed meanwhile. Values are coalesced: the channel holds at most one.
// The channel is closed when ctx is done or the store is closed, never
// because the server is unreachable; when the connection is lost, a value
// is sent at once, so that the receiver's next Load reports the outage.
//
// All the watchers of a Store share one dedicated connection that LISTENs on
// the schema's channel; it is opened by the first Watch and kept until
// Close. When it is lost, it is opened again at once, then after waits that
// grow from 50 ms to 1 s, jittered; each success sends a value to every
// watcher. Watch returns once LISTEN is in effect, so that a change committed
// after it returns is signalled. When the connection is down, Watch makes one
// attempt to connect and returns its error if it fails. After Close it
// returns an error wrapping maintenance.ErrClosed.
func (s *Store) Watch(ctx context.Context) (<-chan struct{}, error) {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil, s.wrap("watching", maintenance.ErrClosed)
	}
	if !s.listening {
		s.listening = true
		s.done.Add(1)
		go s.listen()
	}
	s.mu.Unlock()

	tried := false
	for {
		s.mu.Lock()
		switch {
		case s.closed.Load():
			s.mu.Unlock()
			return nil, s.wrap("watching", maintenance.ErrClosed)
		case s.up:
			w := &watcher{ch: make(chan struct{}, 1)}
			s.watchers[w] = struct{}{}
			w.stop = context.AfterFunc(ctx, func() { s.unwatch(w) })
			s.mu.Unlock()
			return w.ch, nil
		case tried:
			err := s.lerr
			s.mu.Unlock()
			return nil, s.wrap("watching", err)
		}
		attempt := s.attempt
		s.mu.Unlock()
		select {
		case s.kick <- struct{}{}:
		default:
		}
		select {
		case <-attempt:
			tried = true
		case <-ctx.Done():
			return nil, s.wrap("watching", ctx.Err())
		case <-s.ctx.Done():
			return nil, s.wrap("watching", maintenance.ErrClosed)
		}
	}
}

// unwatch closes w's channel, unless Close did it already.
func (s *Store) unwatch(w *watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.watchers[w]; ok {
		delete(s.watchers, w)
		close(w.ch)
	}
}

// signal sends a value to every watcher that has none pending. The caller
// holds s.mu.
func (s *Store) signal() {
	for w := range s.watchers {
		select {
		case w.ch <- struct{}{}:
		default: // a value is pending already: it stands for this change too
		}
	}
}

// listen keeps a connection that LISTENs on the store's channel until Close,
// and signals the watchers at every notification and every reconnection.
// Watchers are only added while the connection is up, so the first
// connection has nobody to signal.
func (s *Store) listen() {
	defer s.done.Done()
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.up = false
		for w := range s.watchers {
			w.stop()
			delete(s.watchers, w)
			close(w.ch)
		}
	}()
	backoff := minBackoff
	failures := 0
	lost := false // a connection was lost, and none made since
	for {
		conn, err := s.connectListener(s.ctx)
		s.mu.Lock()
		s.up, s.lerr = err == nil, err
		close(s.attempt)
		s.attempt = make(chan struct{})
		// A failed attempt is signalled too: the watchers' next Load then
		// finds the server gone, even when it came back and went away
		// again while this listener was waiting to reconnect.
		s.signal()
		s.mu.Unlock()
		if s.ctx.Err() != nil {
			if conn != nil {
				closeConn(conn)
			}
			return
		}
		if err != nil {
			if lost && failures == 0 {
				// The server itself is unreachable, not just this
				// connection: the pooled connections are as dead.
				s.pool.Reset()
			}
			failures++
			t := time.NewTimer(jitter(backoff))
			select {
			case <-t.C:
			case <-s.kick:
				t.Stop()
			case <-s.ctx.Done():
				t.Stop()
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff, failures = minBackoff, 0
		err = s.receive(conn)
		closeConn(conn)
		lost = true
		s.mu.Lock()
		s.up, s.lerr = false, fmt.Errorf("listening: connection lost: %w", err)
		// Say so at once: the watchers' next Load finds the server gone
		// and reports it, within the second rather than at a periodic read.
		s.signal()
		s.mu.Unlock()
		if s.ctx.Err() != nil {
			return
		}
	}
}

// connectListener opens a connection and LISTENs on the store's channel.
func (s *Store) connectListener(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.listenConfig)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	lctx, cancel := context.WithTimeout(ctx, listenTimeout)
	defer cancel()
	if _, err := conn.Exec(lctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("listening: %w", err)
	}
	return conn, nil
}

// receive waits for notifications on conn and signals the watchers, until
// the connection fails or the store is closed.
func (s *Store) receive(conn *pgx.Conn) error {
	for {
		ctx, cancel := context.WithTimeout(s.ctx, s.idleCheck)
		_, err := conn.WaitForNotification(ctx)
		cancel()
		if err == nil {
			s.mu.Lock()
			s.signal()
			s.mu.Unlock()
			continue
		}
		if s.ctx.Err() != nil || conn.IsClosed() || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		// Quiet for s.idleCheck: make sure the server is still there.
		pctx, cancel := context.WithTimeout(s.ctx, pingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}

// closeConn closes a listener's connection, without waiting long for a
// server that may be gone.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// jitter returns a duration between d/2 and d.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}
