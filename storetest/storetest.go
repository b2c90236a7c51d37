// Package storetest is the acceptance suite that every maintenance.Store
// implementation must pass.
//
// A store package runs it from its own tests, with a Harness that makes fresh
// stores, and calls HelperMain from its TestMain so that the suite can start
// the test binary again as a writer or watcher in another process:
//
//	func TestMain(m *testing.M) {
//		storetest.HelperMain(func(ctx context.Context, key string) (maintenance.Store, error) {
//			return sqlite.Open(ctx, key)
//		})
//		os.Exit(m.Run())
//	}
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			New:  func(t *testing.T) string { return filepath.Join(t.TempDir(), "m.db") },
//			Open: func(ctx context.Context, key string) (maintenance.Store, error) { return sqlite.Open(ctx, key) },
//		})
//	}
//
// The suite checks the contract written on maintenance.Store: atomic changes
// that bump the version by one and write one event per changed site, no-op
// changes that write nothing, bad input that changes nothing, several handles
// and several processes sharing one store, Watch and Close semantics, the
// users, tokens and bypass links of the state and the targets of their
// events, the event filters, and two things that are not changes (no
// version, no event, no Watch signal): the gate registry (Heartbeat, Gates,
// ForgetGate) and the secrets (maintenance.Secrets: one server key per store
// however many processes race to make it, use counts that lose no
// increment). Tests wait on channels or poll conditions with deadlines; none
// sleeps. The one bounded wait that is an assertion itself checks that
// heartbeats and secrets wake no watcher within a quiet period of 300 ms,
// several poll intervals of the polling stores.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gomaint/maintenance"
)

// Harness opens stores for the suite.
type Harness struct {
	// New returns a key naming a fresh, empty store (a path, a URL...), unique per call.
	New func(t *testing.T) string
	// Open opens a handle on the store named key. Several handles on one key share the same data.
	Open func(ctx context.Context, key string) (maintenance.Store, error)
}

// watchDeadline bounds every wait for a Watch signal or a channel close.
const watchDeadline = 5 * time.Second

// eventsAll is a limit larger than the number of events any test writes.
const eventsAll = 1000

// Run runs the acceptance suite against the stores made by h. Each subtest
// uses stores of its own, and runs in parallel with the others.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Open == nil {
		t.Fatal("storetest: Harness.New and Harness.Open must be set")
	}
	s := &suite{h: h}
	t.Run("Fresh", s.testFresh)
	t.Run("Changes", s.testChanges)
	t.Run("NoOp", s.testNoOp)
	t.Run("Events", s.testEvents)
	t.Run("Invalid", s.testInvalid)
	t.Run("ConcurrentWriters", s.testConcurrentWriters)
	t.Run("Processes", s.testProcesses)
	t.Run("Watch", s.testWatch)
	t.Run("Gates", s.testGates)
	t.Run("Release", s.testRelease)
	t.Run("Pages", s.testPages)
	t.Run("Auth", s.testAuth)
	t.Run("EventFilters", s.testEventFilters)
	t.Run("Secrets", s.testSecrets)
	t.Run("Outbox", s.testOutbox)
	t.Run("Delivery", s.testDelivery)
	t.Run("Close", s.testClose)
}

type suite struct{ h Harness }

// open opens a handle on key that is closed when the test ends.
func (s *suite) open(t *testing.T, key string) maintenance.Store {
	t.Helper()
	st, err := s.h.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close(%q): %v", key, err)
		}
	})
	return st
}

// stateOpts compares states as the contract defines them: an empty rule list
// and a missing one are the same.
var stateOpts = cmp.Options{cmpopts.EquateEmpty()}

func load(t *testing.T, st maintenance.Store) *maintenance.State {
	t.Helper()
	got, err := st.Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return got
}

func events(t *testing.T, st maintenance.Store, f maintenance.EventFilter) []maintenance.Event {
	t.Helper()
	got, err := st.Events(t.Context(), f)
	if err != nil {
		t.Fatalf("Events(%+v): %v", f, err)
	}
	return got
}

// update applies c as actor "storetest" from source "test" and fails the test
// on error.
func update(t *testing.T, st maintenance.Store, c maintenance.Change) *maintenance.State {
	t.Helper()
	if c.Actor == "" {
		c.Actor = "storetest"
	}
	if c.Source == "" {
		c.Source = "test"
	}
	got, err := st.Update(t.Context(), c)
	if err != nil {
		t.Fatalf("Update(%s): %v", c.Action, err)
	}
	return got
}

// mustJSON returns the JSON encoding of v, for byte-for-byte comparisons.
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding %T: %v", v, err)
	}
	return b
}

// dirNames lists the directory that holds key when key is an absolute path in
// an existing directory; ok is false for keys that are not paths (URLs).
func dirNames(t *testing.T, key string) (names []string, ok bool) {
	t.Helper()
	if !filepath.IsAbs(key) {
		return nil, false
	}
	entries, err := os.ReadDir(filepath.Dir(key))
	if err != nil {
		return nil, false
	}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, true
}

