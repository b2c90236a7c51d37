package maintenance

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gomaint/maintenance/internal/redact"
)

// follower keeps a gate in step with its store, from New until Close.
//
// It watches the store, and reads the whole state again when the store
// signals a change, on every heartbeat (GateHeartbeat: a safety net, so
// that no change is missed for long) and after reconnecting; it hands each
// state read to its gate (Gate.apply), which swaps in a new snapshot when
// the state differs from the one served. When the store fails (a read, or
// the watch ends), the follower keeps the error for Gate.StoreError, logs it
// once when it starts or changes, and retries after a jittered backoff from
// minBackoff doubling to maxBackoff, reconnecting (watch, load, declare the
// gate's sites) when the watch was lost; meanwhile the gate keeps serving
// its last snapshot. The follower also reports the gate to the store's
// registry: a heartbeat every GateHeartbeat and at once after each swap
// (commands that changed the state wait for every gate to serve it), the
// bypass link uses counted since the last heartbeat, a warning every minute
// for sites in maintenance longer than Options.MaxDuration, and, when it
// stops, the removal of the gate from the registry.
type follower struct {
	g     *Gate
	store Store
	// sites are the gate's Options.Sites, declared at each connection.
	sites []string
	// storeErr is the last error reaching the store; nil when in sync.
	storeErr atomic.Pointer[string]
	// synced is when the state was last read from the store (Unix ns).
	synced atomic.Int64
	// kick asks for a heartbeat (after a swap).
	kick chan struct{}
	// done is closed when run returns.
	done chan struct{}
}

func newFollower(g *Gate, store Store) *follower {
	return &follower{g: g, store: store, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// Reconnect backoff: doubled after each failure, jittered, and capped low
// enough that a gate is back in sync within 2 s of the store's return.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// connect starts watching the store, loads the state and declares the
// gate's sites. Watching comes first, so a change made in between is
// signalled. The watch lasts until stop is called or the gate closes.
func (f *follower) connect(ctx context.Context) (watch <-chan struct{}, stop context.CancelFunc, st *State, err error) {
	wctx, stop := context.WithCancel(f.g.ctx)
	watch, err = f.store.Watch(wctx)
	if err != nil {
		stop()
		return nil, nil, nil, fmt.Errorf("watching the store: %w", err)
	}
	fail := func(err error) (<-chan struct{}, context.CancelFunc, *State, error) {
		stop()
		return nil, nil, nil, err
	}
	if st, err = f.store.Load(ctx); err != nil {
		return fail(fmt.Errorf("loading the state: %w", err))
	}
	f.g.loadKey(ctx)
	var missing []string
	for _, n := range f.sites {
		if st.Site(n) == nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		c := AddSites(missing...)
		c.Actor, c.Source, c.Reason = Actor(), "gate", "declared by a gate's options"
		if st, err = f.store.Update(ctx, c); err != nil {
			return fail(fmt.Errorf("declaring sites %s: %w", strings.Join(missing, ", "), err))
		}
	}
	return watch, stop, st, nil
}

// run follows the store until ctx is done (see follower), starting from a
// watch that connect returned, or none when it failed.
func (f *follower) run(ctx context.Context, watch <-chan struct{}, stop context.CancelFunc) {
	defer close(f.done)
	defer f.forget()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	heartbeat := time.NewTicker(GateHeartbeat)
	defer heartbeat.Stop()
	var forgotten <-chan time.Time
	if f.g.opts.MaxDuration > 0 {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		forgotten = t.C
	}
	backoff := minBackoff
	var retry <-chan time.Time
	failed := func(err error) {
		if ctx.Err() != nil {
			return // the gate is closing: a read it cut short is no outage
		}
		f.setStoreErr(err)
		retry = time.After(jitter(backoff))
		backoff = min(backoff*2, maxBackoff)
	}
	if watch != nil {
		f.beat(ctx)
	} else {
		retry = time.After(jitter(backoff))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-watch:
			if !ok {
				if ctx.Err() != nil {
					return
				}
				stop()
				watch, stop = nil, nil
				failed(errors.New("the store stopped the watch"))
				continue
			}
		case <-retry:
		case <-heartbeat.C:
			f.beat(ctx)
			f.g.flushUses(ctx)
		case <-f.kick:
			// After a swap, report the new version at once: commands
			// that changed the state wait for every gate to serve it
			// (WaitFleet).
			f.beat(ctx)
			continue
		case <-forgotten:
			for _, w := range f.g.forgotten(time.Now()) {
				f.g.cfg.logger.Error("maintenance: " + w)
			}
			continue
		}
		retry = nil
		if watch == nil {
			w, cancel, st, err := f.connect(ctx)
			if err != nil {
				failed(err)
				continue
			}
			watch, stop = w, cancel
			f.read(st)
		} else {
			st, err := f.store.Load(ctx)
			if err != nil {
				failed(fmt.Errorf("loading the state: %w", err))
				continue
			}
			f.g.loadKey(ctx)
			f.read(st)
		}
		backoff = minBackoff
	}
}

// read records that the store was read in sync, and hands st to the gate.
func (f *follower) read(st *State) {
	f.synced.Store(time.Now().UnixNano())
	if was := f.setStoreErr(nil); was != "" {
		f.g.cfg.logger.Info("maintenance: the store is reachable again", "version", st.Version)
	}
	f.g.apply(st)
}

// setStoreErr records the store's state: err, or in sync when nil. It logs
// when the error starts or changes, not on every retry, and returns the
// previous error text.
func (f *follower) setStoreErr(err error) string {
	var prev string
	if p := f.storeErr.Load(); p != nil {
		prev = *p
	}
	if err == nil {
		f.storeErr.Store(nil)
		return prev
	}
	err = redact.Error(err) // a store URL in an error keeps no password
	msg := err.Error()
	if msg != prev {
		f.g.cfg.logger.Error("maintenance: the store is unreachable; serving the last state", "version", f.g.Version(), "err", err)
	}
	f.storeErr.Store(&msg)
	return prev
}

// beat sends a heartbeat; a failure is left to the next one.
func (f *follower) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := f.store.Heartbeat(ctx, f.g.Info()); err != nil && ctx.Err() == nil {
		f.g.cfg.logger.Debug("maintenance: heartbeat failed", "err", err)
	}
}

// forget removes the gate from the registry when it stops.
func (f *follower) forget() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	f.g.flushUses(ctx)
	f.store.ForgetGate(ctx, f.g.id)
}

func jitter(d time.Duration) time.Duration {
	return d/2 + mrand.N(d/2+1)
}
