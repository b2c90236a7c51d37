package maintenance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gomaint/maintenance/internal/redact"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Reconnect backoff: doubled after each failure, jittered, and capped low
// enough that a gate is back in sync within 2 s of the store's return.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// connect starts watching the store, loads the state and declares the
// gate's sites. Watching comes first, so a change made in between is
// signalled. The watch lasts until stop is called or the gate closes.
func (g *Gate) connect(ctx context.Context, sites []string) (watch <-chan struct{}, stop context.CancelFunc, st *State, err error) {
	wctx, stop := context.WithCancel(g.ctx)
	watch, err = g.store.Watch(wctx)
	if err != nil {
		stop()
		return nil, nil, nil, fmt.Errorf("watching the store: %w", err)
	}
	fail := func(err error) (<-chan struct{}, context.CancelFunc, *State, error) {
		stop()
		return nil, nil, nil, err
	}
	if st, err = g.store.Load(ctx); err != nil {
		return fail(fmt.Errorf("loading the state: %w", err))
	}
	g.loadKey(ctx)
	var missing []string
	for _, n := range sites {
		if st.Site(n) == nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		c := AddSites(missing...)
		c.Actor, c.Source, c.Reason = Actor(), "gate", "declared by a gate's options"
		if st, err = g.store.Update(ctx, c); err != nil {
			return fail(fmt.Errorf("declaring sites %s: %w", strings.Join(missing, ", "), err))
		}
	}
	return watch, stop, st, nil
}

// run follows the store until ctx is done: it re-reads the state when the
// store signals a change, on every heartbeat (a safety net: no change is
// missed for long), and after reconnecting. While the store fails, the gate
// keeps serving its last snapshot.
func (g *Gate) run(ctx context.Context, watch <-chan struct{}, stop context.CancelFunc, sites []string) {
	defer close(g.done)
	defer g.forget()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	heartbeat := time.NewTicker(GateHeartbeat)
	defer heartbeat.Stop()
	var forgotten <-chan time.Time
	if g.opts.MaxDuration > 0 {
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
		g.setStoreErr(err)
		retry = time.After(jitter(backoff))
		backoff = min(backoff*2, maxBackoff)
	}
	if watch != nil {
		g.beat(ctx)
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
			g.beat(ctx)
			g.flushUses(ctx)
		case <-g.kick:
			// After a swap, report the new version at once: commands
			// that changed the state wait for every gate to serve it
			// (WaitFleet).
			g.beat(ctx)
			continue
		case <-forgotten:
			for _, w := range g.forgotten(time.Now()) {
				g.cfg.logger.Error("maintenance: " + w)
			}
			continue
		}
		retry = nil
		if watch == nil {
			w, cancel, st, err := g.connect(ctx, sites)
			if err != nil {
				failed(err)
				continue
			}
			watch, stop = w, cancel
			g.apply(st)
		} else {
			st, err := g.store.Load(ctx)
			if err != nil {
				failed(fmt.Errorf("loading the state: %w", err))
				continue
			}
			g.loadKey(ctx)
			g.apply(st)
		}
		backoff = minBackoff
	}
}

// apply swaps in a snapshot of st when its version differs from the one
// served, and records that the store is in sync. A version that goes
// backwards (a store restarted without persistence, a restored backup) is
// followed, loudly: the store is what the whole fleet agrees on, and a gate
// that held on to its newer state would split the fleet from the gates that
// start later. It is logged as an error and reported to the registry, where
// `maintenance status` shows it, until the next change.
func (g *Gate) apply(st *State) {
	g.synced.Store(time.Now().UnixNano())
	if was := g.setStoreErr(nil); was != "" {
		g.cfg.logger.Info("maintenance: the store is reachable again", "version", st.Version)
	}
	st = g.checkState(st)
	cur := g.snap.Load()
	if cur != nil && st.Version == cur.version && st.digest() == cur.digest {
		return
	}
	switch {
	case cur != nil && cur.version > 0 && st.Version < cur.version:
		msg := fmt.Sprintf("the store's version went backwards from %d to %d (restarted without persistence, or restored from a backup?); following the store", cur.version, st.Version)
		g.cfg.logger.Error("maintenance: "+msg, "from", cur.version, "to", st.Version)
		g.regressed.Store(&msg)
	case cur != nil && cur.version > 0 && st.Version == cur.version:
		// Same version, other content: the store lost changes and has
		// been changed again since.
		msg := fmt.Sprintf("the store's state at version %d is not the one this gate served (the store lost changes and was changed again?); following the store", st.Version)
		g.cfg.logger.Error("maintenance: "+msg, "version", st.Version)
		g.regressed.Store(&msg)
	case cur != nil && cur.version >= 0:
		g.regressed.Store(nil)
	}
	g.install(st)
	g.saveCache(st)
}

