package maintenance_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
)

// editFileSite changes fields of one site in a file store's document, as a
// person with an editor would, bypassing every check of the store.
func editFileSite(t *testing.T, path, site string, set map[string]any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range doc["state"].(map[string]any)["sites"].([]any) {
		m := s.(map[string]any)
		if m["site"] == site {
			for k, v := range set {
				m[k] = v
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("site %s is not in %s", site, path)
	}
	// The file store notices a change by its size and time: add a field
	// it ignores so that the size changes too.
	doc["edited"] = strings.Repeat("x", 1+len(b)%7)
	b, err = json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".edit"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a log sink safe for the gate's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func get(h http.Handler, host, path string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "http://"+host+path, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// A hand-edited store with an invalid site: the gate keeps serving that
// site's last valid state and reports the site and the field; changes to the
// other sites still work and reach the gate.
func TestGateInvalidSiteInStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	st := fileStore(t, path)
	ctx := t.Context()
	on := maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{})
	on.Actor, on.Source = "test", "cli"
	if _, err := st.Update(ctx, on); err != nil {
		t.Fatal(err)
	}
	add := maintenance.AddSites("other.example.com")
	add.Actor, add.Source = "test", "cli"
	if _, err := st.Update(ctx, add); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	g, err := maintenance.New(ctx, st, maintenance.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	if c := get(h, "shop.example.com", "/").Code; c != 503 {
		t.Fatalf("before the edit: %d, want 503", c)
	}

	editFileSite(t, path, "shop.example.com", map[string]any{"mode": "bogus", "status": 999})
	waitFor(t, "the gate to see the invalid site", func() bool { return len(g.Problems()) > 0 })
	ps := g.Problems()
	if len(ps) != 1 || ps[0].Site != "shop.example.com" || !strings.Contains(ps[0].Err.Error(), `mode "bogus"`) {
		t.Fatalf("problems = %v, want site shop.example.com, mode \"bogus\"", ps)
	}
	if c := get(h, "shop.example.com", "/").Code; c != 503 {
		t.Errorf("the invalid site answers %d, want its last valid state (503)", c)
	}
	hb := get(h, "shop.example.com", maintenance.HealthPath).Body.String()
	if !strings.Contains(hb, `"state":"invalid"`) {
		t.Errorf("health = %s, want \"state\":\"invalid\"", hb)
	}
	if l := logs.String(); !strings.Contains(l, "shop.example.com") || !strings.Contains(l, `mode \"bogus\"`) {
		t.Errorf("log does not name the site and the field:\n%s", l)
	}
	if w := g.Info().Warnings; len(w) != 1 || !strings.Contains(w[0], "shop.example.com") {
		t.Errorf("registry warnings = %q, want one naming shop.example.com", w)
	}

	// Another site can still be changed, and the gate follows it.
	on2 := maintenance.On([]string{"other.example.com"}, maintenance.OnOptions{})
	on2.Actor, on2.Source = "test", "cli"
	if _, err := st.Update(ctx, on2); err != nil {
		t.Fatalf("switching another site on: %v", err)
	}
	waitFor(t, "the other site's change", func() bool { return get(h, "other.example.com", "/").Code == 503 })
	if c := get(h, "shop.example.com", "/").Code; c != 503 {
		t.Errorf("the invalid site answers %d after another change, want 503", c)
	}

	// A change to the invalid site that adds no invalid value works (it
	// may repair it a field at a time); one that adds one is refused.
	msg := "hello"
	set := maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{Message: &msg})
	set.Actor, set.Source = "test", "cli"
	if _, err := st.Update(ctx, set); err != nil {
		t.Errorf("changing the message of the invalid site: %v", err)
	}
	bad := 302
	set = maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{Status: &bad})
	set.Actor, set.Source = "test", "cli"
	if _, err := st.Update(ctx, set); !errors.Is(err, maintenance.ErrInvalid) {
		t.Errorf("setting status 302 on the invalid site: %v, want ErrInvalid", err)
	}
	off := maintenance.Off([]string{"shop.example.com"})
	off.Actor, off.Source = "test", "cli"
	if _, err := st.Update(ctx, off); err != nil {
		t.Fatalf("switching the invalid site off: %v", err)
	}
	waitFor(t, "the repaired site", func() bool { return len(g.Problems()) == 0 && get(h, "shop.example.com", "/").Code == 200 })
	if hb := get(h, "shop.example.com", maintenance.HealthPath).Body.String(); strings.Contains(hb, "invalid") {
		t.Errorf("health after the repair = %s", hb)
	}
}

// A gate that starts on a store with an invalid site has no last valid
// state of it: it serves the site with the invalid fields at their defaults.
func TestGateStartsOnInvalidSite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	st := fileStore(t, path)
	on := maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{})
	on.Actor, on.Source = "test", "cli"
	if _, err := st.Update(t.Context(), on); err != nil {
		t.Fatal(err)
	}
	editFileSite(t, path, "shop.example.com", map[string]any{"mode": "bogus", "status": 999, "message": "a\u001b]0;owned\u0007"})
	g, err := maintenance.New(t.Context(), st, maintenance.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	w := get(h, "shop.example.com", "/")
	if w.Code != 503 || strings.Contains(w.Body.String(), "owned") {
		t.Errorf("got %d (body has the invalid message: %v), want 503 with the default message", w.Code, strings.Contains(w.Body.String(), "owned"))
	}
	if len(g.Problems()) != 1 {
		t.Errorf("problems = %v", g.Problems())
	}
}
