// Package file is a maintenance.Store kept in one JSON file, for one machine
// or a few processes that share a local file system.
//
// # Layout
//
// The file holds the state and the audit log, one line for the header, one
// for the state and one per event:
//
//	{"format":1,"version":3,
//	"state":{"version":3,"sites":[{"site":"*","on":false,"version":0},{"site":"shop.example.com","on":true,"changed_by":"alice","changed_at":"2026-05-04T10:00:00Z","version":3}]},
//	"events":[
//	{"id":1,"version":1,"time":"2026-05-04T09:58:00Z","actor":"alice","source":"cli","action":"sites add","site":"shop.example.com","before":null,"after":{...}},
//	...
//	]}
//
// "format" is the layout's version (Format); a newer one is refused.
// "version" is the state's version, written again inside "state" and read
// from the header. "state" is a maintenance.State and "events" are
// maintenance.Event records, oldest first. Only the newest MaxEvents events
// are kept: a write that would keep more drops the oldest ones. Load reads
// the header and the state only, and stops before the events.
//
// A missing file is an empty store: version 0, only "*" declared. Open, Load,
// Events, Watch and Gates never create it, nor anything else. Once the file
// has existed for a Store (it was there when read, or written), a missing
// file is an error instead: the file was deleted or moved, and a gate shows
// its store as unreachable until the path names a store file again, which
// it then follows (Watch signals both). Create writes the file of an empty
// store.
//
// # Writes
//
// A change locks the sibling file PATH.lock with flock(2) (the lock file is
// created on the first write and never removed: removing it would let two
// writers lock two different files), reads the file, applies the change with
// state.Commit, and replaces the file atomically: it writes a
// temporary file in the same directory, fsyncs it, renames it over the file
// and fsyncs the directory. Readers take no lock: they see the old file or the
// new one, never a part of one. A change that changes nothing writes nothing.
// The replaced file keeps the mode of the one it replaces; a new one gets 0600
// (it holds the admin users' password hashes).
//
// Watch polls the file's metadata (os.Stat) every PollInterval and signals
// when the file was replaced or changed (os.SameFile, modification time,
// size), created or removed.
//
// # Gates
//
// The gate registry is kept apart, in the sibling file PATH.gates, so that
// heartbeats never touch the store file and wake no watcher:
//
//	{"format":1,"gates":[
//	{"id":"web-1-4242-9f3c","host":"web-1","version":3,"started":"2026-05-04T09:00:00Z","last_seen":"2026-05-04T10:00:00Z"},
//	...
//	]}
//
// Each entry is a maintenance.GateInfo, sorted by ID. Heartbeat and
// ForgetGate rewrite the file like a change, under the same PATH.lock and by
// an atomic replace, and drop the entries not seen for
// maintenance.GateTTL. A gates file that cannot be decoded is replaced by the
// next write (live gates send their entries again within
// maintenance.GateHeartbeat); one with a newer format (GatesFormat) is
// refused. A missing gates file lists no gates.
//
// # Secrets
//
// The server key and the use counts of bypass links (maintenance.Secrets)
// are not state either, and live in sidecar files too. PATH.key holds the
// key, base64, and is only ever readable by its owner (0600):
//
//	{"format":1,"key":"q3J5...="}
//
// The first Key call writes it under PATH.lock, by an atomic replace, unless
// it exists; it is never rewritten. PATH.uses holds the use count of each
// link, by ID, rewritten under PATH.lock by every CountUses:
//
//	{"format":1,"uses":{
//	"8d1e0f2c":42
//	}}
//
// A key or uses file that cannot be read is an error, and is kept; one with a
// newer format (SecretsFormat) is refused.
package file

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/state"
)

// MaxEvents is the number of events a file keeps; older ones are dropped.
const MaxEvents = 10_000

// maxEvents is MaxEvents, lowered by tests.
var maxEvents = MaxEvents

// PollInterval is how often Watch checks the file for changes.
const PollInterval = 50 * time.Millisecond

