package redis_test

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

// seen is how soon a gate must report that it lost its store.
const seen = time.Second

// TestOutageSeenAtOnce kills a private server twice in a row under a gate:
// each time, health says "store":"unreachable" within a second, and "ok"
// again once the server is back. The second outage used to stay "ok" for
// 3 to 8 s, until the gate happened to read the store.
func TestOutageSeenAtOnce(t *testing.T) {
	srv := startRedis(t, true)
	key := withQuery(t, srv.url(), "prefix", newPrefix())
	st := mustOpen(t, key)
	update(t, st, maintenance.AddSites("shop.example.com"))
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
		if !pollUntil(time.Now().Add(inSync), storeIs("ok")) {
			t.Fatalf("outage %d: the store is not ok before the kill", i+1)
		}
		srv.kill(t)
		killed := time.Now()
		if !pollUntil(killed.Add(seen), storeIs("unreachable")) {
			t.Fatalf("outage %d: health still said \"store\":\"ok\" %s after the kill", i+1, time.Since(killed).Round(time.Millisecond))
		}
		t.Logf("outage %d seen %s after the kill", i+1, time.Since(killed).Round(time.Millisecond))
		srv.start(t)
		back := time.Now()
		if !pollUntil(back.Add(inSync), storeIs("ok")) {
			t.Fatalf("outage %d: the store is not ok %s after its return", i+1, time.Since(back).Round(time.Millisecond))
		}
	}
}

// pollUntil calls cond every 10 ms until it holds or deadline passes.
func pollUntil(deadline time.Time, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
