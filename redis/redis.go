// Package redis is a maintenance.Store kept in Redis, with
// github.com/redis/go-redis/v9. Changes reach watchers by pub/sub.
//
// # URLs
//
// Open takes a URL:
//
//	redis://[user:password@]host[:port][/db][?prefix=P&option=value...]
//	rediss://...                    the same over TLS
//	redis+sentinel://[user:password@]sentinel[:port][/db]?master_name=NAME[&addr=sentinel2:port...]
//	redis+cluster://[user:password@]node[:port][?addr=node2:port...]
//
// (rediss+sentinel:// and rediss+cluster:// use TLS.) The options are those of
// go-redis's ParseURL, ParseFailoverURL and ParseClusterURL (dial_timeout,
// read_timeout, pool_size, client_name...); an unknown one is an error.
// Unless the URL says otherwise, connections are dialed once with a 1 s
// timeout, reads and writes time out after 1 s and a failed command is retried
// once, so that calls fail within a few seconds while the server is away
// instead of hanging. Reads from replicas (read_only, route_by_latency,
// route_randomly, replica_only) are refused: a watcher told of a change must
// read it back, which a lagging replica does not guarantee.
//
// # Keys
//
// prefix (default "maintenance:") lets several products share one database.
// Every key of a store starts with the prefix in braces, a Redis Cluster hash
// tag, so that all of them live in one slot and a change can be one script:
//
//	{P}state    hash: "version" and "doc", the JSON of the maintenance.State
//	{P}events   list of JSON maintenance.Event records, newest first, at most MaxEvents
//	{P}eventid  the counter that numbers events (INCR)
//	{P}gates    hash: gate ID -> JSON maintenance.GateInfo
//	{P}gateseen sorted set: gate ID scored by its LastSeen in Unix milliseconds
//	{P}key      the server key (maintenance.KeySize bytes), set by the first Key call
//	{P}uses     hash: bypass link ID -> use count (HINCRBY)
//	{P}changed  the pub/sub channel of changes (not a key)
//
// A database without these keys (new, or flushed by a restart without
// persistence) holds version 0 with only "*" declared; reads never create
// them. A server that loses its data loses the server key too: the next Key
// call makes a new one, which ends every bypass cookie and admin session.
// The key is as readable as the database: protect it with a password or ACL.
//
// # Changes
//
// Update reads the state, applies the change in Go with state.Commit and
// runs a Lua script that writes the new state, its events (numbered by INCR)
// and PUBLISHes on the channel, only if the version is still the one read:
// otherwise nothing is written and Update starts over. A script runs
// atomically, so a watcher that re-reads on the notification sees the change.
// The message carries the new version for people watching with redis-cli;
// watchers ignore it and re-read the state.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/redact"
	"github.com/gomaint/maintenance/internal/state"
)

// DefaultPrefix starts the keys of a store whose URL sets no prefix.
const DefaultPrefix = "maintenance:"

// MaxEvents is the number of events a store keeps; older ones are dropped.
const MaxEvents = 10_000

// maxEvents is MaxEvents, lowered by tests.
var maxEvents = MaxEvents

// maxAttempts is how many times Update reads and writes again after losing
// a race with another writer before it gives up with maintenance.ErrConflict.
const maxAttempts = 100

// Connection defaults, used when the URL does not set them.
const (
	defaultDialTimeout = time.Second
	defaultIOTimeout   = time.Second
	defaultMaxRetries  = 1
)

// Store is a maintenance.Store in Redis. It is safe for concurrent use, and
// several Stores, in one process or several, may share one prefix.
type Store struct {
	client goredis.UniversalClient
	name   string // the URL without its password, for messages

	// Keys and channel, each starting with the hash tag "{prefix}".
	stateKey, eventsKey, eventIDKey, gatesKey, gateSeenKey, keyKey, usesKey, channel string
	leasesKey, cursorsKey                                                            string

	// ctx is cancelled by Close; it ends the watchers.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex // guards the start of watchers against Close
	closed   atomic.Bool
	watchers sync.WaitGroup
}

