package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gomaint/maintenance"
)

// Heartbeat records that the gate g is alive: in one immediate transaction,
// it adds or replaces the row of g.ID in the gates table and deletes the rows
// not seen for maintenance.GateTTL. It does not touch the state, so it bumps
// no version, writes no event and wakes no watcher. While another writer
// holds the database, it waits and retries like Update. It returns an error
// wrapping maintenance.ErrInvalid for an empty ID, and one wrapping
// maintenance.ErrClosed after Close.
func (s *Store) Heartbeat(ctx context.Context, g maintenance.GateInfo) error {
	const doing = "recording a heartbeat"
	if s.closed.Load() {
		return s.wrap(doing, maintenance.ErrClosed)
	}
	if _, err := s.follow(); err != nil {
		return s.wrap(doing, err)
	}
	if g.ID == "" {
		return fmt.Errorf("%s: the gate ID is empty: %w", doing, maintenance.ErrInvalid)
	}
	info, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("%s: encoding gate %q: %w", doing, g.ID, err)
	}
	err = retryBusy(ctx, func() error {
		return s.heartbeat(ctx, g.ID, string(info), g.LastSeen.UnixMilli())
	})
	if err != nil {
		return s.wrap(doing, fmt.Errorf("gate %q: %w", g.ID, err))
	}
	return nil
}

// heartbeat runs one attempt of Heartbeat.
func (s *Store) heartbeat(ctx context.Context, id, info string, lastSeen int64) error {
	tx, err := s.db().BeginTx(ctx, nil) // BEGIN IMMEDIATE: see dsnParams
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO gates (id, info, last_seen) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET info = excluded.info, last_seen = excluded.last_seen`,
		id, info, lastSeen); err != nil {
		return fmt.Errorf("writing the gate: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM gates WHERE last_seen < ?`, staleBefore()); err != nil {
		return fmt.Errorf("dropping stale gates: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// staleBefore is the time, in Unix milliseconds, before which a gate's last
// heartbeat makes it stale.
func staleBefore() int64 {
	return time.Now().Add(-maintenance.GateTTL).UnixMilli()
}

// Gates returns the gates seen within maintenance.GateTTL, sorted by ID. It
// returns an error wrapping maintenance.ErrClosed after Close.
func (s *Store) Gates(ctx context.Context) ([]maintenance.GateInfo, error) {
	const doing = "listing gates"
	if s.closed.Load() {
		return nil, s.wrap(doing, maintenance.ErrClosed)
	}
	if _, err := s.follow(); err != nil {
		return nil, s.wrap(doing, err)
	}
	rows, err := s.db().QueryContext(ctx, `SELECT id, info FROM gates WHERE last_seen >= ? ORDER BY id`, staleBefore())
	if err != nil {
		return nil, s.wrap(doing, err)
	}
	defer rows.Close()
	var gates []maintenance.GateInfo
	for rows.Next() {
		var id string
		var info []byte
		if err := rows.Scan(&id, &info); err != nil {
			return nil, s.wrap(doing, err)
		}
		var g maintenance.GateInfo
		if err := json.Unmarshal(info, &g); err != nil {
			return nil, s.wrap(doing, fmt.Errorf("decoding gate %q: %w", id, err))
		}
		g.ID = id
		gates = append(gates, g)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(doing, err)
	}
	return gates, nil
}

// ForgetGate deletes the row of the gate id; an unknown id is not an error.
// It returns an error wrapping maintenance.ErrInvalid for an empty ID, and
// one wrapping maintenance.ErrClosed after Close.
func (s *Store) ForgetGate(ctx context.Context, id string) error {
	const doing = "forgetting a gate"
	if s.closed.Load() {
		return s.wrap(doing, maintenance.ErrClosed)
	}
	if _, err := s.follow(); err != nil {
		return s.wrap(doing, err)
	}
	if id == "" {
		return fmt.Errorf("%s: the gate ID is empty: %w", doing, maintenance.ErrInvalid)
	}
	err := retryBusy(ctx, func() error {
		_, err := s.db().ExecContext(ctx, `DELETE FROM gates WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return s.wrap(doing, fmt.Errorf("gate %q: %w", id, err))
	}
	return nil
}
