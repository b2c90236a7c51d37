package maintenance_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/state"
)

var (
	// then is when the sites of testState were last switched.
	then = time.Date(2026, 11, 21, 17, 0, 0, 0, time.UTC)
	// now is when the changes of the tests are committed.
	now = time.Date(2026, 11, 21, 18, 0, 0, 123456789, time.UTC)
	// nowMS is now as Commit records it: UTC, to the millisecond.
	nowMS = now.Truncate(time.Millisecond)
)

func ptr[T any](v T) *T { return &v }

// testState returns a state of version 7 with the default site (off, with
// rules), shop.example.com (on, with every activation option and rules) and
// the wildcard *.example.com (off).
func testState() *maintenance.State {
	return &maintenance.State{Version: 7, Sites: []maintenance.SiteState{
		{
			Site:    "*",
			Ignore:  []maintenance.Rule{{Value: "/health"}},
			Allow:   []maintenance.Rule{{Value: "10.0.0.0/8", Note: "office"}},
			Version: 2,
		},
		{Site: "*.example.com", Version: 3},
		{
			Site: "shop.example.com", On: true, Mode: maintenance.ModeReadOnly,
			Message: "Back at six", Reason: "database upgrade", Status: 503,
			RetryAfter: time.Hour, Redirect: "/down",
			Ignore:    []maintenance.Rule{{Value: "POST /webhooks/*", Note: "stripe"}},
			Allow:     []maintenance.Rule{{Value: "203.0.113.7"}},
			ChangedBy: "alice", ChangedAt: then, Version: 7,
		},
	}}
}

// commit commits c on cur as bob from the CLI and fails the test on an
// error. It checks that cur is left untouched.
func commit(t *testing.T, cur *maintenance.State, c maintenance.Change) (*maintenance.State, []maintenance.Event) {
	t.Helper()
	before := cur.Clone()
	c.Actor, c.Source = "bob", "cli"
	next, events, err := state.Commit(cur, c, now)
	if err != nil {
		t.Fatalf("Commit(%s): %v", c.Action, err)
	}
	if diff := cmp.Diff(before, cur); diff != "" {
		t.Errorf("Commit(%s) changed its input state (-before +after):\n%s", c.Action, diff)
	}
	return next, events
}

// site returns the named site of st, failing the test when it is missing.
func site(t *testing.T, st *maintenance.State, name string) maintenance.SiteState {
	t.Helper()
	s := st.Site(name)
	if s == nil {
		t.Fatalf("site %q is not declared", name)
	}
	return *s
}

func TestOnStartsFromDefaultsWhenOff(t *testing.T) {
	cur := testState()
	// Left-overs that Off would have cleared must not come back.
	cur.Site("*.example.com").Status = 500
	cur.Site("*.example.com").Message = "stale"

	c := maintenance.On([]string{"*.Example.com"}, maintenance.OnOptions{Message: ptr("Back soon")})
	c.Reason = "deploy"
	next, _ := commit(t, cur, c)

	want := maintenance.SiteState{
		Site: "*.example.com", On: true, Mode: maintenance.ModeFull, Message: "Back soon", Reason: "deploy",
		ChangedBy: "bob", ChangedAt: nowMS, Version: 8,
	}
	if diff := cmp.Diff(want, site(t, next, "*.example.com"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("site after on (-want +got):\n%s", diff)
	}
}

func TestOnWhileOnChangesOnlyTheGivenOptions(t *testing.T) {
	tests := []struct {
		name   string
		opts   maintenance.OnOptions
		reason string
		edit   func(s *maintenance.SiteState) // applied to the site before, gives the site wanted
	}{
		{
			name: "retry-after only",
			opts: maintenance.OnOptions{RetryAfter: ptr(2 * time.Hour)},
			edit: func(s *maintenance.SiteState) { s.RetryAfter = 2 * time.Hour },
		},
		{
			name: "message and mode",
			opts: maintenance.OnOptions{Message: ptr("Later"), Mode: ptr(maintenance.ModeFull)},
			edit: func(s *maintenance.SiteState) { s.Message, s.Mode = "Later", maintenance.ModeFull },
		},
		{
			name: "status and redirect",
			opts: maintenance.OnOptions{Status: ptr(500), Redirect: ptr("https://status.example.com/")},
			edit: func(s *maintenance.SiteState) { s.Status, s.Redirect = 500, "https://status.example.com/" },
		},
		{
			name: "clearing the message",
			opts: maintenance.OnOptions{Message: ptr("")},
			edit: func(s *maintenance.SiteState) { s.Message = "" },
		},
		{
			name:   "new reason",
			opts:   maintenance.OnOptions{},
			reason: "still upgrading",
			edit:   func(s *maintenance.SiteState) { s.Reason = "still upgrading" },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := testState()
			want := site(t, cur, "shop.example.com")
			want.Ignore = append([]maintenance.Rule(nil), want.Ignore...)
			want.Allow = append([]maintenance.Rule(nil), want.Allow...)
			tc.edit(&want)
			want.Version = 8 // ChangedAt and ChangedBy stay: the site was on and is on

			c := maintenance.On([]string{"shop.example.com"}, tc.opts)
			c.Reason = tc.reason
			next, events := commit(t, cur, c)
			if diff := cmp.Diff(want, site(t, next, "shop.example.com")); diff != "" {
				t.Errorf("site after on (-want +got):\n%s", diff)
			}
			if len(events) != 1 {
				t.Errorf("got %d events; want 1", len(events))
			}
		})
	}
}

