package maintenance_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/file"
	"github.com/gomaint/maintenance/sqlite"
)

// TestStoreFileReplaced deletes, then replaces, the file of a SQLite and of
// a file store under a running gate: while the path names no file the gate
// keeps serving its last state and says the store is unreachable (health,
// StoreError, its log); once another store file is put at the path (a
// backup restored), it serves that file's state and follows its changes.
func TestStoreFileReplaced(t *testing.T) {
	for _, kind := range []string{"sqlite", "file"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			ext := map[string]string{"sqlite": ".db", "file": ".json"}[kind]
			path := filepath.Join(dir, "m"+ext)
			open := func(p string) maintenance.Store {
				t.Helper()
				var st maintenance.Store
				var err error
				if kind == "sqlite" {
					st, err = sqlite.Open(t.Context(), p)
				} else {
					var f *file.Store
					if f, err = file.Open(t.Context(), p); err == nil {
						_, err = f.Create(t.Context())
					}
					st = f
				}
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			update := func(st maintenance.Store, c maintenance.Change) *maintenance.State {
				t.Helper()
				c.Actor, c.Source = "test", "cli"
				s, err := st.Update(t.Context(), c)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			// The backup: another store file, with another site declared.
			backupPath := filepath.Join(dir, "backup"+ext)
			backup := open(backupPath)
			// (at a later version than the store's: a backup of an older
			// version would be followed too, with a warning kept until
			// the next change, which this test does not look at)
			update(backup, maintenance.AddSites("backup.example.com"))
			update(backup, maintenance.AddSites("b2.example.com"))
			update(backup, maintenance.AddSites("b3.example.com"))
			backup.Close()

			store := open(path)
			defer store.Close()
			var logs lockedBuffer
			g, err := maintenance.New(t.Context(), store, maintenance.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			on := update(store, maintenance.On(nil, maintenance.OnOptions{}))
			waitFor(t, "the gate serves the change", func() bool { return g.Version() == on.Version })

			// Deleted: unreachable, serving the last state.
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
			}
			waitFor(t, "the gate notices the deleted file", func() bool { return g.StoreError() != nil })
			if h := health(t, g); !strings.Contains(h, `"store":"unreachable"`) {
				t.Errorf("health while the file is missing: %s", h)
			}
			if v := g.Version(); v != on.Version || !blocked(t, g) {
				t.Errorf("while the file is missing the gate serves version %d (blocked %v), want its last state %d, on", v, blocked(t, g), on.Version)
			}
			if !strings.Contains(logs.String(), "deleted or moved") {
				t.Errorf("nothing logged about the deleted file:\n%s", logs.String())
			}

			// Replaced by the backup: followed.
			if err := os.Rename(backupPath, path); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the gate follows the file put back", func() bool {
				return g.StoreError() == nil && !blocked(t, g)
			})
			if h := health(t, g); !strings.Contains(h, `"store":"ok"`) {
				t.Errorf("health after the file is back: %s", h)
			}
			// And its changes, made through another handle.
			other := open(path)
			defer other.Close()
			next := update(other, maintenance.On([]string{"backup.example.com"}, maintenance.OnOptions{}))
			waitFor(t, "the gate follows a change of the new file", func() bool { return g.Version() == next.Version })
			// The handle that was open when the file was replaced reads the
			// new file too.
			if st, err := store.Load(t.Context()); err != nil || st.Version != next.Version {
				t.Errorf("the first handle loads %v, %v; want version %d", st, err, next.Version)
			}
		})
	}
}

func health(t *testing.T, g *maintenance.Gate) string {
	t.Helper()
	w := httptest.NewRecorder()
	g.Handler(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest("GET", "/_maintenance/health", nil))
	return w.Body.String()
}

// blocked reports whether a request to "*" gets the maintenance answer.
func blocked(t *testing.T, g *maintenance.Gate) bool {
	t.Helper()
	w := httptest.NewRecorder()
	g.Handler(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest("GET", "http://any.example.com/x", nil))
	return w.Code == http.StatusServiceUnavailable
}
