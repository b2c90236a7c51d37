package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gomaint/maintenance"
)

// Reconnection and health-check timing of watchers.
const (
	// minBackoff and maxBackoff bound the wait between two attempts to
	// reconnect a watcher: it doubles from minBackoff at each failure, so a
	// watcher is subscribed again within about maxBackoff of the server's
	// return.
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
	// confirmTimeout bounds the wait for the subscription's confirmation.
	confirmTimeout = 5 * time.Second
)

// healthCheck is how long a watcher's connection may stay silent before it
// is pinged; a connection that does not answer within another healthCheck
// is replaced. This finds connections that died without being closed (a
// lost network), which reads alone never notice. Tests lower it.
var healthCheck = 15 * time.Second

// Watch returns a channel that receives a value soon after any change, made
// through this Store, another one or another process: it subscribes to the
// store's channel on a connection of its own, and returns once Redis has
// confirmed the subscription, so that no change published after Watch
// returns is missed. Values are coalesced (the channel holds at most one).
//
// When the connection drops, the watcher sends a value at once (the
// receiver's next Load reports the outage), reconnects with a backoff (50 ms
// doubling to 1 s) and, once subscribed again, sends a value, since a change
// may have been published while it was away. The channel is closed when ctx
// is done or the store is closed, never because of a connection error.
// Watch returns an error wrapping maintenance.ErrClosed after Close, and an
// error when the subscription cannot be made.
func (s *Store) Watch(ctx context.Context) (<-chan struct{}, error) {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil, s.wrap("watching", maintenance.ErrClosed)
	}
	s.watchers.Add(1)
	s.mu.Unlock()

	ps, err := s.subscribe(ctx)
	if err != nil {
		s.watchers.Done()
		return nil, s.wrap("watching", err)
	}
	ch := make(chan struct{}, 1)
	go s.watch(ctx, ps, ch, healthCheck)
	return ch, nil
}

// subscribe subscribes a new connection to the store's channel and waits for
// Redis to confirm it.
func (s *Store) subscribe(ctx context.Context) (*goredis.PubSub, error) {
	ps := s.client.Subscribe(ctx, s.channel)
	for {
		msg, err := ps.ReceiveTimeout(ctx, confirmTimeout)
		if err != nil {
			ps.Close()
			return nil, fmt.Errorf("subscribing to %s: %w", s.channel, err)
		}
		if m, ok := msg.(*goredis.Subscription); ok && m.Kind == "subscribe" && m.Channel == s.channel {
			return ps, nil
		}
	}
}

// watch receives on ps until ctx is done or the store is closed, then closes
// ch. Connection errors are not fatal: go-redis dials again and subscribes
// again at the next receive, and the confirmation that arrives then is
// signalled as a change. A connection silent for healthCheck is pinged.
func (s *Store) watch(ctx context.Context, ps *goredis.PubSub, ch chan<- struct{}, healthCheck time.Duration) {
	ctx, stop := context.WithCancel(ctx)
	unlink := context.AfterFunc(s.ctx, stop)

	// A receive blocks in a read that only closing the connection ends.
	// ps is replaced by this goroutine only, under mu.
	var mu sync.Mutex
	closeSub := func() {
		mu.Lock()
		ps.Close()
		mu.Unlock()
	}
	context.AfterFunc(ctx, closeSub)
	defer func() {
		unlink()
		stop()
		closeSub()
		close(ch)
		s.watchers.Done()
	}()

	backoff := minBackoff
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthCheck)
		if ctx.Err() != nil {
			return
		}
		var ne net.Error
		switch {
		case err == nil:
			pinged = false
		case errors.As(err, &ne) && ne.Timeout() && !pinged:
			// Silent for a while: make sure the connection is alive. A
			// failed write makes go-redis dial again.
			pinged = true
			_ = ps.Ping(ctx)
			continue
		case errors.As(err, &ne) && ne.Timeout():
			// No answer to the ping: the connection is dead though still
			// open. Start over on a new one.
			pinged = false
			mu.Lock()
			ps.Close()
			ps = s.client.Subscribe(ctx, s.channel)
			mu.Unlock()
			if ctx.Err() != nil {
				return // closeSub may have run before ps was replaced
			}
			continue
		default:
			// The connection dropped, or dialing again failed: say so at
			// once, so that the receiver reads the store and finds it
			// unreachable (within the second, not at its next periodic
			// read), then wait, and receive again, which dials again and
			// subscribes again.
			pinged = false
			notify(ch)
			if !sleep(ctx, jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		switch m := msg.(type) {
		case *goredis.Message:
			notify(ch)
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				// Subscribed again after a reconnection: a change
				// may have been published while the connection was down.
				backoff = minBackoff
				notify(ch)
			}
		}
	}
}

// notify sends a value on ch unless one is pending already, which then
// stands for this change too.
func notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// sleep waits for d, or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter returns a random duration between d/2 and d, so that watchers that
// lost the server together do not all dial it again at the same instant.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}
