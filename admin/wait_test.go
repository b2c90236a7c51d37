package admin_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/admin"
)

// TestAPIWait checks ?wait=DUR on the change endpoints: the answer says how
// the live gates followed, with the gates behind by name; a bad value
// changes nothing.
func TestAPIWait(t *testing.T) {
	f := newFixture(t, admin.Options{})
	g, err := maintenance.New(t.Context(), f.store, maintenance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	waitListed(t, f.store, 1)

	type answer struct {
		On    bool `json:"on"`
		Gates *struct {
			Live     int `json:"live"`
			Switched int `json:"switched"`
			Lagging  []struct {
				ID      string `json:"id"`
				Host    string `json:"host"`
				Version int64  `json:"version"`
			} `json:"lagging"`
		} `json:"gates"`
		ElapsedMS *int64 `json:"elapsed_ms"`
		Version   int64  `json:"version"`
	}
	// Without ?wait: no waiting, no gates.
	r := f.api("POST", "sites/shop.example.com/on", map[string]any{})
	var a answer
	r.json(t, &a)
	if r.status != http.StatusOK || a.Gates != nil || a.ElapsedMS != nil {
		t.Fatalf("on without wait: %d %s", r.status, r.body)
	}
	// With it: the one live gate serves the change when the answer comes.
	r = f.api("POST", "sites/shop.example.com/off?wait=5s", map[string]any{})
	a = answer{}
	r.json(t, &a)
	st := f.load()
	if r.status != http.StatusOK || a.On || a.Gates == nil || a.Gates.Live != 1 || a.Gates.Switched != 1 || len(a.Gates.Lagging) != 0 || a.ElapsedMS == nil {
		t.Fatalf("off?wait=5s: %d %s", r.status, r.body)
	}
	if g.Version() < st.Version {
		t.Errorf("the gate serves version %d after the answer, want %d", g.Version(), st.Version)
	}
	// A gate behind (its heartbeat fresh, its version old) is named.
	if err := f.store.Heartbeat(t.Context(), maintenance.GateInfo{ID: "web-9", Host: "web-9.example.net", Version: 1, LastSeen: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	r = f.api("POST", "sites/shop.example.com/on?wait=100ms", map[string]any{})
	a = answer{}
	r.json(t, &a)
	if r.status != http.StatusOK || a.Gates == nil || a.Gates.Live != 2 || a.Gates.Switched != 1 || len(a.Gates.Lagging) != 1 ||
		a.Gates.Lagging[0].ID != "web-9" || a.Gates.Lagging[0].Host != "web-9.example.net" || a.Gates.Lagging[0].Version != 1 {
		t.Fatalf("on?wait=100ms with a gate behind: %d %s", r.status, r.body)
	}
	// A 204 answer becomes 200 with the fleet.
	r = f.api("DELETE", "sites/shop.example.com?wait=0", nil)
	a = answer{}
	r.json(t, &a)
	if r.status != http.StatusOK || a.Gates == nil || a.Gates.Live != 2 || a.Version == 0 {
		t.Fatalf("DELETE ?wait=0: %d %s", r.status, r.body)
	}
	// A bad wait: 422 naming it, and nothing changes.
	before := f.load()
	n := len(f.events())
	for _, bad := range []string{"soon", "-1s", "11m", "99999999999999999999"} {
		r = f.api("POST", "sites/*/on?wait="+bad, map[string]any{})
		p := r.problem(t)
		if r.status != http.StatusUnprocessableEntity || p["field"] != "wait" {
			t.Errorf("wait=%s: %d %s", bad, r.status, r.body)
		}
	}
	f.unchanged(before, n)
}

// TestPageFollowsSwitch checks that a change made on the page says how the
// fleet followed it, and that ?gates= cannot make the page say anything
// but numbers.
func TestPageFollowsSwitch(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	p := b.post(sitePath+"/switch", url.Values{"on": {"1"}, "view": {"list"}, "version": {f.version()}})
	p.has(t, "Maintenance is on. No gate follows this store: nothing is blocked")

	g, err := maintenance.New(t.Context(), f.store, maintenance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	waitListed(t, f.store, 1)
	p = b.post(sitePath+"/switch", url.Values{"view": {"list"}, "version": {f.version()}})
	p.has(t, "Maintenance is off. 1/1 gates switched.")
	if st := f.load(); g.Version() < st.Version {
		t.Errorf("the gate serves %d after the page's answer, want %d", g.Version(), st.Version)
	}

	if err := f.store.Heartbeat(t.Context(), maintenance.GateInfo{ID: "web-9", Version: 1, LastSeen: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	p = b.post(sitePath+"/switch", url.Values{"on": {"1"}, "view": {"list"}, "version": {f.version()}})
	p.has(t, "Maintenance is on. 1/2 gates switched; the others still serve an older version after 5s")

	for _, q := range []string{"<b>", "3/2", "-1/2", "1/x"} {
		p = b.get(admin.PagePrefix + "?done=on&gates=" + url.QueryEscape(q))
		p.has(t, `id="flash">Maintenance is on.</p>`)
	}
}

// waitListed waits until n gates are in the registry: a gate registers
// itself right after it starts, not before maintenance.New returns.
func waitListed(t *testing.T, st maintenance.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		gs, err := st.Gates(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d gates listed after 5s, want %d", len(gs), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
