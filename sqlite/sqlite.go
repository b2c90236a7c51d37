// Package sqlite is a maintenance.Store kept in an SQLite database file, with
// the pure-Go driver modernc.org/sqlite (no cgo).
//
// The state is one JSON document in a table of one row, next to its version;
// the audit log is a table of events indexed by site. Every change is one
// immediate (write-locking) transaction that reads the document, applies the
// change with state.Commit and writes the new document and its events,
// so processes that share the file never lose a change. The database runs in
// WAL mode: readers never wait for the writer.
//
// Watch polls PRAGMA data_version, which SQLite changes when another
// connection commits, on a connection of its own every 50 ms, and when it
// moved, the state's version: a change made by any process that shares the
// file reaches watchers within about that time.
//
// The gate registry is a table of its own, one row per gate, holding its
// maintenance.GateInfo as JSON and its last heartbeat. A heartbeat writes
// that table only (and drops the rows older than maintenance.GateTTL): it
// moves data_version but not the state's version, so it wakes no watcher.
//
// The secrets (maintenance.Secrets) are tables of their own too: server_key
// holds the server key in its one row, inserted by the first Key call, and
// bypass_uses the use count of each bypass link. Like heartbeats, they are
// not changes. The key is as readable as the database file: give the file a
// mode that only the gates' user can read.
//
// The schema is created and upgraded by Open from numbered SQL files embedded
// in the package, each in one transaction, recorded in schema_migrations.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/state"
)

// dsnParams are the per-connection settings: wait up to 5 s for another
// writer, write-ahead logging, fsync at checkpoints only (durable across a
// process crash, safe across a power loss up to the last checkpoint), and
// write transactions that take the write lock when they begin.
const dsnParams = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// PollInterval is how often Watch checks the database for changes.
const PollInterval = 50 * time.Millisecond

// Store is a maintenance.Store in an SQLite database file. It is safe for
// concurrent use, and several Stores, in one process or several, may share
// one file.
type Store struct {
	dbp  atomic.Pointer[sql.DB]
	path string
	abs  string

	// fmu guards what follow keeps: the file the store has open, whether
	// its path names none, and the logger.
	fmu     sync.Mutex
	ident   os.FileInfo
	missing bool
	log     *slog.Logger

	// ctx is cancelled by Close; it ends the watchers.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex // guards the start of watchers against Close
	closed   atomic.Bool
	watchers sync.WaitGroup
}

var _ maintenance.Store = (*Store)(nil)

// Open opens the SQLite database at path, creating it when it does not exist
// (its directory must), and brings its schema up to date. Several processes
// may open a new file at once. Close releases it.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("opening sqlite store: the path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %q: %w", path, err)
	}
	if err := checkPath(abs); err != nil {
		return nil, fmt.Errorf("opening sqlite store %q: %w", path, err)
	}
	// A new database is readable by its owner only: it holds the server
	// key, which signs admin sessions and bypass cookies, and the users'
	// password hashes. SQLite gives its -wal and -shm files the same mode.
	// An existing file keeps the mode its owner gave it.
	if f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	}
	db, err := openDB(ctx, abs)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %q: %w", path, err)
	}
	// The file the store follows (see follow).
	fi, err := os.Stat(abs)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening sqlite store %q: %w", path, err)
	}
	s := &Store{path: path, abs: abs, ident: fi, log: slog.Default()}
	s.dbp.Store(db)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// openDB opens the database file at abs, which exists, and brings its schema
// up to date.
func openDB(ctx context.Context, abs string) (*sql.DB, error) {
	dsn := (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: dsnParams}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if err := retryBusy(ctx, func() error { return migrate(ctx, db) }); err != nil {
		db.Close()
		if isCantOpen(err) {
			if why := whyCantOpen(abs); why != nil {
				err = fmt.Errorf("%w: %w", err, why)
			}
		}
		return nil, err
	}
	return db, nil
}

// db returns the database the store has open: the file its path named when
// it was last followed (see follow).
func (s *Store) db() *sql.DB { return s.dbp.Load() }

// SetLogger sets where the store logs that its file was deleted, moved or
// replaced (slog.Default() until then).
func (s *Store) SetLogger(l *slog.Logger) {
	if l != nil {
		s.fmu.Lock()
		s.log = l
		s.fmu.Unlock()
	}
}

