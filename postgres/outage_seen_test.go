package postgres_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
)

// TestOutageSeenAtOnce kills a private PostgreSQL server twice in a row
// under a gate: each time, health says "store":"unreachable" within a
// second, and "ok" again once the server is back. Before, the gate learnt of
// an outage only at its next periodic read (up to 10 s).
func TestOutageSeenAtOnce(t *testing.T) {
	c := startCluster(t)
	st := mustOpen(t, c.url("maintenance_seen"))
	if _, err := st.Update(t.Context(), maintenance.AddSites("shop.example.com")); err != nil {
		t.Fatal(err)
	}
	gate, err := maintenance.New(t.Context(), st, maintenance.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	h := gate.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	storeIs := func(want string) func() bool {
		return func() bool {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "http://shop.example.com"+maintenance.HealthPath, nil))
			return strings.Contains(w.Body.String(), `"store":"`+want+`"`)
		}
	}
	for i := range 2 {
		if !poll(5*time.Second, storeIs("ok")) {
			t.Fatalf("outage %d: the store is not ok before the kill", i+1)
		}
		c.kill()
		killed := time.Now()
		if !poll(time.Second, storeIs("unreachable")) {
			t.Fatalf("outage %d: health still said \"store\":\"ok\" %s after the kill", i+1, time.Since(killed).Round(time.Millisecond))
		}
		t.Logf("outage %d seen %s after the kill", i+1, time.Since(killed).Round(time.Millisecond))
		c.start()
	}
	if !poll(5*time.Second, storeIs("ok")) {
		t.Fatal("the store is not ok after its return")
	}
}