// awaitSignal waits for one value on ch. It fails the test when ch is closed
// or nothing arrives before the deadline.
func awaitSignal(t *testing.T, ch <-chan struct{}, deadline <-chan time.Time) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("Watch channel closed while waiting for a change")
		}
	case <-deadline:
		t.Fatalf("no Watch signal within %s", watchDeadline)
	}
}

// awaitVersion waits for a signal on ch, then re-reads st (as a gate does),
// until st shows at least version want.
func awaitVersion(t *testing.T, ch <-chan struct{}, st maintenance.Store, want int64) *maintenance.State {
	t.Helper()
	deadline := time.NewTimer(watchDeadline)
	defer deadline.Stop()
	for {
		awaitSignal(t, ch, deadline.C)
		if got := load(t, st); got.Version >= want {
			return got
		}
	}
}

// awaitClosed drains ch until it is closed, failing the test after the deadline.
func awaitClosed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	deadline := time.NewTimer(watchDeadline)
	defer deadline.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline.C:
			t.Fatalf("Watch channel not closed within %s", watchDeadline)
		}
	}
}

// freshState is what a new store holds.
func freshState() *maintenance.State {
	return &maintenance.State{Version: 0, Sites: []maintenance.SiteState{{Site: maintenance.DefaultSite}}}
}

