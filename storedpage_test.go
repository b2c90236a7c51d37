package maintenance

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pageDir writes files into a new directory and returns it.
func pageDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readPage(t testing.TB, site string, files map[string]string) *Page {
	t.Helper()
	p, err := ReadPageDir(pageDir(t, files), site)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStoredPage: a gate serves the stored page of a site, else of "*",
// its assets under AssetsPath whatever the state, and previews it.
func TestStoredPage(t *testing.T) {
	fleet := readPage(t, "*", map[string]string{"503.html": `<p>Fleet: {{.Message}}</p>`, "assets/s.css": "body{}", "assets/img/a.png": "PNG"})
	shop := readPage(t, "shop.example.com", map[string]string{"503.html": `<p>Shop</p>`})
	st := stateOf(t, AddSites("shop.example.com", "blog.example.com"), SetPage(fleet), SetPage(shop),
		On([]string{"shop.example.com", "blog.example.com"}, OnOptions{Message: ptr("soon")}))
	g := testGate(t, st, Options{})
	h := g.Handler(upstream)
	if w := do(h, req{host: "blog.example.com"}); w.Code != 503 || w.Body.String() != "<p>Fleet: soon</p>" {
		t.Errorf("blog: %d %q, want the fleet page", w.Code, w.Body.String())
	}
	if w := do(h, req{host: "shop.example.com"}); w.Code != 503 || w.Body.String() != "<p>Shop</p>" {
		t.Errorf("shop: %d %q, want its own page", w.Code, w.Body.String())
	}
	w := httptest.NewRecorder()
	g.Preview(w, httptest.NewRequest("GET", "/", nil), "blog.example.com")
	if w.Body.String() != "<p>Fleet: soon</p>" {
		t.Errorf("preview: %q, want the stored page", w.Body.String())
	}
	for _, tc := range []struct {
		host, path string
		code       int
		ctype      string
	}{
		{"shop.example.com", "/_maintenance/assets/s.css", 200, "text/css; charset=utf-8"},
		{"blog.example.com", "/_maintenance/assets/img/a.png", 200, "image/png"},
		{"off.example.org", "/_maintenance/assets/s.css", 200, "text/css; charset=utf-8"},
		{"shop.example.com", "/_maintenance/assets/nope.css", 404, ""},
		{"shop.example.com", "/_maintenance/assets/../503.html", 404, ""},
		{"shop.example.com", "/_maintenance/assets/", 404, ""},
	} {
		w := do(h, req{host: tc.host, path: tc.path})
		if w.Code != tc.code || tc.ctype != "" && w.Header().Get("Content-Type") != tc.ctype {
			t.Errorf("%s %s: %d %q, want %d %q", tc.host, tc.path, w.Code, w.Header().Get("Content-Type"), tc.code, tc.ctype)
		}
	}
	w = do(h, req{path: "/_maintenance/assets/s.css"})
	etag := w.Header().Get("Etag")
	if etag == "" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("asset headers: %v", w.Header())
	}
	if w := do(h, req{path: "/_maintenance/assets/s.css", header: map[string]string{"If-None-Match": etag}}); w.Code != 304 || w.Body.Len() != 0 {
		t.Errorf("revalidation: %d, want 304", w.Code)
	}
	r := httptest.NewRequest("GET", "http://shop.example.com/_maintenance/assets/s.css", nil)
	dw := &discardWriter{http.Header{}}
	allocs := testing.AllocsPerRun(100, func() { h.ServeHTTP(dw, r) })
	if allocs != 0 {
		t.Errorf("serving an asset allocates %v times", allocs)
	}
}

// TestTemplatesAssets: --templates DIR serves DIR/assets/ the same way;
// a bad asset stops the gate at start.
func TestTemplatesAssets(t *testing.T) {
	dir := pageDir(t, map[string]string{"503.html": "<p>x</p>", "assets/local.css": "p{}"})
	g := testGate(t, stateOf(t), Options{Templates: dir})
	if w := do(g.Handler(upstream), req{path: "/_maintenance/assets/local.css"}); w.Code != 200 || w.Body.String() != "p{}" {
		t.Errorf("local asset: %d %q", w.Code, w.Body.String())
	}
	bad := pageDir(t, map[string]string{"503.html": "<p>x</p>", "assets/x.js": "alert(1)"})
	if _, _, err := newGate(nil, Options{Templates: bad}); err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "x.js") {
		t.Errorf("a script in assets/: %v, want ErrInvalid naming it", err)
	}
}

func TestPageInvalid(t *testing.T) {
	for _, tc := range []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{"assets/s.css": "x"}, "503.html: no such file"},
		{map[string]string{"503.html": "{{.Message"}, "template "},
		{map[string]string{"503.html": "{{.Nope}}"}, "Nope"},
		{map[string]string{"503.html": "x", "assets/a b.css": "x"}, `asset name "a b.css"`},
		{map[string]string{"503.html": "x", "assets/run.js": "x"}, `asset name "run.js"`},
		{map[string]string{"503.html": "x", "assets/.git/x.css": "x"}, `asset directory`},
		{map[string]string{"503.html": "x", "assets/README": "x"}, `asset name "README"`},
		{map[string]string{"503.html": strings.Repeat("x", MaxPageSize+1)}, "accepted: at most 1048576 (1 MiB)"},
		{map[string]string{"503.html": "x", "assets/a.png": strings.Repeat("x", MaxPageSize/2+1), "assets/b.png": strings.Repeat("x", MaxPageSize/2)}, "1 MiB"},
	} {
		_, err := ReadPageDir(pageDir(t, tc.files), "*")
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want ErrInvalid naming %q", keys(tc.files), err, tc.want)
		}
	}
	for _, name := range []string{"", "/a.css", "a//b.css", "a/../b.css", "./a.css", "a.CSS/", strings.Repeat("a", 130) + ".css", "a\x00.css", "é.css"} {
		if _, err := ParseAssetName(name); err == nil {
			t.Errorf("asset name %q accepted", name)
		}
	}
	for _, name := range []string{"a.css", "img/Logo-2_x.PNG", "fonts/inter.woff2"} {
		if _, err := ParseAssetName(name); err != nil {
			t.Errorf("asset name %q: %v", name, err)
		}
	}
	// A page whose content does not match its digest, or for an undeclared
	// site, is refused by Commit: nothing is written.
	p := readPage(t, "*", map[string]string{"503.html": "x"})
	p.Template = "y"
	if _, _, err := commitChange(stateOf(t), SetPage(p), time.Now()); err == nil || !errors.Is(err, ErrInvalid) {
		t.Errorf("a page with a wrong digest: %v", err)
	}
	q := readPage(t, "shop.example.com", map[string]string{"503.html": "x"})
	if _, _, err := commitChange(stateOf(t), SetPage(q), time.Now()); err == nil || !errors.Is(err, ErrNotFound) {
		t.Errorf("a page of an undeclared site: %v", err)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
