package maintenance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Store keeps the state and the audit log, shared by every gate of a fleet,
// and the secrets that are not state: the server key and the use counts of
// bypass links. Implementations live in subpackages (sqlite, file, ...) and
// must pass the storetest suite.
type Store interface {
	Secrets
	Outbox

	// Load returns the current state, normalized (sorted, "*" declared).
	// It returns an error wrapping ErrClosed after Close, or an I/O error.
	Load(ctx context.Context) (*State, error)

	// Update applies c atomically: it reads the current state, applies c to a
	// copy and validates the result, and writes the new state, its higher version and its events in one
	// transaction. It returns the state after the change (the unchanged state
	// when the change was a no-op, with no version bump and no event). Bad
	// input returns an error wrapping ErrInvalid or ErrNotFound and writes
	// nothing.
	Update(ctx context.Context, c Change) (*State, error)

	// Events returns audit events, newest first: those that match every
	// field set in f, at most f.Limit. A negative Limit or Before returns an
	// error wrapping ErrInvalid.
	Events(ctx context.Context, f EventFilter) ([]Event, error)

	// Watch returns a channel that receives a value soon after any change,
	// made by this process or another one. Values are coalesced: one value may
	// stand for many changes; the receiver re-reads the whole state with Load.
	// The channel is closed when ctx is done or the store is closed.
	Watch(ctx context.Context) (<-chan struct{}, error)

	// Heartbeat records that the gate g is alive, as of g.LastSeen, adding or
	// replacing the entry with its ID. It also drops entries not seen for
	// GateTTL. It is not a change: no version, no event, no Watch signal.
	// An empty ID is an error wrapping ErrInvalid.
	Heartbeat(ctx context.Context, g GateInfo) error

	// Gates returns the gates seen within GateTTL of now, sorted by ID.
	Gates(ctx context.Context) ([]GateInfo, error)

	// ForgetGate removes the entry of a gate that stops. Forgetting an
	// unknown gate is not an error; an empty ID is an error wrapping
	// ErrInvalid.
	ForgetGate(ctx context.Context, id string) error

	// Close releases the store. It is idempotent.
	Close() error
}

// Secrets is the part of a Store that keeps what is not state: the server
// key and the use counts of bypass links. Neither is a change: no version,
// no event, no Watch signal. Every method returns an error wrapping
// ErrClosed after Close; no error or log line shows the key.
type Secrets interface {
	// Key returns the store's server key (KeySize random bytes), which signs
	// bypass cookies and admin sessions. The first call on a new store
	// creates it; every caller of the store, in any process, gets the same
	// key, even callers racing on a new store.
	Key(ctx context.Context) ([]byte, error)

	// CountUses adds n[id] to the use count of each bypass link id,
	// atomically: concurrent callers, in any process, lose no count. Zero
	// counts are skipped. An empty ID, one longer than 32 bytes or a
	// negative count returns an error wrapping ErrInvalid and writes
	// nothing.
	CountUses(ctx context.Context, n map[string]int64) error

	// Uses returns the use counts of bypass links, by ID. Links never used
	// are absent.
	Uses(ctx context.Context) (map[string]int64, error)
}

// Outbox is the part of a Store that webhook delivery keeps (Deliverer): a
// lease that lets one process of the fleet deliver at a time, and a cursor
// per webhook. None of it is a change: no version, no event, no Watch
// signal. Every method returns an error wrapping ErrClosed after Close, and
// one wrapping ErrInvalid, having written nothing, for a name, holder or
// webhook ID that CheckLease or CheckCursor rejects.
type Outbox interface {
	// TakeLease gives the lease name to holder until the time until, when
	// the lease is free, held by holder (which extends it), or expired at
	// now (held until a time not after now). It reports whether holder
	// holds the lease after the call. Callers racing for a free lease, in
	// any process, see one winner.
	TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)

	// DropLease frees the lease name when holder holds it; otherwise it
	// does nothing.
	DropLease(ctx context.Context, name, holder string) error

	// Cursors returns the delivery cursors, by webhook ID.
	Cursors(ctx context.Context) (map[string]Cursor, error)

	// SetCursor stores c as the cursor of webhook id, atomically with a
	// check that holder holds the lease name (expired or not, as long as
	// nobody took it over): otherwise it writes nothing and returns an
	// error wrapping ErrLeaseLost. A process that lost the lease while it
	// delivered cannot move a cursor back.
	SetCursor(ctx context.Context, name, holder, id string, c Cursor) error

	// DropCursor removes the cursor of webhook id (a webhook removed), with
	// the same check as SetCursor. Dropping a missing cursor is not an error.
	DropCursor(ctx context.Context, name, holder, id string) error
}