func (s *suite) testFresh(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	st := s.open(t, key)
	before, isPath := dirNames(t, key)

	if diff := cmp.Diff(load(t, st), freshState(), stateOpts); diff != "" {
		t.Errorf("Load of a fresh store (-got +want):\n%s", diff)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := st.Watch(ctx)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if got := events(t, st, maintenance.EventFilter{}); len(got) != 0 {
		t.Errorf("Events of a fresh store = %d events, want none: %+v", len(got), got)
	}
	if got := listGates(t, st); len(got) != 0 {
		t.Errorf("Gates of a fresh store = %+v, want none", got)
	}
	cancel()
	awaitClosed(t, ch)

	// Reading leaves nothing behind: another handle still sees a fresh
	// store, and no file appeared next to a store that is a path.
	other := s.open(t, key)
	if diff := cmp.Diff(load(t, other), freshState(), stateOpts); diff != "" {
		t.Errorf("Load through a second handle after reads (-got +want):\n%s", diff)
	}
	if got := events(t, other, maintenance.EventFilter{}); len(got) != 0 {
		t.Errorf("Events through a second handle = %d events, want none", len(got))
	}
	if got := listGates(t, other); len(got) != 0 {
		t.Errorf("Gates through a second handle = %+v, want none", got)
	}
	if isPath {
		after, _ := dirNames(t, key)
		if diff := cmp.Diff(after, before); diff != "" {
			t.Errorf("files next to %s changed by Load, Watch, Events and Gates (-after +before):\n%s", key, diff)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// as sets who makes c, from where and why.
func as(c maintenance.Change, actor, source, reason string) maintenance.Change {
	c.Actor, c.Source, c.Reason = actor, source, reason
	return c
}

func (s *suite) testChanges(t *testing.T) {
	t.Parallel()
	const shop, wild = "shop.example.com", "*.example.com"
	type step struct {
		name   string
		change maintenance.Change
		check  func(t *testing.T, st *maintenance.State)
	}
	site := func(t *testing.T, st *maintenance.State, name string) *maintenance.SiteState {
		t.Helper()
		s := st.Site(name)
		if s == nil {
			t.Fatalf("site %q missing from %+v", name, st.Sites)
		}
		return s
	}
	steps := []step{
		{
			name:   "AddSites",
			change: maintenance.AddSites("Shop.Example.com", wild),
			check: func(t *testing.T, st *maintenance.State) {
				var names []string
				for _, s := range st.Sites {
					names = append(names, s.Site)
				}
				if diff := cmp.Diff(names, []string{"*", wild, shop}); diff != "" {
					t.Errorf("sites (-got +want):\n%s", diff)
				}
			},
		},
		{
			name: "On",
			change: as(maintenance.On([]string{shop}, maintenance.OnOptions{
				Message:    ptr("Back at six"),
				Messages:   map[string]string{"de": "Zurück um sechs", "pt-br": "De volta às seis"},
				Mode:       ptr(maintenance.ModeReadOnly),
				Status:     ptr(503),
				RetryAfter: ptr(90 * time.Second),
				Redirect:   ptr("https://status.example.com/"),
			}), "alice", "cli", "deploy 42"),
			check: func(t *testing.T, st *maintenance.State) {
				got := *site(t, st, shop)
				want := maintenance.SiteState{
					Site: shop, On: true, Mode: maintenance.ModeReadOnly, Message: "Back at six",
					Messages: map[string]string{"de": "Zurück um sechs", "pt-BR": "De volta às seis"},
					Reason:   "deploy 42", Status: 503, RetryAfter: 90 * time.Second,
					Redirect: "https://status.example.com/", ChangedBy: "alice", ChangedAt: got.ChangedAt,
					Version: st.Version,
				}
				if diff := cmp.Diff(got, want, stateOpts); diff != "" {
					t.Errorf("site after On (-got +want):\n%s", diff)
				}
				if got.ChangedAt.IsZero() {
					t.Error("ChangedAt is zero after On")
				}
				if site(t, st, "*").On || site(t, st, wild).On {
					t.Error("On of one site switched others on")
				}
			},
		},
		{
			name:   "AddIgnore",
			change: maintenance.AddIgnore(shop, "/health", "probe"),
			check: func(t *testing.T, st *maintenance.State) {
				want := []maintenance.Rule{{Value: "/health", Note: "probe"}}
				if diff := cmp.Diff(site(t, st, shop).Ignore, want, stateOpts); diff != "" {
					t.Errorf("ignore of %s (-got +want):\n%s", shop, diff)
				}
			},
		},
		{
			name:   "AddIgnoreDefault",
			change: maintenance.AddIgnore("", "POST /webhooks/*", ""),
			check: func(t *testing.T, st *maintenance.State) {
				want := []maintenance.Rule{{Value: "POST /webhooks/*"}}
				if diff := cmp.Diff(site(t, st, "*").Ignore, want, stateOpts); diff != "" {
					t.Errorf("ignore of * (-got +want):\n%s", diff)
				}
			},
		},
		{
			name:   "AddAllowDefault",
			change: maintenance.AddAllow("", "10.0.0.0/8", "office"),
			check: func(t *testing.T, st *maintenance.State) {
				want := []maintenance.Rule{{Value: "10.0.0.0/8", Note: "office"}}
				if diff := cmp.Diff(site(t, st, "*").Allow, want, stateOpts); diff != "" {
					t.Errorf("allow of * (-got +want):\n%s", diff)
				}
			},
		},
		{
			name:   "AddAllow",
			change: maintenance.AddAllow(shop, "2001:DB8::1", ""),
			check: func(t *testing.T, st *maintenance.State) {
				want := []maintenance.Rule{{Value: "2001:db8::1"}}
				if diff := cmp.Diff(site(t, st, shop).Allow, want, stateOpts); diff != "" {
					t.Errorf("allow of %s (-got +want):\n%s", shop, diff)
				}
			},
		},
		{
			name:   "RemoveIgnore",
			change: maintenance.RemoveIgnore(shop, "/health"),
			check: func(t *testing.T, st *maintenance.State) {
				if got := site(t, st, shop).Ignore; len(got) != 0 {
					t.Errorf("ignore of %s = %+v, want none", shop, got)
				}
			},
		},
		{
			name:   "RemoveAllow",
			change: maintenance.RemoveAllow("*", "10.0.0.0/8"),
			check: func(t *testing.T, st *maintenance.State) {
				if got := site(t, st, "*").Allow; len(got) != 0 {
					t.Errorf("allow of * = %+v, want none", got)
				}
			},
		},
		{
			name:   "Off",
			change: maintenance.Off([]string{shop}),
			check: func(t *testing.T, st *maintenance.State) {
				got := *site(t, st, shop)
				want := maintenance.SiteState{
					Site: shop, Allow: []maintenance.Rule{{Value: "2001:db8::1"}},
					ChangedBy: "storetest", ChangedAt: got.ChangedAt, Version: st.Version,
				}
				if diff := cmp.Diff(got, want, stateOpts); diff != "" {
					t.Errorf("site after Off (-got +want):\n%s", diff)
				}
			},
		},
		{
			name:   "RemoveSite",
			change: maintenance.RemoveSite(wild),
			check: func(t *testing.T, st *maintenance.State) {
				if st.Site(wild) != nil {
					t.Errorf("site %q still declared", wild)
				}
			},
		},
		{
			name:   "OnAll",
			change: maintenance.On(nil, maintenance.OnOptions{}),
			check: func(t *testing.T, st *maintenance.State) {
				for _, s := range st.Sites {
					if !s.On {
						t.Errorf("site %q is off after On of every site", s.Site)
					}
				}
				if got := st.Site("*").Ignore; len(got) != 1 {
					t.Errorf("ignore of * = %+v after On, want the rule kept", got)
				}
			},
		},
		{
			name:   "OffAll",
			change: maintenance.Off(nil),
			check: func(t *testing.T, st *maintenance.State) {
				for _, s := range st.Sites {
					if s.On {
						t.Errorf("site %q is on after Off of every site", s.Site)
					}
				}
			},
		},
	}

	key := s.h.New(t)
	st := s.open(t, key)
	other := s.open(t, key)
	version := load(t, st).Version
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			got := update(t, st, step.change)
			version++
			if got.Version != version {
				t.Errorf("Update returned version %d, want %d", got.Version, version)
			}
			step.check(t, got)
			if diff := cmp.Diff(load(t, st), got, stateOpts); diff != "" {
				t.Errorf("Load after Update (-loaded +returned):\n%s", diff)
			}
			if diff := cmp.Diff(load(t, other), got, stateOpts); diff != "" {
				t.Errorf("Load through a second handle after Update (-loaded +returned):\n%s", diff)
			}
		})
	}
}

func (s *suite) testNoOp(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	st := s.open(t, key)
	update(t, st, maintenance.AddSites("shop.example.com"))
	update(t, st, maintenance.AddIgnore("shop.example.com", "/health", "probe"))
	update(t, st, maintenance.AddAllow("", "192.0.2.0/24", ""))

	for _, tc := range []struct {
		name   string
		change maintenance.Change
	}{
		{"OffWhenOff", maintenance.Off([]string{"shop.example.com"})},
		{"OffAllWhenOff", maintenance.Off(nil)},
		{"AddExistingSite", maintenance.AddSites("shop.example.com", "*")},
		{"AddSameIgnore", maintenance.AddIgnore("shop.example.com", "/health", "probe")},
		{"AddSameAllow", maintenance.AddAllow("*", "192.0.2.0/24", "")},
		{"ApplyNothing", maintenance.Change{Action: "nothing", Apply: func(*maintenance.State, string) error { return nil }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantState := load(t, st)
			wantEvents := mustJSON(t, events(t, st, maintenance.EventFilter{Limit: eventsAll}))
			got := update(t, st, tc.change)
			if got.Version != wantState.Version {
				t.Errorf("no-op Update returned version %d, want %d", got.Version, wantState.Version)
			}
			if diff := cmp.Diff(got, wantState, stateOpts); diff != "" {
				t.Errorf("no-op Update returned a different state (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(load(t, st), wantState, stateOpts); diff != "" {
				t.Errorf("Load after a no-op Update (-got +want):\n%s", diff)
			}
			if got := mustJSON(t, events(t, st, maintenance.EventFilter{Limit: eventsAll})); !bytes.Equal(got, wantEvents) {
				t.Errorf("no-op Update changed the events:\ngot  %s\nwant %s", got, wantEvents)
			}
		})
	}
}

func (s *suite) testEvents(t *testing.T) {
	t.Parallel()
	const a, b = "a.example.com", "b.example.com"
	key := s.h.New(t)
	st := s.open(t, key)
	other := s.open(t, key)
	start := time.Now().Truncate(time.Millisecond)

	c1 := as(maintenance.AddSites(a, b), "alice", "cli", "new shops")
	s1 := update(t, st, c1)
	c2 := as(maintenance.On([]string{a}, maintenance.OnOptions{Message: ptr("Back soon")}), "bob", "admin", "deploy")
	s2 := update(t, st, c2)
	c3 := as(maintenance.RemoveSite(b), "carol", "api", "")
	s3 := update(t, st, c3)
	end := time.Now()

	site := func(st *maintenance.State, name string) *maintenance.SiteState {
		s := st.Site(name)
		if s == nil {
			t.Fatalf("site %q missing at version %d", name, st.Version)
		}
		c := *s
		return &c
	}
	ev := func(c maintenance.Change, version int64, name string, before, after *maintenance.SiteState) maintenance.Event {
		return maintenance.Event{Version: version, Actor: c.Actor, Source: c.Source, Reason: c.Reason,
			Action: c.Action, Site: name, Before: before, After: after}
	}
	all := []maintenance.Event{
		ev(c3, s3.Version, b, site(s2, b), nil),
		ev(c2, s2.Version, a, site(s1, a), site(s2, a)),
		ev(c1, s1.Version, b, nil, site(s1, b)),
		ev(c1, s1.Version, a, nil, site(s1, a)),
	}
	eventOpts := cmp.Options{stateOpts, cmpopts.IgnoreFields(maintenance.Event{}, "ID", "Time")}

	for _, tc := range []struct {
		name   string
		filter maintenance.EventFilter
		want   []maintenance.Event
	}{
		{"All", maintenance.EventFilter{Limit: eventsAll}, all},
		{"DefaultLimit", maintenance.EventFilter{}, all},
		{"Site", maintenance.EventFilter{Site: a}, []maintenance.Event{all[1], all[3]}},
		{"SiteRemoved", maintenance.EventFilter{Site: b, Limit: eventsAll}, []maintenance.Event{all[0], all[2]}},
		{"SiteWithoutEvents", maintenance.EventFilter{Site: "c.example.com"}, nil},
		{"Limit", maintenance.EventFilter{Limit: 1}, all[:1]},
		{"SiteAndLimit", maintenance.EventFilter{Site: a, Limit: 1}, all[1:2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, h := range []maintenance.Store{st, other} {
				got := events(t, h, tc.filter)
				if diff := cmp.Diff(got, tc.want, eventOpts); diff != "" {
					t.Fatalf("Events(%+v) (-got +want):\n%s", tc.filter, diff)
				}
				for i, e := range got {
					if i > 0 && e.ID >= got[i-1].ID {
						t.Errorf("event %d has ID %d after ID %d; want newest first", i, e.ID, got[i-1].ID)
					}
					if e.Time.Before(start) || e.Time.After(end) {
						t.Errorf("event %d has time %v, want within [%v, %v]", i, e.Time, start, end)
					}
				}
			}
		})
	}

	t.Run("DefaultLimitCaps", func(t *testing.T) {
		key := s.h.New(t)
		st := s.open(t, key)
		n := maintenance.DefaultEventLimit + 5
		for i := range n {
			update(t, st, maintenance.AddIgnore("", "/path/"+string(rune('a'+i)), ""))
		}
		got := events(t, st, maintenance.EventFilter{})
		if len(got) != maintenance.DefaultEventLimit {
			t.Fatalf("Events with no limit returned %d events, want %d", len(got), maintenance.DefaultEventLimit)
		}
		if got[0].Version != int64(n) {
			t.Errorf("newest event has version %d, want %d", got[0].Version, n)
		}
		if got := events(t, st, maintenance.EventFilter{Limit: eventsAll}); len(got) != n {
			t.Errorf("Events(Limit %d) returned %d events, want %d", eventsAll, len(got), n)
		}
	})
}

func (s *suite) testInvalid(t *testing.T) {
	t.Parallel()
	const shop = "shop.example.com"
	key := s.h.New(t)
	st := s.open(t, key)
	other := s.open(t, key)
	update(t, st, maintenance.AddSites(shop))
	update(t, st, maintenance.On([]string{shop}, maintenance.OnOptions{Message: ptr("Back soon")}))
	update(t, st, maintenance.AddIgnore(shop, "/health", ""))
	update(t, st, maintenance.AddAllow("", "10.0.0.0/8", ""))

	long := string(bytes.Repeat([]byte("x"), maintenance.MaxText+1))
	for _, tc := range []struct {
		name   string
		change maintenance.Change
		want   error
	}{
		{"BadSiteName", maintenance.AddSites("bad_site!.example.com"), maintenance.ErrInvalid},
		{"SiteWithPort", maintenance.On([]string{"shop.example.com:8080"}, maintenance.OnOptions{}), maintenance.ErrInvalid},
		{"EmptySite", maintenance.AddSites(""), maintenance.ErrInvalid},
		{"BadPattern", maintenance.AddIgnore("", "health", ""), maintenance.ErrInvalid},
		{"BadRegexp", maintenance.AddIgnore("", "^/api/(", ""), maintenance.ErrInvalid},
		{"BadMethod", maintenance.AddIgnore("", "FETCH /x", ""), maintenance.ErrInvalid},
		{"BadAllow", maintenance.AddAllow("", "not-an-ip", ""), maintenance.ErrInvalid},
		{"HostBitsSet", maintenance.AddAllow("", "10.0.0.1/8", ""), maintenance.ErrInvalid},
		{"BadStatus", maintenance.On([]string{shop}, maintenance.OnOptions{Status: ptr(302)}), maintenance.ErrInvalid},
		{"BadStatusNewSite", maintenance.On([]string{"new.example.com"}, maintenance.OnOptions{Status: ptr(99)}), maintenance.ErrInvalid},
		{"BadRedirect", maintenance.On([]string{shop}, maintenance.OnOptions{Redirect: ptr("javascript:alert(1)")}), maintenance.ErrInvalid},
		{"BadMode", maintenance.On(nil, maintenance.OnOptions{Mode: ptr(maintenance.Mode("half"))}), maintenance.ErrInvalid},
		{"BadRetryAfter", maintenance.On(nil, maintenance.OnOptions{RetryAfter: ptr(time.Millisecond)}), maintenance.ErrInvalid},
		{"LongMessage", maintenance.On([]string{shop}, maintenance.OnOptions{Message: &long}), maintenance.ErrInvalid},
		{"LongReason", as(maintenance.Off(nil), "storetest", "test", long), maintenance.ErrInvalid},
		{"LongNote", maintenance.AddIgnore("", "/x", long), maintenance.ErrInvalid},
		{"BadUTF8Message", maintenance.On(nil, maintenance.OnOptions{Message: ptr("\xff")}), maintenance.ErrInvalid},
		// Values that one store accepted and another failed on (NUL, which
		// PostgreSQL text cannot hold; years past 9999, which JSON cannot
		// encode): bad input for every store alike.
		{"NULInMessage", maintenance.On([]string{shop}, maintenance.OnOptions{Message: ptr("a\x00b")}), maintenance.ErrInvalid},
		{"NULInReason", as(maintenance.Off(nil), "storetest", "test", "a\x00b"), maintenance.ErrInvalid},
		{"NULInNote", maintenance.AddIgnore("", "/x", "a\x00b"), maintenance.ErrInvalid},
		{"EscapeInReason", as(maintenance.Off(nil), "storetest", "test", "\x1b[2K\x1b[1G(nothing to see)"), maintenance.ErrInvalid},
		{"OSCInMessage", maintenance.On([]string{shop}, maintenance.OnOptions{Message: ptr("\x1b]0;owned\a")}), maintenance.ErrInvalid},
		{"C1InNote", maintenance.AddAllow("", "192.0.2.9", "\u009b31m"), maintenance.ErrInvalid},
		{"BidiInMessage", maintenance.On([]string{shop}, maintenance.OnOptions{Message: ptr("abc\u202etxt.exe")}), maintenance.ErrInvalid},
		{"NewlineInReason", as(maintenance.Off(nil), "storetest", "test", "a\nb"), maintenance.ErrInvalid},
		{"BadUTF8Reason", as(maintenance.Off(nil), "storetest", "test", "\xc3("), maintenance.ErrInvalid},
		{"UntilAfter9999", maintenance.On([]string{shop}, maintenance.OnOptions{Until: ptr(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))}), maintenance.ErrInvalid},
		{"WindowAfter9999", maintenance.AddWindow(shop, maintenance.Window{From: time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC), Until: time.Date(10000, 1, 1, 1, 0, 0, 0, time.UTC)}), maintenance.ErrInvalid},
		{"FromBefore1970", maintenance.On([]string{shop}, maintenance.OnOptions{From: ptr(time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC))}), maintenance.ErrInvalid},
		{"RemoveDefaultSite", maintenance.RemoveSite("*"), maintenance.ErrInvalid},
		{"NilApply", maintenance.Change{Action: "nothing"}, maintenance.ErrInvalid},
		{"RemoveAbsentSite", maintenance.RemoveSite("absent.example.com"), maintenance.ErrNotFound},
		{"OffAbsentSite", maintenance.Off([]string{shop, "absent.example.com"}), maintenance.ErrNotFound},
		{"RemoveAbsentIgnore", maintenance.RemoveIgnore(shop, "/absent"), maintenance.ErrNotFound},
		{"RemoveAbsentAllow", maintenance.RemoveAllow("", "192.0.2.1"), maintenance.ErrNotFound},
		{"IgnoreOnAbsentSite", maintenance.AddIgnore("absent.example.com", "/x", ""), maintenance.ErrNotFound},
		{"ApplyError", maintenance.Change{Action: "fail", Apply: func(st *maintenance.State, _ string) error {
			st.Sites = nil // a failed change's edits must not leak
			return maintenance.ErrInvalid
		}}, maintenance.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantState := mustJSON(t, load(t, st))
			wantEvents := mustJSON(t, events(t, st, maintenance.EventFilter{Limit: eventsAll}))

			c := as(tc.change, "storetest", "test", tc.change.Reason)
			got, err := st.Update(t.Context(), c)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Update(%s) = %v, %v; want an error wrapping %v", c.Action, got, err, tc.want)
			}
			if err.Error() == "" {
				t.Error("error has an empty message")
			}
			for name, h := range map[string]maintenance.Store{"same handle": st, "second handle": other} {
				if got := mustJSON(t, load(t, h)); !bytes.Equal(got, wantState) {
					t.Errorf("state through the %s changed by a rejected change:\ngot  %s\nwant %s", name, got, wantState)
				}
				if got := mustJSON(t, events(t, h, maintenance.EventFilter{Limit: eventsAll})); !bytes.Equal(got, wantEvents) {
					t.Errorf("events through the %s changed by a rejected change:\ngot  %s\nwant %s", name, got, wantEvents)
				}
			}
		})
	}
}