// follow checks that the store's path still names the database file it has
// open. A file that was deleted or moved is an error (the store is
// unreachable) until the path names a file again; a file that replaced it
// (a backup put back, a file moved over it) is opened, and the old one
// closed. Each of these is logged once. reopened reports that the store now
// reads another file, or the same one again after it was missing: a change
// may have been missed. It costs one stat(2); every operation calls it, and
// every watcher at every poll, so that gates notice within PollInterval.
func (s *Store) follow() (reopened bool, err error) {
	fi, err := os.Stat(s.abs)
	s.fmu.Lock()
	defer s.fmu.Unlock()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !s.missing {
			s.missing = true
			s.log.Error("maintenance: the sqlite store's file was deleted or moved; the store is unreachable until the path names a database again", "path", s.abs)
		}
		return false, fmt.Errorf("the database file %s was deleted or moved", s.abs)
	case err != nil:
		return false, err
	case os.SameFile(fi, s.ident):
		was := s.missing
		s.missing = false
		if was {
			s.log.Warn("maintenance: the sqlite store's file is back", "path", s.abs)
		}
		return was, nil
	}
	db, err := openDB(s.ctx, s.abs)
	if err != nil {
		return false, fmt.Errorf("opening the file that replaced %s: %w", s.abs, err)
	}
	old := s.dbp.Swap(db)
	s.ident, s.missing = fi, false
	s.log.Warn("maintenance: the sqlite store's path names another file now (replaced or restored); reading it", "path", s.abs)
	// Close waits for connections in use (a watcher's) to be returned:
	// not here, under fmu.
	go old.Close()
	return true, nil
}

