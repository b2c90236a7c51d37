package file

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/gomaint/maintenance"
)

// outboxSuffix names the sidecar file of webhook delivery, next to the
// store file.
const outboxSuffix = ".outbox"

// outboxFile is the content of the outbox file, PATH.outbox.
type outboxFile struct {
	Format  int                           `json:"format"`
	Leases  map[string]lease              `json:"leases"`
	Cursors map[string]maintenance.Cursor `json:"cursors"`
}

type lease struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

// TakeLease gives the lease name to holder until until when it is free,
// held by holder or expired at now: under the store's lock, it rewrites the
// sidecar file PATH.outbox by an atomic replace. It never writes the store
// file, so it wakes no watcher. See maintenance.Outbox.
func (s *Store) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	const doing = "taking a lease"
	if s.closed.Load() {
		return false, s.errClosed(doing)
	}
	if err := maintenance.CheckLease(name, holder); err != nil {
		return false, fmt.Errorf("%s: %w", doing, err)
	}
	held := false
	err := s.editOutbox(ctx, func(o *outboxFile) (bool, error) {
		l, ok := o.Leases[name]
		if ok && l.Holder != holder && l.Until.After(now) {
			return false, nil
		}
		o.Leases[name] = lease{holder, until.UTC()}
		held = true
		return true, nil
	})
	if err != nil {
		return false, fmt.Errorf("%s: %w", doing, err)
	}
	return held, nil
}

// DropLease frees the lease name when holder holds it.
func (s *Store) DropLease(ctx context.Context, name, holder string) error {
	const doing = "dropping a lease"
	if s.closed.Load() {
		return s.errClosed(doing)
	}
	if err := maintenance.CheckLease(name, holder); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	err := s.editOutbox(ctx, func(o *outboxFile) (bool, error) {
		if l, ok := o.Leases[name]; !ok || l.Holder != holder {
			return false, nil
		}
		delete(o.Leases, name)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return nil
}

// Cursors returns the delivery cursors, by webhook ID.
func (s *Store) Cursors(ctx context.Context) (map[string]maintenance.Cursor, error) {
	const doing = "reading the delivery cursors"
	if s.closed.Load() {
		return nil, s.errClosed(doing)
	}
	o, err := s.readOutbox()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", doing, err)
	}
	return o.Cursors, nil
}

// SetCursor stores c as the cursor of webhook id, under the store's lock,
// when holder holds the lease name.
func (s *Store) SetCursor(ctx context.Context, name, holder, id string, c maintenance.Cursor) error {
	const doing = "writing a delivery cursor"
	if s.closed.Load() {
		return s.errClosed(doing)
	}
	if err := maintenance.CheckLease(name, holder); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	if err := maintenance.CheckCursor(id, c); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	err := s.editOutbox(ctx, func(o *outboxFile) (bool, error) {
		if l, ok := o.Leases[name]; !ok || l.Holder != holder {
			return false, fmt.Errorf("lease %q is not held by %q: %w", name, holder, maintenance.ErrLeaseLost)
		}
		o.Cursors[id] = c
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return nil
}

// DropCursor removes the cursor of webhook id, with the check of SetCursor.
func (s *Store) DropCursor(ctx context.Context, name, holder, id string) error {
	const doing = "dropping a delivery cursor"
	if s.closed.Load() {
		return s.errClosed(doing)
	}
	if err := maintenance.CheckLease(name, holder); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	if err := maintenance.CheckCursor(id, maintenance.Cursor{}); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	err := s.editOutbox(ctx, func(o *outboxFile) (bool, error) {
		if l, ok := o.Leases[name]; !ok || l.Holder != holder {
			return false, fmt.Errorf("lease %q is not held by %q: %w", name, holder, maintenance.ErrLeaseLost)
		}
		_, ok := o.Cursors[id]
		delete(o.Cursors, id)
		return ok, nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return nil
}

// editOutbox reads the outbox file under the store's lock, calls f, and
// writes the file back when f says it changed it.
func (s *Store) editOutbox(ctx context.Context, f func(*outboxFile) (bool, error)) error {
	unlock, err := lock(ctx, s.lockPath)
	if err != nil {
		return err
	}
	defer unlock()
	o, err := s.readOutbox()
	if err != nil {
		return err
	}
	changed, err := f(o)
	if err != nil || !changed {
		return err
	}
	data, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if err := writeAtomic(s.path+outboxSuffix, append(data, '\n'), sidecarMode(s.path+outboxSuffix, s.path)); err != nil {
		return fmt.Errorf("writing %s: %w", s.name+outboxSuffix, err)
	}
	return nil
}

// readOutbox reads the outbox file; a missing file is an empty one.
func (s *Store) readOutbox() (*outboxFile, error) {
	name := s.name + outboxSuffix
	o := &outboxFile{Format: SecretsFormat}
	data, err := os.ReadFile(s.path + outboxSuffix)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if err == nil {
		if err := json.Unmarshal(data, o); err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		if o.Format > SecretsFormat {
			return nil, fmt.Errorf("reading %s: the file has format %d; this program reads format %d and older: use a newer maintenance", name, o.Format, SecretsFormat)
		}
	}
	if o.Leases == nil {
		o.Leases = map[string]lease{}
	}
	if o.Cursors == nil {
		o.Cursors = map[string]maintenance.Cursor{}
	}
	return o, nil
}
