package maintenance_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
)

// TestHealth: /_maintenance/health answers 200 with the version served,
// whatever the maintenance state, and while the store is unreachable.
func TestHealth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	st := fileStore(t, path)
	obs := &recorder{}
	g := newGate(t, st, maintenance.Options{Logger: quiet(), Observer: obs})
	h := g.Handler(app)
	get := func(method string) *httptest.ResponseRecorder {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, "http://shop.example.com"+maintenance.HealthPath, nil))
		return w
	}
	check := func(when, wantErr string) {
		t.Helper()
		w := get("GET")
		var body struct {
			Status  string `json:"status"`
			Version *int64 `json:"version"`
			Store   string `json:"store"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v in %q", when, err, w.Body)
		}
		if w.Code != 200 || body.Status != "ok" || body.Version == nil || *body.Version != g.Version() {
			t.Errorf("%s: %d %s, want 200 ok at version %d", when, w.Code, w.Body, g.Version())
		}
		if want := map[bool]string{true: "unreachable", false: "ok"}[wantErr != ""]; body.Store != want {
			t.Errorf("%s: store %q, want %q", when, body.Store, want)
		}
		if strings.Contains(w.Body.String(), "127.0.0.1") || strings.Contains(w.Body.String(), "dial") {
			t.Errorf("%s: the store's error is public: %s", when, w.Body)
		}
		for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Content-Length": strconv.Itoa(w.Body.Len())} {
			if got := w.Header().Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", when, k, got, want)
			}
		}
	}
	check("off", "")
	s := update(t, st, maintenance.On(nil, maintenance.OnOptions{}))
	waitVersion(t, g, s.Version)
	check("on", "")
	s = update(t, st, maintenance.On(nil, maintenance.OnOptions{Mode: ptr(maintenance.ModeHold)}))
	waitVersion(t, g, s.Version)
	check("on in mode hold", "")

	if w := get("HEAD"); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %q; want 200, no body, a length", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		if w := get(m); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q; want 405, GET, HEAD", m, w.Code, w.Header().Get("Allow"))
		}
	}
	if got := obs.got(); len(got) != 0 {
		t.Errorf("the observer was told of health checks: %q", got)
	}

	// The store goes bad: the gate serves its last state and says why,
	// still with 200, so that a load balancer keeps the node.
	synced := g.Synced()
	if synced.IsZero() || time.Since(synced) > time.Minute {
		t.Errorf("Synced() = %s, want just now", synced)
	}
	broken := time.Now()
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the store error is noticed", func() bool { return g.StoreError() != nil })
	check("store unreachable", "an error")
	if got := g.Synced(); got.After(broken) {
		t.Errorf("Synced() = %s, after the store broke at %s", got, broken)
	}
}
