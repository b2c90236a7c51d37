package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gomaint/maintenance"
)

// heartbeatScript records a gate and drops the gates not seen since a cutoff.
//
//	KEYS: gates, gateseen
//	ARGV: ID, JSON, LastSeen in Unix ms, cutoff in Unix ms
var heartbeatScript = goredis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
for _, id in ipairs(stale) do
	redis.call('HDEL', KEYS[1], id)
	redis.call('ZREM', KEYS[2], id)
end
return #stale
`)

// Heartbeat records that the gate g is alive, as of g.LastSeen, replacing
// the entry with its ID, and drops the entries not seen for
// maintenance.GateTTL, in one script. It does not publish: it is not a
// change. It returns an error wrapping maintenance.ErrInvalid when g has no
// ID, and one wrapping maintenance.ErrClosed after Close.
func (s *Store) Heartbeat(ctx context.Context, g maintenance.GateInfo) error {
	if s.closed.Load() {
		return s.wrap("recording a heartbeat", maintenance.ErrClosed)
	}
	if g.ID == "" {
		return fmt.Errorf("recording a heartbeat: the gate has no ID: %w", maintenance.ErrInvalid)
	}
	b, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("recording a heartbeat: encoding gate %s: %w", g.ID, err)
	}
	err = heartbeatScript.Run(ctx, s.client, []string{s.gatesKey, s.gateSeenKey},
		g.ID, b, g.LastSeen.UnixMilli(), staleBefore()).Err()
	if err != nil {
		return s.wrap("recording a heartbeat", err)
	}
	return nil
}

// staleBefore is the time, in Unix milliseconds, before which a gate's last
// heartbeat makes it stale.
func staleBefore() int64 {
	return time.Now().Add(-maintenance.GateTTL).UnixMilli()
}

// Gates returns the gates seen within maintenance.GateTTL of now, sorted by
// ID. It returns an error wrapping maintenance.ErrClosed after Close.
func (s *Store) Gates(ctx context.Context) ([]maintenance.GateInfo, error) {
	if s.closed.Load() {
		return nil, s.wrap("listing gates", maintenance.ErrClosed)
	}
	all, err := s.client.HGetAll(ctx, s.gatesKey).Result()
	if err != nil {
		return nil, s.wrap("listing gates", err)
	}
	cutoff := staleBefore()
	var gates []maintenance.GateInfo
	for id, v := range all {
		var g maintenance.GateInfo
		if err := json.Unmarshal([]byte(v), &g); err != nil {
			return nil, fmt.Errorf("listing gates: redis store %q: decoding gate %s: %w", s.name, id, err)
		}
		if g.LastSeen.UnixMilli() >= cutoff {
			gates = append(gates, g)
		}
	}
	slices.SortFunc(gates, func(a, b maintenance.GateInfo) int { return strings.Compare(a.ID, b.ID) })
	return gates, nil
}

// ForgetGate removes the entry of the gate id. Forgetting an unknown gate is
// not an error. It returns an error wrapping maintenance.ErrInvalid for an
// empty ID, and one wrapping maintenance.ErrClosed after Close.
func (s *Store) ForgetGate(ctx context.Context, id string) error {
	if s.closed.Load() {
		return s.wrap("forgetting a gate", maintenance.ErrClosed)
	}
	if id == "" {
		return fmt.Errorf("forgetting a gate: the gate has no ID: %w", maintenance.ErrInvalid)
	}
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HDel(ctx, s.gatesKey, id)
		p.ZRem(ctx, s.gateSeenKey, id)
		return nil
	})
	if err != nil {
		return s.wrap("forgetting a gate", err)
	}
	return nil
}
