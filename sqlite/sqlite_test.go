package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/sqlite"
	"github.com/gomaint/maintenance/storetest"
)

// envOpen makes the test binary a helper that opens the database it names and
// declares the site in envSite: TestOpenConcurrently starts several at once.
const (
	envOpen = "SQLITE_TEST_OPEN"
	envSite = "SQLITE_TEST_SITE"
)

func open(ctx context.Context, key string) (maintenance.Store, error) {
	return sqlite.Open(ctx, key)
}

func TestMain(m *testing.M) {
	storetest.HelperMain(open)
	if path := os.Getenv(envOpen); path != "" {
		if err := openAndDeclare(context.Background(), path, os.Getenv(envSite)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func openAndDeclare(ctx context.Context, path, site string) error {
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Update(ctx, maintenance.AddSites(site)); err != nil {
		return err
	}
	return st.Close()
}

func newPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "maintenance.db")
}

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{New: newPath, Open: open})
}

func mustOpen(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestTwoHandles(t *testing.T) {
	path := newPath(t)
	a, b := mustOpen(t, path), mustOpen(t, path)
	ctx := t.Context()
	if _, err := a.Update(ctx, maintenance.AddSites("a.example.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Update(ctx, maintenance.On([]string{"a.example.com"}, maintenance.OnOptions{})); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]*sqlite.Store{"a": a, "b": b} {
		got, err := h.Load(ctx)
		if err != nil {
			t.Fatalf("Load through %s: %v", name, err)
		}
		if got.Version != 2 || got.Site("a.example.com") == nil || !got.Site("a.example.com").On {
			t.Errorf("state through %s = %+v, want version 2 with a.example.com on", name, got)
		}
		evs, err := h.Events(ctx, maintenance.EventFilter{})
		if err != nil {
			t.Fatalf("Events through %s: %v", name, err)
		}
		if len(evs) != 2 {
			t.Errorf("%d events through %s, want 2", len(evs), name)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	// A directory this process cannot write: /proc refuses even root.
	unwritable := filepath.Join(t.TempDir(), "ro", "m.db")
	if err := os.Mkdir(filepath.Dir(unwritable), 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		unwritable = "/proc/maintenance.db"
		if runtime.GOOS != "linux" {
			unwritable = ""
		}
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("not a database, just some text that is long enough to have a header\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		want string
	}{
		{"Directory", dir, "is a directory"},
		{"MissingDirectory", filepath.Join(dir, "missing", "m.db"), "no such file or directory"},
		{"ParentIsAFile", filepath.Join(file, "m.db"), "not a directory"},
		{"NotADatabase", file, "not a database"},
		{"Empty", "", "empty"},
		{"Unwritable", unwritable, "unable to open database file (14): open " + unwritable + ": "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "Unwritable" && unwritable == "" {
				t.Skip("no unwritable directory for root on " + runtime.GOOS)
			}
			st, err := sqlite.Open(t.Context(), tc.path)
			if err == nil {
				st.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.path)
			}
			t.Log(err)
			if msg := err.Error(); !strings.Contains(msg, tc.path) || !strings.Contains(msg, tc.want) {
				t.Errorf("Open(%q) = %q, want an error that names the path and says %q", tc.path, msg, tc.want)
			}
		})
	}
}

// TestOpenConcurrently has several processes create the database at once:
// each applies the schema or finds it applied, and none loses its change.
func TestOpenConcurrently(t *testing.T) {
	const n = 4
	path := newPath(t)
	var cmds []*exec.Cmd
	var stderr []*strings.Builder
	for i := range n {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envOpen+"="+path, fmt.Sprintf("%s=s%d.example.com", envSite, i))
		var b strings.Builder
		cmd.Stderr = &b
		cmds, stderr = append(cmds, cmd), append(stderr, &b)
	}
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, stderr[i])
		}
	}
	got, err := mustOpen(t, path).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != n || len(got.Sites) != n+1 {
		t.Errorf("state after %d processes = %+v, want version %d and %d sites", n, got, n, n+1)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var applied, distinct int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied == 0 || applied != distinct {
		t.Errorf("schema_migrations has %d rows for %d migrations, want each once", applied, distinct)
	}
}

