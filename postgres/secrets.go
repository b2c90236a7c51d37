package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/state"
)

// Key returns the server key, kept in the one row of the server_key table.
// The first call on a new schema inserts a new key unless another caller
// came first (INSERT ... ON CONFLICT DO NOTHING), then reads the row: every
// caller, in any process, gets the key that was inserted first. It sends no
// notification. It returns an error wrapping maintenance.ErrClosed after
// Close.
func (s *Store) Key(ctx context.Context) ([]byte, error) {
	const doing = "reading the server key"
	if s.closed.Load() {
		return nil, s.wrap(doing, maintenance.ErrClosed)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	key, err := s.readKey(ctx)
	if errors.Is(err, pgx.ErrNoRows) {
		// A statement of its own, then a read in a new statement, which
		// sees the row of a caller that came first (READ COMMITTED).
		if _, err = s.pool.Exec(ctx, s.q.insertKey, state.NewKey()); err == nil {
			key, err = s.readKey(ctx)
		}
	}
	if err != nil {
		return nil, s.wrap(doing, err)
	}
	return key, nil
}

// readKey reads the server key; pgx.ErrNoRows means there is none yet.
func (s *Store) readKey(ctx context.Context) ([]byte, error) {
	var key []byte
	err := retryRead(ctx, func() error { return s.pool.QueryRow(ctx, s.q.key).Scan(&key) })
	if err != nil {
		return nil, err
	}
	if len(key) != maintenance.KeySize {
		return nil, fmt.Errorf("the stored key has %d bytes, want %d", len(key), maintenance.KeySize)
	}
	return key, nil
}

// CountUses adds n[id] to the use count of each bypass link id, in one
// upsert (uses = uses + n), so that concurrent callers never lose a count.
// Zero counts are skipped. It sends no notification. It returns an error
// wrapping maintenance.ErrInvalid, having written nothing, when an ID is
// empty or longer than 32 bytes or a count is negative, and one wrapping
// maintenance.ErrClosed after Close. A call that fails is not retried: it may
// have been counted.
func (s *Store) CountUses(ctx context.Context, n map[string]int64) error {
	const doing = "counting bypass link uses"
	if s.closed.Load() {
		return s.wrap(doing, maintenance.ErrClosed)
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
	counts := make([]int64, len(ids))
	for i, id := range ids {
		counts[i] = n[id]
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, s.q.countUses, ids, counts); err != nil {
		return s.wrap(doing, err)
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
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var uses map[string]int64
	err := retryRead(ctx, func() error {
		uses = map[string]int64{}
		rows, err := s.pool.Query(ctx, s.q.uses)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int64
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			uses[id] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.wrap(doing, err)
	}
	return uses, nil
}
