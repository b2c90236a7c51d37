package maintenance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/sqlite"
)

// duringState is the state the During tests start from: every kind of
// setting on some site, a window included, so that a restore that forgets
// one shows.
const duringState = `{"sites": [
	{"site": "*", "ignore": [{"value": "/healthz", "note": "probes"}], "allow": [{"value": "10.0.0.0/8"}]},
	{"site": "*.example.com", "error_status": 502},
	{"site": "shop.example.com", "on": true, "mode": "read-only", "message": "Back at 14:00",
	 "reason": "earlier", "status": 500, "retry_after": 300000000000,
	 "redirect": "https://status.example.com/",
	 "from": "2026-01-01T00:00:00Z", "until": "2099-01-01T00:00:00Z",
	 "ignore": [{"value": "POST /webhooks/*"}], "allow": [{"value": "2001:db8::/32", "note": "office"}]}
]}`

// duringSites are the sites the tests switch on: every declared one and a
// new one, which the restore must remove again.
var duringSites = []string{"*", "*.example.com", "shop.example.com", "new.example.com"}

// openDuringStore returns a SQLite store in a temporary directory, holding
// duringState, and its path.
func openDuringStore(t *testing.T) (maintenance.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	store, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var want maintenance.State
	if err := json.Unmarshal([]byte(duringState), &want); err != nil {
		t.Fatal(err)
	}
	setup := maintenance.Change{Actor: "setup@test", Source: "test", Action: "setup", Apply: func(st *maintenance.State, _ string) error {
		st.Sites = want.Sites
		return nil
	}}
	if _, err := store.Update(t.Context(), setup); err != nil {
		t.Fatal(err)
	}
	return store, path
}

func load(t *testing.T, store maintenance.Store) *maintenance.State {
	t.Helper()
	st, err := store.Load(context.WithoutCancel(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sameState compares states apart from their versions, and from ChangedAt
// and ChangedBy: Commit sets those on every switch on or off, the restore's
// included (they say who switched the site last, and when). They are checked
// on the sites that stayed on by checkKept.
var sameState = cmp.Options{
	cmpopts.IgnoreFields(maintenance.State{}, "Version"),
	cmpopts.IgnoreFields(maintenance.SiteState{}, "Version", "ChangedAt", "ChangedBy"),
	cmpopts.EquateEmpty(),
}

// checkRestored fails unless after is before, the bookkeeping aside, and
// shop.example.com, which was on all along, kept who switched it on and when.
func checkRestored(t *testing.T, before, after *maintenance.State) {
	t.Helper()
	if diff := cmp.Diff(after, before, sameState); diff != "" {
		t.Errorf("state after During (-got +want):\n%s", diff)
	}
	if got, want := after.Site("shop.example.com"), before.Site("shop.example.com"); got != nil && (got.ChangedBy != want.ChangedBy || !got.ChangedAt.Equal(want.ChangedAt)) {
		t.Errorf("shop.example.com switched by %s at %s, want %s at %s", got.ChangedBy, got.ChangedAt, want.ChangedBy, want.ChangedAt)
	}
}

// checkOn fails unless every site of duringSites is on with the message "run".
func checkOn(t *testing.T, store maintenance.Store) {
	t.Helper()
	st := load(t, store)
	for _, n := range duringSites {
		if s := st.Site(n); s == nil || !s.On || s.Message != "run" {
			t.Errorf("during fn, site %s is %+v, want on with the message run", n, s)
		}
	}
}

func duringChange() maintenance.Change {
	msg := "run"
	c := maintenance.On(duringSites, maintenance.OnOptions{Message: &msg})
	c.Reason = "db migration"
	return c
}

func TestDuringRestores(t *testing.T) {
	errFn := errors.New("migration failed")
	tests := []struct {
		name    string
		fn      func(ctx context.Context, cancel context.CancelFunc) error
		wantErr error
	}{
		{name: "success", fn: func(context.Context, context.CancelFunc) error { return nil }},
		{name: "fn error", fn: func(context.Context, context.CancelFunc) error { return errFn }, wantErr: errFn},
		{name: "ctx cancelled", fn: func(ctx context.Context, cancel context.CancelFunc) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, _ := openDuringStore(t)
			before := load(t, store)
			if !strings.Contains(fmt.Sprint(before.Site("shop.example.com")), "2099") {
				t.Fatalf("the test state has no window: %+v", before.Site("shop.example.com"))
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			called := false
			err := maintenance.During(ctx, store, duringChange(), func(ctx context.Context) error {
				called = true
				checkOn(t, store)
				return tt.fn(ctx, cancel)
			})
			if !called {
				t.Fatal("During did not call fn")
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("During = %v, want %v", err, tt.wantErr)
			}
			checkRestored(t, before, load(t, store))

			// Both changes are in the log, with the change's reason, the
			// default source and the default actor.
			evs, err := store.Events(t.Context(), maintenance.EventFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			actions := map[string]int{}
			for _, e := range evs {
				if e.Source == "test" {
					continue
				}
				actions[e.Action]++
				if e.Source != "library" || e.Reason != "db migration" || e.Actor != maintenance.Actor() {
					t.Errorf("event %s %s by %s from %s, reason %q; want by %s from library, reason db migration", e.Action, e.Site, e.Actor, e.Source, e.Reason, maintenance.Actor())
				}
			}
			if want := map[string]int{"on": len(duringSites), "restore": len(duringSites)}; !cmp.Equal(actions, want) {
				t.Errorf("events per action %v, want %v", actions, want)
			}
		})
	}
}

func TestDuringPanic(t *testing.T) {
	store, _ := openDuringStore(t)
	before := load(t, store)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic of fn, boom", r)
			}
		}()
		maintenance.During(t.Context(), store, duringChange(), func(context.Context) error {
			checkOn(t, store)
			panic("boom")
		})
		t.Error("During returned after fn panicked")
	}()
	checkRestored(t, before, load(t, store))
}

// A site that someone else changes while fn runs is left as they set it
// and reported; the other sites are restored.
func TestDuringConcurrentChange(t *testing.T) {
	store, path := openDuringStore(t)
	other, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	before := load(t, store)
	errFn := errors.New("migration failed")
	theirs := "theirs"
	var changed *maintenance.State
	err = maintenance.During(t.Context(), store, duringChange(), func(ctx context.Context) error {
		c := maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{Message: &theirs})
		c.Actor, c.Source = "bob@elsewhere", "cli"
		var err error
		if changed, err = other.Update(ctx, c); err != nil {
			t.Fatal(err)
		}
		return errFn
	})
	var skipped *maintenance.RestoreSkippedError
	if !errors.As(err, &skipped) || !errors.Is(err, errFn) {
		t.Fatalf("During = %v, want fn's error and a *RestoreSkippedError", err)
	}
	if diff := cmp.Diff(skipped.Sites, []string{"shop.example.com"}); diff != "" {
		t.Errorf("skipped sites (-got +want):\n%s", diff)
	}
	if got, want := skipped.Error(), "left shop.example.com as it is: changed by someone else meanwhile"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}

	after := load(t, store)
	if diff := cmp.Diff(after.Site("shop.example.com"), changed.Site("shop.example.com")); diff != "" {
		t.Errorf("shop.example.com is not as the other writer left it (-got +want):\n%s", diff)
	}
	// Apart from shop.example.com, everything is restored.
	after.Sites = deleteSite(after.Sites, "shop.example.com")
	before.Sites = deleteSite(before.Sites, "shop.example.com")
	checkRestored(t, before, after)
}

