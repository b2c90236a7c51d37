package file_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/file"
	"github.com/gomaint/maintenance/storetest"
)

func open(ctx context.Context, key string) (maintenance.Store, error) {
	return file.Open(ctx, key)
}

func TestMain(m *testing.M) {
	storetest.HelperMain(open)
	os.Exit(m.Run())
}

func newPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "maintenance.json")
}

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{New: newPath, Open: open})
}

func mustOpen(t *testing.T, path string) *file.Store {
	t.Helper()
	st, err := file.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mustUpdate(t *testing.T, st *file.Store, c maintenance.Change) *maintenance.State {
	t.Helper()
	got, err := st.Update(t.Context(), c)
	if err != nil {
		t.Fatalf("Update(%s): %v", c.Action, err)
	}
	return got
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestReadsCreateNothing opens, reads and watches a missing file, and makes a
// change that fails: no file appears.
func TestReadsCreateNothing(t *testing.T) {
	path := newPath(t)
	st := mustOpen(t, path)
	ctx, cancel := context.WithCancel(t.Context())
	if _, err := st.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 0 || len(got.Sites) != 1 || got.Sites[0].Site != "*" {
		t.Errorf("Load of a missing file = %+v, want version 0 with only *", got)
	}
	if evs, err := st.Events(t.Context(), maintenance.EventFilter{}); err != nil || len(evs) != 0 {
		t.Errorf("Events of a missing file = %v, %v; want none", evs, err)
	}
	if _, err := st.Update(t.Context(), maintenance.RemoveSite("absent.example.com")); !errors.Is(err, maintenance.ErrNotFound) {
		t.Errorf("RemoveSite of an absent site = %v, want an error wrapping %v", err, maintenance.ErrNotFound)
	}
	cancel()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(%s) = %v, want no file", path, err)
	}
	if names := dirNames(t, filepath.Dir(path)); slices.Contains(names, filepath.Base(path)) || len(names) > 1 {
		t.Errorf("directory holds %q after reads and a rejected change, want at most the lock file", names)
	}
}

func TestTwoHandles(t *testing.T) {
	path := newPath(t)
	a, b := mustOpen(t, path), mustOpen(t, path)
	mustUpdate(t, a, maintenance.AddSites("a.example.com"))
	mustUpdate(t, b, maintenance.On([]string{"a.example.com"}, maintenance.OnOptions{}))
	for name, h := range map[string]*file.Store{"a": a, "b": b} {
		got, err := h.Load(t.Context())
		if err != nil {
			t.Fatalf("Load through %s: %v", name, err)
		}
		if got.Version != 2 || got.Site("a.example.com") == nil || !got.Site("a.example.com").On {
			t.Errorf("state through %s = %+v, want version 2 with a.example.com on", name, got)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	text := write("text", "not JSON\n")
	for _, tc := range []struct {
		name string
		path string
		want string
	}{
		{"Directory", dir, "is a directory"},
		{"MissingDirectory", filepath.Join(dir, "missing", "m.json"), "no such file or directory"},
		{"ParentIsAFile", filepath.Join(text, "m.json"), "not a directory"},
		{"NotJSON", text, "invalid character"},
		{"NotAnObject", write("array", "[]"), "not a JSON object"},
		{"NoState", write("nostate", `{"format":1,"version":1}`), `no "state"`},
		{"NewerFormat", write("newer", `{"format":99,"version":1,"state":{}}`), "format 99"},
		{"Empty", "", "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := file.Open(t.Context(), tc.path)
			if err == nil {
				st.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.path)
			}
			t.Log(err)
			if msg := err.Error(); !strings.Contains(msg, tc.path) || !strings.Contains(msg, tc.want) {
				t.Errorf("Open(%q) = %q, want an error that names the path and says %q", tc.path, msg, tc.want)
			}
		})
	}
}

// TestDamagedFileIsKept checks that a file that cannot be read is reported,
// never replaced by an empty store.
func TestDamagedFileIsKept(t *testing.T) {
	path := newPath(t)
	st := mustOpen(t, path)
	mustUpdate(t, st, maintenance.AddSites("shop.example.com"))
	damaged := []byte(`{"format":1,"version":1,"state":{"sites":[`)
	if err := os.WriteFile(path, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(t.Context()); err == nil {
		t.Error("Load of a damaged file succeeded, want an error")
	}
	if _, err := st.Update(t.Context(), maintenance.AddSites("other.example.com")); err == nil {
		t.Error("Update of a damaged file succeeded, want an error")
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, damaged) {
		t.Errorf("the damaged file was rewritten:\n%s", got)
	}
}

// TestLayout checks the documented layout, that writes leave no temporary
// file behind, and that a write keeps the file's mode.
func TestLayout(t *testing.T) {
	path := newPath(t)
	st := mustOpen(t, path)
	mustUpdate(t, st, maintenance.AddSites("a.example.com", "b.example.com"))
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	want := mustUpdate(t, st, maintenance.On([]string{"a.example.com"}, maintenance.OnOptions{}))

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Format  int                 `json:"format"`
		Version int64               `json:"version"`
		State   *maintenance.State  `json:"state"`
		Events  []maintenance.Event `json:"events"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("decoding the file: %v\n%s", err, b)
	}
	if doc.Format != file.Format || doc.Version != 2 {
		t.Errorf("format %d, version %d; want %d, 2", doc.Format, doc.Version, file.Format)
	}
	if diff := cmp.Diff(doc.State, want, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("state in the file (-got +want):\n%s", diff)
	}
	var ids []int64
	for _, e := range doc.Events {
		ids = append(ids, e.ID)
	}
	if diff := cmp.Diff(ids, []int64{1, 2, 3}); diff != "" {
		t.Errorf("event IDs in the file, oldest first (-got +want):\n%s", diff)
	}
	if lines := bytes.Count(b, []byte("\n")); lines != 4+len(doc.Events) {
		t.Errorf("the file has %d lines, want one for the header, the state, the start of the events, each event and the end:\n%s", lines, b)
	}
	if diff := cmp.Diff(dirNames(t, filepath.Dir(path)), []string{"maintenance.json", "maintenance.json.lock"}); diff != "" {
		t.Errorf("files in the directory (-got +want):\n%s", diff)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after a write = %v, want the 0600 it had", fi.Mode().Perm())
	}
}

// TestEventsCapped lowers the cap: the oldest events are dropped and the IDs
// go on. It does not run in parallel: it changes a package variable.
func TestEventsCapped(t *testing.T) {
	defer file.SetMaxEvents(5)()
	st := mustOpen(t, newPath(t))
	for _, p := range []string{"/a", "/b", "/c", "/d", "/e", "/f", "/g", "/h"} {
		mustUpdate(t, st, maintenance.AddIgnore("", p, ""))
	}
	evs, err := st.Events(t.Context(), maintenance.EventFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var versions, ids []int64
	for _, e := range evs {
		versions, ids = append(versions, e.Version), append(ids, e.ID)
	}
	want := []int64{8, 7, 6, 5, 4}
	if diff := cmp.Diff(versions, want); diff != "" {
		t.Errorf("versions of the events kept (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(ids, want); diff != "" {
		t.Errorf("IDs of the events kept (-got +want):\n%s", diff)
	}
}

// TestHandWritten reads a file written by hand: no format, no events, sites
// unsorted and without "*".
func TestHandWritten(t *testing.T) {
	path := newPath(t)
	content := `{"version":3,"state":{"sites":[{"site":"b.example.com","on":true},{"site":"a.example.com"}]}}`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	st := mustOpen(t, path)
	got, err := st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := &maintenance.State{Version: 3, Sites: []maintenance.SiteState{
		{Site: "*"}, {Site: "a.example.com"}, {Site: "b.example.com", On: true},
	}}
	if diff := cmp.Diff(got, want, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Load (-got +want):\n%s", diff)
	}
	if got := mustUpdate(t, st, maintenance.Off(nil)); got.Version != 4 {
		t.Errorf("version after a change = %d, want 4", got.Version)
	}
	evs, err := st.Events(t.Context(), maintenance.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].ID != 1 || evs[0].Site != "b.example.com" {
		t.Errorf("events after a change = %+v, want one, for b.example.com, with ID 1", evs)
	}
}

// BenchmarkWatchLatency measures the time from a change to the signal of a
// watcher on another handle. Each change is made just after a poll found the
// previous one, so this is the worst case: about PollInterval.
func BenchmarkWatchLatency(b *testing.B) {
	path := filepath.Join(b.TempDir(), "maintenance.json")
	w, err := file.Open(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	wr, err := file.Open(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer wr.Close()
	ch, err := w.Watch(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	on := true
	for b.Loop() {
		c := maintenance.Off(nil)
		if on {
			c = maintenance.On(nil, maintenance.OnOptions{})
		}
		on = !on
		if _, err := wr.Update(b.Context(), c); err != nil {
			b.Fatal(err)
		}
		<-ch
	}
}

// TestUnwritable opens a store in a directory that this process cannot
// write: reads work (an empty store), a change fails with a clear error.
func TestUnwritable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro", "m.json")
	if err := os.Mkdir(filepath.Dir(path), 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if runtime.GOOS != "linux" {
			t.Skip("no unwritable directory for root on " + runtime.GOOS)
		}
		path = "/proc/maintenance.json" // /proc refuses even root
	}
	st := mustOpen(t, path)
	if _, err := st.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	_, err := st.Update(t.Context(), maintenance.AddSites("shop.example.com"))
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Update = %v, want an error that names %s", err, path)
	}
}
