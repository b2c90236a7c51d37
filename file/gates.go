package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

// GatesFormat is the version of the gates file's layout that this package
// writes.
const GatesFormat = 1

// gatesFile is the content of the gates file, PATH.gates.
type gatesFile struct {
	Format int                    `json:"format"`
	Gates  []maintenance.GateInfo `json:"gates"`
}

// errNewerGates reports a gates file written by a newer program.
var errNewerGates = errors.New("newer gates file")

// readGates reads the gates file, stale entries included; a missing file is
// an empty list. A file this package cannot decode is an error; one with a
// newer format is an error wrapping errNewerGates.
func (s *Store) readGates() ([]maintenance.GateInfo, error) {
	data, err := os.ReadFile(s.gatesPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.gatesName(), err)
	}
	var f gatesFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.gatesName(), err)
	}
	if f.Format > GatesFormat {
		return nil, fmt.Errorf("reading %s: the file has format %d; this program reads format %d and older: use a newer maintenance: %w",
			s.gatesName(), f.Format, GatesFormat, errNewerGates)
	}
	return f.Gates, nil
}

// gatesName is the gates file's name for messages.
func (s *Store) gatesName() string { return s.name + gatesSuffix }

// gatesSuffix makes the gates file's path from the store file's.
const gatesSuffix = ".gates"

// live returns the entries of gates seen within maintenance.GateTTL of now,
// sorted by ID. It reuses the array of gates.
func live(gates []maintenance.GateInfo, now time.Time) []maintenance.GateInfo {
	cutoff := now.Add(-maintenance.GateTTL)
	gates = slices.DeleteFunc(gates, func(g maintenance.GateInfo) bool {
		return g.ID == "" || g.LastSeen.Before(cutoff)
	})
	slices.SortFunc(gates, func(a, b maintenance.GateInfo) int { return strings.Compare(a.ID, b.ID) })
	return gates
}

// Heartbeat records that the gate g is alive: under the store's lock, it
// rewrites the gates file with g's entry added or replaced and the entries
// not seen for maintenance.GateTTL dropped. It never writes the store file,
// so watchers are not woken. A gates file that cannot be read is replaced
// (it holds nothing that live gates do not send again within
// maintenance.GateHeartbeat), unless it has a newer format. It returns an
// error wrapping maintenance.ErrInvalid for an empty ID, and one wrapping
// maintenance.ErrClosed after Close. While another writer holds the lock, it
// waits until ctx is done.
func (s *Store) Heartbeat(ctx context.Context, g maintenance.GateInfo) error {
	const doing = "recording a heartbeat"
	if s.closed.Load() {
		return s.errClosed(doing)
	}
	if g.ID == "" {
		return fmt.Errorf("%s: the gate ID is empty: %w", doing, maintenance.ErrInvalid)
	}
	err := s.updateGates(ctx, func(gates []maintenance.GateInfo) []maintenance.GateInfo {
		gates = slices.DeleteFunc(gates, func(e maintenance.GateInfo) bool { return e.ID == g.ID })
		return append(gates, g)
	})
	if err != nil {
		return fmt.Errorf("%s: gate %q: %w", doing, g.ID, err)
	}
	return nil
}

// ForgetGate removes the entry of the gate id from the gates file. It writes
// nothing when the gate is not listed: forgetting an unknown gate is not an
// error, and creates no file. It returns an error wrapping
// maintenance.ErrInvalid for an empty ID, and one wrapping
// maintenance.ErrClosed after Close.
func (s *Store) ForgetGate(ctx context.Context, id string) error {
	const doing = "forgetting a gate"
	if s.closed.Load() {
		return s.errClosed(doing)
	}
	if id == "" {
		return fmt.Errorf("%s: the gate ID is empty: %w", doing, maintenance.ErrInvalid)
	}
	listed := func(e maintenance.GateInfo) bool { return e.ID == id }
	// Most gates that stop are listed; check without the lock first anyway,
	// so that forgetting an unknown gate writes nothing.
	if gates, err := s.readGates(); err == nil && !slices.ContainsFunc(gates, listed) {
		return nil
	}
	err := s.updateGates(ctx, func(gates []maintenance.GateInfo) []maintenance.GateInfo {
		return slices.DeleteFunc(gates, listed)
	})
	if err != nil {
		return fmt.Errorf("%s: gate %q: %w", doing, id, err)
	}
	return nil
}

// updateGates rewrites the gates file under the store's lock with the live
// entries of what edit returns.
func (s *Store) updateGates(ctx context.Context, edit func([]maintenance.GateInfo) []maintenance.GateInfo) error {
	unlock, err := lock(ctx, s.lockPath)
	if err != nil {
		return err
	}
	defer unlock()
	gates, err := s.readGates()
	if errors.Is(err, errNewerGates) {
		return err
	}
	if err != nil {
		gates = nil // damaged: start again from the gates that are alive
	}
	gates = live(edit(gates), time.Now())
	data, err := encodeGates(gates)
	if err != nil {
		return err
	}
	if err := replaceFile(s.gatesPath, data, sidecarMode(s.gatesPath, s.path), false); err != nil {
		return fmt.Errorf("writing %s: %w", s.gatesName(), err)
	}
	return nil
}

// sidecarMode is the mode of a sidecar file (gates, uses) when it is
// written: the mode of the first of paths that exists (the file itself,
// then the store file), else newFileMode.
func sidecarMode(paths ...string) fs.FileMode {
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			return fi.Mode().Perm()
		}
	}
	return newFileMode
}

// encodeGates returns the gates file's content: the header on the first
// line, then one line per gate.
func encodeGates(gates []maintenance.GateInfo) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"format":` + strconv.Itoa(GatesFormat) + `,"gates":[`)
	for i, g := range gates {
		e, err := json.Marshal(g)
		if err != nil {
			return nil, fmt.Errorf("encoding gate %q: %w", g.ID, err)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
		b.Write(e)
	}
	b.WriteString("\n]}\n")
	return b.Bytes(), nil
}

// Gates returns the gates seen within maintenance.GateTTL, sorted by ID,
// from the gates file; a missing file is none, and reading it creates
// nothing. It returns an error wrapping maintenance.ErrClosed after Close.
func (s *Store) Gates(ctx context.Context) ([]maintenance.GateInfo, error) {
	if s.closed.Load() {
		return nil, s.errClosed("listing gates")
	}
	gates, err := s.readGates()
	if err != nil {
		return nil, fmt.Errorf("listing gates: %w", err)
	}
	return live(gates, time.Now()), nil
}
