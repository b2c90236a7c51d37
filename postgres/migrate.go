package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// migrationFiles holds the schema, one numbered file per step:
// NNNN_name.sql. The files name tables without a schema: each runs with
// search_path set to the store's schema. A step is never edited once
// released; a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one step of the schema.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded steps in order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: the name must start with a positive number and '_'", base)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", base, err)
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	if len(ms) == 0 {
		return nil, errors.New("no migrations embedded")
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// lockKey is the key of the advisory lock that serializes the migrations of
// one schema across every process that opens it.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/gomaint/maintenance/postgres migrate " + schema))
	return int64(h.Sum64())
}

// migrate brings the schema up to date. Each step runs in its own
// transaction that first takes a transaction-level advisory lock on the
// schema, then checks schema_migrations: when many processes open a new
// schema at once, one applies each step and the others wait for it, then
// find the step recorded.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	latest := ms[len(ms)-1].version
	v, err := s.schemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if err := newer(s.schema, v, latest); err != nil {
		return err
	}
	if v == latest {
		return nil // the common case: no lock taken, nothing written
	}
	for _, m := range ms {
		if err := s.applyMigration(ctx, m, latest); err != nil {
			return fmt.Errorf("applying migration %s: %w", m.name, err)
		}
	}
	return nil
}

// newer refuses a schema that a newer program has migrated further.
func newer(schema string, v, latest int) error {
	if v > latest {
		return fmt.Errorf("schema %q has version %d, newer than this program's %d: use a newer maintenance", schema, v, latest)
	}
	return nil
}

// undefinedTable is PostgreSQL's code for a relation that does not exist.
const undefinedTable = "42P01"

// schemaVersion returns the newest applied step, 0 for a new schema. It only
// reads, in one round trip: every command of the CLI opens a store, and a
// fresh connection would otherwise prepare (and so describe) each statement
// before running it. A schema without schema_migrations (or no schema at all)
// answers undefined_table, which means version 0: applyMigration then takes
// the lock and looks again.
func (s *Store) schemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+s.ident+`.schema_migrations`,
		pgx.QueryExecModeSimpleProtocol).Scan(&v)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == undefinedTable {
		return 0, nil
	}
	return v, err
}

func (s *Store) applyMigration(ctx context.Context, m migration, latest int) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(s.schema)); err != nil {
		return fmt.Errorf("locking the schema: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+s.ident); err != nil {
		return fmt.Errorf("creating the schema: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.ident+`.schema_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	// The table exists now, and the lock keeps its rows still.
	var v int
	var done bool
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0), coalesce(bool_or(version = $1), false) FROM `+s.ident+`.schema_migrations`,
		m.version).Scan(&v, &done); err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	if err := newer(s.schema, v, latest); err != nil {
		return err
	}
	if done {
		return tx.Commit(ctx)
	}
	if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+s.ident); err != nil {
		return fmt.Errorf("setting search_path: %w", err)
	}
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+s.ident+`.schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
		return fmt.Errorf("recording the migration: %w", err)
	}
	return tx.Commit(ctx)
}

// SchemaVersion returns the schema version this package creates and
// migrates to: the number of its newest migration.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}