// checkState validates a state read from the store, site by site. A site
// with an invalid value (a hand-edited file store) is served at its last
// valid state, or with the invalid fields at their defaults when the gate
// never had one, and the problem is logged when it appears or changes, and
// reported by health, the metrics (Gate.Problems) and the registry
// (`maintenance gates` and `status`), until the store is repaired. The other
// sites follow the store as usual.
func (g *Gate) checkState(st *State) *State {
	ps := st.Problems()
	var text string
	if len(ps) > 0 {
		text = problemsText(ps)
	}
	prev := g.problems.Swap(&ps)
	if prevText := problemsText(*prev); prevText != text {
		if text != "" {
			g.cfg.logger.Error("maintenance: the store holds invalid values; serving those sites at their last valid state", "version", st.Version, "problems", text)
		} else {
			g.cfg.logger.Info("maintenance: the store's state is valid again", "version", st.Version)
		}
	}
	if len(ps) == 0 {
		return st
	}
	g.buildMu.Lock()
	last := g.last
	g.buildMu.Unlock()
	return st.repaired(ps, last)
}

// Problems returns the invalid values of the state last read from the
// store (see State.Problems), which the gate does not serve; nil when there
// are none.
func (g *Gate) Problems() []Problem {
	if p := g.problems.Load(); p != nil {
		return slices.Clone(*p)
	}
	return nil
}

// install builds and swaps in the snapshot of st as it stands now, and
// arms a timer for its next window boundary, where it builds again: sites go
// down and come back by themselves, on every gate, with no request or store
// change needed. Builds are serialized.
func (g *Gate) install(st *State) { g.installIf(st, nil) }

// installIf is install, done only while the last installed state is still
// prev when prev is not nil: a window timer must not put back a state that a
// newer one replaced while it fired.
func (g *Gate) installIf(st, prev *State) {
	g.buildMu.Lock()
	defer g.buildMu.Unlock()
	if g.closed.Load() || prev != nil && g.last != prev {
		return
	}
	g.last = st
	s := buildSnapshot(st, &g.cfg, time.Now())
	g.swap(s)
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if !s.next.IsZero() {
		g.timer = time.AfterFunc(time.Until(s.next), func() { g.installIf(st, st) })
	}
}

// setStoreErr records the store's state: err, or in sync when nil. It logs
// when the error starts or changes, not on every retry, and returns the
// previous error text.
func (g *Gate) setStoreErr(err error) string {
	var prev string
	if p := g.storeErr.Load(); p != nil {
		prev = *p
	}
	if err == nil {
		g.storeErr.Store(nil)
		return prev
	}
	err = redact.Error(err) // a store URL in an error keeps no password
	msg := err.Error()
	if msg != prev {
		g.cfg.logger.Error("maintenance: the store is unreachable; serving the last state", "version", g.Version(), "err", err)
	}
	g.storeErr.Store(&msg)
	return prev
}

// StoreError returns the last error reaching the store, or else the note
// of a version that went backwards (kept until the next change); nil when
// the gate is in sync.
func (g *Gate) StoreError() error {
	if p := g.storeErr.Load(); p != nil {
		return errors.New(*p)
	}
	if p := g.regressed.Load(); p != nil {
		return errors.New(*p)
	}
	return nil
}

// forgotten returns a warning for each site switched on, with no end, for
// longer than Options.MaxDuration at now.
func (g *Gate) forgotten(now time.Time) []string {
	var ws []string
	for _, s := range g.forgottenSites(now) {
		d := now.Sub(s.ChangedAt)
		ws = append(ws, fmt.Sprintf("site %s has been in maintenance for %s with no end (max duration %s): forgotten? switch it off, or set an end with 'maintenance on --site %s --for DUR'",
			s.Site, d.Round(time.Minute), g.opts.MaxDuration, s.Site))
	}
	return ws
}

