// Package postgres is a maintenance.Store kept in a PostgreSQL schema, with
// the driver github.com/jackc/pgx/v5.
//
// The state is one JSONB document in a table of one row, next to its
// version; the audit log is a table of events indexed by site; the gates
// that send heartbeats are a table of their own. Every change is one
// transaction that locks the state row (SELECT ... FOR UPDATE), applies the
// change with state.Commit, writes the new document and its events,
// and sends a NOTIFY on the schema's channel before it commits: the
// notification is delivered if and only if the change is committed.
//
// The secrets (maintenance.Secrets) are tables of the schema too, written
// without a notification: server_key holds the server key in its one row,
// inserted by the first Key call, and bypass_uses the use count of each
// bypass link. The key is as readable as the schema: grant access to it to
// the gates' role only.
//
// Watch listens on that channel on one dedicated connection per Store,
// shared by all its watchers, and reconnects when it is lost (see Watch).
//
// The schema is created and upgraded by Open from numbered SQL files embedded
// in the package, each in one transaction, serialized across processes by a
// transaction-level advisory lock and recorded in schema_migrations.
//
// Every call gives up after DefaultTimeout when its context has no deadline
// of its own, and connecting gives up after DefaultConnectTimeout unless the
// URL sets connect_timeout, so that a gate whose database is unreachable gets
// an error soon and keeps serving its last state.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/redact"
	"github.com/gomaint/maintenance/internal/state"
)

// DefaultSchema is the schema of a URL without a schema parameter.
const DefaultSchema = "maintenance"

// DefaultConnectTimeout bounds each connection attempt when the URL sets no
// connect_timeout.
const DefaultConnectTimeout = 2 * time.Second

// DefaultTimeout bounds each call whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// maxSchema is the longest schema name: the notification channel, which is
// the schema name and channelSuffix, must fit PostgreSQL's 63-byte names.
const (
	channelSuffix = "_changes"
	maxSchema     = 63 - len(channelSuffix)
)

// Store is a maintenance.Store in a PostgreSQL schema. It is safe for
// concurrent use, and any number of Stores, in one process or many, may
// share one schema.
type Store struct {
	pool *pgxpool.Pool
	// listenConfig configures the dedicated LISTEN connection.
	listenConfig *pgx.ConnConfig
	schema       string // the schema name, validated
	ident        string // the schema name, quoted
	channel      string // the notification channel
	name         string // says which store in errors
	q            queries
	idleCheck    time.Duration

	// ctx is cancelled by Close; it ends the listener.
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool

	// mu guards the listener's state and the watchers.
	mu sync.Mutex
	// listening is set once the listener goroutine runs.
	listening bool
	// up is set while LISTEN is in effect on the listener's connection.
	up bool
	// lerr is why the last connection attempt failed or the connection was lost.
	lerr error
	// attempt is closed after each connection attempt, then replaced.
	attempt chan struct{}
	// kick asks the listener to connect now instead of at the end of its backoff.
	kick     chan struct{}
	watchers map[*watcher]struct{}
	done     sync.WaitGroup // the listener goroutine
}

var _ maintenance.Store = (*Store)(nil)

// queries are the statements of a store, with its schema.
type queries struct {
	load, lock, write, event, notify, events, heartbeat, gates, forget string
	key, insertKey, countUses, uses                                    string
}