// newFileMode is the mode of a file created by the first write.
const newFileMode fs.FileMode = 0o600

// Store is a maintenance.Store in one JSON file. It is safe for concurrent
// use, and several Stores, in one process or several, may share one file.
type Store struct {
	path      string // absolute
	name      string // as given to Open, for messages
	lockPath  string
	gatesPath string

	// ctx is cancelled by Close; it ends the watchers.
	ctx    context.Context
	cancel context.CancelFunc

	// seen is set once the file has existed: from then on, a missing file
	// is an error (deleted or moved), not an empty store.
	seen atomic.Bool

	mu       sync.Mutex // guards the start of watchers against Close
	closed   atomic.Bool
	watchers sync.WaitGroup
}

var _ maintenance.Store = (*Store)(nil)

// Open returns a store kept in the file at path. It creates nothing: the file
// is written by the first change. The directory must exist; a file that
// exists must be a store file.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("opening file store: the path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening file store %q: %w", path, err)
	}
	s := &Store{path: abs, name: path, lockPath: abs + ".lock", gatesPath: abs + gatesSuffix}
	fi, err := os.Stat(abs)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("opening file store %q: it is a directory; want a file path, like maintenance.json", path)
	case err == nil:
		if _, err := s.read(true); err != nil {
			return nil, fmt.Errorf("opening file store: %w", err)
		}
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(abs)
		if fi, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("opening file store %q: checking its directory: %w", path, err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("opening file store %q: %s is not a directory", path, dir)
		}
	default:
		return nil, fmt.Errorf("opening file store %q: %w", path, err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close stops the watchers. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	s.cancel()
	s.mu.Unlock()
	s.watchers.Wait()
	return nil
}

// errClosed is the error of a call made after Close.
func (s *Store) errClosed(doing string) error {
	return fmt.Errorf("%s: file store %q: %w", doing, s.name, maintenance.ErrClosed)
}

// read reads the file; a missing file is an empty store. With headOnly, it
// stops before the events.
func (s *Store) read(headOnly bool) (*document, error) {
	var d *document
	var err error
	if headOnly {
		var f *os.File
		if f, err = os.Open(s.path); err == nil {
			d, err = readHead(f)
			f.Close()
		}
	} else {
		var data []byte
		if data, err = os.ReadFile(s.path); err == nil {
			d, err = readAll(data)
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) && s.seen.Load():
		return nil, fmt.Errorf("reading %s: the store file was deleted or moved; the store is unreachable until the path names a store file again: %w", s.name, err)
	case errors.Is(err, fs.ErrNotExist):
		st := &maintenance.State{}
		st.Normalize()
		return &document{State: st}, nil
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", s.name, err)
	}
	s.seen.Store(true)
	return d, nil
}

// Load returns the current state, normalized: a missing file is version 0
// with only "*" declared. It returns an error wrapping maintenance.ErrClosed
// after Close.
func (s *Store) Load(ctx context.Context) (*maintenance.State, error) {
	if s.closed.Load() {
		return nil, s.errClosed("loading state")
	}
	d, err := s.read(true)
	if err != nil {
		return nil, fmt.Errorf("loading state: %w", err)
	}
	return d.State, nil
}

