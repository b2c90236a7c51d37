package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomaint/maintenance"
)

// testOutbox checks maintenance.Outbox: one holder of a lease at a time,
// taken over when it expires, cursors written only by the holder, bad
// input that writes nothing, and that none of it is a change.
func (s *suite) testOutbox(t *testing.T) {
	t.Parallel()
	t.Run("Lease", s.testLease)
	t.Run("LeaseRace", s.testLeaseRace)
	t.Run("Cursors", s.testCursors)
	t.Run("Invalid", s.testOutboxInvalid)
	t.Run("NotAChange", s.testOutboxNotAChange)
}

// t0 is the clock of the lease tests: leases compare the times given.
var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func takeLease(t *testing.T, st maintenance.Store, holder string, now time.Time, ttl time.Duration) bool {
	t.Helper()
	ok, err := st.TakeLease(t.Context(), "webhooks", holder, now, now.Add(ttl))
	if err != nil {
		t.Fatalf("TakeLease(%s, now %s): %v", holder, now.Format(time.TimeOnly), err)
	}
	return ok
}

func (s *suite) testLease(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	a, b := s.open(t, key), s.open(t, key)
	if !takeLease(t, a, "a", t0, 10*time.Second) {
		t.Fatal("a could not take a free lease")
	}
	if takeLease(t, b, "b", t0.Add(5*time.Second), 10*time.Second) {
		t.Fatal("b took a lease that a holds until t0+10s, at t0+5s")
	}
	// The holder extends it.
	if !takeLease(t, a, "a", t0.Add(8*time.Second), 10*time.Second) {
		t.Fatal("a could not extend its lease")
	}
	if takeLease(t, b, "b", t0.Add(15*time.Second), 10*time.Second) {
		t.Fatal("b took the lease at t0+15s; a extended it until t0+18s")
	}
	// Another lease name is another lease.
	if ok, err := b.TakeLease(t.Context(), "other", "b", t0, t0.Add(time.Second)); err != nil || !ok {
		t.Fatalf("TakeLease(other) = %v, %v; want true: names are separate leases", ok, err)
	}
	// Expired: taken over; the old holder cannot take it back.
	if !takeLease(t, b, "b", t0.Add(18*time.Second), 10*time.Second) {
		t.Fatal("b could not take the lease that expired at t0+18s")
	}
	if takeLease(t, a, "a", t0.Add(19*time.Second), 10*time.Second) {
		t.Fatal("a took back the lease b holds")
	}
	// Dropping: only by the holder.
	if err := a.DropLease(t.Context(), "webhooks", "a"); err != nil {
		t.Fatalf("DropLease by a non-holder: %v", err)
	}
	if takeLease(t, a, "a", t0.Add(20*time.Second), 10*time.Second) {
		t.Fatal("a took the lease after dropping one it did not hold")
	}
	if err := b.DropLease(t.Context(), "webhooks", "b"); err != nil {
		t.Fatalf("DropLease: %v", err)
	}
	if !takeLease(t, a, "a", t0.Add(21*time.Second), 10*time.Second) {
		t.Fatal("a could not take the lease b dropped")
	}
}

// testLeaseRace has handles race for a free lease: one wins.
func (s *suite) testLeaseRace(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	const n = 6
	var wg sync.WaitGroup
	won := make([]bool, n)
	errs := make([]error, n)
	handles := make([]maintenance.Store, n)
	for i := range handles {
		handles[i] = s.open(t, key)
	}
	for i := range n {
		wg.Go(func() {
			won[i], errs[i] = handles[i].TakeLease(t.Context(), "webhooks", fmt.Sprintf("h%d", i), t0, t0.Add(time.Minute))
		})
	}
	wg.Wait()
	wins := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("TakeLease h%d: %v", i, errs[i])
		}
		if won[i] {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d holders won a free lease, want 1 (%v)", wins, won)
	}
}

