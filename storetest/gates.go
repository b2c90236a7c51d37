package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomaint/maintenance"
)

// quietPeriod is how long the suite watches for a Watch signal that must not
// come: several poll intervals of the polling stores (50 ms), and ample time
// for a notification of the pushing ones. It is the one place where a bounded
// wait is the assertion itself: "nothing arrived in this time".
const quietPeriod = 300 * time.Millisecond

// gateOpts compares gate entries with their times to the millisecond: a store
// may keep no more than that. The suite sends times truncated to the
// millisecond, so a store that keeps more returns them unchanged, and Equal
// ignores the location.
var gateOpts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool {
		return a.Truncate(time.Millisecond).Equal(b.Truncate(time.Millisecond))
	}),
}

// now returns the current time truncated to the millisecond.
func now() time.Time { return time.Now().Truncate(time.Millisecond) }

func heartbeat(t *testing.T, st maintenance.Store, g maintenance.GateInfo) {
	t.Helper()
	if err := st.Heartbeat(t.Context(), g); err != nil {
		t.Fatalf("Heartbeat(%q): %v", g.ID, err)
	}
}

func listGates(t *testing.T, st maintenance.Store) []maintenance.GateInfo {
	t.Helper()
	got, err := st.Gates(t.Context())
	if err != nil {
		t.Fatalf("Gates: %v", err)
	}
	return got
}

func forgetGate(t *testing.T, st maintenance.Store, id string) {
	t.Helper()
	if err := st.ForgetGate(t.Context(), id); err != nil {
		t.Fatalf("ForgetGate(%q): %v", id, err)
	}
}

// gate returns a live entry for id, serving version.
func gate(id string, version int64) maintenance.GateInfo {
	n := now()
	return maintenance.GateInfo{
		ID: id, Host: "web-1.example.com", Version: version,
		Started: n.Add(-time.Hour), LastSeen: n,
	}
}

// gateIDs returns the IDs of gs, in order.
func gateIDs(gs []maintenance.GateInfo) []string {
	var ids []string
	for _, g := range gs {
		ids = append(ids, g.ID)
	}
	return ids
}

// testGates checks the gate registry: heartbeats that add and replace
// entries, expiry after maintenance.GateTTL, ForgetGate, and that none of it
// is a change of the state.
func (s *suite) testGates(t *testing.T) {
	t.Parallel()
	t.Run("Heartbeat", s.testGatesHeartbeat)
	t.Run("Stale", s.testGatesStale)
	t.Run("Forget", s.testGatesForget)
	t.Run("Invalid", s.testGatesInvalid)
	t.Run("NotAChange", s.testGatesNotAChange)
	t.Run("Concurrent", s.testGatesConcurrent)
}

func (s *suite) testGatesHeartbeat(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	st, other := s.open(t, key), s.open(t, key)
	if got := listGates(t, st); len(got) != 0 {
		t.Fatalf("Gates of a fresh store = %+v, want none", got)
	}

	n := now()
	paris := time.FixedZone("CET", 3600)
	a := maintenance.GateInfo{
		ID: "a-host-1234-f00d", Host: "a.example.com", Release: "v1.2.3", Version: 7,
		Started: time.Date(2026, 5, 4, 10, 0, 0, 123e6, time.UTC), LastSeen: n,
	}
	b := maintenance.GateInfo{
		ID: "b-host-99-beef", Host: "b.example.com", Version: 6,
		Started: n.Add(-time.Minute).In(paris), LastSeen: n.In(paris),
		StoreError: `dial tcp 10.0.0.5:5432: connect: connection refused "é"`,
	}
	c := maintenance.GateInfo{ID: "c", Host: "c.example.com", Started: n, LastSeen: n}
	// Not in ID order: Gates sorts.
	heartbeat(t, st, c)
	heartbeat(t, other, a)
	heartbeat(t, st, b)
	want := []maintenance.GateInfo{a, b, c}
	for name, h := range map[string]maintenance.Store{"same handle": st, "second handle": other} {
		if diff := cmp.Diff(listGates(t, h), want, gateOpts); diff != "" {
			t.Errorf("Gates through the %s (-got +want):\n%s", name, diff)
		}
	}

	// A heartbeat with an ID that is listed replaces the whole entry.
	b2 := maintenance.GateInfo{
		ID: b.ID, Host: "b2.example.com", Release: "v2", Version: 8,
		Started: n.Add(time.Second), LastSeen: now().Add(time.Millisecond),
	}
	heartbeat(t, other, b2)
	want = []maintenance.GateInfo{a, b2, c}
	for name, h := range map[string]maintenance.Store{"same handle": st, "second handle": other} {
		if diff := cmp.Diff(listGates(t, h), want, gateOpts); diff != "" {
			t.Errorf("Gates through the %s after a second heartbeat of %s (-got +want):\n%s", name, b.ID, diff)
		}
	}
}

