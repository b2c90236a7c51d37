package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gomaint/maintenance"
)

// TakeLease gives the lease name to holder until until when it is free,
// held by holder or expired at now: one upsert whose update applies only
// in those cases, returning the holder. Row locks make racing callers see
// one winner. It sends no notification. See maintenance.Outbox.
func (s *Store) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	const doing = "taking a lease"
	if s.closed.Load() {
		return false, s.wrap(doing, maintenance.ErrClosed)
	}
	if err := maintenance.CheckLease(name, holder); err != nil {
		return false, fmt.Errorf("%s: %w", doing, err)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var got string
	err := s.pool.QueryRow(ctx, `INSERT INTO `+s.ident+`.leases AS l (name, holder, until) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
		WHERE l.holder = excluded.holder OR l.until <= $4
		RETURNING holder`, name, holder, until, now).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // held by another holder: the update did not apply
	}
	if err != nil {
		return false, s.wrap(doing, err)
	}
	return got == holder, nil
}

// DropLease frees the lease name when holder holds it.
func (s *Store) DropLease(ctx context.Context, name, holder string) error {
	const doing = "dropping a lease"
	if s.closed.Load() {
		return s.wrap(doing, maintenance.ErrClosed)
	}
	if err := maintenance.CheckLease(name, holder); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `DELETE FROM `+s.ident+`.leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return s.wrap(doing, err)
	}
	return nil
}

// Cursors returns the delivery cursors, by webhook ID.
func (s *Store) Cursors(ctx context.Context) (map[string]maintenance.Cursor, error) {
	const doing = "reading the delivery cursors"
	if s.closed.Load() {
		return nil, s.wrap(doing, maintenance.ErrClosed)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var out map[string]maintenance.Cursor
	err := retryRead(ctx, func() error {
		out = map[string]maintenance.Cursor{}
		rows, err := s.pool.Query(ctx, `SELECT id, cursor FROM `+s.ident+`.webhook_cursors`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var doc []byte
			if err := rows.Scan(&id, &doc); err != nil {
				return err
			}
			var c maintenance.Cursor
			if err := json.Unmarshal(doc, &c); err != nil {
				return fmt.Errorf("decoding the cursor of webhook %q: %w", id, err)
			}
			out[id] = c
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.wrap(doing, err)
	}
	return out, nil
}

// SetCursor stores c as the cursor of webhook id, in one statement that
// writes only when holder holds the lease name (its row locked meanwhile).
func (s *Store) SetCursor(ctx context.Context, name, holder, id string, c maintenance.Cursor) error {
	const doing = "writing a delivery cursor"
	if s.closed.Load() {
		return s.wrap(doing, maintenance.ErrClosed)
	}
	if err := maintenance.CheckLease(name, holder); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	if err := maintenance.CheckCursor(id, c); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return s.fenced(ctx, doing, name, holder, `INSERT INTO `+s.ident+`.webhook_cursors (id, cursor) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor`, id, string(doc))
}

// DropCursor removes the cursor of webhook id, with the check of SetCursor.
func (s *Store) DropCursor(ctx context.Context, name, holder, id string) error {
	const doing = "dropping a delivery cursor"
	if s.closed.Load() {
		return s.wrap(doing, maintenance.ErrClosed)
	}
	if err := maintenance.CheckLease(name, holder); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	if err := maintenance.CheckCursor(id, maintenance.Cursor{}); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return s.fenced(ctx, doing, name, holder, `DELETE FROM `+s.ident+`.webhook_cursors WHERE id = $1`, id)
}

// fenced runs stmt in a transaction that first locks the lease's row and
// checks that holder holds it; otherwise it returns an error wrapping
// maintenance.ErrLeaseLost.
func (s *Store) fenced(ctx context.Context, doing, name, holder, stmt string, args ...any) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var got string
		err := tx.QueryRow(ctx, `SELECT holder FROM `+s.ident+`.leases WHERE name = $1 FOR UPDATE`, name).Scan(&got)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && got != holder {
			return fmt.Errorf("lease %q is not held by %q: %w", name, holder, maintenance.ErrLeaseLost)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, stmt, args...)
		return err
	})
	if err != nil {
		return s.wrap(doing, err)
	}
	return nil
}