func deleteSite(sites []maintenance.SiteState, name string) []maintenance.SiteState {
	var out []maintenance.SiteState
	for _, s := range sites {
		if s.Site != name {
			out = append(out, s)
		}
	}
	return out
}

// A change that leaves a site as it was has nothing to restore there; one
// that changes nothing at all records nothing, before or after.
func TestDuringNoop(t *testing.T) {
	store, _ := openDuringStore(t)
	events := func() []maintenance.Event {
		evs, err := store.Events(t.Context(), maintenance.EventFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	before, n := load(t, store), len(events())
	c := maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{})
	if err := maintenance.During(t.Context(), store, c, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("During = %v", err)
	}
	if got := len(events()); got != n {
		t.Errorf("a no-op During recorded %d events, want none", got-n)
	}
	if diff := cmp.Diff(load(t, store), before); diff != "" {
		t.Errorf("state after a no-op During (-got +want):\n%s", diff)
	}

	// Only "*", which was off, is switched on and restored (a reason would
	// be kept on shop.example.com, changing it).
	c = maintenance.On([]string{"shop.example.com", "*"}, maintenance.OnOptions{})
	c.Actor = "alice@test"
	if err := maintenance.During(t.Context(), store, c, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("During = %v", err)
	}
	var got []string
	for _, e := range events()[:len(events())-n] {
		got = append(got, fmt.Sprintf("%s %s %s %q %s", e.Action, e.Site, e.Source, e.Reason, e.Actor))
	}
	want := []string{`restore * library "" alice@test`, `on * library "" alice@test`}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("events, newest first (-got +want):\n%s", diff)
	}
	checkRestored(t, before, load(t, store))
}

// A change that cannot be applied is returned, and fn is not called.
func TestDuringInvalidChange(t *testing.T) {
	store, _ := openDuringStore(t)
	before := load(t, store)
	err := maintenance.During(t.Context(), store, maintenance.On([]string{"bad host"}, maintenance.OnOptions{}), func(context.Context) error {
		t.Error("During called fn after a change that failed")
		return nil
	})
	if !errors.Is(err, maintenance.ErrInvalid) {
		t.Errorf("During = %v, want ErrInvalid", err)
	}
	if diff := cmp.Diff(load(t, store), before); diff != "" {
		t.Errorf("state changed (-got +want):\n%s", diff)
	}
}

// During puts the sites in maintenance while a function runs, then back as
// they were, whatever the function does.
func ExampleDuring() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "maintenance.db"))
	if err != nil {
		panic(err)
	}
	defer store.Close()

	msg := "Back in 5 minutes"
	change := maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{Message: &msg})
	change.Reason = "db migration"
	migrate := func(ctx context.Context) error {
		st, _ := store.Load(ctx)
		s := st.Site("shop.example.com")
		fmt.Printf("migrating: on=%v message=%q\n", s.On, s.Message)
		return nil
	}
	if err := maintenance.During(ctx, store, change, migrate); err != nil {
		panic(err)
	}
	st, _ := store.Load(ctx)
	fmt.Println("afterwards, shop.example.com declared:", st.Site("shop.example.com") != nil)
	// Output:
	// migrating: on=true message="Back in 5 minutes"
	// afterwards, shop.example.com declared: false
}
