package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/testenv"
	"github.com/gomaint/maintenance/postgres"
	"github.com/gomaint/maintenance/storetest"
)

// envOpen makes the test binary a helper that opens the store at the URL it
// names and declares the site in envSite: TestOpenProcesses starts several
// at once.
const (
	envOpen = "POSTGRES_TEST_OPEN"
	envSite = "POSTGRES_TEST_SITE"
)

func open(ctx context.Context, key string) (maintenance.Store, error) {
	return postgres.Open(ctx, key)
}

func TestMain(m *testing.M) {
	storetest.HelperMain(open)
	if u := os.Getenv(envOpen); u != "" {
		if err := openAndDeclare(context.Background(), u, os.Getenv(envSite)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(testenv.Run(m))
}

func openAndDeclare(ctx context.Context, rawURL, site string) error {
	st, err := postgres.Open(ctx, rawURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Update(ctx, maintenance.AddSites(site)); err != nil {
		return err
	}
	return st.Close()
}

// withSchema returns rawURL with its schema parameter set to schema.
func withSchema(t testing.TB, rawURL, schema string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("schema", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// newSchema returns a fresh schema name, dropped with everything in it when
// the test ends.
func newSchema(t testing.TB, server string) string {
	t.Helper()
	schema := fmt.Sprintf("storetest_%016x", rand.Uint64())
	dropAtEnd(t, server, schema)
	return schema
}

// dropAtEnd drops schema and everything in it when the test ends.
func dropAtEnd(t testing.TB, server, schema string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
}

// newURL returns the URL of a fresh store on the test server, in a schema of
// its own that is dropped when the test ends.
func newURL(t *testing.T) string {
	t.Helper()
	server := testenv.Postgres(t)
	return withSchema(t, server, newSchema(t, server))
}

// connect opens a plain connection to the test server, closed when the test ends.
func connect(t testing.TB, rawURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("connecting to %s: %v", rawURL, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{New: newURL, Open: open})
}

func mustOpen(t testing.TB, rawURL string) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestOpenURL checks the schema parameter: validated, removed before the URL
// reaches the server, and the rest of the URL kept.
func TestOpenURL(t *testing.T) {
	// Nothing listens on port 1: a URL that gets past validation fails to
	// connect, which the invalid ones must not even try.
	const down = "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=1"
	for _, tc := range []struct {
		name, url string
	}{
		{"Uppercase", down + "&schema=Maint"},
		{"Digit first", down + "&schema=1maint"},
		{"Hyphen", down + "&schema=maint-1"},
		{"Quote", down + "&schema=" + url.QueryEscape(`a"b`)},
		{"Space", down + "&schema=a+b"},
		{"Dollar", down + "&schema=a$b"},
		{"NonASCII", down + "&schema=" + url.QueryEscape("café")},
		{"Empty", down + "&schema="},
		{"Twice", down + "&schema=a&schema=b"},
		{"Reserved", down + "&schema=pg_maint"},
		{"InformationSchema", down + "&schema=information_schema"},
		{"TooLong", down + "&schema=" + strings.Repeat("a", 56)},
		{"NotPostgres", "mysql://root@127.0.0.1/test?schema=maint"},
		{"NotAURL", "host=127.0.0.1 dbname=test"},
		{"BadPgxParameter", down + "&sslmode=sometimes"},
		{"BadEscape", "postgres://postgres:secret@127.0.0.1/test?schema=%zz"},
		{"BadURL", "postgres://postgres:secret@127.0.0.1:port/test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := postgres.Open(t.Context(), tc.url)
			if err == nil {
				st.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.url)
			}
			t.Log(err)
			if !errors.Is(err, maintenance.ErrInvalid) {
				t.Errorf("Open(%q) = %v, want an error wrapping %v", tc.url, err, maintenance.ErrInvalid)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("Open(%q) = %v, which shows the password", tc.url, err)
			}
		})
	}

	t.Run("Default", func(t *testing.T) {
		_, err := postgres.Open(t.Context(), down)
		if err == nil || errors.Is(err, maintenance.ErrInvalid) || !strings.Contains(err.Error(), "schema "+postgres.DefaultSchema) {
			t.Errorf("Open(%q) = %v, want a connection error about schema %s", down, err, postgres.DefaultSchema)
		}
	})

	server := testenv.Postgres(t)
	for _, tc := range []struct {
		name   string
		schema string
	}{
		{"Underscore", fmt.Sprintf("_storetest_%016x", rand.Uint64())},
		{"Longest", fmt.Sprintf("storetest_%016x_%s", rand.Uint64(), strings.Repeat("x", 28))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dropAtEnd(t, server, tc.schema)
			u := withSchema(t, server, tc.schema) + "&application_name=" + tc.schema
			st := mustOpen(t, u)
			if got := st.Schema(); got != tc.schema {
				t.Errorf("Schema() = %q, want %q", got, tc.schema)
			}
			conn := connect(t, server)
			var tables int
			if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, tc.schema).Scan(&tables); err != nil {
				t.Fatal(err)
			}
			if tables == 0 {
				t.Errorf("no tables in schema %s", tc.schema)
			}
			// The other parameters reach the server: the pool keeps the
			// connection that ran the migrations.
			var named int
			if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, tc.schema).Scan(&named); err != nil {
				t.Fatal(err)
			}
			if named == 0 {
				t.Errorf("no connection with application_name %s: the URL's other parameters were lost", tc.schema)
			}
		})
	}
}

