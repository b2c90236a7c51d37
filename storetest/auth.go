package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gomaint/maintenance"
)

// fakeHash returns an encoded password hash, as the state keeps it; the
// suite never checks a password against it.
func fakeHash(c byte) string {
	return "$2a$12$" + strings.Repeat(string(c), 53)
}

// testAuth checks that the users, API tokens and bypass links of the state
// are read back as written, through another handle, and that their changes
// are audited with the target they are about.
func (s *suite) testAuth(t *testing.T) {
	t.Parallel()
	const shop = "shop.example.com"
	key := s.h.New(t)
	st, other := s.open(t, key), s.open(t, key)
	tokenSecret, tokenID := maintenance.NewSecret()
	linkSecret, linkID := maintenance.NewSecret()

	c0 := as(maintenance.AddSites(shop), "root", "cli", "")
	s0 := update(t, st, c0)
	c1 := as(maintenance.AddUser("alice", fakeHash('a')), "root", "cli", "new admin")
	s1 := update(t, st, c1)
	c2 := as(maintenance.CreateToken(maintenance.Token{ID: tokenID, Label: "deploy bot", Hash: maintenance.HashSecret(tokenSecret)}), "alice", "admin", "")
	s2 := update(t, st, c2)
	c3 := as(maintenance.CreateBypass(maintenance.BypassLink{ID: linkID, Site: shop, Label: "QA team", Hash: maintenance.HashSecret(linkSecret)}, time.Hour), "alice", "api", "QA")
	s3 := update(t, st, c3)
	c4 := as(maintenance.SetPassword("alice", fakeHash('b')), "alice", "admin", "")
	s4 := update(t, st, c4)

	got := load(t, other)
	if diff := cmp.Diff(got, s4, stateOpts); diff != "" {
		t.Fatalf("Load through a second handle with a user, a token and a link (-loaded +returned):\n%s", diff)
	}
	if len(got.Users) != 1 || len(got.Tokens) != 1 || len(got.Links) != 1 {
		t.Fatalf("state has %d users, %d tokens, %d links; want one each", len(got.Users), len(got.Tokens), len(got.Links))
	}
	u, tok, l := got.Users[0], got.Tokens[0], got.Links[0]
	if u.Name != "alice" || u.Hash != fakeHash('b') || u.CreatedBy != "root" || u.Created.IsZero() {
		t.Errorf("user = %+v, want alice with the new hash, created by root", u)
	}
	if tok.ID != tokenID || tok.Label != "deploy bot" || tok.Hash != maintenance.HashSecret(tokenSecret) || tok.CreatedBy != "alice" || tok.Created.IsZero() {
		t.Errorf("token = %+v, want %s \"deploy bot\" with the secret's hash, created by alice", tok, tokenID)
	}
	if l.ID != linkID || l.Site != shop || l.Label != "QA team" || l.Hash != maintenance.HashSecret(linkSecret) || l.CreatedBy != "alice" || l.Expires.Sub(l.Created) != time.Hour {
		t.Errorf("bypass link = %+v, want %s for %s \"QA team\" with the secret's hash, created by alice, lasting 1h", l, linkID, shop)
	}
	for _, v := range []string{tokenSecret, linkSecret} {
		if strings.Contains(string(mustJSON(t, got)), v) {
			t.Error("the state holds a secret, not only its hash")
		}
	}

	c5 := as(maintenance.RevokeBypass(linkID), "bob", "admin", "done")
	s5 := update(t, st, c5)
	c6 := as(maintenance.RevokeToken(tokenID), "bob", "cli", "")
	s6 := update(t, st, c6)
	c7 := as(maintenance.RemoveUser("alice"), "bob", "cli", "left")
	s7 := update(t, st, c7)
	if got := load(t, other); len(got.Users)+len(got.Tokens)+len(got.Links) != 0 || got.Version != s7.Version {
		t.Errorf("state through a second handle after removing them = %+v, want version %d without users, tokens or links", got, s7.Version)
	}

	ev := func(c maintenance.Change, version int64, site, target string) maintenance.Event {
		return maintenance.Event{Version: version, Actor: c.Actor, Source: c.Source, Reason: c.Reason,
			Action: c.Action, Site: site, Target: target}
	}
	siteAdded := ev(c0, s0.Version, shop, "")
	siteAdded.After = s0.Site(shop)
	want := []maintenance.Event{
		ev(c7, s7.Version, "", "user alice"),
		ev(c6, s6.Version, "", "token "+tokenID),
		ev(c5, s5.Version, shop, "bypass "+linkID),
		ev(c4, s4.Version, "", "user alice"),
		ev(c3, s3.Version, shop, "bypass "+linkID),
		ev(c2, s2.Version, "", "token "+tokenID),
		ev(c1, s1.Version, "", "user alice"),
		siteAdded,
	}
	eventOpts := cmp.Options{stateOpts, cmpopts.IgnoreFields(maintenance.Event{}, "ID", "Time")}
	for name, h := range map[string]maintenance.Store{"same handle": st, "second handle": other} {
		if diff := cmp.Diff(events(t, h, maintenance.EventFilter{Limit: eventsAll}), want, eventOpts); diff != "" {
			t.Errorf("events through the %s (-got +want):\n%s", name, diff)
		}
	}
	if diff := cmp.Diff(events(t, other, maintenance.EventFilter{Site: shop, Limit: eventsAll}), []maintenance.Event{want[2], want[4], want[7]}, eventOpts); diff != "" {
		t.Errorf("events of site %s (-got +want):\n%s", shop, diff)
	}
}

