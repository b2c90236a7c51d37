package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/state"
)

// Key returns the server key, kept in the key {P}key. The first call on a
// new prefix sets a new key unless another caller came first (SETNX), then
// reads it: every caller, in any process, gets the key that was set first.
// It does not publish: it is not a change. It returns an error wrapping
// maintenance.ErrClosed after Close.
func (s *Store) Key(ctx context.Context) ([]byte, error) {
	const doing = "reading the server key"
	if s.closed.Load() {
		return nil, s.wrap(doing, maintenance.ErrClosed)
	}
	key, err := s.client.Get(ctx, s.keyKey).Bytes()
	if errors.Is(err, goredis.Nil) {
		fresh := state.NewKey()
		var set bool
		if set, err = s.client.SetNX(ctx, s.keyKey, fresh, 0).Result(); set {
			key = fresh
		} else if err == nil {
			key, err = s.client.Get(ctx, s.keyKey).Bytes()
		}
	}
	if err != nil {
		return nil, s.wrap(doing, err)
	}
	if len(key) != maintenance.KeySize {
		return nil, s.wrap(doing, fmt.Errorf("the stored key has %d bytes, want %d", len(key), maintenance.KeySize))
	}
	return key, nil
}

// CountUses adds n[id] to the use count of each bypass link id: one HINCRBY
// per link in a MULTI/EXEC transaction, so that concurrent callers never lose
// a count. Zero counts are skipped. It does not publish. It returns an error
// wrapping maintenance.ErrInvalid, having written nothing, when an ID is
// empty or longer than 32 bytes or a count is negative, and one wrapping
// maintenance.ErrClosed after Close.
func (s *Store) CountUses(ctx context.Context, n map[string]int64) error {
	const doing = "counting bypass link uses"
	if s.closed.Load() {
		return s.wrap(doing, maintenance.ErrClosed)
	}
	if err := state.CheckUses(n); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	some := false
	for _, c := range n {
		some = some || c != 0
	}
	if !some {
		return nil
	}
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for id, c := range n {
			if c != 0 {
				p.HIncrBy(ctx, s.usesKey, id, c)
			}
		}
		return nil
	})
	if err != nil {
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
	all, err := s.client.HGetAll(ctx, s.usesKey).Result()
	if err != nil {
		return nil, s.wrap(doing, err)
	}
	uses := make(map[string]int64, len(all))
	for id, v := range all {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, s.wrap(doing, fmt.Errorf("bypass link %q: decoding the count %q: %w", id, v, err))
		}
		uses[id] = n
	}
	return uses, nil
}
