//go:build unix

package file_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gomaint/maintenance"
)

// TestKeyFile checks the key's sidecar file: created by the first Key call
// next to a store that was never written, readable by its owner only
// whatever the umask and the store file's mode, holding the key in base64,
// and never rewritten.
func TestKeyFile(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	path := newPath(t)
	st := mustOpen(t, path)
	key, err := st.Key(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dirNames(t, filepath.Dir(path)), []string{"maintenance.json.key", "maintenance.json.lock"}); diff != "" {
		t.Errorf("files after Key on a new store (-got +want):\n%s", diff)
	}
	fi, err := os.Stat(path + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode = %v, want 0600", got)
	}
	data, err := os.ReadFile(path + ".key")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Format int    `json:"format"`
		Key    string `json:"key"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("key file %q: %v", data, err)
	}
	if got, err := base64.StdEncoding.DecodeString(f.Key); err != nil || !bytes.Equal(got, key) || f.Format != 1 {
		t.Errorf("key file = format %d, key %x (%v); want format 1 and the key Key returned", f.Format, got, err)
	}

	// Changes and a second handle leave the key file alone.
	mustUpdate(t, st, maintenance.AddSites("shop.example.com"))
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := mustOpen(t, path).Key(t.Context())
	if err != nil || !bytes.Equal(again, key) {
		t.Errorf("Key through a second handle = %x, %v; want the first key", again, err)
	}
	if after, err := os.ReadFile(path + ".key"); err != nil || !bytes.Equal(after, data) {
		t.Errorf("key file after a change and a second Key = %q, %v; want it unchanged", after, err)
	}
}

// TestKeyFileDamaged checks that a key file that cannot be used is an error
// that does not quote it, and is kept: replacing it would change the key.
func TestKeyFileDamaged(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), maintenance.KeySize-1))
	for _, tc := range []struct{ name, content, want string }{
		{"NotJSON", "secret-ish garbage", "not a key file"},
		{"ShortKey", `{"format":1,"key":"` + short + `"}`, "not 32 bytes"},
		{"BadBase64", `{"format":1,"key":"!!!!secret!!!!"}`, "not 32 bytes"},
		{"NewerFormat", `{"format":2,"key":"` + short + `"}`, "format 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := newPath(t)
			if err := os.WriteFile(path+".key", []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			key, err := mustOpen(t, path).Key(t.Context())
			if err == nil {
				t.Fatalf("Key = %x, want an error", key)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "secret") || strings.Contains(msg, short) {
				t.Errorf("Key = %q, want an error that says %q and quotes nothing of the file", msg, tc.want)
			}
			if got, _ := os.ReadFile(path + ".key"); string(got) != tc.content {
				t.Errorf("key file = %q after Key, want it kept", got)
			}
		})
	}
}

// TestUsesFile checks the use counts' sidecar file: one line per link,
// sorted, with the store file's mode; a damaged one is kept.
func TestUsesFile(t *testing.T) {
	path := newPath(t)
	st := mustOpen(t, path)
	mustUpdate(t, st, maintenance.AddSites("shop.example.com"))
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := st.CountUses(t.Context(), map[string]int64{"b2": 2, "a1": 1, "c3": 0}); err != nil {
		t.Fatal(err)
	}
	if err := st.CountUses(t.Context(), map[string]int64{"a1": 4}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path + ".uses")
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"format\":1,\"uses\":{\n\"a1\":5,\n\"b2\":2\n}}\n"; string(data) != want {
		t.Errorf("uses file =\n%s\nwant\n%s", data, want)
	}
	if fi, err := os.Stat(path + ".uses"); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("uses file mode = %v, %v; want the store file's 0640", fi.Mode().Perm(), err)
	}

	if err := os.WriteFile(path+".uses", []byte("{"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := st.CountUses(t.Context(), map[string]int64{"a1": 1}); err == nil {
		t.Error("CountUses on a damaged uses file succeeded, want an error")
	}
	if _, err := st.Uses(t.Context()); err == nil {
		t.Error("Uses of a damaged uses file succeeded, want an error")
	}
	if got, _ := os.ReadFile(path + ".uses"); string(got) != "{" {
		t.Errorf("damaged uses file = %q after CountUses, want it kept", got)
	}
}
