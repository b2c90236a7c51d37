package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/testenv"
	"github.com/gomaint/maintenance/postgres"
)

// listenerPID returns the backend that LISTENs for st, waiting for one that
// is not old.
func listenerPID(t *testing.T, conn *pgx.Conn, st *postgres.Store, old int) int {
	t.Helper()
	query := "LISTEN " + pgx.Identifier{st.Channel()}.Sanitize()
	var pid int
	ok := poll(5*time.Second, func() bool {
		err := conn.QueryRow(t.Context(), `SELECT pid FROM pg_stat_activity WHERE query = $1 AND pid <> $2`, query, old).Scan(&pid)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		return err == nil
	})
	if !ok {
		t.Fatalf("no backend other than %d runs %q", old, query)
	}
	return pid
}

// poll calls cond until it is true or timeout has passed.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// awaitVersion waits for values on ch, reading st after each, until st is at
// version want.
func awaitVersion(t *testing.T, ch <-chan struct{}, st maintenance.Store, want int64) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				t.Fatal("Watch channel closed")
			}
		case <-deadline.C:
			t.Fatalf("no signal for version %d within 5 s", want)
		}
		got, err := st.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got.Version >= want {
			return
		}
	}
}

// TestListenReconnect terminates the listener's backend: the watcher gets a
// value for a change made meanwhile, and for the changes after.
func TestListenReconnect(t *testing.T) {
	u := newURL(t)
	w, wr := mustOpen(t, u), mustOpen(t, u)
	ch, err := w.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	admin := connect(t, testenv.Postgres(t))
	pid := listenerPID(t, admin, w, 0)
	var terminated bool
	if err := admin.QueryRow(t.Context(), `SELECT pg_terminate_backend($1, 5000)`, pid).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("terminating the listener %d: %v, %v", pid, terminated, err)
	}
	s1, err := wr.Update(t.Context(), maintenance.AddSites("a.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	awaitVersion(t, ch, w, s1.Version)

	// LISTEN is in effect again: later changes are notified.
	listenerPID(t, admin, w, pid)
	s2, err := wr.Update(t.Context(), maintenance.AddSites("b.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	awaitVersion(t, ch, w, s2.Version)
}

// TestListenIdleCheck shortens the time after which a quiet listener checks
// its connection: the check keeps the connection (no reconnection, no
// spurious value), and notifications still arrive after it.
func TestListenIdleCheck(t *testing.T) {
	t.Cleanup(postgres.SetIdleCheck(20 * time.Millisecond))
	server := testenv.Postgres(t)
	schema := newSchema(t, server)
	u := withSchema(t, server, schema)
	// The watcher's connections are named, so that its listener can be
	// found whether its last command was LISTEN or a check.
	w, wr := mustOpen(t, u+"&application_name="+schema), mustOpen(t, u)
	ch, err := w.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	admin := connect(t, server)
	var pid int
	checked := poll(5*time.Second, func() bool {
		var query string
		err := admin.QueryRow(t.Context(), `SELECT pid, query FROM pg_stat_activity WHERE application_name = $1 AND query IN ($2, '-- ping')`,
			schema, "LISTEN "+pgx.Identifier{w.Channel()}.Sanitize()).Scan(&pid, &query)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		return query == "-- ping"
	})
	if !checked {
		t.Fatal("the listener did not check its connection within 5 s")
	}
	if n := len(ch); n != 0 {
		t.Errorf("%d values after idle checks, want none", n)
	}
	s, err := wr.Update(t.Context(), maintenance.AddSites("a.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	awaitVersion(t, ch, w, s.Version)
	var alive bool
	if err := admin.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&alive); err != nil {
		t.Fatal(err)
	}
	if !alive {
		t.Errorf("the listener's backend %d is gone: the listener reconnected", pid)
	}
}

// BenchmarkWatchLatency measures the time from a change to the signal of a
// watcher on another handle, including the change's own transaction.
func BenchmarkWatchLatency(b *testing.B) {
	server := testenv.Postgres(b)
	u := withSchema(b, server, newSchema(b, server))
	w := mustOpen(b, u)
	wr := mustOpen(b, u)
	ch, err := w.Watch(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	on := true
	for b.Loop() {
		c := maintenance.Off(nil)
		if on {
			c = maintenance.On(nil, maintenance.OnOptions{})
		}
		on = !on
		if _, err := wr.Update(b.Context(), c); err != nil {
			b.Fatal(err)
		}
		<-ch
	}
}