// checkMigrations checks that each migration of the schema was applied once
// and that the store holds n changes, one site each.
func checkMigrations(t *testing.T, server, schema string, n int) {
	t.Helper()
	got, err := mustOpen(t, withSchema(t, server, schema)).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != int64(n) || len(got.Sites) != n+1 {
		t.Errorf("state after %d concurrent opens = %+v, want version %d and %d sites", n, got, n, n+1)
	}
	var applied, distinct int
	if err := connect(t, server).QueryRow(t.Context(),
		`SELECT count(*), count(DISTINCT version) FROM `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied == 0 || applied != distinct {
		t.Errorf("schema_migrations has %d rows for %d migrations, want each once", applied, distinct)
	}
}

// TestOpenConcurrently has several goroutines create a schema at once: each
// applies the migrations or waits for them, and none loses its change.
func TestOpenConcurrently(t *testing.T) {
	const n = 8
	server := testenv.Postgres(t)
	schema := newSchema(t, server)
	u := withSchema(t, server, schema)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- openAndDeclare(t.Context(), u, fmt.Sprintf("s%d.example.com", i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	checkMigrations(t, server, schema, n)
}

// TestOpenProcesses has several processes create a schema at once.
func TestOpenProcesses(t *testing.T) {
	const n = 4
	server := testenv.Postgres(t)
	schema := newSchema(t, server)
	u := withSchema(t, server, schema)
	var cmds []*exec.Cmd
	var stderr []*strings.Builder
	for i := range n {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envOpen+"="+u, fmt.Sprintf("%s=s%d.example.com", envSite, i))
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
	checkMigrations(t, server, schema, n)
}

// TestNewerSchema refuses a schema migrated by a newer program.
func TestNewerSchema(t *testing.T) {
	server := testenv.Postgres(t)
	schema := newSchema(t, server)
	u := withSchema(t, server, schema)
	mustOpen(t, u)
	if _, err := connect(t, server).Exec(t.Context(),
		`INSERT INTO `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+` (version, name) VALUES (9999, '9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(t.Context(), u)
	if err == nil {
		st.Close()
		t.Fatal("Open of a schema with a newer version succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "version 9999, newer than this program's") {
		t.Errorf("Open = %q, want it to say the schema is newer", msg)
	}
}

// TestLoadNormalizes reads a document written by hand: unsorted, without "*".
func TestLoadNormalizes(t *testing.T) {
	server := testenv.Postgres(t)
	schema := newSchema(t, server)
	st := mustOpen(t, withSchema(t, server, schema))
	if _, err := connect(t, server).Exec(t.Context(), `UPDATE `+pgx.Identifier{schema, "state"}.Sanitize()+` SET version = 7, doc = $1`,
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
	st := mustOpen(t, newURL(t))
	if _, err := st.Events(t.Context(), maintenance.EventFilter{Limit: -1}); !errors.Is(err, maintenance.ErrInvalid) {
		t.Errorf("Events(Limit -1) = %v, want an error wrapping %v", err, maintenance.ErrInvalid)
	}
}

// TestNotifyOnCommitOnly listens on the store's channel next to the store:
// no-op changes, rejected changes and heartbeats send nothing, so the first
// notification is the real change's.
func TestNotifyOnCommitOnly(t *testing.T) {
	server := testenv.Postgres(t)
	st := mustOpen(t, withSchema(t, server, newSchema(t, server)))
	if _, err := st.Update(t.Context(), maintenance.AddSites("shop.example.com")); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, server)
	if _, err := conn.Exec(t.Context(), "LISTEN "+pgx.Identifier{st.Channel()}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := st.Update(ctx, maintenance.AddSites("shop.example.com")); err != nil {
		t.Fatalf("no-op Update: %v", err)
	}
	if _, err := st.Update(ctx, maintenance.AddIgnore("", "bad", "")); !errors.Is(err, maintenance.ErrInvalid) {
		t.Fatalf("Update with a bad pattern = %v, want %v", err, maintenance.ErrInvalid)
	}
	if err := st.Heartbeat(ctx, maintenance.GateInfo{ID: "g1", Host: "web-1", LastSeen: time.Now()}); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	next, err := st.Update(ctx, maintenance.On(nil, maintenance.OnOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(wctx)
	if err != nil {
		t.Fatalf("waiting for a notification: %v", err)
	}
	if want := strconv.FormatInt(next.Version, 10); n.Payload != want {
		t.Errorf("first notification has payload %q, want %q: something else notified", n.Payload, want)
	}
}

// TestHeartbeatDropsExpired checks that a heartbeat deletes the entries not
// seen for maintenance.GateTTL, rather than only hiding them.
func TestHeartbeatDropsExpired(t *testing.T) {
	server := testenv.Postgres(t)
	schema := newSchema(t, server)
	st := mustOpen(t, withSchema(t, server, schema))
	now := time.Now()
	for _, g := range []maintenance.GateInfo{
		{ID: "stale", LastSeen: now.Add(-maintenance.GateTTL - time.Minute)},
		{ID: "live", LastSeen: now},
	} {
		if err := st.Heartbeat(t.Context(), g); err != nil {
			t.Fatalf("Heartbeat(%s): %v", g.ID, err)
		}
	}
	var ids []string
	rows, err := connect(t, server).Query(t.Context(), `SELECT id FROM `+pgx.Identifier{schema, "gates"}.Sanitize()+` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
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
		t.Errorf("rows of the gates table (-got +want):\n%s", diff)
	}
}

// TestMigrateFromV2 opens a schema made by a program that knew only the
// first two migrations, with an event in it: Open adds the event targets and
// the secrets' tables, and keeps the state and the events.
func TestMigrateFromV2(t *testing.T) {
	server := testenv.Postgres(t)
	schema := newSchema(t, server)
	ident := pgx.Identifier{schema}.Sanitize()
	conn := connect(t, server)
	ctx := t.Context()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, q := range []string{
		`CREATE SCHEMA ` + ident,
		`SET LOCAL search_path TO ` + ident,
		`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i, name := range []string{"0001_init.sql", "0002_release_events.sql"} {
		b, err := os.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, i+1, name); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`UPDATE state SET version = 1, doc = '{"sites":[{"site":"shop.example.com","on":true}]}'`,
		`INSERT INTO events (version, "time", actor, source, reason, action, site) VALUES (1, now(), 'alice', 'cli', '', 'on', 'shop.example.com')`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	st := mustOpen(t, withSchema(t, server, schema))
	if got, err := st.Load(ctx); err != nil || got.Version != 1 || got.Site("shop.example.com") == nil {
		t.Fatalf("Load after the upgrade = %+v, %v; want version 1 with shop.example.com", got, err)
	}
	if key, err := st.Key(ctx); err != nil || len(key) != maintenance.KeySize {
		t.Errorf("Key after the upgrade = %d bytes, %v; want %d bytes", len(key), err, maintenance.KeySize)
	}
	if err := st.CountUses(ctx, map[string]int64{"8d1e0f2c": 2}); err != nil {
		t.Errorf("CountUses after the upgrade: %v", err)
	}
	if uses, err := st.Uses(ctx); err != nil || uses["8d1e0f2c"] != 2 {
		t.Errorf("Uses after the upgrade = %v, %v; want 8d1e0f2c used twice", uses, err)
	}
	if _, err := st.Update(ctx, maintenance.AddUser("alice", "$2a$12$not.a.real.hash")); err != nil {
		t.Fatalf("adding a user after the upgrade: %v", err)
	}
	evs, err := st.Events(ctx, maintenance.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]string
	for _, e := range evs {
		got = append(got, [2]string{e.Action, e.Target})
	}
	if diff := cmp.Diff(got, [][2]string{{"user add", "user alice"}, {"on", ""}}); diff != "" {
		t.Errorf("events after the upgrade, as (action, target) (-got +want):\n%s", diff)
	}
}