// checkPath explains the usual reasons why SQLite cannot open a file, which
// it reports only as "unable to open database file".
func checkPath(abs string) error {
	fi, err := os.Stat(abs)
	switch {
	case err == nil && fi.IsDir():
		return errors.New("it is a directory; want a file path, like maintenance.db")
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	dir := filepath.Dir(abs)
	fi, err = os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("checking its directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// whyCantOpen asks the operating system why SQLite could not open the file
// at abs read-write (or create it), which SQLite does not say.
func whyCantOpen(abs string) error {
	flag := os.O_RDWR
	if _, err := os.Lstat(abs); errors.Is(err, fs.ErrNotExist) {
		flag |= os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(abs, flag, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	if flag&os.O_CREATE != 0 {
		os.Remove(abs)
	}
	return nil
}

// Close stops the watchers and closes the database. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	s.cancel()
	s.mu.Unlock()
	s.watchers.Wait()
	if err := s.db().Close(); err != nil {
		return fmt.Errorf("closing sqlite store %q: %w", s.path, err)
	}
	return nil
}

// wrap says what failed and where. After Close, it wraps
// maintenance.ErrClosed instead of err, which then is only what Close caused.
func (s *Store) wrap(doing string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: sqlite store %q: %w", doing, s.path, maintenance.ErrClosed)
	}
	return fmt.Errorf("%s: sqlite store %q: %w", doing, s.path, err)
}

// Load returns the current state, normalized. It returns an error wrapping
// maintenance.ErrClosed after Close.
func (s *Store) Load(ctx context.Context) (*maintenance.State, error) {
	if s.closed.Load() {
		return nil, s.wrap("loading state", maintenance.ErrClosed)
	}
	if _, err := s.follow(); err != nil {
		return nil, s.wrap("loading state", err)
	}
	st, err := readState(ctx, s.db())
	if err != nil {
		return nil, s.wrap("loading state", err)
	}
	return st, nil
}

// querier is what readState needs: a *sql.DB or a *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readState(ctx context.Context, q querier) (*maintenance.State, error) {
	var version int64
	var doc []byte
	if err := q.QueryRowContext(ctx, `SELECT version, doc FROM state WHERE id = 1`).Scan(&version, &doc); err != nil {
		return nil, err
	}
	return state.DecodeState(doc, version)
}

// Update applies c in one immediate transaction: it reads the state, calls
// state.Commit and writes the new state and its events. A change that
// changes nothing writes nothing and returns the current state. Bad input
// returns an error wrapping maintenance.ErrInvalid or maintenance.ErrNotFound
// and writes nothing. While another writer holds the database, Update waits
// and retries until ctx is done.
func (s *Store) Update(ctx context.Context, c maintenance.Change) (*maintenance.State, error) {
	if s.closed.Load() {
		return nil, s.wrap("updating state", maintenance.ErrClosed)
	}
	if _, err := s.follow(); err != nil {
		return nil, s.wrap("updating state", err)
	}
	var next *maintenance.State
	var changeErr error
	err := retryBusy(ctx, func() error {
		var err error
		next, changeErr, err = s.update(ctx, c)
		return err
	})
	if changeErr != nil {
		return nil, fmt.Errorf("%s: %w", c.Action, changeErr)
	}
	if err != nil {
		return nil, s.wrap("updating state", err)
	}
	return next, nil
}

// update runs one attempt of Update. changeErr is the change's own error (bad
// input); err is a database error.
func (s *Store) update(ctx context.Context, c maintenance.Change) (next *maintenance.State, changeErr, err error) {
	tx, err := s.db().BeginTx(ctx, nil) // BEGIN IMMEDIATE: see dsnParams
	if err != nil {
		return nil, nil, fmt.Errorf("beginning a transaction: %w", err)
	}
	defer tx.Rollback()
	cur, err := readState(ctx, tx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the state: %w", err)
	}
	next, evs, changeErr := state.Commit(cur, c, time.Now())
	if changeErr != nil {
		return nil, changeErr, nil
	}
	if len(evs) == 0 {
		return cur, nil, nil // a no-op: nothing to write
	}
	doc, err := json.Marshal(next)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the state: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE state SET version = ?, doc = ? WHERE id = 1`, next.Version, doc); err != nil {
		return nil, nil, fmt.Errorf("writing the state: %w", err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO events (version, time, actor, source, reason, action, site, "before", "after", release_before, release_after, target)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, nil, fmt.Errorf("writing events: %w", err)
	}
	defer ins.Close()
	for _, e := range evs {
		before, err := siteJSON(e.Before)
		if err != nil {
			return nil, nil, err
		}
		after, err := siteJSON(e.After)
		if err != nil {
			return nil, nil, err
		}
		if _, err := ins.ExecContext(ctx, e.Version, e.Time.UTC().Format(time.RFC3339Nano),
			e.Actor, e.Source, e.Reason, e.Action, e.Site, before, after, e.ReleaseBefore, e.ReleaseAfter, e.Target); err != nil {
			return nil, nil, fmt.Errorf("writing the event of %s: %w", e.Site, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, fmt.Errorf("committing: %w", err)
	}
	return next, nil, nil
}

// siteJSON encodes a site state for the events table; nil is NULL.
func siteJSON(s *maintenance.SiteState) (any, error) {
	if s == nil {
		return nil, nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encoding the event of %s: %w", s.Site, err)
	}
	return string(b), nil
}

// Events returns audit events, newest first, those that match every field
// set in f. It returns an error wrapping maintenance.ErrInvalid for a
// negative limit or Before, and one wrapping maintenance.ErrClosed after
// Close.
func (s *Store) Events(ctx context.Context, f maintenance.EventFilter) ([]maintenance.Event, error) {
	if s.closed.Load() {
		return nil, s.wrap("listing events", maintenance.ErrClosed)
	}
	if _, err := s.follow(); err != nil {
		return nil, s.wrap("listing events", err)
	}
	f, err := f.Check()
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	var where []string
	var args []any
	for _, c := range []struct {
		set  bool
		cond string
		arg  any
	}{
		{f.Site != "", "site = ?", f.Site},
		{f.Actor != "", "actor = ?", f.Actor},
		{f.Action != "", "action = ?", f.Action},
		{f.Before > 0, "id < ?", f.Before},
	} {
		if c.set {
			where, args = append(where, c.cond), append(args, c.arg)
		}
	}
	query := `SELECT id, version, time, actor, source, reason, action, site, "before", "after", release_before, release_after, target FROM events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db().QueryContext(ctx, query+" ORDER BY id DESC LIMIT ?", append(args, f.Limit)...)
	if err != nil {
		return nil, s.wrap("listing events", err)
	}
	defer rows.Close()
	var evs []maintenance.Event
	for rows.Next() {
		var e maintenance.Event
		var at string
		var before, after []byte
		if err := rows.Scan(&e.ID, &e.Version, &at, &e.Actor, &e.Source, &e.Reason, &e.Action, &e.Site, &before, &after, &e.ReleaseBefore, &e.ReleaseAfter, &e.Target); err != nil {
			return nil, s.wrap("listing events", err)
		}
		if e.Time, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("listing events: event %d: decoding time: %w", e.ID, err)
		}
		if e.Before, err = decodeSite(before); err != nil {
			return nil, fmt.Errorf("listing events: event %d: %w", e.ID, err)
		}
		if e.After, err = decodeSite(after); err != nil {
			return nil, fmt.Errorf("listing events: event %d: %w", e.ID, err)
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("listing events", err)
	}
	return evs, nil
}

func decodeSite(b []byte) (*maintenance.SiteState, error) {
	if b == nil {
		return nil, nil
	}
	s := new(maintenance.SiteState)
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("decoding a site state: %w", err)
	}
	return s, nil
}

// busyRetries is how many more times an operation is tried when the database
// stayed locked for the whole busy timeout.
const busyRetries = 4

// retryBusy runs f, and again while it fails because another connection holds
// the database locked, up to busyRetries times or until ctx is done.
func retryBusy(ctx context.Context, f func() error) error {
	for i := 0; ; i++ {
		err := f()
		if err == nil || i == busyRetries || !isBusy(err) {
			return err
		}
		t := time.NewTimer(time.Duration(10*(i+1)) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// isCantOpen reports whether err is SQLITE_CANTOPEN.
func isCantOpen(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CANTOPEN
}

// isBusy reports whether err is SQLITE_BUSY or SQLITE_LOCKED.
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}