func (s *suite) testConcurrentWriters(t *testing.T) {
	t.Parallel()
	const writers, changes = 8, 25
	key := s.h.New(t)
	initial := load(t, s.open(t, key)).Version
	handles := make([]maintenance.Store, writers)
	for i := range handles {
		handles[i] = s.open(t, key)
	}
	var want []string
	errs := make(chan error, writers)
	for w, h := range handles {
		for i := range changes {
			want = append(want, patternFor("w"+string(rune('a'+w)), i))
		}
		go func() {
			errs <- writeIgnores(t.Context(), h, "w"+string(rune('a'+w)), changes)
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	got := load(t, handles[0])
	if wantV := initial + writers*changes; got.Version != wantV {
		t.Errorf("version after %d changes = %d, want %d", writers*changes, got.Version, wantV)
	}
	var patterns []string
	for _, r := range got.Site("*").Ignore {
		patterns = append(patterns, r.Value)
	}
	slices.Sort(patterns)
	slices.Sort(want)
	if diff := cmp.Diff(patterns, want); diff != "" {
		t.Errorf("ignore patterns of * after concurrent writers (-got +want):\n%s", diff)
	}
	evs := events(t, handles[1], maintenance.EventFilter{Limit: eventsAll})
	if len(evs) != writers*changes {
		t.Fatalf("%d events after %d changes, want one each", len(evs), writers*changes)
	}
	for i, e := range evs {
		if wantV := initial + int64(len(evs)-i); e.Version != wantV {
			t.Errorf("event %d has version %d, want %d", i, e.Version, wantV)
		}
	}
}

func (s *suite) testWatch(t *testing.T) {
	t.Parallel()
	t.Run("OtherHandle", func(t *testing.T) {
		t.Parallel()
		key := s.h.New(t)
		w, wr := s.open(t, key), s.open(t, key)
		ch, err := w.Watch(t.Context())
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		v := update(t, wr, maintenance.AddSites("shop.example.com")).Version
		got := awaitVersion(t, ch, w, v)
		if got.Site("shop.example.com") == nil {
			t.Errorf("state after the signal lacks the new site: %+v", got.Sites)
		}
	})
	t.Run("SameHandle", func(t *testing.T) {
		t.Parallel()
		st := s.open(t, s.h.New(t))
		ch, err := st.Watch(t.Context())
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		v := update(t, st, maintenance.On(nil, maintenance.OnOptions{})).Version
		awaitVersion(t, ch, st, v)
	})
	t.Run("Coalesce", func(t *testing.T) {
		t.Parallel()
		key := s.h.New(t)
		w, wr := s.open(t, key), s.open(t, key)
		ch, err := w.Watch(t.Context())
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		const n = 10
		var v int64
		for i := range n {
			v = update(t, wr, maintenance.AddIgnore("", patternFor("coalesce", i), "")).Version
		}
		deadline := time.NewTimer(watchDeadline)
		defer deadline.Stop()
		awaitSignal(t, ch, deadline.C)
		if pending := len(ch); pending > 1 {
			t.Errorf("%d more values pending after %d changes; want them coalesced into at most one", pending, n)
		}
		for load(t, w).Version < v {
			awaitSignal(t, ch, deadline.C)
		}
	})
	t.Run("Several", func(t *testing.T) {
		t.Parallel()
		key := s.h.New(t)
		w, wr := s.open(t, key), s.open(t, key)
		ch1, err := w.Watch(t.Context())
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		ch2, err := w.Watch(t.Context())
		if err != nil {
			t.Fatalf("second Watch: %v", err)
		}
		v := update(t, wr, maintenance.AddSites("shop.example.com")).Version
		awaitVersion(t, ch1, w, v)
		awaitVersion(t, ch2, w, v)
	})
	t.Run("ContextDone", func(t *testing.T) {
		t.Parallel()
		st := s.open(t, s.h.New(t))
		ctx, cancel := context.WithCancel(t.Context())
		ch, err := st.Watch(ctx)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		cancel()
		awaitClosed(t, ch)
		// The store itself is still usable.
		v := update(t, st, maintenance.AddSites("shop.example.com")).Version
		if got := load(t, st).Version; got != v {
			t.Errorf("version after a cancelled watch = %d, want %d", got, v)
		}
	})
	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		key := s.h.New(t)
		st, err := s.h.Open(t.Context(), key)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		ch, err := st.Watch(t.Context())
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		awaitClosed(t, ch)
	})
}