var _ maintenance.Store = (*Store)(nil)

// Open connects to the Redis server, Sentinel-managed master or Cluster
// named by rawURL (see the package documentation) and pings it. A URL that
// cannot be used returns an error wrapping maintenance.ErrInvalid. Close
// releases the connections.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	client, prefix, name, err := newClient(rawURL)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("opening redis store %q: %w", name, err))
	}
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, redact.Error(fmt.Errorf("opening redis store %q: %w", name, err))
	}
	s := &Store{client: client, name: name}
	tag := "{" + prefix + "}"
	s.stateKey, s.eventsKey, s.eventIDKey = tag+"state", tag+"events", tag+"eventid"
	s.gatesKey, s.gateSeenKey, s.channel = tag+"gates", tag+"gateseen", tag+"changed"
	s.keyKey, s.usesKey = tag+"key", tag+"uses"
	s.leasesKey, s.cursorsKey = tag+"leases", tag+"cursors"
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// newClient parses rawURL and returns a client (which has not connected
// yet), the key prefix and the URL without its password.
func newClient(rawURL string) (client goredis.UniversalClient, prefix, name string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the URL, password included: keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, "", "(unparsable URL)", invalidf("parsing the URL: %v", err)
	}
	name = redact.String(rawURL)
	q := u.Query()
	prefix = DefaultPrefix
	if ps, ok := q["prefix"]; ok {
		if len(ps) != 1 {
			return nil, "", name, invalidf("prefix is given %d times; accepted: once", len(ps))
		}
		if prefix, err = checkPrefix(ps[0]); err != nil {
			return nil, "", name, err
		}
		q.Del("prefix")
		u.RawQuery = q.Encode()
	}
	badScheme := invalidf("scheme %q: accepted: redis, rediss, redis+sentinel, redis+cluster (or rediss+...)", u.Scheme)
	scheme, kind, _ := strings.Cut(u.Scheme, "+")
	if scheme != "redis" && scheme != "rediss" {
		return nil, "", name, badScheme
	}
	u.Scheme = scheme
	rest := u.String()
	switch kind {
	case "":
		o, err := goredis.ParseURL(rest)
		if err != nil {
			return nil, "", name, invalidf("%v", err)
		}
		setDefaults(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, &o.MaxRetries)
		return goredis.NewClient(o), prefix, name, nil
	case "sentinel":
		o, err := goredis.ParseFailoverURL(rest)
		if err != nil {
			return nil, "", name, invalidf("%v", err)
		}
		if o.MasterName == "" {
			return nil, "", name, invalidf("a redis+sentinel URL needs master_name=NAME")
		}
		if o.RouteByLatency || o.RouteRandomly || o.ReplicaOnly {
			return nil, "", name, invalidf("route_by_latency, route_randomly and replica_only read from replicas, which may lag; not accepted")
		}
		setDefaults(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, &o.MaxRetries)
		return goredis.NewFailoverClient(o), prefix, name, nil
	case "cluster":
		o, err := goredis.ParseClusterURL(rest)
		if err != nil {
			return nil, "", name, invalidf("%v", err)
		}
		if o.ReadOnly || o.RouteByLatency || o.RouteRandomly {
			return nil, "", name, invalidf("read_only, route_by_latency and route_randomly read from replicas, which may lag; not accepted")
		}
		setDefaults(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, &o.MaxRetries)
		return goredis.NewClusterClient(o), prefix, name, nil
	}
	return nil, "", name, badScheme
}

