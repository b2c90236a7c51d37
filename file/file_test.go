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
	"time"

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

// TestReadsCreateNothing opens, reads and watches a missing file, makes a
// change that fails, forgets a gate that is not listed and counts no uses:
// no file appears.
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
	if gates, err := st.Gates(t.Context()); err != nil || len(gates) != 0 {
		t.Errorf("Gates of a missing file = %v, %v; want none", gates, err)
	}
	if err := st.ForgetGate(t.Context(), "absent"); err != nil {
		t.Errorf("ForgetGate of an absent gate = %v", err)
	}
	if uses, err := st.Uses(t.Context()); err != nil || len(uses) != 0 {
		t.Errorf("Uses of a missing file = %v, %v; want none", uses, err)
	}
	if err := st.CountUses(t.Context(), map[string]int64{"8d1e0f2c": 0}); err != nil {
		t.Errorf("CountUses of nothing = %v", err)
	}
	cancel()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(%s) = %v, want no file", path, err)
	}
	if names := dirNames(t, filepath.Dir(path)); slices.Contains(names, filepath.Base(path)) || len(names) > 1 {
		t.Errorf("directory holds %q after reads, a rejected change and ForgetGate, want at most the lock file", names)
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

// TestGatesFile checks the gates file: heartbeats write PATH.gates only,
// never the store file, in the documented layout, with the store file's mode.
func TestGatesFile(t *testing.T) {
	path := newPath(t)
	st := mustOpen(t, path)
	now := time.Now().UTC().Truncate(time.Millisecond)
	b := maintenance.GateInfo{ID: "b", Host: "web-2", Version: 0, Started: now, LastSeen: now}
	a := maintenance.GateInfo{ID: "a", Host: "web-1", Release: "v1", Version: 0, Started: now, LastSeen: now, StoreError: "x"}

	// On a store that was never written, a heartbeat creates the gates
	// file (and the lock file), not the store file.
	if err := st.Heartbeat(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dirNames(t, filepath.Dir(path)), []string{"maintenance.json.gates", "maintenance.json.lock"}); diff != "" {
		t.Errorf("files after a heartbeat on a new store (-got +want):\n%s", diff)
	}

	mustUpdate(t, st, maintenance.AddSites("shop.example.com"))
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + ".gates"); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []maintenance.GateInfo{b, a} {
		if err := st.Heartbeat(t.Context(), g); err != nil {
			t.Fatal(err)
		}
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) || !bytes.Equal(got, content) {
		t.Errorf("heartbeats touched the store file")
	}

	data, err := os.ReadFile(path + ".gates")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Format int                    `json:"format"`
		Gates  []maintenance.GateInfo `json:"gates"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("decoding the gates file: %v\n%s", err, data)
	}
	if doc.Format != file.GatesFormat {
		t.Errorf("format %d, want %d", doc.Format, file.GatesFormat)
	}
	if diff := cmp.Diff(doc.Gates, []maintenance.GateInfo{a, b}); diff != "" {
		t.Errorf("gates in the file (-got +want):\n%s", diff)
	}
	if lines := bytes.Count(data, []byte("\n")); lines != 2+len(doc.Gates) {
		t.Errorf("the gates file has %d lines, want one for the header, each gate and the end:\n%s", lines, data)
	}
	if fi, err := os.Stat(path + ".gates"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode of the gates file = %v, %v; want the store file's 0600", fi.Mode().Perm(), err)
	}
	if diff := cmp.Diff(dirNames(t, filepath.Dir(path)), []string{"maintenance.json", "maintenance.json.gates", "maintenance.json.lock"}); diff != "" {
		t.Errorf("files in the directory (-got +want):\n%s", diff)
	}
}

// TestGatesFileStale writes the gates file by hand with the entry of a gate
// that stopped without ForgetGate: it is never listed, and the next
// heartbeat drops it from the file.
func TestGatesFileStale(t *testing.T) {
	path := newPath(t)
	st := mustOpen(t, path)
	old := time.Now().Add(-maintenance.GateTTL - time.Second).UTC().Format(time.RFC3339Nano)
	content := `{"format":1,"gates":[{"id":"dead","host":"web-9","version":1,"started":"` + old + `","last_seen":"` + old + `"}]}`
	if err := os.WriteFile(path+".gates", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Gates(t.Context()); err != nil || len(got) != 0 {
		t.Errorf("Gates = %+v, %v; want none", got, err)
	}
	now := time.Now()
	if err := st.Heartbeat(t.Context(), maintenance.GateInfo{ID: "live", Started: now, LastSeen: now}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path + ".gates")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("dead")) || !bytes.Contains(data, []byte(`"live"`)) {
		t.Errorf("gates file after a heartbeat, want only the live gate:\n%s", data)
	}
}

// TestGatesFileDamaged checks that a gates file that cannot be read is
// reported by Gates and replaced by the next heartbeat, and that one with a
// newer format is refused and kept.
func TestGatesFileDamaged(t *testing.T) {
	now := time.Now()
	g := maintenance.GateInfo{ID: "g", Started: now, LastSeen: now}
	t.Run("Damaged", func(t *testing.T) {
		path := newPath(t)
		st := mustOpen(t, path)
		if err := os.WriteFile(path+".gates", []byte("not JSON"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := st.Gates(t.Context())
		t.Log(err)
		if err == nil || !strings.Contains(err.Error(), path+".gates") {
			t.Errorf("Gates of a damaged file = %v, want an error that names it", err)
		}
		if err := st.Heartbeat(t.Context(), g); err != nil {
			t.Fatalf("Heartbeat over a damaged file: %v", err)
		}
		if got, err := st.Gates(t.Context()); err != nil || len(got) != 1 || got[0].ID != "g" {
			t.Errorf("Gates after the heartbeat = %+v, %v; want gate g", got, err)
		}
	})
	t.Run("NewerFormat", func(t *testing.T) {
		path := newPath(t)
		st := mustOpen(t, path)
		newer := []byte(`{"format":99,"gates":[]}`)
		if err := os.WriteFile(path+".gates", newer, 0o644); err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]func() error{
			"Gates":     func() error { _, err := st.Gates(t.Context()); return err },
			"Heartbeat": func() error { return st.Heartbeat(t.Context(), g) },
		} {
			err := call()
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), "format 99") {
				t.Errorf("%s of a newer gates file = %v, want an error that says format 99", name, err)
			}
		}
		if got, _ := os.ReadFile(path + ".gates"); !bytes.Equal(got, newer) {
			t.Errorf("the newer gates file was rewritten:\n%s", got)
		}
	})
}

// TestNewFileIsPrivate: the file a first write creates holds the users'
// password hashes, so only its owner reads it.
func TestNewFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	st, err := file.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := maintenance.AddSites("shop.example.com")
	c.Actor, c.Source = "test", "test"
	if _, err := st.Update(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("mode of a new store file = %v, want 0600", m)
	}
}