func (s *suite) testClose(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	st, err := s.h.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	other := s.open(t, key)
	update(t, st, maintenance.AddSites("shop.example.com"))
	for i := range 2 {
		if err := st.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Load", func() error { _, err := st.Load(ctx); return err }},
		{"Update", func() error { _, err := st.Update(ctx, maintenance.AddSites("new.example.com")); return err }},
		{"Events", func() error { _, err := st.Events(ctx, maintenance.EventFilter{}); return err }},
		{"Watch", func() error { _, err := st.Watch(ctx); return err }},
		{"Heartbeat", func() error { return st.Heartbeat(ctx, gate("closed", 1)) }},
		{"Gates", func() error { _, err := st.Gates(ctx); return err }},
		{"ForgetGate", func() error { return st.ForgetGate(ctx, "closed") }},
		{"Key", func() error { _, err := st.Key(ctx); return err }},
		{"CountUses", func() error { return st.CountUses(ctx, map[string]int64{"8d1e0f2c": 1}) }},
		{"Uses", func() error { _, err := st.Uses(ctx); return err }},
	} {
		if err := tc.call(); !errors.Is(err, maintenance.ErrClosed) {
			t.Errorf("%s after Close = %v, want an error wrapping %v", tc.name, err, maintenance.ErrClosed)
		}
	}
	// Other handles on the same store are not affected.
	if got := load(t, other); got.Site("shop.example.com") == nil || got.Site("new.example.com") != nil {
		t.Errorf("state through another handle after Close = %+v", got.Sites)
	}
	update(t, other, maintenance.AddSites("other.example.com"))
	heartbeat(t, other, gate("open", 1))
	if got := gateIDs(listGates(t, other)); !slices.Equal(got, []string{"open"}) {
		t.Errorf("gates through another handle after Close = %q, want [open]", got)
	}
}