// testEventFilters checks the fields of maintenance.EventFilter, alone and
// together, against a log written by several actors with several actions,
// and paging back through it with Before.
func (s *suite) testEventFilters(t *testing.T) {
	t.Parallel()
	const a, b = "a.example.com", "b.example.com"
	key := s.h.New(t)
	st, other := s.open(t, key), s.open(t, key)
	for _, c := range []maintenance.Change{
		as(maintenance.AddSites(a, b), "alice", "cli", ""),
		as(maintenance.On([]string{a}, maintenance.OnOptions{}), "bob", "admin", ""),
		as(maintenance.AddIgnore(b, "/health", ""), "alice", "cli", ""),
		as(maintenance.Off([]string{a}), "alice", "cli", ""),
		as(maintenance.On(nil, maintenance.OnOptions{}), "bob", "api", ""),
		as(maintenance.SetRelease("v2"), "carol", "cli", ""),
		as(maintenance.AddUser("dave", fakeHash('d')), "carol", "admin", ""),
		as(maintenance.Off([]string{b}), "alice", "cli", ""),
	} {
		update(t, st, c)
	}
	all := events(t, st, maintenance.EventFilter{Limit: eventsAll})
	if len(all) != 11 {
		t.Fatalf("%d events, want 11: %+v", len(all), all)
	}
	// match is what a filter means, applied to the whole log.
	match := func(f maintenance.EventFilter) []maintenance.Event {
		var got []maintenance.Event
		for _, e := range all {
			if (f.Site == "" || e.Site == f.Site) && (f.Actor == "" || e.Actor == f.Actor) &&
				(f.Action == "" || e.Action == f.Action) && (f.Before == 0 || e.ID < f.Before) {
				got = append(got, e)
			}
		}
		limit := f.Limit
		if limit == 0 {
			limit = maintenance.DefaultEventLimit
		}
		return got[:min(len(got), limit)]
	}
	mid := all[5].ID
	for _, tc := range []struct {
		name   string
		filter maintenance.EventFilter
		count  int // the number of events the filter keeps, to check match
	}{
		{"Actor", maintenance.EventFilter{Actor: "alice"}, 5},
		{"ActorOther", maintenance.EventFilter{Actor: "bob"}, 4},
		{"ActorIsExact", maintenance.EventFilter{Actor: "Alice"}, 0},
		{"ActorUnknown", maintenance.EventFilter{Actor: "mallory"}, 0},
		{"Action", maintenance.EventFilter{Action: "on"}, 4},
		{"ActionIsExact", maintenance.EventFilter{Action: "o"}, 0},
		{"ActionOfTarget", maintenance.EventFilter{Action: "user add"}, 1},
		{"ActionOfRelease", maintenance.EventFilter{Action: "release set"}, 1},
		{"Before", maintenance.EventFilter{Before: mid}, 5},
		{"BeforeOldest", maintenance.EventFilter{Before: all[len(all)-1].ID}, 0},
		{"BeforeNewer", maintenance.EventFilter{Before: all[0].ID + 1000}, 11},
		{"ActorAndAction", maintenance.EventFilter{Actor: "alice", Action: "off"}, 2},
		{"ActorAndSite", maintenance.EventFilter{Actor: "bob", Site: a}, 2},
		{"ActionAndSite", maintenance.EventFilter{Action: "on", Site: b}, 1},
		{"ActionAndLimit", maintenance.EventFilter{Action: "on", Limit: 2}, 2},
		{"BeforeAndSite", maintenance.EventFilter{Before: mid, Site: b}, 2},
		{"BeforeAndLimit", maintenance.EventFilter{Before: mid, Limit: 2}, 2},
		{"All", maintenance.EventFilter{Site: a, Actor: "bob", Action: "on", Before: all[0].ID, Limit: 1}, 1},
		{"AllNone", maintenance.EventFilter{Site: b, Actor: "carol", Action: "on"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := match(tc.filter)
			if len(want) != tc.count {
				t.Fatalf("the suite's own filter keeps %d events, want %d: %+v", len(want), tc.count, want)
			}
			for name, h := range map[string]maintenance.Store{"same handle": st, "second handle": other} {
				if diff := cmp.Diff(events(t, h, tc.filter), want, stateOpts); diff != "" {
					t.Errorf("Events(%+v) through the %s (-got +want):\n%s", tc.filter, name, diff)
				}
			}
		})
	}

	t.Run("Paging", func(t *testing.T) {
		for _, f := range []maintenance.EventFilter{{Limit: 2}, {Limit: 3, Actor: "alice"}, {Limit: 1, Site: a, Action: "on"}} {
			var got []maintenance.Event
			for page := 0; ; page++ {
				evs := events(t, other, f)
				got = append(got, evs...)
				if len(evs) < f.Limit || page > len(all) {
					break
				}
				f.Before = evs[len(evs)-1].ID
			}
			f.Before, f.Limit = 0, eventsAll
			if diff := cmp.Diff(got, match(f), stateOpts); diff != "" {
				t.Errorf("pages of %+v (-got +want):\n%s", f, diff)
			}
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		for _, f := range []maintenance.EventFilter{{Limit: -1}, {Before: -1}, {Before: -1, Site: a},
			// Values no event holds, which PostgreSQL would fail on (NUL,
			// invalid UTF-8): bad input on every store.
			{Actor: "a\x00b"}, {Action: "on\x00"}, {Site: "a\x00b"}, {Actor: "\xff"}, {Actor: strings.Repeat("x", maintenance.MaxText+1)}} {
			if got, err := st.Events(t.Context(), f); !errors.Is(err, maintenance.ErrInvalid) {
				t.Errorf("Events(%+v) = %d events, %v; want an error wrapping %v", f, len(got), err, maintenance.ErrInvalid)
			}
		}
	})
}