func TestOffClearsActivationAndKeepsRules(t *testing.T) {
	cur := testState()
	c := maintenance.Off([]string{"shop.example.com"})
	c.Reason = "upgrade done"
	next, events := commit(t, cur, c)

	old := site(t, cur, "shop.example.com")
	want := maintenance.SiteState{
		Site: "shop.example.com", Ignore: old.Ignore, Allow: old.Allow,
		ChangedBy: "bob", ChangedAt: nowMS, Version: 8,
	}
	if diff := cmp.Diff(want, site(t, next, "shop.example.com")); diff != "" {
		t.Errorf("site after off (-want +got):\n%s", diff)
	}
	if len(events) != 1 || events[0].Reason != "upgrade done" || events[0].Action != "off" {
		t.Errorf("events = %+v; want one off event with the reason", events)
	}
}

func TestOnAndOffWithoutSitesActOnEverySite(t *testing.T) {
	cur := testState()
	next, events := commit(t, cur, maintenance.On(nil, maintenance.OnOptions{Message: ptr("Fleet-wide")}))
	for _, s := range next.Sites {
		if !s.On || s.Message != "Fleet-wide" {
			t.Errorf("after on with no site: %q is on=%v with message %q; want on with the message", s.Site, s.On, s.Message)
		}
	}
	if got, want := eventSites(events), []string{"*", "*.example.com", "shop.example.com"}; !cmp.Equal(got, want) {
		t.Errorf("events for %q; want %q", got, want)
	}

	next, events = commit(t, next, maintenance.Off(nil))
	for _, s := range next.Sites {
		if s.On {
			t.Errorf("after off with no site: %q is on", s.Site)
		}
	}
	if len(events) != 3 {
		t.Errorf("off with no site: %d events; want 3", len(events))
	}
}

func TestOnDeclaresNewSites(t *testing.T) {
	cur := testState()
	next, events := commit(t, cur, maintenance.On([]string{"New.Example.org", "new.example.org."}, maintenance.OnOptions{}))
	got := site(t, next, "new.example.org")
	if !got.On || got.Mode != maintenance.ModeFull || got.Version != 8 {
		t.Errorf("new site = %+v; want on, in full mode, at version 8", got)
	}
	if len(events) != 1 || events[0].Before != nil || events[0].After == nil || events[0].Site != "new.example.org" {
		t.Errorf("events = %+v; want one event with no Before", events)
	}
	if len(next.Sites) != len(cur.Sites)+1 {
		t.Errorf("%d sites; want %d", len(next.Sites), len(cur.Sites)+1)
	}
}

