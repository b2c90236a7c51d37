package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gomaint/maintenance"
)

// takeLeaseScript gives the lease ARGV[1] to ARGV[2] until ARGV[3] (Unix
// ms) unless another holder has it until after ARGV[4]; it returns the
// holder. A lease is a field of the hash KEYS[1]: "HOLDER\nUNTIL".
var takeLeaseScript = goredis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
	local h, u = string.match(v, '^(.*)\n(%d+)$')
	if h and h ~= ARGV[2] and tonumber(u) > tonumber(ARGV[4]) then
		return h
	end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '\n' .. ARGV[3])
return ARGV[2]
`)

// dropLeaseScript deletes the lease ARGV[1] when ARGV[2] holds it.
var dropLeaseScript = goredis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.match(v, '^(.*)\n%d+$') == ARGV[2] then
	redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
`)

// fencedScript sets (ARGV[4] given) or deletes the field ARGV[3] of the
// hash KEYS[2] when ARGV[2] holds the lease ARGV[1] of KEYS[1]; it returns
// 0 when it does not.
var fencedScript = goredis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v or string.match(v, '^(.*)\n%d+$') ~= ARGV[2] then
	return 0
end
if ARGV[4] then
	redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
else
	redis.call('HDEL', KEYS[2], ARGV[3])
end
return 1
`)

// TakeLease gives the lease name to holder until until when it is free,
// held by holder or expired at now, in one script: racing callers see one
// winner. It does not publish. See maintenance.Outbox.
func (s *Store) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	const doing = "taking a lease"
	if s.closed.Load() {
		return false, s.wrap(doing, maintenance.ErrClosed)
	}
	if err := maintenance.CheckLease(name, holder); err != nil {
		return false, fmt.Errorf("%s: %w", doing, err)
	}
	got, err := takeLeaseScript.Run(ctx, s.client, []string{s.leasesKey}, name, holder,
		strconv.FormatInt(until.UnixMilli(), 10), strconv.FormatInt(now.UnixMilli(), 10)).Text()
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
	if err := dropLeaseScript.Run(ctx, s.client, []string{s.leasesKey}, name, holder).Err(); err != nil {
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
	m, err := s.client.HGetAll(ctx, s.cursorsKey).Result()
	if err != nil {
		return nil, s.wrap(doing, err)
	}
	out := make(map[string]maintenance.Cursor, len(m))
	for id, doc := range m {
		var c maintenance.Cursor
		if err := json.Unmarshal([]byte(doc), &c); err != nil {
			return nil, s.wrap(doing, fmt.Errorf("decoding the cursor of webhook %q: %w", id, err))
		}
		out[id] = c
	}
	return out, nil
}

// SetCursor stores c as the cursor of webhook id, in one script that
// writes only when holder holds the lease name.
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
	return s.fenced(ctx, doing, name, holder, id, string(doc))
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
	return s.fenced(ctx, doing, name, holder, id)
}

func (s *Store) fenced(ctx context.Context, doing, name, holder string, args ...any) error {
	n, err := fencedScript.Run(ctx, s.client, []string{s.leasesKey, s.cursorsKey}, append([]any{name, holder}, args...)...).Int()
	if err != nil {
		return s.wrap(doing, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: lease %q is not held by %q: %w", doing, name, holder, maintenance.ErrLeaseLost)
	}
	return nil
}