// ErrLeaseLost reports a write by a process that no longer holds the lease
// it names (Outbox.SetCursor).
var ErrLeaseLost = errors.New("lease lost")

// Cursor is where the delivery to one webhook stands, kept by the store
// (Outbox) so that another process can take over.
type Cursor struct {
	// Event is the ID of the last audit event delivered (or skipped by the
	// webhook's filters).
	Event int64 `json:"event"`
	// Clock and ClockID are the time and ID of the last event delivered
	// that no change commits (window edges, reminders, forgotten).
	Clock   time.Time `json:"clock,omitzero"`
	ClockID string    `json:"clock_id,omitempty"`
	// Pending is the ID of the event being retried, Attempts the failed
	// attempts at it, FailingSince the first of them, NextAttempt when the
	// next is due, and LastError what went wrong last (no secret in it).
	Pending      string    `json:"pending,omitempty"`
	Attempts     int       `json:"attempts,omitempty"`
	FailingSince time.Time `json:"failing_since,omitzero"`
	NextAttempt  time.Time `json:"next_attempt,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	// Failed is set when Pending could not be delivered for
	// WebhookRetryFor: delivery to the webhook stops.
	Failed bool `json:"failed,omitempty"`
	// Delivered counts the events delivered; LastDelivered is the time of
	// the last one.
	Delivered     int64     `json:"delivered,omitempty"`
	LastDelivered time.Time `json:"last_delivered,omitzero"`
}

// MaxLeaseName is the longest lease name or holder, in bytes.
const MaxLeaseName = 256

// CheckLease validates the lease name and holder of an Outbox call, for
// stores to call before they write anything: 1 to 256 bytes of printable
// characters.
func CheckLease(name, holder string) error {
	for _, f := range []struct{ what, v string }{{"lease name", name}, {"lease holder", holder}} {
		if f.v == "" || len(f.v) > MaxLeaseName || strings.ContainsFunc(f.v, func(r rune) bool { return r < ' ' || r == 0x7f || r == utf8.RuneError }) {
			return invalidf("%s %q: accepted: 1 to %d bytes of printable characters", f.what, f.v, MaxLeaseName)
		}
	}
	return nil
}

// CheckCursor validates the webhook ID of a cursor (4 to 32 hex digits) and
// its size as stored (at most 4 KiB of JSON), for stores to call before
// they write anything.
func CheckCursor(id string, c Cursor) error {
	if !validID(id) {
		return invalidf("webhook ID %q: accepted: 4 to 32 hex digits", id)
	}
	if len(c.LastError) > 1000 || len(c.Pending) > 200 || len(c.ClockID) > 200 {
		return invalidf("cursor of webhook %s: accepted: an error of at most 1000 bytes, event IDs of at most 200", id)
	}
	return nil
}

// maxUseID is the longest link ID that CountUses accepts: the longest that
// a bypass link may have.
const maxUseID = 32

// checkUses validates the argument of Secrets.CountUses, for stores to call
// before they write anything: every ID is 1 to 32 bytes and every count is
// 0 or more. The error wraps ErrInvalid; it gives the length of a bad ID,
// never the ID itself, which might be a secret passed by mistake.
func checkUses(n map[string]int64) error {
	for id, c := range n {
		if id == "" || len(id) > maxUseID {
			return invalidf("bypass link ID of %d bytes: accepted: 1 to %d bytes, like 8d1e0f2c", len(id), maxUseID)
		}
		if c < 0 {
			return invalidf("use count %d of bypass link %q: accepted: 0 or more", c, id)
		}
	}
	return nil
}

// GateTTL is how long a gate that stops sending heartbeats stays listed.
// Gates send one every GateHeartbeat and after every snapshot swap.
const (
	GateTTL       = 30 * time.Second
	GateHeartbeat = 10 * time.Second
)

// GateInfo is what a gate reports about itself, so that an operator can see
// that the whole fleet has switched ("12/12 gates at version 42").
type GateInfo struct {
	// ID is unique per running gate (host, process and a random part).
	ID   string `json:"id"`
	Host string `json:"host"`
	// Release is the gate's own release, when it has one.
	Release string `json:"release,omitempty"`
	// Version is the state version the gate serves.
	Version  int64     `json:"version"`
	Started  time.Time `json:"started"`
	LastSeen time.Time `json:"last_seen"`
	// StoreError is the last error reading the store, empty when in sync.
	StoreError string `json:"store_error,omitempty"`
	// Warnings are the gate's other concerns: maintenance forgotten on
	// (Options.MaxDuration).
	Warnings []string `json:"warnings,omitempty"`
}

// EventFilter selects audit events.
type EventFilter struct {
	// Site, when set, keeps the events of this site only.
	Site string
	// Actor, when set, keeps the events of this actor only.
	Actor string
	// Action, when set, keeps the events of this action only ("on", "off",
	// "ignore add"...).
	Action string
	// Before, when set, keeps the events with an ID lower than it, to page
	// back through the log.
	Before int64
	// Limit is the most events returned; 0 means DefaultEventLimit.
	Limit int
}

// DefaultEventLimit is the number of events returned when a filter sets none.
const DefaultEventLimit = 20

// Check returns f as stores apply it: the default limit when none is set,
// and the site in canonical form (a name that does not parse is kept: it
// matches nothing). A negative Limit or Before, or a site, actor or action
// that no event can hold (control characters, invalid UTF-8, over MaxText
// bytes) is an error wrapping ErrInvalid.
func (f EventFilter) Check() (EventFilter, error) {
	if f.Limit < 0 {
		return f, fmt.Errorf("limit %d: %w", f.Limit, ErrInvalid)
	}
	if f.Before < 0 {
		return f, fmt.Errorf("before %d: %w", f.Before, ErrInvalid)
	}
	for _, x := range []struct{ what, v string }{{"site", f.Site}, {"actor", f.Actor}, {"action", f.Action}} {
		if err := validateLine(x.what, x.v); err != nil {
			return f, err
		}
	}
	if f.Limit == 0 {
		f.Limit = DefaultEventLimit
	}
	if f.Site != "" {
		if n, err := ParseSite(f.Site); err == nil {
			f.Site = n
		}
	}
	return f, nil
}

// Filters reports whether f selects events (any field but Limit is set).
func (f EventFilter) Filters() bool {
	return f.Site != "" || f.Actor != "" || f.Action != "" || f.Before != 0
}

// Match reports whether e matches every field set in f, for stores that
// filter events in memory. Call it on a checked filter.
func (f EventFilter) Match(e *Event) bool {
	return (f.Site == "" || e.Site == f.Site) && (f.Actor == "" || e.Actor == f.Actor) &&
		(f.Action == "" || e.Action == f.Action) && (f.Before == 0 || e.ID < f.Before)
}

// Event is an audit record: one per site changed by a change.
type Event struct {
	// ID orders events; it is assigned by the store.
	ID int64 `json:"id"`
	// Version is the state version the change produced.
	Version int64     `json:"version"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	// Source says where the change came from: "cli", "gate", "admin", "api", "library".
	Source string `json:"source"`
	Reason string `json:"reason,omitempty"`
	// Action names the change: "on", "off", "sites add", "ignore add"...
	Action string `json:"action"`
	Site   string `json:"site"`
	// Before and After are the site's state around the change; Before is nil
	// for a site that was declared by it, After for one that was removed.
	Before *SiteState `json:"before"`
	After  *SiteState `json:"after"`
	// ReleaseBefore and ReleaseAfter are the fleet's target release around
	// a change of it; Site is empty in such an event.
	ReleaseBefore string `json:"release_before,omitempty"`
	ReleaseAfter  string `json:"release_after,omitempty"`
	// Target names the user, API token or bypass link a change of one is
	// about: "user alice", "token 3f9c2a1b", "bypass 8d1e0f2c". Site is the
	// link's site for a bypass link, empty otherwise.
	Target string `json:"target,omitempty"`
}
