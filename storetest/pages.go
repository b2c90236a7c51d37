package storetest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomaint/maintenance"
)

// testPages: a page with its assets (binary, near the 1 MiB limit) is kept
// byte for byte, read through another handle, audited without its content,
// replaced, removed, and removed with its site.
func (s *suite) testPages(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	st, other := s.open(t, key), s.open(t, key)
	dir := t.TempDir()
	write := func(name string, b []byte) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("503.html", []byte(`<link rel="stylesheet" href="/_maintenance/assets/s.css"><p>{{.Message}}</p>`))
	write("assets/s.css", []byte("body{color:teal}"))
	img := bytes.Repeat([]byte{0, 1, 2, 0xff, 0xfe, '"', '\\', '\n'}, 120_000) // 960,000 bytes, every kind of byte JSON escapes
	write("assets/img/big.png", img)
	page, err := maintenance.ReadPageDir(dir, "*")
	if err != nil {
		t.Fatal(err)
	}
	update(t, st, maintenance.AddSites("shop.example.com"))
	after := update(t, st, maintenance.SetPage(page))
	got := load(t, other)
	if len(got.Pages) != 1 {
		t.Fatalf("pages read back: %d, want 1", len(got.Pages))
	}
	p := got.Pages[0]
	if p.Site != "*" || p.Digest != page.Digest || p.SetBy != "storetest" || p.SetAt.IsZero() {
		t.Errorf("page read back: site %q digest %q set by %q at %s", p.Site, p.Digest, p.SetBy, p.SetAt)
	}
	if !samePage(page, &p) {
		t.Errorf("assets or template not kept byte for byte")
	}
	if len(after.Pages) != 1 || !samePage(&after.Pages[0], &p) || !after.Pages[0].SetAt.Equal(p.SetAt) || after.Pages[0].SetBy != p.SetBy {
		t.Errorf("Update's state and Load's pages differ")
	}
	evs := events(t, other, maintenance.EventFilter{Action: "page set", Limit: eventsAll})
	if len(evs) != 1 || evs[0].Site != "*" || evs[0].Target != "page "+page.Digest[:8] || evs[0].Before != nil || evs[0].After != nil {
		t.Fatalf("page set events: %+v, want one for * with target %q and no site states", evs, "page "+page.Digest[:8])
	}
	// The same page again is not a change.
	if again := update(t, st, maintenance.SetPage(page)); again.Version != after.Version {
		t.Errorf("setting the same page: version %d, want %d", again.Version, after.Version)
	}
	// A site's own page, then the site removed: its page goes with it.
	shop := *page
	shop.Site = "shop.example.com"
	update(t, st, maintenance.SetPage(&shop))
	update(t, st, maintenance.RemoveSite("shop.example.com"))
	if got := load(t, other).Pages; len(got) != 1 || got[0].Site != "*" {
		t.Errorf("pages after removing shop.example.com: %d, want only *'s", len(got))
	}
	update(t, st, maintenance.RemovePage("*"))
	if got := load(t, other).Pages; len(got) != 0 {
		t.Errorf("pages after page rm: %d, want 0", len(got))
	}
	if _, err := st.Update(t.Context(), maintenance.RemovePage("*")); err == nil {
		t.Error("removing a page that is not there: no error")
	}
}

// samePage compares the content of two pages (bytes.Equal, not a
// reflection walk over a megabyte).
func samePage(a, b *maintenance.Page) bool {
	if a.Template != b.Template || a.Digest != b.Digest || len(a.Assets) != len(b.Assets) {
		return false
	}
	for i := range a.Assets {
		if a.Assets[i].Name != b.Assets[i].Name || !bytes.Equal(a.Assets[i].Data, b.Assets[i].Data) {
			return false
		}
	}
	return true
}
