// Package storeurl opens a store from its URL: the one place that knows
// every backend, shared by the CLI and the benchmarks.
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/file"
	"github.com/gomaint/maintenance/internal/redact"
	"github.com/gomaint/maintenance/postgres"
	"github.com/gomaint/maintenance/redis"
	"github.com/gomaint/maintenance/sqlite"
)

// Forms lists the accepted store URLs, for messages.
const Forms = "sqlite:PATH, sqlite://PATH, file:PATH, postgres://..., postgresql://..., redis://..., rediss://..., redis+sentinel://..., redis+cluster://..."

// Default is the store used when none is given.
const Default = "sqlite:maintenance.db"

// Parse splits a store URL into its kind and the part its backend reads. An
// unknown or incomplete URL is an error wrapping maintenance.ErrInvalid.
func Parse(url string) (kind, rest string, err error) {
	for scheme, k := range map[string]string{
		"postgres": "postgres", "postgresql": "postgres",
		"redis": "redis", "rediss": "redis",
		"redis+sentinel": "redis", "rediss+sentinel": "redis",
		"redis+cluster": "redis", "rediss+cluster": "redis",
	} {
		if strings.HasPrefix(url, scheme+"://") {
			return k, url, nil
		}
	}
	for _, k := range []string{"sqlite", "file"} {
		r, ok := strings.CutPrefix(url, k+":")
		if !ok {
			continue
		}
		r = strings.TrimPrefix(r, "//")
		if r == "" {
			return "", "", invalidf("store %q: the path is missing; accepted: %s", Redact(url), Forms)
		}
		return k, r, nil
	}
	return "", "", invalidf("store %q is not supported; accepted: %s (default %s)", Redact(url), Forms, Default)
}

// Redact returns the store URL with every password it holds (userinfo,
// query parameters, PostgreSQL's keyword/value form) replaced by "xxxxx",
// for messages and logs.
func Redact(raw string) string { return redact.String(raw) }

// invalidError is a bad store URL: its message is for the person who typed
// it, and it wraps maintenance.ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return maintenance.ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

// Open opens the store named by url. The caller closes it.
func Open(ctx context.Context, url string) (maintenance.Store, error) {
	kind, rest, err := Parse(url)
	if err != nil {
		return nil, err
	}
	var st maintenance.Store
	switch kind {
	case "sqlite":
		st, err = sqlite.Open(ctx, rest)
	case "file":
		st, err = file.Open(ctx, rest)
	case "postgres":
		st, err = postgres.Open(ctx, rest)
	case "redis":
		st, err = redis.Open(ctx, rest)
	}
	if err != nil {
		return nil, redact.Error(err) // the stores' errors say what failed and where
	}
	return st, nil
}

// Create opens the store named by url, creating it when it does not exist
// (a SQLite database, a store file, a PostgreSQL schema), and closes it. It
// reports whether a SQLite or file store was created. Commands other than
// "serve" and "init" never create a store.
func Create(ctx context.Context, url string) (created bool, err error) {
	kind, path, err := Parse(url)
	if err != nil {
		return false, err
	}
	if kind == "sqlite" || kind == "file" {
		_, serr := os.Stat(path)
		created = errors.Is(serr, fs.ErrNotExist)
	}
	st, err := Open(ctx, url)
	if err != nil {
		return false, err
	}
	defer st.Close()
	if f, ok := st.(*file.Store); ok {
		// A file store is written by its first change; write it now.
		if created, err = f.Create(ctx); err != nil {
			return false, err
		}
	}
	if _, err := st.Load(ctx); err != nil {
		return false, fmt.Errorf("reading store %s: %w", Redact(url), err)
	}
	return created, nil
}

