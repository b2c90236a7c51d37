package maintenance

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// apply swaps in a snapshot of st, a state the follower read from the
// store, when its version differs from the one served. A version that goes
// backwards (a store restarted without persistence, a restored backup) is
// followed, loudly: the store is what the whole fleet agrees on, and a gate
// that held on to its newer state would split the fleet from the gates that
// start later. It is logged as an error and reported to the registry, where
// `maintenance status` shows it, until the next change.
func (g *Gate) apply(st *State) {
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

// StoreError returns the last error reaching the store, or else the note
// of a version that went backwards (kept until the next change); nil when
// the gate is in sync.
func (g *Gate) StoreError() error {
	if p := g.follow.storeErr.Load(); p != nil {
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