func newQueries(ident string) queries {
	return queries{
		load:  `SELECT version, doc FROM ` + ident + `.state WHERE id = 1`,
		lock:  `SELECT version, doc FROM ` + ident + `.state WHERE id = 1 FOR UPDATE`,
		write: `UPDATE ` + ident + `.state SET version = $1, doc = $2 WHERE id = 1`,
		event: `INSERT INTO ` + ident + `.events (version, "time", actor, source, reason, action, site, "before", "after", release_before, release_after, target)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		notify: `SELECT pg_notify($1, $2)`,
		// events is completed by Events with its conditions, order and limit.
		events: `SELECT id, version, "time", actor, source, reason, action, site, "before", "after", release_before, release_after, target FROM ` + ident + `.events`,
		// Expired entries locked by another heartbeat are left to it, so
		// that concurrent heartbeats never wait for each other.
		heartbeat: `WITH expired AS (DELETE FROM ` + ident + `.gates WHERE id IN (
				SELECT id FROM ` + ident + `.gates WHERE last_seen < $4 AND id <> $1 FOR UPDATE SKIP LOCKED))
			INSERT INTO ` + ident + `.gates (id, info, last_seen) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET info = excluded.info, last_seen = excluded.last_seen`,
		gates:     `SELECT info FROM ` + ident + `.gates WHERE last_seen >= $1`,
		forget:    `DELETE FROM ` + ident + `.gates WHERE id = $1`,
		key:       `SELECT key FROM ` + ident + `.server_key WHERE id = 1`,
		insertKey: `INSERT INTO ` + ident + `.server_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`,
		// The IDs come sorted, so that concurrent calls lock the rows in
		// the same order and never deadlock.
		countUses: `INSERT INTO ` + ident + `.bypass_uses AS u (id, uses)
			SELECT id, uses FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS n(id, uses, i) ORDER BY i
			ON CONFLICT (id) DO UPDATE SET uses = u.uses + excluded.uses`,
		uses: `SELECT id, uses FROM ` + ident + `.bypass_uses`,
	}
}

// Open connects to the PostgreSQL database at rawURL and brings the store's
// schema up to date, creating it when it does not exist. Close releases it.
//
// rawURL is a postgres:// (or postgresql://) URL as pgx accepts it, with one
// more query parameter: schema=NAME names the schema that holds the store
// (DefaultSchema when absent). NAME is a lowercase identifier: a letter or
// "_", then letters, digits or "_", at most 55 bytes, not starting with
// "pg_". A bad URL or schema returns an error wrapping maintenance.ErrInvalid.
// Open refuses a schema migrated by a newer version of this package.
//
// Many processes may open a new schema at once: one of them creates it.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	connURL, schema, err := parseURL(rawURL)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("opening postgres store: %w", err))
	}
	cfg, err := pgxpool.ParseConfig(connURL)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("opening postgres store: %w: %w", maintenance.ErrInvalid, err))
	}
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = DefaultConnectTimeout
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "maintenance"
	}
	pool, err := pgxpool.NewWithConfig(context.WithoutCancel(ctx), cfg)
	if err != nil {
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	ident := pgx.Identifier{schema}.Sanitize()
	s := &Store{
		pool:         pool,
		listenConfig: cc.Copy(),
		schema:       schema,
		ident:        ident,
		channel:      schema + channelSuffix,
		name:         fmt.Sprintf("postgres store %s:%d/%s schema %s", cc.Host, cc.Port, cc.Database, schema),
		q:            newQueries(ident),
		idleCheck:    idleCheck,
		attempt:      make(chan struct{}),
		kick:         make(chan struct{}, 1),
		watchers:     map[*watcher]struct{}{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	mctx, cancel := withTimeout(ctx)
	defer cancel()
	if err := s.migrate(mctx); err != nil {
		s.cancel()
		pool.Close()
		return nil, fmt.Errorf("opening %s: %w", s.name, err)
	}
	return s, nil
}

// parseURL removes the schema parameter from rawURL and checks it.
func parseURL(rawURL string) (connURL, schema string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// The error quotes the URL, password included: say why only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", "", fmt.Errorf("%w: not a URL: %w", maintenance.ErrInvalid, err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", "", fmt.Errorf("URL %q: %w: want a postgres:// URL", redact.String(rawURL), maintenance.ErrInvalid)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", "", fmt.Errorf("URL %q: query: %w: %w", redact.String(rawURL), maintenance.ErrInvalid, err)
	}
	schema = DefaultSchema
	if vs, ok := q["schema"]; ok {
		if len(vs) != 1 {
			return "", "", fmt.Errorf("URL %q: %w: schema is given %d times", redact.String(rawURL), maintenance.ErrInvalid, len(vs))
		}
		schema = vs[0]
		q.Del("schema")
		u.RawQuery = q.Encode()
	}
	if err := checkSchema(schema); err != nil {
		return "", "", err
	}
	return u.String(), schema, nil
}

// checkSchema checks a schema name: a lowercase identifier, which means the
// same thing quoted and unquoted, not reserved by PostgreSQL, and short
// enough for the channel name derived from it.
func checkSchema(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("schema %q: %s: %w; accepted: a lowercase letter or _, then lowercase letters, digits or _, at most %d bytes, like maintenance",
			name, why, maintenance.ErrInvalid, maxSchema)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > maxSchema:
		return bad("too long")
	case strings.HasPrefix(name, "pg_"):
		return bad(`the prefix "pg_" is reserved for system schemas`)
	case name == "information_schema":
		return bad("reserved for the system")
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r == '_':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return bad(fmt.Sprintf("%q at byte %d", r, i))
		}
	}
	return nil
}

// Schema returns the name of the schema that holds the store.
func (s *Store) Schema() string { return s.schema }

// Close stops the listener, closes the watchers' channels and the
// connections. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	s.cancel()
	s.mu.Unlock()
	s.done.Wait()
	s.pool.Close()
	return nil
}

// wrap says what failed and where. After Close, it wraps
// maintenance.ErrClosed instead of err, which then is only what Close caused.
func (s *Store) wrap(doing string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %s: %w", doing, s.name, maintenance.ErrClosed)
	}
	return fmt.Errorf("%s: %s: %w", doing, s.name, err)
}

// withTimeout bounds ctx by DefaultTimeout when it has no deadline.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// retryRead runs the read f, and once more when it failed because its
// connection was lost (the server restarted while the connection sat in
// the pool): another connection, or a new one, may well work. A failure to
// connect is not retried: the server is down.
func retryRead(ctx context.Context, f func() error) error {
	err := f()
	if err != nil && ctx.Err() == nil && lostConn(err) {
		err = f()
	}
	return err
}

// lostConn reports whether err is a connection failure rather than an error
// sent by the server or the caller's context.
func lostConn(err error) bool {
	var pgErr *pgconn.PgError
	var connectErr *pgconn.ConnectError
	return !errors.As(err, &pgErr) && !errors.As(err, &connectErr) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, pgx.ErrNoRows)
}

// Load returns the current state, normalized. It returns an error wrapping
// maintenance.ErrClosed after Close.
func (s *Store) Load(ctx context.Context) (*maintenance.State, error) {
	if s.closed.Load() {
		return nil, s.wrap("loading state", maintenance.ErrClosed)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var st *maintenance.State
	err := retryRead(ctx, func() error {
		var err error
		st, err = readState(ctx, s.pool, s.q.load)
		return err
	})
	if err != nil {
		return nil, s.wrap("loading state", err)
	}
	// The server answers: a listener waiting out its backoff connects now,
	// so that it is listening (and sees the next outage at once) as soon
	// as the server is back.
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return st, nil
}

// queryer is what readState needs: the pool or a transaction.
type queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func readState(ctx context.Context, q queryer, query string) (*maintenance.State, error) {
	var version int64
	var doc []byte
	if err := q.QueryRow(ctx, query).Scan(&version, &doc); err != nil {
		return nil, err
	}
	return state.DecodeState(doc, version)
}

// Update applies c in one transaction: it locks and reads the state, calls
// state.Commit, writes the new state and its events and notifies the
// watchers, all or nothing. A change that changes nothing writes nothing,
// notifies nobody and returns the current state. Bad input returns an error
// wrapping maintenance.ErrInvalid or maintenance.ErrNotFound and writes
// nothing. Update returns an error wrapping maintenance.ErrClosed after
// Close.
func (s *Store) Update(ctx context.Context, c maintenance.Change) (*maintenance.State, error) {
	if s.closed.Load() {
		return nil, s.wrap("updating state", maintenance.ErrClosed)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	next, changeErr, err := s.update(ctx, c)
	if changeErr != nil {
		return nil, fmt.Errorf("%s: %w", c.Action, changeErr)
	}
	if err != nil {
		return nil, s.wrap("updating state", err)
	}
	return next, nil
}

// update runs Update's transaction. changeErr is the change's own error (bad
// input); err is a database error.
func (s *Store) update(ctx context.Context, c maintenance.Change) (next *maintenance.State, changeErr, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("beginning a transaction: %w", err)
	}
	defer tx.Rollback(ctx)
	cur, err := readState(ctx, tx, s.q.lock)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the state: %w", err)
	}
	next, evs, changeErr := state.Commit(cur, c, time.Now())
	if changeErr != nil {
		return nil, changeErr, nil
	}
	if len(evs) == 0 {
		return cur, nil, nil // a no-op: nothing to write, nobody to tell
	}
	doc, err := json.Marshal(next)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the state: %w", err)
	}
	b := &pgx.Batch{}
	b.Queue(s.q.write, next.Version, doc)
	for _, e := range evs {
		before, err := siteJSON(e.Before)
		if err != nil {
			return nil, nil, err
		}
		after, err := siteJSON(e.After)
		if err != nil {
			return nil, nil, err
		}
		b.Queue(s.q.event, e.Version, e.Time, e.Actor, e.Source, e.Reason, e.Action, e.Site, before, after, e.ReleaseBefore, e.ReleaseAfter, e.Target)
	}
	// Sent in the transaction, a notification is delivered when, and only
	// when, the transaction commits.
	b.Queue(s.q.notify, s.channel, strconv.FormatInt(next.Version, 10))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, fmt.Errorf("writing the change: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
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
	return b, nil
}

// Events returns audit events, newest first, those that match every field
// set in f. It returns an error wrapping maintenance.ErrInvalid for a
// negative limit or Before, and one wrapping maintenance.ErrClosed after
// Close.
func (s *Store) Events(ctx context.Context, f maintenance.EventFilter) ([]maintenance.Event, error) {
	if s.closed.Load() {
		return nil, s.wrap("listing events", maintenance.ErrClosed)
	}
	f, err := f.Check()
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	var where []string
	var args []any
	for _, c := range []struct {
		set bool
		col string
		op  string
		arg any
	}{
		{f.Site != "", "site", "=", f.Site},
		{f.Actor != "", "actor", "=", f.Actor},
		{f.Action != "", "action", "=", f.Action},
		{f.Before > 0, "id", "<", f.Before},
	} {
		if c.set {
			args = append(args, c.arg)
			where = append(where, fmt.Sprintf("%s %s $%d", c.col, c.op, len(args)))
		}
	}
	query := s.q.events
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	query += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var evs []maintenance.Event
	err = retryRead(ctx, func() error {
		var err error
		evs, err = s.events(ctx, query, args)
		return err
	})
	if err != nil {
		return nil, s.wrap("listing events", err)
	}
	return evs, nil
}

func (s *Store) events(ctx context.Context, query string, args []any) ([]maintenance.Event, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var evs []maintenance.Event
	for rows.Next() {
		var e maintenance.Event
		var before, after []byte
		if err := rows.Scan(&e.ID, &e.Version, &e.Time, &e.Actor, &e.Source, &e.Reason, &e.Action, &e.Site, &before, &after, &e.ReleaseBefore, &e.ReleaseAfter, &e.Target); err != nil {
			return nil, err
		}
		e.Time = e.Time.UTC()
		if e.Before, err = decodeSite(before); err != nil {
			return nil, fmt.Errorf("event %d: %w", e.ID, err)
		}
		if e.After, err = decodeSite(after); err != nil {
			return nil, fmt.Errorf("event %d: %w", e.ID, err)
		}
		evs = append(evs, e)
	}
	return evs, rows.Err()
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

// Heartbeat records that the gate g is alive as of g.LastSeen (now when it
// is zero), adding or replacing its entry, and drops the entries not seen
// for maintenance.GateTTL. It sends no notification. It returns an error
// wrapping maintenance.ErrInvalid when g has no ID, and one wrapping
// maintenance.ErrClosed after Close.
func (s *Store) Heartbeat(ctx context.Context, g maintenance.GateInfo) error {
	if s.closed.Load() {
		return s.wrap("recording a heartbeat", maintenance.ErrClosed)
	}
	if g.ID == "" {
		return fmt.Errorf("recording a heartbeat: the gate has no ID: %w", maintenance.ErrInvalid)
	}
	now := time.Now()
	if g.LastSeen.IsZero() {
		g.LastSeen = now
	}
	info, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("recording a heartbeat of %s: encoding: %w", g.ID, err)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, s.q.heartbeat, g.ID, info, g.LastSeen, now.Add(-maintenance.GateTTL)); err != nil {
		return s.wrap("recording a heartbeat of "+g.ID, err)
	}
	return nil
}

// Gates returns the gates seen within maintenance.GateTTL of now, sorted by
// ID. It returns an error wrapping maintenance.ErrClosed after Close.
func (s *Store) Gates(ctx context.Context) ([]maintenance.GateInfo, error) {
	if s.closed.Load() {
		return nil, s.wrap("listing gates", maintenance.ErrClosed)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var gs []maintenance.GateInfo
	err := retryRead(ctx, func() error {
		gs = nil
		rows, err := s.pool.Query(ctx, s.q.gates, time.Now().Add(-maintenance.GateTTL))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var info []byte
			if err := rows.Scan(&info); err != nil {
				return err
			}
			var g maintenance.GateInfo
			if err := json.Unmarshal(info, &g); err != nil {
				return fmt.Errorf("decoding a gate: %w", err)
			}
			gs = append(gs, g)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.wrap("listing gates", err)
	}
	slices.SortFunc(gs, func(a, b maintenance.GateInfo) int { return strings.Compare(a.ID, b.ID) })
	return gs, nil
}

// ForgetGate removes the entry of the gate id; an unknown id is not an
// error. It returns an error wrapping maintenance.ErrInvalid for an empty
// id, and one wrapping maintenance.ErrClosed after Close.
func (s *Store) ForgetGate(ctx context.Context, id string) error {
	if s.closed.Load() {
		return s.wrap("forgetting a gate", maintenance.ErrClosed)
	}
	if id == "" {
		return fmt.Errorf("forgetting a gate: the ID is empty: %w", maintenance.ErrInvalid)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, s.q.forget, id); err != nil {
		return s.wrap("forgetting gate "+id, err)
	}
	return nil
}

// Channel returns the name of the channel on which every change to the store
// is notified (the schema name and "_changes"); the payload is the new
// version. Other programs may LISTEN on it.
func (s *Store) Channel() string { return s.channel }
