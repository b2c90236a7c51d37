package maintenance

import (
	"context"
	"time"
)

// Store keeps the state and the audit log, shared by every gate of a fleet.
// Implementations live in subpackages (sqlite, file, ...) and must pass the
// storetest suite.
type Store interface {
	// Load returns the current state, normalized (sorted, "*" declared).
	// It returns an error wrapping ErrClosed after Close, or an I/O error.
	Load(ctx context.Context) (*State, error)

	// Update applies c atomically: it reads the current state, calls Commit,
	// and writes the new state, its higher version and its events in one
	// transaction. It returns the state after the change (the unchanged state
	// when the change was a no-op, with no version bump and no event). Bad
	// input returns an error wrapping ErrInvalid or ErrNotFound and writes
	// nothing.
	Update(ctx context.Context, c Change) (*State, error)

	// Events returns audit events, newest first.
	Events(ctx context.Context, f EventFilter) ([]Event, error)

	// Watch returns a channel that receives a value soon after any change,
	// made by this process or another one. Values are coalesced: one value may
	// stand for many changes; the receiver re-reads the whole state with Load.
	// The channel is closed when ctx is done or the store is closed.
	Watch(ctx context.Context) (<-chan struct{}, error)

	// Close releases the store. It is idempotent.
	Close() error
}

// EventFilter selects audit events.
type EventFilter struct {
	// Site, when set, keeps the events of this site only.
	Site string
	// Limit is the most events returned; 0 means DefaultEventLimit.
	Limit int
}

// DefaultEventLimit is the number of events returned when a filter sets none.
const DefaultEventLimit = 20

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
}