func TestCommitEvents(t *testing.T) {
	cur := testState()
	c := maintenance.On([]string{"shop.example.com", "*.example.com", "*"}, maintenance.OnOptions{Message: ptr("Back at six")})
	c.Reason = "database upgrade"
	next, events := commit(t, cur, c)

	if next.Version != cur.Version+1 {
		t.Errorf("version %d; want %d", next.Version, cur.Version+1)
	}
	// shop.example.com is already on with this message and reason: it does not change.
	if got, want := eventSites(events), []string{"*", "*.example.com"}; !cmp.Equal(got, want) {
		t.Fatalf("events for %q; want %q", got, want)
	}
	if got := site(t, next, "shop.example.com"); got.Version != 7 {
		t.Errorf("unchanged site has version %d; want 7", got.Version)
	}
	for _, e := range events {
		want := maintenance.Event{
			Version: 8, Time: nowMS, Actor: "bob", Source: "cli", Reason: "database upgrade", Action: "on", Site: e.Site,
			Before: cur.Site(e.Site), After: next.Site(e.Site),
		}
		if diff := cmp.Diff(want, e); diff != "" {
			t.Errorf("event for %q (-want +got):\n%s", e.Site, diff)
		}
		if e.Before.On || !e.After.On {
			t.Errorf("event for %q: on %v -> %v; want false -> true", e.Site, e.Before.On, e.After.On)
		}
	}

	t.Run("removed site", func(t *testing.T) {
		next, events := commit(t, cur, maintenance.RemoveSite("shop.example.com"))
		if next.Site("shop.example.com") != nil {
			t.Error("the site is still declared")
		}
		want := []maintenance.Event{{
			Version: 8, Time: nowMS, Actor: "bob", Source: "cli", Action: "sites rm", Site: "shop.example.com",
			Before: cur.Site("shop.example.com"),
		}}
		if diff := cmp.Diff(want, events); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("rule change keeps who switched the site", func(t *testing.T) {
		next, _ := commit(t, cur, maintenance.AddIgnore("shop.example.com", "/status", ""))
		got := site(t, next, "shop.example.com")
		if got.ChangedBy != "alice" || !got.ChangedAt.Equal(then) || got.Version != 8 {
			t.Errorf("after adding a rule: changed by %q at %v, version %d; want alice at %v, version 8", got.ChangedBy, got.ChangedAt, got.Version, then)
		}
	})
}

func TestCommitNoOp(t *testing.T) {
	tests := []struct {
		name string
		c    maintenance.Change
	}{
		{name: "off on a site that is off", c: maintenance.Off([]string{"*.example.com"})},
		{name: "on with nothing new", c: maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{Message: ptr("Back at six")})},
		{name: "declaring a declared site", c: maintenance.AddSites("shop.example.com", "*")},
		{name: "declaring no site", c: maintenance.AddSites()},
		{name: "adding a pattern that is there", c: maintenance.AddIgnore("", "/health", "")},
		{name: "adding an entry that is there, spelled differently", c: maintenance.AddAllow("*", "::ffff:10.0.0.0/104", "office")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := testState()
			next, events := commit(t, cur, tc.c)
			if next != cur {
				t.Errorf("Commit returned a new state for a change that changes nothing")
			}
			if events != nil {
				t.Errorf("events = %+v; want none", events)
			}
		})
	}
}

