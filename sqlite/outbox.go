package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gomaint/maintenance"
)

// TakeLease gives the lease name to holder until until when it is free,
// held by holder or expired at now, with one upsert whose update applies
// only in those cases, in an immediate transaction that then reads the
// holder back. It is not a change. See maintenance.Outbox.
func (s *Store) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	const doing = "taking a lease"
	if s.closed.Load() {
		return false, s.wrap(doing, maintenance.ErrClosed)
	}
	if _, err := s.follow(); err != nil {
		return false, s.wrap(doing, err)
	}
	if err := maintenance.CheckLease(name, holder); err != nil {
		return false, fmt.Errorf("%s: %w", doing, err)
	}
	var got string
	err := retryBusy(ctx, func() error {
		tx, err := s.db().BeginTx(ctx, nil) // BEGIN IMMEDIATE: see dsnParams
		if err != nil {
			return fmt.Errorf("beginning a transaction: %w", err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, until) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
			WHERE leases.holder = excluded.holder OR leases.until <= ?`,
			name, holder, until.UnixMilli(), now.UnixMilli()); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT holder FROM leases WHERE name = ?`, name).Scan(&got); err != nil {
			return err
		}
		return tx.Commit()
	})
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
	if _, err := s.follow(); err != nil {
		return s.wrap(doing, err)
	}
	if err := maintenance.CheckLease(name, holder); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	err := retryBusy(ctx, func() error {
		_, err := s.db().ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
	if err != nil {
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
	if _, err := s.follow(); err != nil {
		return nil, s.wrap(doing, err)
	}
	rows, err := s.db().QueryContext(ctx, `SELECT id, cursor FROM webhook_cursors`)
	if err != nil {
		return nil, s.wrap(doing, err)
	}
	defer rows.Close()
	out := map[string]maintenance.Cursor{}
	for rows.Next() {
		var id, doc string
		if err := rows.Scan(&id, &doc); err != nil {
			return nil, s.wrap(doing, err)
		}
		var c maintenance.Cursor
		if err := json.Unmarshal([]byte(doc), &c); err != nil {
			return nil, s.wrap(doing, fmt.Errorf("decoding the cursor of webhook %q: %w", id, err))
		}
		out[id] = c
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(doing, err)
	}
	return out, nil
}

// SetCursor stores c as the cursor of webhook id, in an immediate
// transaction that first checks that holder holds the lease name.
func (s *Store) SetCursor(ctx context.Context, name, holder, id string, c maintenance.Cursor) error {
	const doing = "writing a delivery cursor"
	if s.closed.Load() {
		return s.wrap(doing, maintenance.ErrClosed)
	}
	if _, err := s.follow(); err != nil {
		return s.wrap(doing, err)
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
	return s.fenced(ctx, doing, name, holder, `INSERT INTO webhook_cursors (id, cursor) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor`, id, string(doc))
}

// DropCursor removes the cursor of webhook id, with the check of SetCursor.
func (s *Store) DropCursor(ctx context.Context, name, holder, id string) error {
	const doing = "dropping a delivery cursor"
	if s.closed.Load() {
		return s.wrap(doing, maintenance.ErrClosed)
	}
	if _, err := s.follow(); err != nil {
		return s.wrap(doing, err)
	}
	if err := maintenance.CheckLease(name, holder); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	if err := maintenance.CheckCursor(id, maintenance.Cursor{}); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return s.fenced(ctx, doing, name, holder, `DELETE FROM webhook_cursors WHERE id = ?`, id)
}

// fenced runs one statement in an immediate transaction when holder holds
// the lease name, and returns an error wrapping maintenance.ErrLeaseLost
// otherwise.
func (s *Store) fenced(ctx context.Context, doing, name, holder, stmt string, args ...any) error {
	err := retryBusy(ctx, func() error {
		tx, err := s.db().BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("beginning a transaction: %w", err)
		}
		defer tx.Rollback()
		var got string
		err = tx.QueryRowContext(ctx, `SELECT holder FROM leases WHERE name = ?`, name).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) || err == nil && got != holder {
			return fmt.Errorf("lease %q is not held by %q: %w", name, holder, maintenance.ErrLeaseLost)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
			return err
		}
		return tx.Commit()
	})
	if err != nil {
		return s.wrap(doing, err)
	}
	return nil
}