func (s *suite) testCursors(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	a, b := s.open(t, key), s.open(t, key)
	ctx := t.Context()
	if got, err := a.Cursors(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Cursors of a new store = %v, %v; want none", got, err)
	}
	c := maintenance.Cursor{Event: 42, Clock: t0, ClockID: "w1", Pending: "a43", Attempts: 3,
		FailingSince: t0.Add(-time.Hour), NextAttempt: t0.Add(time.Minute), LastError: "503 Service Unavailable",
		Delivered: 7, LastDelivered: t0.Add(-2 * time.Hour)}
	// Without the lease: refused, nothing written.
	if err := a.SetCursor(ctx, "webhooks", "a", "0a1b2c3d", c); !errors.Is(err, maintenance.ErrLeaseLost) {
		t.Fatalf("SetCursor without the lease = %v, want ErrLeaseLost", err)
	}
	takeLease(t, a, "a", t0, time.Minute)
	if err := a.SetCursor(ctx, "webhooks", "a", "0a1b2c3d", c); err != nil {
		t.Fatalf("SetCursor: %v", err)
	}
	if err := b.SetCursor(ctx, "webhooks", "b", "0a1b2c3d", maintenance.Cursor{Event: 1}); !errors.Is(err, maintenance.ErrLeaseLost) {
		t.Fatalf("SetCursor by a non-holder = %v, want ErrLeaseLost", err)
	}
	got, err := b.Cursors(ctx)
	if err != nil {
		t.Fatalf("Cursors: %v", err)
	}
	if diff := cmp.Diff(map[string]maintenance.Cursor{"0a1b2c3d": c}, got); diff != "" {
		t.Fatalf("Cursors through another handle (-want +got):\n%s", diff)
	}
	// Taken over: the old holder cannot move the cursor back.
	takeLease(t, b, "b", t0.Add(2*time.Minute), time.Minute)
	if err := a.SetCursor(ctx, "webhooks", "a", "0a1b2c3d", maintenance.Cursor{Event: 1}); !errors.Is(err, maintenance.ErrLeaseLost) {
		t.Fatalf("SetCursor by the holder whose lease was taken over = %v, want ErrLeaseLost", err)
	}
	c2 := c
	c2.Event, c2.Pending, c2.Attempts = 43, "", 0
	if err := b.SetCursor(ctx, "webhooks", "b", "0a1b2c3d", c2); err != nil {
		t.Fatalf("SetCursor by the new holder: %v", err)
	}
	if err := b.SetCursor(ctx, "webhooks", "b", "99999999", maintenance.Cursor{Event: 5}); err != nil {
		t.Fatalf("SetCursor of a second webhook: %v", err)
	}
	if err := a.DropCursor(ctx, "webhooks", "a", "99999999"); !errors.Is(err, maintenance.ErrLeaseLost) {
		t.Fatalf("DropCursor by a non-holder = %v, want ErrLeaseLost", err)
	}
	if err := b.DropCursor(ctx, "webhooks", "b", "99999999"); err != nil {
		t.Fatalf("DropCursor: %v", err)
	}
	if err := b.DropCursor(ctx, "webhooks", "b", "77777777"); err != nil {
		t.Fatalf("DropCursor of a missing cursor: %v", err)
	}
	got, err = a.Cursors(ctx)
	if err != nil {
		t.Fatalf("Cursors: %v", err)
	}
	if diff := cmp.Diff(map[string]maintenance.Cursor{"0a1b2c3d": c2}, got); diff != "" {
		t.Fatalf("Cursors at the end (-want +got):\n%s", diff)
	}
}

func (s *suite) testOutboxInvalid(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	st := s.open(t, key)
	ctx := t.Context()
	takeLease(t, st, "a", t0, time.Minute)
	for _, tc := range []struct{ name, lease, holder string }{
		{"EmptyName", "", "a"}, {"EmptyHolder", "webhooks", ""}, {"ControlHolder", "webhooks", "a\nb"},
		{"LongName", string(make([]byte, 300)), "a"},
	} {
		if _, err := st.TakeLease(ctx, tc.lease, tc.holder, t0, t0.Add(time.Minute)); !errors.Is(err, maintenance.ErrInvalid) {
			t.Errorf("%s: TakeLease = %v, want ErrInvalid", tc.name, err)
		}
		if err := st.SetCursor(ctx, tc.lease, tc.holder, "0a1b2c3d", maintenance.Cursor{}); !errors.Is(err, maintenance.ErrInvalid) {
			t.Errorf("%s: SetCursor = %v, want ErrInvalid", tc.name, err)
		}
	}
	for _, id := range []string{"", "x", "not-hex!", "0123456789abcdef0123456789abcdef0"} {
		if err := st.SetCursor(ctx, "webhooks", "a", id, maintenance.Cursor{}); !errors.Is(err, maintenance.ErrInvalid) {
			t.Errorf("SetCursor(id %q) = %v, want ErrInvalid", id, err)
		}
	}
	if got, err := st.Cursors(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Cursors after bad input = %v, %v; want none", got, err)
	}
}

// testOutboxNotAChange checks that leases and cursors leave the state, the
// events and the watchers alone.
func (s *suite) testOutboxNotAChange(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	w, wr := s.open(t, key), s.open(t, key)
	update(t, wr, maintenance.AddSites("shop.example.com"))
	nc := newNotAChange(t, w, wr, "leases and cursors")
	for i := range 5 {
		now := t0.Add(time.Duration(i) * time.Second)
		takeLease(t, wr, "a", now, time.Minute)
		if err := wr.SetCursor(t.Context(), "webhooks", "a", "0a1b2c3d", maintenance.Cursor{Event: int64(i)}); err != nil {
			t.Fatalf("SetCursor: %v", err)
		}
		nc.quiet("after a lease and a cursor", quietPeriod/4)
	}
	if err := wr.DropCursor(t.Context(), "webhooks", "a", "0a1b2c3d"); err != nil {
		t.Fatalf("DropCursor: %v", err)
	}
	if err := wr.DropLease(t.Context(), "webhooks", "a"); err != nil {
		t.Fatalf("DropLease: %v", err)
	}
	nc.quiet("after dropping them", quietPeriod)
	nc.check()
}
