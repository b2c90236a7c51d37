package file

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/state"
)

// Sidecar files of the secrets, next to the store file.
const (
	keySuffix  = ".key"
	usesSuffix = ".uses"
)

// keyFileMode is the mode of the key file: its owner's only.
const keyFileMode fs.FileMode = 0o600

// SecretsFormat is the version of the layout of the key and uses files
// that this package writes.
const SecretsFormat = 1

// keyFile is the content of the key file, PATH.key.
type keyFile struct {
	Format int `json:"format"`
	// Key is the server key, base64 (standard, padded).
	Key string `json:"key"`
}

// usesFile is the content of the uses file, PATH.uses.
type usesFile struct {
	Format int              `json:"format"`
	Uses   map[string]int64 `json:"uses"`
}

// Key returns the server key, kept in the sidecar file PATH.key (mode 0600).
// The first call on a new store creates it under the store's lock, by an
// atomic replace, unless another caller came first: every caller, in any
// process, gets the key that was written first. It never writes the store
// file, so it wakes no watcher. A key file that cannot be read is an error;
// it is never replaced, which would change the key. It returns an error
// wrapping maintenance.ErrClosed after Close.
func (s *Store) Key(ctx context.Context) ([]byte, error) {
	const doing = "reading the server key"
	if s.closed.Load() {
		return nil, s.errClosed(doing)
	}
	key, err := s.readKey()
	if errors.Is(err, fs.ErrNotExist) {
		key, err = s.createKey(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", doing, err)
	}
	return key, nil
}

// createKey writes a new key file under the lock, unless one was written
// meanwhile, and returns the key that the file holds.
func (s *Store) createKey(ctx context.Context) ([]byte, error) {
	unlock, err := lock(ctx, s.lockPath)
	if err != nil {
		return nil, err
	}
	defer unlock()
	key, err := s.readKey()
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key = state.NewKey()
	data, err := json.Marshal(keyFile{Format: SecretsFormat, Key: base64.StdEncoding.EncodeToString(key)})
	if err != nil {
		return nil, fmt.Errorf("encoding the key: %w", err)
	}
	if err := writeAtomic(s.path+keySuffix, append(data, '\n'), keyFileMode); err != nil {
		return nil, fmt.Errorf("writing %s: %w", s.name+keySuffix, err)
	}
	return key, nil
}

// readKey reads the key file; an error wrapping fs.ErrNotExist means there
// is none yet. Its errors never quote the file's content.
func (s *Store) readKey() ([]byte, error) {
	name := s.name + keySuffix
	data, err := os.ReadFile(s.path + keySuffix)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	var f keyFile
	if json.Unmarshal(data, &f) != nil {
		return nil, fmt.Errorf("reading %s: not a key file", name)
	}
	if f.Format > SecretsFormat {
		return nil, fmt.Errorf("reading %s: the file has format %d; this program reads format %d and older: use a newer maintenance", name, f.Format, SecretsFormat)
	}
	key, err := base64.StdEncoding.DecodeString(f.Key)
	if err != nil || len(key) != maintenance.KeySize {
		return nil, fmt.Errorf("reading %s: the key is not %d bytes in base64", name, maintenance.KeySize)
	}
	return key, nil
}

// CountUses adds n[id] to the use count of each bypass link id: under the
// store's lock, it rewrites the sidecar file PATH.uses by an atomic replace,
// so that concurrent callers never lose a count. Zero counts are skipped. It
// never writes the store file, so it wakes no watcher. A uses file that
// cannot be read is an error, and is kept. It returns an error wrapping
// maintenance.ErrInvalid, having written nothing, when an ID is empty or
// longer than 32 bytes or a count is negative, and one wrapping
// maintenance.ErrClosed after Close. While another writer holds the lock, it
// waits until ctx is done.
func (s *Store) CountUses(ctx context.Context, n map[string]int64) error {
	const doing = "counting bypass link uses"
	if s.closed.Load() {
		return s.errClosed(doing)
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
	if err := s.countUses(ctx, n); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return nil
}

func (s *Store) countUses(ctx context.Context, n map[string]int64) error {
	unlock, err := lock(ctx, s.lockPath)
	if err != nil {
		return err
	}
	defer unlock()
	uses, err := s.readUses()
	if err != nil {
		return err
	}
	for id, c := range n {
		if c != 0 {
			uses[id] += c
		}
	}
	data, err := encodeUses(uses)
	if err != nil {
		return err
	}
	if err := writeAtomic(s.path+usesSuffix, data, sidecarMode(s.path+usesSuffix, s.path)); err != nil {
		return fmt.Errorf("writing %s: %w", s.name+usesSuffix, err)
	}
	return nil
}

// readUses reads the uses file; a missing file is no uses.
func (s *Store) readUses() (map[string]int64, error) {
	name := s.name + usesSuffix
	data, err := os.ReadFile(s.path + usesSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	var f usesFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if f.Format > SecretsFormat {
		return nil, fmt.Errorf("reading %s: the file has format %d; this program reads format %d and older: use a newer maintenance", name, f.Format, SecretsFormat)
	}
	if f.Uses == nil {
		f.Uses = map[string]int64{}
	}
	return f.Uses, nil
}

// encodeUses returns the uses file's content: the header on the first line,
// then one line per link, sorted by ID.
func encodeUses(uses map[string]int64) ([]byte, error) {
	ids := make([]string, 0, len(uses))
	for id := range uses {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b bytes.Buffer
	b.WriteString(`{"format":` + strconv.Itoa(SecretsFormat) + `,"uses":{`)
	for i, id := range ids {
		k, err := json.Marshal(id)
		if err != nil {
			return nil, fmt.Errorf("encoding bypass link %q: %w", id, err)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
		b.Write(k)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(uses[id], 10))
	}
	b.WriteString("\n}}\n")
	return b.Bytes(), nil
}

// Uses returns the use counts of bypass links, by ID, from the uses file; a
// missing file is none, and reading it creates nothing. It returns an error
// wrapping maintenance.ErrClosed after Close.
func (s *Store) Uses(ctx context.Context) (map[string]int64, error) {
	const doing = "reading bypass link uses"
	if s.closed.Load() {
		return nil, s.errClosed(doing)
	}
	uses, err := s.readUses()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", doing, err)
	}
	return uses, nil
}