func (s *suite) testGatesStale(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	st := s.open(t, key)
	n := now()
	live := gate("live", 1)
	// Seen half a TTL ago: still listed.
	recent := gate("recent", 1)
	recent.LastSeen = n.Add(-maintenance.GateTTL / 2)
	// Seen more than a TTL ago: a gate that stopped without ForgetGate.
	stale := gate("stale", 1)
	stale.LastSeen = n.Add(-maintenance.GateTTL - time.Minute)
	stale.Started = stale.LastSeen.Add(-time.Hour)

	heartbeat(t, st, live)
	heartbeat(t, st, stale)
	heartbeat(t, st, recent)
	want := []maintenance.GateInfo{live, recent}
	if diff := cmp.Diff(listGates(t, st), want, gateOpts); diff != "" {
		t.Errorf("Gates with an entry older than GateTTL (-got +want):\n%s", diff)
	}
	// A later heartbeat drops the stale entry (a store-specific test may
	// look for it); it is never listed again.
	live.Version, live.LastSeen = 2, now()
	heartbeat(t, st, live)
	want = []maintenance.GateInfo{live, recent}
	if diff := cmp.Diff(listGates(t, s.open(t, key)), want, gateOpts); diff != "" {
		t.Errorf("Gates after a later heartbeat (-got +want):\n%s", diff)
	}
	// The stale gate comes back with a fresh heartbeat.
	stale.LastSeen = now()
	heartbeat(t, st, stale)
	want = append(want, stale)
	if diff := cmp.Diff(listGates(t, st), want, gateOpts); diff != "" {
		t.Errorf("Gates after a fresh heartbeat of the stale gate (-got +want):\n%s", diff)
	}
}

func (s *suite) testGatesForget(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	st, other := s.open(t, key), s.open(t, key)
	a, b := gate("a", 1), gate("b", 1)
	heartbeat(t, st, a)
	heartbeat(t, st, b)

	forgetGate(t, other, "a")
	if diff := cmp.Diff(listGates(t, st), []maintenance.GateInfo{b}, gateOpts); diff != "" {
		t.Errorf("Gates after ForgetGate(a) (-got +want):\n%s", diff)
	}
	// Forgetting a gate that is not listed, or twice, is not an error.
	forgetGate(t, st, "a")
	forgetGate(t, st, "never-seen")
	forgetGate(t, st, "b")
	if got := listGates(t, other); len(got) != 0 {
		t.Errorf("Gates after forgetting every gate = %+v, want none", got)
	}
	// Forgetting on a store that never had a gate is not an error either.
	forgetGate(t, s.open(t, s.h.New(t)), "never-seen")
	// A forgotten gate that sends a heartbeat again is listed again.
	heartbeat(t, other, a)
	if diff := cmp.Diff(listGates(t, st), []maintenance.GateInfo{a}, gateOpts); diff != "" {
		t.Errorf("Gates after a heartbeat of a forgotten gate (-got +want):\n%s", diff)
	}
}