func TestRuleChanges(t *testing.T) {
	tests := []struct {
		name       string
		c          maintenance.Change
		site       string
		wantIgnore []maintenance.Rule
		wantAllow  []maintenance.Rule
	}{
		{
			name: "ignore add canonicalizes, on * by default",
			c:    maintenance.AddIgnore("", "  POST   /hooks/* ", "ci"),
			site: "*", wantIgnore: []maintenance.Rule{{Value: "/health"}, {Value: "POST /hooks/*", Note: "ci"}},
			wantAllow: []maintenance.Rule{{Value: "10.0.0.0/8", Note: "office"}},
		},
		{
			name: "ignore add of a present pattern updates its note",
			c:    maintenance.AddIgnore("*", "/health", "load balancer"),
			site: "*", wantIgnore: []maintenance.Rule{{Value: "/health", Note: "load balancer"}},
			wantAllow: []maintenance.Rule{{Value: "10.0.0.0/8", Note: "office"}},
		},
		{
			name: "ignore rm",
			c:    maintenance.RemoveIgnore("shop.example.com", "POST /webhooks/*"),
			site: "shop.example.com", wantAllow: []maintenance.Rule{{Value: "203.0.113.7"}},
		},
		{
			name: "allow add stores the canonical form",
			c:    maintenance.AddAllow("shop.example.com", " ::ffff:198.51.100.9 ", ""),
			site: "shop.example.com", wantIgnore: []maintenance.Rule{{Value: "POST /webhooks/*", Note: "stripe"}},
			wantAllow: []maintenance.Rule{{Value: "203.0.113.7"}, {Value: "198.51.100.9"}},
		},
		{
			name: "allow add of a CIDR",
			c:    maintenance.AddAllow("", "2001:DB8::/32", "vpn"),
			site: "*", wantIgnore: []maintenance.Rule{{Value: "/health"}},
			wantAllow: []maintenance.Rule{{Value: "10.0.0.0/8", Note: "office"}, {Value: "2001:db8::/32", Note: "vpn"}},
		},
		{
			name: "allow rm spelled differently",
			c:    maintenance.RemoveAllow("shop.example.com", "203.0.113.7/32"),
			site: "shop.example.com", wantIgnore: []maintenance.Rule{{Value: "POST /webhooks/*", Note: "stripe"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, events := commit(t, testState(), tc.c)
			got := site(t, next, tc.site)
			if diff := cmp.Diff(tc.wantIgnore, got.Ignore, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ignore rules (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantAllow, got.Allow, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("allow rules (-want +got):\n%s", diff)
			}
			if len(events) != 1 || events[0].Site != tc.site {
				t.Errorf("events for %q; want one for %q", eventSites(events), tc.site)
			}
		})
	}
}

func TestCommitRejects(t *testing.T) {
	tests := []struct {
		name    string
		c       maintenance.Change
		reason  string
		wantErr error
	}{
		{name: "no apply", c: maintenance.Change{Action: "nothing"}, wantErr: maintenance.ErrInvalid},
		{name: "reason too long", c: maintenance.Off(nil), reason: strings.Repeat("x", maintenance.MaxText+1), wantErr: maintenance.ErrInvalid},
		{name: "reason not UTF-8", c: maintenance.Off(nil), reason: "\xff", wantErr: maintenance.ErrInvalid},
		{name: "on with a bad site", c: maintenance.On([]string{"shop.example.com", "bad_site"}, maintenance.OnOptions{}), wantErr: maintenance.ErrInvalid},
		{name: "on with a bad mode, half-way", c: maintenance.On([]string{"new.example.com"}, maintenance.OnOptions{Mode: ptr(maintenance.Mode("partial"))}), wantErr: maintenance.ErrInvalid},
		{name: "on with a bad status", c: maintenance.On(nil, maintenance.OnOptions{Status: ptr(302)}), wantErr: maintenance.ErrInvalid},
		{name: "on with a short retry-after", c: maintenance.On(nil, maintenance.OnOptions{RetryAfter: ptr(500 * time.Millisecond)}), wantErr: maintenance.ErrInvalid},
		{name: "on with a long retry-after", c: maintenance.On(nil, maintenance.OnOptions{RetryAfter: ptr(maintenance.MaxRetryAfter + time.Second)}), wantErr: maintenance.ErrInvalid},
		{name: "on with a bad redirect", c: maintenance.On(nil, maintenance.OnOptions{Redirect: ptr("javascript:alert(1)")}), wantErr: maintenance.ErrInvalid},
		{name: "on with a long message", c: maintenance.On(nil, maintenance.OnOptions{Message: ptr(strings.Repeat("x", maintenance.MaxText+1))}), wantErr: maintenance.ErrInvalid},
		{name: "off on an undeclared site", c: maintenance.Off([]string{"shop.example.com", "nope.example.com"}), wantErr: maintenance.ErrNotFound},
		{name: "declaring a bad site", c: maintenance.AddSites("ok.example.com", "shop.example.com:80"), wantErr: maintenance.ErrInvalid},
		{name: "removing the default site", c: maintenance.RemoveSite("*"), wantErr: maintenance.ErrInvalid},
		{name: "removing an undeclared site", c: maintenance.RemoveSite("nope.example.com"), wantErr: maintenance.ErrNotFound},
		{name: "ignore add of a bad pattern", c: maintenance.AddIgnore("", "health", ""), wantErr: maintenance.ErrInvalid},
		{name: "ignore add on an undeclared site", c: maintenance.AddIgnore("nope.example.com", "/x", ""), wantErr: maintenance.ErrNotFound},
		{name: "ignore add with a note not UTF-8", c: maintenance.AddIgnore("", "/x", "\xff"), wantErr: maintenance.ErrInvalid},
		{name: "ignore rm of a missing pattern", c: maintenance.RemoveIgnore("", "/missing"), wantErr: maintenance.ErrNotFound},
		{name: "allow add with host bits", c: maintenance.AddAllow("", "10.0.0.1/8", ""), wantErr: maintenance.ErrInvalid},
		{name: "allow add with a long note", c: maintenance.AddAllow("", "10.0.0.1", strings.Repeat("x", maintenance.MaxText+1)), wantErr: maintenance.ErrInvalid},
		{name: "allow rm of a missing entry", c: maintenance.RemoveAllow("*", "192.0.2.1"), wantErr: maintenance.ErrNotFound},
		{name: "apply error", c: maintenance.Change{Action: "custom", Apply: func(st *maintenance.State, _ string) error {
			st.Sites[0].On = true
			st.Sites = st.Sites[:1]
			return maintenance.ErrConflict
		}}, wantErr: maintenance.ErrConflict},
		{name: "apply leaving an invalid state", c: maintenance.Change{Action: "custom", Apply: func(st *maintenance.State, _ string) error {
			st.Site("*").Ignore = append(st.Site("*").Ignore, maintenance.Rule{Value: "nope"})
			return nil
		}}, wantErr: maintenance.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := testState()
			before := cur.Clone()
			tc.c.Reason = tc.reason
			next, events, err := state.Commit(cur, tc.c, now)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Commit error = %v; want one wrapping %v", err, tc.wantErr)
			}
			if next != nil || events != nil {
				t.Errorf("Commit returned a state (%v) or events (%d) with its error", next != nil, len(events))
			}
			if diff := cmp.Diff(before, cur); diff != "" {
				t.Errorf("a rejected change modified the input state (-before +after):\n%s", diff)
			}
		})
	}
}