// TestLoadNormalizes reads a document written by hand: unsorted, without "*".
func TestLoadNormalizes(t *testing.T) {
	path := newPath(t)
	st := mustOpen(t, path)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE state SET version = 7, doc = ? WHERE id = 1`,
		`{"sites":[{"site":"b.example.com","on":true},{"site":"a.example.com"}]}`); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := &maintenance.State{Version: 7, Sites: []maintenance.SiteState{
		{Site: "*"}, {Site: "a.example.com"}, {Site: "b.example.com", On: true},
	}}
	if diff := cmp.Diff(got, want, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Load (-got +want):\n%s", diff)
	}
}

func TestEventsNegativeLimit(t *testing.T) {
	st := mustOpen(t, newPath(t))
	if _, err := st.Events(t.Context(), maintenance.EventFilter{Limit: -1}); !errors.Is(err, maintenance.ErrInvalid) {
		t.Errorf("Events(Limit -1) = %v, want an error wrapping %v", err, maintenance.ErrInvalid)
	}
}

// TestOddPath opens a path with characters that mean something in a URI.
func TestOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b?c#d%25e&f")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "m?x=1.db")
	st := mustOpen(t, path)
	if _, err := st.Update(t.Context(), maintenance.AddSites("shop.example.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not at the path given: %v", err)
	}
	got, err := mustOpen(t, path).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 {
		t.Errorf("version through a second handle = %d, want 1", got.Version)
	}
}

// BenchmarkWatchLatency measures the time from a change to the signal of a
// watcher on another handle. Each change is made just after a poll found the
// previous one, so this is the worst case: about PollInterval.
func BenchmarkWatchLatency(b *testing.B) {
	path := filepath.Join(b.TempDir(), "maintenance.db")
	w, err := sqlite.Open(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	wr, err := sqlite.Open(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer wr.Close()
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

// TestGatesStaleRowsDropped puts the row of a gate that stopped without
// ForgetGate in the table, as a crashed process leaves it: it is never
// listed, and the next heartbeat deletes it.
func TestGatesStaleRowsDropped(t *testing.T) {
	path := newPath(t)
	st := mustOpen(t, path)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seen := time.Now().Add(-maintenance.GateTTL - time.Second)
	if _, err := db.Exec(`INSERT INTO gates (id, info, last_seen) VALUES ('dead', '{"id":"dead"}', ?)`, seen.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM gates`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	got, err := st.Gates(t.Context())
	if err != nil || len(got) != 0 {
		t.Fatalf("Gates = %+v, %v; want none", got, err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d rows after Gates, want the stale one kept: Gates only reads", n)
	}
	now := time.Now()
	if err := st.Heartbeat(t.Context(), maintenance.GateInfo{ID: "live", Started: now, LastSeen: now}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	rows, err := db.Query(`SELECT id FROM gates ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ids, []string{"live"}); diff != "" {
		t.Errorf("rows after a heartbeat (-got +want):\n%s", diff)
	}
}

// TestMigrateFromV1 opens a database made by a program that knew only the
// first migration: Open adds the later tables and columns and keeps the
// state.
func TestMigrateFromV1(t *testing.T) {
	path := newPath(t)
	initSQL, err := os.ReadFile(filepath.Join("migrations", "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		string(initSQL),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', '2026-01-01T00:00:00Z')`,
		`UPDATE state SET version = 3, doc = '{"sites":[{"site":"shop.example.com","on":true}]}'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	st := mustOpen(t, path)
	got, err := st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s := got.Site("shop.example.com"); got.Version != 3 || s == nil || !s.On {
		t.Errorf("state after the upgrade = %+v, want version 3 with shop.example.com on", got)
	}
	now := time.Now()
	if err := st.Heartbeat(t.Context(), maintenance.GateInfo{ID: "g", Version: 3, Started: now, LastSeen: now}); err != nil {
		t.Fatalf("Heartbeat after the upgrade: %v", err)
	}
	if gates, err := st.Gates(t.Context()); err != nil || len(gates) != 1 || gates[0].Version != 3 {
		t.Errorf("Gates after the upgrade = %+v, %v; want gate g at version 3", gates, err)
	}
	if key, err := st.Key(t.Context()); err != nil || len(key) != maintenance.KeySize {
		t.Errorf("Key after the upgrade = %d bytes, %v; want %d bytes", len(key), err, maintenance.KeySize)
	}
	if err := st.CountUses(t.Context(), map[string]int64{"8d1e0f2c": 2}); err != nil {
		t.Errorf("CountUses after the upgrade: %v", err)
	}
	if uses, err := st.Uses(t.Context()); err != nil || uses["8d1e0f2c"] != 2 {
		t.Errorf("Uses after the upgrade = %v, %v; want 8d1e0f2c used twice", uses, err)
	}
	if _, err := st.Update(t.Context(), maintenance.AddUser("alice", "$2a$12$not.a.real.hash")); err != nil {
		t.Fatalf("adding a user after the upgrade: %v", err)
	}
	if evs, err := st.Events(t.Context(), maintenance.EventFilter{}); err != nil || len(evs) != 1 || evs[0].Target != "user alice" {
		t.Errorf("Events after the upgrade = %+v, %v; want one event about user alice", evs, err)
	}
	var names []string
	rows, err := db.Query(`SELECT name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if diff := cmp.Diff(names, []string{"0001_init.sql", "0002_gates.sql", "0003_release_events.sql", "0004_auth.sql", "0005_webhooks.sql"}); diff != "" {
		t.Errorf("schema_migrations (-got +want):\n%s", diff)
	}
}

// TestNewFileIsPrivate: a new database, which holds the server key and the
// password hashes, is readable by its owner only.
func TestNewFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Key(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group and others", filepath.Base(p), m)
		}
	}
}