// Update applies c under the file's lock: it reads the file, calls
// state.Commit and replaces the file with the new state and its events.
// A change that changes nothing writes nothing and returns the current state.
// Bad input returns an error wrapping maintenance.ErrInvalid or
// maintenance.ErrNotFound and writes nothing. While another writer holds the
// lock, Update waits until ctx is done.
func (s *Store) Update(ctx context.Context, c maintenance.Change) (*maintenance.State, error) {
	if s.closed.Load() {
		return nil, s.errClosed("updating state")
	}
	unlock, err := lock(ctx, s.lockPath)
	if err != nil {
		return nil, fmt.Errorf("updating state: %w", err)
	}
	defer unlock()
	d, err := s.read(false)
	if err != nil {
		return nil, fmt.Errorf("updating state: %w", err)
	}
	next, evs, err := state.Commit(d.State, c, time.Now())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Action, err)
	}
	if len(evs) == 0 {
		return d.State, nil
	}
	id, err := d.lastEventID()
	if err != nil {
		return nil, fmt.Errorf("updating state: reading %s: %w", s.name, err)
	}
	for _, e := range evs {
		id++
		e.ID = id
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("updating state: encoding an event: %w", err)
		}
		d.Events = append(d.Events, b)
	}
	if n := len(d.Events) - maxEvents; n > 0 {
		d.Events = d.Events[n:]
	}
	d.Version, d.State = next.Version, next
	data, err := d.encode()
	if err != nil {
		return nil, fmt.Errorf("updating state: %w", err)
	}
	perm := newFileMode
	if fi, err := os.Stat(s.path); err == nil {
		perm = fi.Mode().Perm()
	}
	if err := writeAtomic(s.path, data, perm); err != nil {
		return nil, fmt.Errorf("updating state: writing %s: %w", s.name, err)
	}
	s.seen.Store(true)
	return next, nil
}

// writeAtomic replaces the file at path with data: a temporary file in the
// same directory, fsynced, renamed over path, and the directory fsynced.
func writeAtomic(path string, data []byte, perm fs.FileMode) error {
	return replaceFile(path, data, perm, true)
}

// replaceFile replaces the file at path with data by a rename, which readers
// see whole or not at all; with durable, fsynced (file and directory) so
// that it survives a power loss. The gate registry is not: it is rewritten
// by every gate after every change, and rebuilt by the heartbeats of the
// live gates within maintenance.GateHeartbeat.
func replaceFile(path string, data []byte, perm fs.FileMode, durable bool) (err error) {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating a temporary file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. File systems that cannot fsync a
// directory say so with EINVAL; there is nothing more to do on them.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening the directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("syncing the directory: %w", err)
	}
	return nil
}

// Events returns audit events, newest first, those that match every field
// set in f: at most MaxEvents are kept. It returns an error wrapping
// maintenance.ErrInvalid for a negative limit or Before, and one wrapping
// maintenance.ErrClosed after Close.
func (s *Store) Events(ctx context.Context, f maintenance.EventFilter) ([]maintenance.Event, error) {
	if s.closed.Load() {
		return nil, s.errClosed("listing events")
	}
	f, err := f.Check()
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	d, err := s.read(false)
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	var evs []maintenance.Event
	for i := len(d.Events) - 1; i >= 0 && len(evs) < f.Limit; i-- {
		var e maintenance.Event
		if err := json.Unmarshal(d.Events[i], &e); err != nil {
			return nil, fmt.Errorf("listing events: reading %s: decoding an event: %w", s.name, err)
		}
		if f.Match(&e) {
			evs = append(evs, e)
		}
	}
	return evs, nil
}

// Create writes the file of an empty store (version 0, only "*" declared)
// when it does not exist, under the file's lock, so that programs that
// refuse a missing store file find it. It reports whether it wrote the file;
// an existing file is left as it is.
func (s *Store) Create(ctx context.Context) (created bool, err error) {
	if s.closed.Load() {
		return false, s.errClosed("creating the store file")
	}
	unlock, err := lock(ctx, s.lockPath)
	if err != nil {
		return false, fmt.Errorf("creating the store file: %w", err)
	}
	defer unlock()
	if _, err := os.Stat(s.path); !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	st := &maintenance.State{}
	st.Normalize()
	data, err := (&document{State: st}).encode()
	if err != nil {
		return false, fmt.Errorf("creating the store file: %w", err)
	}
	if err := writeAtomic(s.path, data, newFileMode); err != nil {
		return false, fmt.Errorf("creating the store file: writing %s: %w", s.name, err)
	}
	s.seen.Store(true)
	return true, nil
}