// setDefaults sets the connection settings that the URL left at zero.
func setDefaults(dial, read, write *time.Duration, dialRetries, maxRetries *int) {
	if *dial == 0 {
		*dial = defaultDialTimeout
	}
	if *read == 0 {
		*read = defaultIOTimeout
	}
	if *write == 0 {
		*write = defaultIOTimeout
	}
	if *dialRetries == 0 {
		*dialRetries = 1
	}
	if *maxRetries == 0 {
		*maxRetries = defaultMaxRetries
	}
}

// checkPrefix validates a key prefix: printable ASCII without spaces or
// braces (which would break the hash tag), at most 100 bytes.
func checkPrefix(p string) (string, error) {
	if p == "" || len(p) > 100 {
		return "", invalidf("prefix %q: accepted: 1 to 100 printable ASCII characters, like shop:", p)
	}
	for _, r := range p {
		if r <= ' ' || r >= 0x7f || r == '{' || r == '}' {
			return "", invalidf("prefix %q: accepted: printable ASCII without spaces or braces, like shop:", p)
		}
	}
	return p, nil
}

// invalidError is a URL that cannot be used: its message is for the person
// who typed it, and it wraps maintenance.ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return maintenance.ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// Close stops the watchers and closes the connections. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	s.cancel()
	s.mu.Unlock()
	s.watchers.Wait()
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("closing redis store %q: %w", s.name, err)
	}
	return nil
}

// wrap says what failed and where. After Close, it wraps
// maintenance.ErrClosed instead of err, which then is only what Close caused.
func (s *Store) wrap(doing string, err error) error {
	if s.closed.Load() {
		err = maintenance.ErrClosed
	}
	return fmt.Errorf("%s: redis store %q: %w", doing, s.name, err)
}

// Load returns the current state, normalized: a database without the state
// is version 0 with only "*" declared. It returns an error wrapping
// maintenance.ErrClosed after Close.
func (s *Store) Load(ctx context.Context) (*maintenance.State, error) {
	if s.closed.Load() {
		return nil, s.wrap("loading state", maintenance.ErrClosed)
	}
	st, err := s.load(ctx)
	if err != nil {
		return nil, s.wrap("loading state", err)
	}
	return st, nil
}

func (s *Store) load(ctx context.Context) (*maintenance.State, error) {
	vals, err := s.client.HMGet(ctx, s.stateKey, "version", "doc").Result()
	if err != nil {
		return nil, err
	}
	doc, _ := vals[1].(string)
	var version int64
	if v, ok := vals[0].(string); ok {
		if version, err = strconv.ParseInt(v, 10, 64); err != nil {
			return nil, fmt.Errorf("decoding the state version %q: %w", v, err)
		}
	}
	return state.DecodeState([]byte(doc), version)
}

// updateScript writes a change if the state is still at the version read.
//
//	KEYS: state, events, eventid
//	ARGV: version read, new version, new document, channel, MaxEvents,
//	      then each event's JSON after its "id" member, oldest first
//
// It returns 1 when it wrote, 0 when another writer came first.
var updateScript = goredis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'version')
if (v or '0') ~= ARGV[1] then
	return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'doc', ARGV[3])
for i = 6, #ARGV do
	local id = redis.call('INCR', KEYS[3])
	redis.call('LPUSH', KEYS[2], '{"id":' .. tostring(id) .. ARGV[i])