// eventSites returns the sites of events, in order.
func eventSites(events []maintenance.Event) []string {
	var sites []string
	for _, e := range events {
		sites = append(sites, e.Site)
	}
	return sites
}

// TestCommitNormalizesCur: a state without "*" or out of order is compared
// in its normal form, so no spurious event is produced.
func TestCommitNormalizesCur(t *testing.T) {
	cur := &maintenance.State{Version: 3, Sites: []maintenance.SiteState{{Site: "b.example.com"}, {Site: "a.example.com"}}}
	next, events, err := state.Commit(cur, maintenance.AddSites("a.example.com"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 0 || next.Version != 3 || next.Site(maintenance.DefaultSite) == nil || next.Sites[0].Site != "*" {
		t.Errorf("no-op on an unnormalized state: version %d, %d events, sites %+v", next.Version, len(events), next.Sites)
	}
	_, events, err = state.Commit(cur, maintenance.On([]string{"a.example.com"}, maintenance.OnOptions{}), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Site != "a.example.com" {
		t.Errorf("events = %+v, want one for a.example.com", events)
	}
}

func TestSetRelease(t *testing.T) {
	st := &maintenance.State{}
	st.Normalize()
	next, events, err := state.Commit(st, maintenance.SetRelease("v2"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if next.Release != "v2" || next.Version != 1 || len(events) != 1 || events[0].Site != "" || events[0].ReleaseBefore != "" || events[0].ReleaseAfter != "v2" {
		t.Fatalf("set v2: release %q, version %d, events %+v", next.Release, next.Version, events)
	}
	if same, events, err := state.Commit(next, maintenance.SetRelease("v2"), time.Now()); err != nil || same != next || len(events) != 0 {
		t.Errorf("setting the same release again: %v, %d events, want a no-op", err, len(events))
	}
	back, events, err := state.Commit(next, maintenance.SetRelease("v1"), time.Now())
	if err != nil || back.Release != "v1" || len(events) != 1 || events[0].ReleaseBefore != "v2" {
		t.Errorf("rollback to v1: %v, release %q, events %+v", err, back.Release, events)
	}
	for _, bad := range []string{"", "two words", strings.Repeat("x", 129), "tab\there", "é"} {
		if _, _, err := state.Commit(next, maintenance.SetRelease(bad), time.Now()); !errors.Is(err, maintenance.ErrInvalid) || !strings.Contains(err.Error(), "release") {
			t.Errorf("SetRelease(%q) = %v, want ErrInvalid naming the release", bad, err)
		}
	}
}

func TestSetErrorStatus(t *testing.T) {
	st := &maintenance.State{}
	st.Normalize()
	next, _, err := state.Commit(st, maintenance.SetErrorStatus("", 500), time.Now())
	if err != nil || next.Site("*").ErrorStatus != 500 {
		t.Fatalf("SetErrorStatus(*, 500): %v", err)
	}
	next, _, err = state.Commit(next, maintenance.Off(nil), time.Now())
	if err != nil || next.Site("*").ErrorStatus != 500 {
		t.Errorf("off cleared the error status: %v", err)
	}
	for _, code := range []int{302, 99, 600} {
		if _, _, err := state.Commit(st, maintenance.SetErrorStatus("", code), time.Now()); !errors.Is(err, maintenance.ErrInvalid) {
			t.Errorf("SetErrorStatus(%d) = %v, want ErrInvalid", code, err)
		}
	}
	if _, _, err := state.Commit(st, maintenance.SetErrorStatus("nope.example.com", 500), time.Now()); !errors.Is(err, maintenance.ErrNotFound) {
		t.Errorf("SetErrorStatus on an undeclared site = %v, want ErrNotFound", err)
	}
}

func TestRestore(t *testing.T) {
	st := &maintenance.State{}
	st.Normalize()
	before, _, _ := state.Commit(st, maintenance.On([]string{"a.example.com"}, maintenance.OnOptions{Message: ptr("old")}), time.Now())
	before, _, _ = state.Commit(before, maintenance.AddIgnore("a.example.com", "/x", "keep"), time.Now())
	on, _, _ := state.Commit(before, maintenance.On([]string{"a.example.com", "b.example.com", "*"}, maintenance.OnOptions{Message: ptr("run")}), time.Now())
	want := map[string]int64{}
	for _, n := range []string{"a.example.com", "b.example.com", "*"} {
		want[n] = on.Site(n).Version
	}
	// Someone else changes "*" meanwhile.
	other, _, _ := state.Commit(on, maintenance.On([]string{"*"}, maintenance.OnOptions{Message: ptr("theirs")}), time.Now())
	var skipped []string
	after, _, err := state.Commit(other, state.Restore(before, want, &skipped), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if a := after.Site("a.example.com"); a == nil || a.Message != "old" || len(a.Ignore) != 1 || a.Ignore[0].Note != "keep" || !a.On {
		t.Errorf("a.example.com not restored: %+v", a)
	}
	if after.Site("b.example.com") != nil {
		t.Errorf("b.example.com, declared by the run, was not removed")
	}
	if s := after.Site("*"); s.Message != "theirs" {
		t.Errorf("* was changed by someone else and restored anyway: %+v", s)
	}
	if diff := cmp.Diff(skipped, []string{"*"}); diff != "" {
		t.Errorf("skipped (-got +want):\n%s", diff)
	}
}

// TestRestoreKeepsStampsAndEndedWindows: a restore puts back who switched a
// site and when, and a window that ended meanwhile.
func TestRestoreKeepsStampsAndEndedWindows(t *testing.T) {
	t0 := time.Now()
	until := t0.Add(time.Minute)
	st := &maintenance.State{}
	st.Normalize()
	before, _, _ := state.Commit(st, maintenance.On(nil, maintenance.OnOptions{Until: &until}), t0)
	var zero time.Time
	on, _, err := state.Commit(before, maintenance.On(nil, maintenance.OnOptions{From: &zero, Until: &zero}), t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var skipped []string
	later := t0.Add(time.Hour) // the old window has ended
	after, _, err := state.Commit(on, state.Restore(before, map[string]int64{"*": on.Site("*").Version}, &skipped), later)
	if err != nil {
		t.Fatalf("restoring a window that ended meanwhile: %v", err)
	}
	s, b := after.Site("*"), before.Site("*")
	if !s.Until.Equal(b.Until) || !s.ChangedAt.Equal(b.ChangedAt) || s.ChangedBy != b.ChangedBy {
		t.Errorf("restored %+v, want until %s and changed at %s as before", s, b.Until, b.ChangedAt)
	}
}

func TestCommitRejectsBadActor(t *testing.T) {
	st := &maintenance.State{}
	st.Normalize()
	c := maintenance.On(nil, maintenance.OnOptions{})
	c.Actor = "eve\nforged log line"
	if _, _, err := state.Commit(st, c, time.Now()); !errors.Is(err, maintenance.ErrInvalid) {
		t.Errorf("an actor with a newline: %v, want ErrInvalid", err)
	}
}

func TestDecodeState(t *testing.T) {
	st, err := state.DecodeState([]byte(`{"version":1,"sites":[{"site":"b.example.com","version":9}],"release":"v1"}`), 9)
	if err != nil || st.Version != 9 || st.Release != "v1" || len(st.Sites) != 2 || st.Sites[0].Site != "*" {
		t.Errorf("DecodeState = %+v, %v; want version 9 from beside the document, * declared", st, err)
	}
	if st, err := state.DecodeState(nil, 0); err != nil || st.Version != 0 || st.Site("*") == nil {
		t.Errorf("an empty document: %+v, %v; want the empty state", st, err)
	}
	if _, err := state.DecodeState([]byte(`{not json`), 1); err == nil || !strings.Contains(err.Error(), "decoding the state document") {
		t.Errorf("a damaged document: %v, want an error saying so", err)
	}
}
