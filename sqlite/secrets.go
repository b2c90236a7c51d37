package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/state"
)

// Key returns the server key, kept in the one row of the server_key table.
// The first call on a new database inserts a new key unless another caller
// came first (INSERT ... ON CONFLICT DO NOTHING), then reads the row: every
// caller, in any process, gets the key that was inserted first. It is not a
// change: no version, no event, no Watch signal. It returns an error
// wrapping maintenance.ErrClosed after Close.
func (s *Store) Key(ctx context.Context) ([]byte, error) {
	const doing = "reading the server key"
	if s.closed.Load() {
		return nil, s.wrap(doing, maintenance.ErrClosed)
	}
	if _, err := s.follow(); err != nil {
		return nil, s.wrap(doing, err)
	}
	key, err := s.readKey(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		err = retryBusy(ctx, func() error {
			_, err := s.db().ExecContext(ctx, `INSERT INTO server_key (id, key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`, state.NewKey())
			return err
		})
		if err == nil {
			key, err = s.readKey(ctx)
		}
	}
	if err != nil {
		return nil, s.wrap(doing, err)
	}
	return key, nil
}

// readKey reads the server key; sql.ErrNoRows means there is none yet.
func (s *Store) readKey(ctx context.Context) ([]byte, error) {
	var key []byte
	if err := s.db().QueryRowContext(ctx, `SELECT key FROM server_key WHERE id = 1`).Scan(&key); err != nil {
		return nil, err
	}
	if len(key) != maintenance.KeySize {
		return nil, fmt.Errorf("the stored key has %d bytes, want %d", len(key), maintenance.KeySize)
	}
	return key, nil
}

// CountUses adds n[id] to the use count of each bypass link id, in one
// immediate transaction of upserts (uses = uses + n), so that concurrent
// callers never lose a count. Zero counts are skipped. It returns an error
// wrapping maintenance.ErrInvalid, having written nothing, when an ID is
// empty or longer than 32 bytes or a count is negative, and one wrapping
// maintenance.ErrClosed after Close. While another writer holds the
// database, it waits and retries like Update.
func (s *Store) CountUses(ctx context.Context, n map[string]int64) error {
	const doing = "counting bypass link uses"
	if s.closed.Load() {
		return s.wrap(doing, maintenance.ErrClosed)
	}
	if _, err := s.follow(); err != nil {
		return s.wrap(doing, err)
	}
	if err := state.CheckUses(n); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	var ids []string
	for id, c := range n {
		if c != 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	if err := retryBusy(ctx, func() error { return s.countUses(ctx, ids, n) }); err != nil {
		return s.wrap(doing, err)
	}
	return nil
}

// countUses runs one attempt of CountUses.
func (s *Store) countUses(ctx context.Context, ids []string, n map[string]int64) error {
	tx, err := s.db().BeginTx(ctx, nil) // BEGIN IMMEDIATE: see dsnParams
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	defer tx.Rollback()
	up, err := tx.PrepareContext(ctx, `INSERT INTO bypass_uses (id, uses) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET uses = uses + excluded.uses`)
	if err != nil {
		return err
	}
	defer up.Close()
	for _, id := range ids {
		if _, err := up.ExecContext(ctx, id, n[id]); err != nil {
			return fmt.Errorf("bypass link %q: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// Uses returns the use counts of bypass links, by ID; links never used are
// absent. It returns an error wrapping maintenance.ErrClosed after Close.
func (s *Store) Uses(ctx context.Context) (map[string]int64, error) {
	const doing = "reading bypass link uses"
	if s.closed.Load() {
		return nil, s.wrap(doing, maintenance.ErrClosed)
	}
	if _, err := s.follow(); err != nil {
		return nil, s.wrap(doing, err)
	}
	rows, err := s.db().QueryContext(ctx, `SELECT id, uses FROM bypass_uses`)
	if err != nil {
		return nil, s.wrap(doing, err)
	}
	defer rows.Close()
	uses := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, s.wrap(doing, err)
		}
		uses[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(doing, err)
	}
	return uses, nil
}