end
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
`)

// eventHead starts the JSON of an event without its ID; the script writes
// the ID in its place.
const eventHead = `{"id":0`

// Update applies c: it reads the state, calls state.Commit and writes
// the new state and its events in one script, which publishes the change,
// if no other writer changed the state in between; otherwise it starts over,
// up to 100 times before it returns an error wrapping
// maintenance.ErrConflict. A change that changes nothing writes nothing and
// returns the current state. Bad input returns an error wrapping
// maintenance.ErrInvalid or maintenance.ErrNotFound and writes nothing.
func (s *Store) Update(ctx context.Context, c maintenance.Change) (*maintenance.State, error) {
	if s.closed.Load() {
		return nil, s.wrap("updating state", maintenance.ErrClosed)
	}
	for attempt := 1; ; attempt++ {
		cur, err := s.load(ctx)
		if err != nil {
			return nil, s.wrap("updating state", fmt.Errorf("reading the state: %w", err))
		}
		next, evs, err := state.Commit(cur, c, time.Now())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Action, err)
		}
		if len(evs) == 0 {
			return cur, nil // a no-op: nothing to write
		}
		args, err := updateArgs(cur.Version, next, evs, s.channel)
		if err != nil {
			return nil, fmt.Errorf("updating state: %w", err)
		}
		n, err := updateScript.Run(ctx, s.client, []string{s.stateKey, s.eventsKey, s.eventIDKey}, args...).Int()
		if err != nil {
			return nil, s.wrap("updating state", fmt.Errorf("writing the state: %w", err))
		}
		if n == 1 {
			return next, nil
		}
		if attempt == maxAttempts {
			return nil, s.wrap("updating state", fmt.Errorf("another writer came first %d times: %w", attempt, maintenance.ErrConflict))
		}
		// Another writer came first: read again, after a short random
		// pause so that writers that collided spread out.
		t := time.NewTimer(rand.N(time.Duration(min(attempt, 10)) * time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, s.wrap("updating state", ctx.Err())
		case <-t.C:
		}
	}
}

// updateArgs returns the ARGV of updateScript.
func updateArgs(read int64, next *maintenance.State, evs []maintenance.Event, channel string) ([]any, error) {
	doc, err := json.Marshal(next)
	if err != nil {
		return nil, fmt.Errorf("encoding the state: %w", err)
	}
	args := []any{strconv.FormatInt(read, 10), strconv.FormatInt(next.Version, 10), doc, channel, maxEvents}
	for _, e := range evs {
		e.ID = 0
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encoding the event of %s: %w", e.Site, err)
		}
		rest, ok := strings.CutPrefix(string(b), eventHead)
		if !ok {
			return nil, fmt.Errorf("encoding the event of %s: %.20s... does not start with %s", e.Site, b, eventHead)
		}
		args = append(args, rest)
	}
	return args, nil
}

// Events returns audit events, newest first, those that match every field
// set in f; the store keeps the newest MaxEvents. With a filter other than
// the limit, it reads the list from the newest event until it has found
// f.Limit events that match. It returns an error wrapping
// maintenance.ErrInvalid for a negative limit or Before, and one wrapping
// maintenance.ErrClosed after Close.
func (s *Store) Events(ctx context.Context, f maintenance.EventFilter) ([]maintenance.Event, error) {
	if s.closed.Load() {
		return nil, s.wrap("listing events", maintenance.ErrClosed)
	}
	f, err := f.Check()
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	filtered := f.Filters()
	var evs []maintenance.Event
	// Events are read in chunks. An event pushed meanwhile shifts the list,
	// so a chunk may repeat events of the previous one: IDs decrease along
	// the list, and an ID not below the last one seen is a repeat.
	last := int64(-1)
	chunk := f.Limit
	if filtered {
		chunk = max(4*f.Limit, 100)
	}
	for start := 0; len(evs) < f.Limit && start < maxEvents; {
		items, err := s.client.LRange(ctx, s.eventsKey, int64(start), int64(start+chunk-1)).Result()
		if err != nil {
			return nil, s.wrap("listing events", err)
		}
		for _, item := range items {
			var e maintenance.Event
			if err := json.Unmarshal([]byte(item), &e); err != nil {
				return nil, fmt.Errorf("listing events: redis store %q: decoding an event: %w", s.name, err)
			}
			if last >= 0 && e.ID >= last {
				continue
			}
			last = e.ID
			if f.Match(&e) {
				evs = append(evs, e)
				if len(evs) == f.Limit {
					break
				}
			}
		}
		if len(items) < chunk {
			break
		}
		start += len(items)
		chunk = min(2*chunk, 1000)
	}
	return evs, nil
}
