package maintenance_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/gomaint/maintenance"
)

// TestObserver: the observer is told every request's site and outcome, off
// path included, and not the status and health endpoints.
func TestObserver(t *testing.T) {
	st, _ := openStore(t)
	obs := &recorder{}
	g := newGate(t, st, maintenance.Options{
		Sites:    []string{"shop.example.com", "*.example.org", "up.example.com"},
		Exempt:   []string{"/healthz"},
		Bypass:   func(r *http.Request) bool { return r.Header.Get("X-Staff") == "yes" },
		Observer: obs,
	})
	update(t, st, maintenance.AddAllow("", "203.0.113.7", ""))
	s := update(t, st, maintenance.On([]string{"shop.example.com", "*.example.org", "*"}, maintenance.OnOptions{}))
	waitVersion(t, g, s.Version)
	h := g.Handler(app)
	tests := []struct {
		host, path, peer, staff string
		site, outcome           string // outcome "": not observed
	}{
		{"up.example.com", "/", "", "", "up.example.com", "passed"},
		{"UP.example.com:8443", "/", "", "", "up.example.com", "passed"},
		{"shop.example.com", "/", "", "", "shop.example.com", "blocked"},
		{"a.b.example.org", "/", "", "", "*.example.org", "blocked"},
		{"unknown.test", "/", "", "", "*", "blocked"},
		{"shop.example.com", "/healthz", "", "", "shop.example.com", "exempt"},
		{"shop.example.com", "/", "203.0.113.7:1", "", "shop.example.com", "allowed-ip"},
		{"shop.example.com", "/", "", "yes", "shop.example.com", "bypass"},
		{"shop.example.com", maintenance.StatusPath, "", "", "shop.example.com", ""},
		{"shop.example.com", maintenance.HealthPath, "", "", "shop.example.com", ""},
	}
	for _, tt := range tests {
		obs.mu.Lock()
		obs.seen = nil
		obs.mu.Unlock()
		r := httptest.NewRequest("GET", "http://example"+tt.path, nil)
		r.Host = tt.host
		if tt.peer != "" {
			r.RemoteAddr = tt.peer
		}
		r.Header.Set("X-Staff", tt.staff)
		h.ServeHTTP(httptest.NewRecorder(), r)
		var want []string
		if tt.outcome != "" {
			want = []string{tt.site + " " + tt.outcome}
		}
		if got := obs.got(); !slices.Equal(got, want) {
			t.Errorf("%s%s: observed %q, want %q", tt.host, tt.path, got, want)
		}
		if got := g.SiteOf(tt.host); got != tt.site {
			t.Errorf("SiteOf(%q) = %q, want %q", tt.host, got, tt.site)
		}
	}
}

// TestGateState: State is a copy of the state the gate serves.
func TestGateState(t *testing.T) {
	st, _ := openStore(t)
	g := newGate(t, st, maintenance.Options{Sites: []string{"shop.example.com"}})
	s := update(t, st, maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{Message: ptr("Upgrading")}))
	waitVersion(t, g, s.Version)
	got := g.State()
	if got.Version != s.Version || got.Site("shop.example.com") == nil || !got.Site("shop.example.com").On || got.Site("shop.example.com").Message != "Upgrading" {
		t.Fatalf("State() = %+v, want version %d with shop.example.com on", got, s.Version)
	}
	got.Site("shop.example.com").On = false
	got.Sites = nil
	if again := g.State(); !again.Site("shop.example.com").On {
		t.Error("changing State's result changed the gate's state")
	}
}