func (g *Gate) forgottenSites(now time.Time) []SiteState {
	if g.opts.MaxDuration <= 0 {
		return nil
	}
	g.buildMu.Lock()
	st := g.last
	g.buildMu.Unlock()
	if st == nil {
		return nil
	}
	var out []SiteState
	for _, s := range st.Sites {
		if e := s.Effective(now); e.On && e.Until.IsZero() && !s.ChangedAt.IsZero() && now.Sub(s.ChangedAt) > g.opts.MaxDuration {
			out = append(out, s)
		}
	}
	return out
}

// Forgotten returns the sites in maintenance with no end for longer than
// Options.MaxDuration (none when it is not set), for metrics and alerts.
func (g *Gate) Forgotten() []string {
	var names []string
	for _, s := range g.forgottenSites(time.Now()) {
		names = append(names, s.Site)
	}
	return names
}

// Sites returns the status of every declared site as the gate serves it
// now, sorted by site, for metrics and dashboards.
func (g *Gate) Sites() []Status {
	s := g.snap.Load()
	var out []Status
	s.sites.All(func(_ string, ss *siteSnap) { out = append(out, ss.status.Status) })
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Site, b.Site) })
	return out
}

// Info returns what the gate reports to the store's registry.
func (g *Gate) Info() GateInfo {
	info := GateInfo{ID: g.id, Release: g.opts.Release, Version: g.Version(), Started: g.started, LastSeen: time.Now().UTC(), Warnings: g.forgotten(time.Now())}
	for _, p := range g.Problems() {
		info.Warnings = append(info.Warnings, "invalid value in the store, served at its last valid state: "+p.String())
	}
	info.Host, _ = os.Hostname()
	if err := g.StoreError(); err != nil {
		info.StoreError = err.Error()
	}
	return info
}

// beat sends a heartbeat; a failure is left to the next one.
func (g *Gate) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := g.store.Heartbeat(ctx, g.Info()); err != nil && ctx.Err() == nil {
		g.cfg.logger.Debug("maintenance: heartbeat failed", "err", err)
	}
}

// forget removes the gate from the registry when it stops.
func (g *Gate) forget() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	g.flushUses(ctx)
	g.store.ForgetGate(ctx, g.id)
}

// coldStart returns the state of a gate that starts while the store is
// unreachable: the state cache when there is one, else an empty state (fail
// open) or one with "*" on (fail closed). Its version is -1 unless it comes
// from the cache, so that any state read later replaces it. The caller
// installs it, so that its windows are honoured like any other state's.
func (g *Gate) coldStart(cause error) *State {
	if st, err := g.loadCache(); err == nil {
		g.cfg.logger.Warn("maintenance: the store is unreachable; serving the cached state", "cache", g.opts.StateCache, "version", st.Version, "err", cause)
		return st
	} else if g.opts.StateCache != "" && !errors.Is(err, os.ErrNotExist) {
		g.cfg.logger.Error("maintenance: ignoring the state cache", "cache", g.opts.StateCache, "err", err)
	}
	st := &State{Version: -1}
	st.Normalize()
	policy := "open: every request passes"
	if g.opts.FailClosed {
		st.Sites[0].On, st.Sites[0].Mode = true, ModeFull
		policy = "closed: every request gets the maintenance answer"
	}
	g.cfg.logger.Warn("maintenance: the store is unreachable and there is no cached state; failing "+policy, "err", cause)
	return st
}

// saveCache writes st to the state cache, atomically.
func (g *Gate) saveCache(st *State) {
	path := g.opts.StateCache
	if path == "" {
		return
	}
	err := func() error {
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		if _, err := tmp.Write(b); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), path)
	}()
	if err != nil {
		g.cfg.logger.Error("maintenance: writing the state cache", "cache", path, "err", err)
	}
}

func (g *Gate) loadCache() (*State, error) {
	if g.opts.StateCache == "" {
		return nil, os.ErrNotExist
	}
	b, err := os.ReadFile(g.opts.StateCache)
	if err != nil {
		return nil, err
	}
	st := &State{}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("reading %s: %w", g.opts.StateCache, err)
	}
	st.Normalize()
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", g.opts.StateCache, err)
	}
	return st, nil
}

// gateID names a running gate: host, process and a random part.
func gateID() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

func jitter(d time.Duration) time.Duration {
	return d/2 + mrand.N(d/2+1)
}