// testRelease: the fleet's target release is part of the state, and its
// changes are audited with the releases before and after, read back as
// written by every store.
func (s *suite) testRelease(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	st, other := s.open(t, key), s.open(t, key)
	v1 := update(t, st, maintenance.SetRelease("v41"))
	if got := load(t, other).Release; got != "v41" {
		t.Fatalf("release read through another handle = %q, want v41", got)
	}
	v2 := update(t, st, maintenance.SetRelease("v40")) // a rollback: the last set wins
	if v2.Version != v1.Version+1 || load(t, other).Release != "v40" {
		t.Fatalf("rollback: version %d (want %d), release %q (want v40)", v2.Version, v1.Version+1, load(t, other).Release)
	}
	if same := update(t, st, maintenance.SetRelease("v40")); same.Version != v2.Version {
		t.Errorf("setting the same release again: version %d, want %d (a no-op)", same.Version, v2.Version)
	}
	evs := events(t, other, maintenance.EventFilter{Limit: eventsAll})
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(evs), evs)
	}
	for i, want := range [][2]string{{"v41", "v40"}, {"", "v41"}} {
		e := evs[i]
		if e.Site != "" || e.ReleaseBefore != want[0] || e.ReleaseAfter != want[1] || e.Action != "release set" || e.Before != nil || e.After != nil {
			t.Errorf("event %d = site %q, release %q -> %q, action %q; want site \"\", release %q -> %q, action \"release set\"",
				i, e.Site, e.ReleaseBefore, e.ReleaseAfter, e.Action, want[0], want[1])
		}
	}
	if evs := events(t, other, maintenance.EventFilter{Site: "*", Limit: eventsAll}); len(evs) != 0 {
		t.Errorf("release events listed under site *: %+v", evs)
	}
	// The error status is a site's setting, kept across on and off.
	update(t, st, maintenance.SetErrorStatus("*", 500))
	update(t, st, maintenance.On(nil, maintenance.OnOptions{}))
	update(t, st, maintenance.Off(nil))
	if got := load(t, other).Site("*").ErrorStatus; got != 500 {
		t.Errorf("error status after on and off = %d, want 500", got)
	}
}

