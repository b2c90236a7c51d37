package maintenance_test

import (
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/sqlite"
)

// An IPv6 literal site is named in canonical form; a Host header may write
// the same address otherwise ([2001:DB8:0::1]), and must still belong to
// it: the proxy of serve routes it there, so the gate must decide it there.
func TestIPv6HostNotCanonical(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := newGate(t, st, maintenance.Options{Logger: quiet(), Sites: []string{"2001:db8::1"}})
	s := update(t, st, maintenance.On([]string{"2001:db8::1"}, maintenance.OnOptions{}))
	waitVersion(t, g, s.Version)
	for _, host := range []string{"[2001:db8::1]", "[2001:db8::1]:8080", "[2001:DB8::1]", "[2001:db8:0::1]", "[2001:db8:0:0:0:0:0:1]:443"} {
		if got := g.SiteOf(host); got != "2001:db8::1" {
			t.Errorf("site of Host %s: %q, want 2001:db8::1", host, got)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		g.Handler(app).ServeHTTP(w, r)
		if w.Code != 503 {
			t.Errorf("Host %s: status %d, want the maintenance answer", host, w.Code)
		}
	}
}