func (s *suite) testGatesInvalid(t *testing.T) {
	t.Parallel()
	st := s.open(t, s.h.New(t))
	a := gate("a", 1)
	heartbeat(t, st, a)
	noID := gate("", 1)
	if err := st.Heartbeat(t.Context(), noID); !errors.Is(err, maintenance.ErrInvalid) {
		t.Errorf("Heartbeat with an empty ID = %v, want an error wrapping %v", err, maintenance.ErrInvalid)
	} else if err.Error() == "" {
		t.Error("error has an empty message")
	}
	if err := st.ForgetGate(t.Context(), ""); !errors.Is(err, maintenance.ErrInvalid) {
		t.Errorf("ForgetGate of an empty ID = %v, want an error wrapping %v", err, maintenance.ErrInvalid)
	}
	if diff := cmp.Diff(listGates(t, st), []maintenance.GateInfo{a}, gateOpts); diff != "" {
		t.Errorf("Gates after rejected calls (-got +want):\n%s", diff)
	}
}

// testGatesNotAChange checks that heartbeats and ForgetGate leave the state,
// the events and the watchers alone, while a real change still signals.
func (s *suite) testGatesNotAChange(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	w, wr := s.open(t, key), s.open(t, key)
	update(t, wr, maintenance.AddSites("shop.example.com"))
	before := mustJSON(t, load(t, w))
	heartbeat(t, wr, gate("before-watch", 1))
	nc := newNotAChange(t, w, wr, "heartbeats")
	if !bytes.Equal(nc.state, before) {
		t.Errorf("state changed by a heartbeat:\ngot  %s\nwant %s", nc.state, before)
	}
	quiet := nc.quiet

	// Heartbeats spread over the quiet period, so that a polling watcher
	// sees them at several polls, then a quiet period after the last one.
	const beats = 10
	for i := range beats {
		g := gate(fmt.Sprintf("gate-%d", i%3), int64(i))
		heartbeat(t, wr, g)
		if i == beats/2 {
			forgetGate(t, wr, "before-watch")
		}
		quiet("during heartbeats", quietPeriod/beats)
	}
	quiet(fmt.Sprintf("within %s after heartbeats", quietPeriod), quietPeriod)

	if diff := cmp.Diff(gateIDs(listGates(t, w)), []string{"gate-0", "gate-1", "gate-2"}); diff != "" {
		t.Errorf("gates after the heartbeats (-got +want):\n%s", diff)
	}

	nc.check()
}

// testGatesConcurrent has several handles send heartbeats from several
// goroutines at once, while another goroutine changes the state.
func (s *suite) testGatesConcurrent(t *testing.T) {
	t.Parallel()
	const handles, perHandle, beats, changes = 4, 3, 10, 10
	key := s.h.New(t)
	hs := make([]maintenance.Store, handles)
	for i := range hs {
		hs[i] = s.open(t, key)
	}
	initial := load(t, hs[0]).Version

	var wg sync.WaitGroup
	errs := make(chan error, handles*perHandle+1)
	var want []string
	for i, h := range hs {
		for j := range perHandle {
			id := fmt.Sprintf("h%d-g%d", i, j)
			want = append(want, id)
			wg.Go(func() {
				for v := range beats {
					g := gate(id, int64(v))
					if err := h.Heartbeat(t.Context(), g); err != nil {
						errs <- fmt.Errorf("heartbeat %d of %s: %w", v, id, err)
						return
					}
				}
			})
		}
	}
	wg.Go(func() {
		if err := writeIgnores(t.Context(), hs[0], "gates", changes); err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	got := listGates(t, s.open(t, key))
	slices.Sort(want)
	if diff := cmp.Diff(gateIDs(got), want); diff != "" {
		t.Fatalf("gates after concurrent heartbeats (-got +want):\n%s", diff)
	}
	for _, g := range got {
		if g.Version != beats-1 {
			t.Errorf("gate %s has version %d, want its last heartbeat's %d", g.ID, g.Version, beats-1)
		}
	}
	if got, want := load(t, hs[1]).Version, initial+changes; got != want {
		t.Errorf("state version after %d changes among heartbeats = %d, want %d", changes, got, want)
	}
}