// notAChange checks that writes which are not changes (heartbeats,
// secrets) leave a store's state, events and watchers alone: w is one
// handle, wr the one that writes.
type notAChange struct {
	t                 *testing.T
	w, wr             maintenance.Store
	what              string
	state, events     []byte
	other, sameHandle <-chan struct{}
}

// newNotAChange records the state and events, and starts a watcher on
// each handle.
func newNotAChange(t *testing.T, w, wr maintenance.Store, what string) *notAChange {
	t.Helper()
	n := &notAChange{t: t, w: w, wr: wr, what: what,
		state: mustJSON(t, load(t, w)), events: mustJSON(t, events(t, w, maintenance.EventFilter{Limit: eventsAll}))}
	for name, h := range map[string]*<-chan struct{}{"other handle": &n.other, "same handle": &n.sameHandle} {
		st := w
		if h == &n.sameHandle {
			st = wr
		}
		ch, err := st.Watch(t.Context())
		if err != nil {
			t.Fatalf("Watch through the %s: %v", name, err)
		}
		*h = ch
	}
	return n
}

// quiet fails the test if either watcher signals within d.
func (n *notAChange) quiet(when string, d time.Duration) {
	n.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		select {
		case <-deadline.C:
			return
		case _, ok := <-n.other:
			n.t.Fatalf("Watch through another handle signalled (open %v) %s; %s are not changes", ok, when, n.what)
		case _, ok := <-n.sameHandle:
			n.t.Fatalf("Watch through the handle that writes the %s signalled (open %v) %s; %s are not changes", n.what, ok, when, n.what)
		}
	}
}

// check checks that the state and the events are as they were through both
// handles, and that a real change still reaches both watchers.
func (n *notAChange) check() {
	t := n.t
	t.Helper()
	for name, h := range map[string]maintenance.Store{"other handle": n.w, "same handle": n.wr} {
		if got := mustJSON(t, load(t, h)); !bytes.Equal(got, n.state) {
			t.Errorf("state through the %s changed by %s:\ngot  %s\nwant %s", name, n.what, got, n.state)
		}
		if got := mustJSON(t, events(t, h, maintenance.EventFilter{Limit: eventsAll})); !bytes.Equal(got, n.events) {
			t.Errorf("events through the %s changed by %s:\ngot  %s\nwant %s", name, n.what, got, n.events)
		}
	}
	v := update(t, n.wr, maintenance.On(nil, maintenance.OnOptions{})).Version
	awaitVersion(t, n.other, n.w, v)
	awaitVersion(t, n.sameHandle, n.wr, v)
}