// OpenLazy is Open for a long-running gate: bad input (a malformed URL, an
// invalid option) is still an error at once, but a store that cannot be
// reached yet is not. The returned store tries to open it again on each use
// and fails until it can, so that a gate starting during an outage serves its
// cached state or its failure policy, reports why, and connects when the
// store returns.
func OpenLazy(ctx context.Context, url string) (maintenance.Store, error) {
	if _, _, err := Parse(url); err != nil {
		return nil, err
	}
	l := &lazy{url: url}
	st, err := Open(ctx, url)
	switch {
	case err == nil:
		l.st = st
	case errors.Is(err, maintenance.ErrInvalid):
		return nil, err
	}
	return l, nil
}

// lazy is a store opened on first successful use.
type lazy struct {
	url    string
	mu     sync.Mutex
	st     maintenance.Store
	closed bool
	// log is given to the store when it is opened (SetLogger).
	log *slog.Logger
}

// loggerSetter is a store that logs what happens to its file (sqlite).
type loggerSetter interface{ SetLogger(*slog.Logger) }

// SetLogger passes l to the store, now or when it opens.
func (l *lazy) SetLogger(log *slog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = log
	if ls, ok := l.st.(loggerSetter); ok {
		ls.SetLogger(log)
	}
}

var _ maintenance.Store = (*lazy)(nil)

func (l *lazy) get(ctx context.Context) (maintenance.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("store %s: %w", Redact(l.url), maintenance.ErrClosed)
	}
	if l.st == nil {
		st, err := Open(ctx, l.url)
		if err != nil {
			return nil, err
		}
		if ls, ok := st.(loggerSetter); ok && l.log != nil {
			ls.SetLogger(l.log)
		}
		l.st = st
	}
	return l.st, nil
}

func (l *lazy) Load(ctx context.Context) (*maintenance.State, error) {
	st, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.Load(ctx)
}

func (l *lazy) Update(ctx context.Context, c maintenance.Change) (*maintenance.State, error) {
	st, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.Update(ctx, c)
}

func (l *lazy) Events(ctx context.Context, f maintenance.EventFilter) ([]maintenance.Event, error) {
	st, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.Events(ctx, f)
}

func (l *lazy) Watch(ctx context.Context) (<-chan struct{}, error) {
	st, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.Watch(ctx)
}

func (l *lazy) Heartbeat(ctx context.Context, g maintenance.GateInfo) error {
	st, err := l.get(ctx)
	if err != nil {
		return err
	}
	return st.Heartbeat(ctx, g)
}

func (l *lazy) Gates(ctx context.Context) ([]maintenance.GateInfo, error) {
	st, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.Gates(ctx)
}

func (l *lazy) ForgetGate(ctx context.Context, id string) error {
	st, err := l.get(ctx)
	if err != nil {
		return err
	}
	return st.ForgetGate(ctx, id)
}

func (l *lazy) Key(ctx context.Context) ([]byte, error) {
	st, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.Key(ctx)
}

func (l *lazy) CountUses(ctx context.Context, n map[string]int64) error {
	st, err := l.get(ctx)
	if err != nil {
		return err
	}
	return st.CountUses(ctx, n)
}

func (l *lazy) Uses(ctx context.Context) (map[string]int64, error) {
	st, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.Uses(ctx)
}

func (l *lazy) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	st, err := l.get(ctx)
	if err != nil {
		return false, err
	}
	return st.TakeLease(ctx, name, holder, now, until)
}

func (l *lazy) DropLease(ctx context.Context, name, holder string) error {
	st, err := l.get(ctx)
	if err != nil {
		return err
	}
	return st.DropLease(ctx, name, holder)
}

func (l *lazy) Cursors(ctx context.Context) (map[string]maintenance.Cursor, error) {
	st, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.Cursors(ctx)
}

func (l *lazy) SetCursor(ctx context.Context, name, holder, id string, c maintenance.Cursor) error {
	st, err := l.get(ctx)
	if err != nil {
		return err
	}
	return st.SetCursor(ctx, name, holder, id, c)
}

func (l *lazy) DropCursor(ctx context.Context, name, holder, id string) error {
	st, err := l.get(ctx)
	if err != nil {
		return err
	}
	return st.DropCursor(ctx, name, holder, id)
}

func (l *lazy) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.st != nil {
		return l.st.Close()
	}
	return nil
}
