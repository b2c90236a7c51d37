package maintenance

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestStatusHeaderValue(t *testing.T) {
	until := time.Date(2026, 12, 7, 18, 0, 0, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		s    Status
		want string
	}{
		{Status{Site: "*"}, ""},
		{Status{On: true}, "on, mode=full"},
		{Status{On: true, Mode: ModeReadOnly, Until: until, RetryAfter: 60}, `on, mode=read-only, until="2026-12-07T17:00:00Z"`},
		{Status{On: true, Mode: ModeHold, RetryAfter: 1800}, "on, mode=hold, retry-after=1800"},
		{Status{On: true, Mode: ModeErrors, Message: `say "hi"`}, "on, mode=errors"},
		{Status{Starts: until, Until: until.Add(time.Hour)}, `on=?0, starts="2026-12-07T17:00:00Z", until="2026-12-07T18:00:00Z"`},
		{Status{Starts: until}, `on=?0, starts="2026-12-07T17:00:00Z"`},
	} {
		if got := tc.s.HeaderValue(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
		}
	}
}

// TestMaintenanceHeaderFrom: a request let through while its site is on
// carries the header's value, built with the snapshot: no allocation.
func TestMaintenanceHeaderFrom(t *testing.T) {
	st := stateOf(t, AddSites("shop.example.com"), On([]string{"shop.example.com"}, OnOptions{Mode: new(ModeReadOnly)}))
	g := testGate(t, st, Options{})
	var got []string
	allocs := -1.0
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = MaintenanceHeaderFrom(r.Context())
		allocs = testing.AllocsPerRun(100, func() { got = MaintenanceHeaderFrom(r.Context()) })
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://shop.example.com/", nil))
	if len(got) != 1 || got[0] != "on, mode=read-only" {
		t.Errorf("site on: %q, want [on, mode=read-only]", got)
	}
	if allocs != 0 {
		t.Errorf("MaintenanceHeaderFrom allocates %v times", allocs)
	}
	got = []string{"unset"}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://blog.example.com/", nil))
	if got != nil {
		t.Errorf("site off: %q, want nil", got)
	}
	if v := MaintenanceHeaderFrom(t.Context()); v != nil {
		t.Errorf("no gate: %q", v)
	}
}
