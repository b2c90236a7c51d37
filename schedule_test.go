package maintenance

import (
	"bytes"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestScheduledWindows: planned windows put a site down and up by
// themselves, with their own message and mode, and are announced before.
func TestScheduledWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		w1 := Window{From: start.Add(time.Hour), Until: start.Add(2 * time.Hour), Message: "first"}
		w2 := Window{From: start.Add(5 * time.Hour), Until: start.Add(6 * time.Hour), Message: "read only", Mode: ModeReadOnly}
		st := stateOf(t, AddSites("shop.example.com"), AddWindow("shop.example.com", w2), AddWindow("shop.example.com", w1))
		if s := st.Site("shop.example.com"); len(s.Schedule) != 2 || s.Schedule[0].Message != "first" || s.Schedule[0].ID != 2 {
			t.Fatalf("schedule = %+v, want sorted by start with IDs in order of adding", s.Schedule)
		}
		g := installGate(t, st)
		var seen Status
		h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = StatusFrom(r.Context())
			io.WriteString(w, "app")
		}))
		at := func(d time.Duration) {
			time.Sleep(time.Until(start.Add(d)))
			synctest.Wait()
		}
		if c := do(h, req{}).Code; c != 200 || !seen.Starts.Equal(w1.From) || seen.Message != "first" {
			t.Errorf("before: %d, status %+v; want 200 with window 1 announced", c, seen)
		}
		if b := seen.Banner(); !strings.Contains(b, "Maintenance scheduled for") || !strings.Contains(b, "first") {
			t.Errorf("banner = %q", b)
		}
		at(time.Hour)
		if w := do(h, req{}); w.Code != 503 || !strings.Contains(w.Body.String(), "first") {
			t.Errorf("in window 1: %d, want 503 with its message", w.Code)
		}
		at(2 * time.Hour)
		if c := do(h, req{}).Code; c != 200 || !seen.Starts.Equal(w2.From) {
			t.Errorf("between: %d, status %+v; want 200 with window 2 announced", c, seen)
		}
		at(5 * time.Hour)
		if c := do(h, req{method: "POST"}).Code; c != 503 {
			t.Errorf("in window 2, POST: %d, want 503 (read-only)", c)
		}
		if c := do(h, req{}).Code; c != 200 {
			t.Errorf("in window 2, GET: %d, want 200 (read-only)", c)
		}
		at(6 * time.Hour)
		if c := do(h, req{method: "POST"}).Code; c != 200 || !seen.Starts.IsZero() {
			t.Errorf("after: %d, status %+v; want 200 and nothing announced", c, seen)
		}
	})
}

func TestScheduleChanges(t *testing.T) {
	now := time.Now()
	w := Window{From: now.Add(time.Hour), Until: now.Add(2 * time.Hour)}
	st := stateOf(t, AddWindow("", w))
	bad := []struct {
		name string
		c    Change
		want string
	}{
		{"overlap", AddWindow("", Window{From: now.Add(90 * time.Minute), Until: now.Add(3 * time.Hour)}), "the new window " + now.Add(90*time.Minute).UTC().Format(time.RFC3339) + " - " + now.Add(3*time.Hour).UTC().Format(time.RFC3339) + ` of site "*" overlaps window 1 (`},
		{"overlap from before", AddWindow("", Window{From: now.Add(30 * time.Minute), Until: now.Add(4 * time.Hour)}), "the new window " + now.Add(30*time.Minute).UTC().Format(time.RFC3339) + " - " + now.Add(4*time.Hour).UTC().Format(time.RFC3339) + ` of site "*" overlaps window 1 (` + w.From.UTC().Format(time.RFC3339)},
		{"end before start", AddWindow("", Window{From: now.Add(3 * time.Hour), Until: now.Add(2*time.Hour + 30*time.Minute)}), "not after the start"},
		{"ended", AddWindow("", Window{From: now.Add(-2 * time.Hour), Until: now.Add(-time.Hour)}), "in the past"},
		{"bad mode", AddWindow("", Window{From: now.Add(5 * time.Hour), Until: now.Add(6 * time.Hour), Mode: "paused"}), `mode "paused"`},
		{"unknown site", AddWindow("nope.example.com", w), "not declared"},
		{"unknown window", RemoveWindow("", 7), "no scheduled window 7"},
	}
	for _, tt := range bad {
		if _, _, err := commitChange(st, tt.c, now); err == nil || !strings.Contains(err.Error(), tt.want) || !(errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound)) {
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	next, _, err := commitChange(st, RemoveWindow("*", 1), now)
	if err != nil || len(next.Site("*").Schedule) != 0 {
		t.Errorf("rm: %v, %+v", err, next.Site("*").Schedule)
	}
	// Ended windows go with the site's next change; off keeps the schedule.
	later := now.Add(3 * time.Hour)
	st2 := stateOf(t, AddWindow("", w), AddWindow("", Window{From: now.Add(4 * time.Hour), Until: now.Add(5 * time.Hour)}))
	next, _, err = commitChange(st2, On(nil, OnOptions{}), later)
	if err != nil || len(next.Site("*").Schedule) != 1 || next.Site("*").Schedule[0].ID != 2 {
		t.Errorf("after window 1 ended, a change kept %+v (%v), want window 2 only", next.Site("*").Schedule, err)
	}
	next, _, _ = commitChange(next, Off(nil), later)
	if len(next.Site("*").Schedule) != 1 {
		t.Errorf("off dropped the schedule")
	}
}

func TestBannerAndFuncMap(t *testing.T) {
	from := time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)
	tests := []struct {
		s    Status
		want string
	}{
		{Status{}, ""},
		{Status{On: true}, "Maintenance in progress"},
		{Status{On: true, Until: from, Message: "db"}, "Maintenance in progress until Sat 21 Nov 22:00 UTC: db"},
		{Status{Starts: from, Until: from.Add(time.Hour)}, "Maintenance scheduled for Sat 21 Nov 22:00-23:00 UTC"},
		{Status{Starts: from, Until: from.Add(3 * time.Hour)}, "Maintenance scheduled for Sat 21 Nov 22:00-Sun 22 Nov 01:00 UTC"},
		{Status{Starts: from}, "Maintenance scheduled from Sat 21 Nov 22:00 UTC"},
	}
	for _, tt := range tests {
		if got := tt.s.Banner(); got != tt.want {
			t.Errorf("Banner(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
	tpl := template.Must(template.New("").Funcs(FuncMap()).Parse(`<p>{{maintenanceBanner .}}</p>`))
	var b bytes.Buffer
	if err := tpl.Execute(&b, Status{Starts: from, Message: "<b>"}); err != nil || !strings.Contains(b.String(), "&lt;b&gt;") {
		t.Errorf("template: %q, %v", b.String(), err)
	}
}

// TestOnAfterEndedWindow and off during a scheduled window: found in review.
func TestOnAfterEndedWindowAndOffDuringWindow(t *testing.T) {
	t0 := time.Now()
	until := t0.Add(time.Minute)
	st := stateOf(t, On([]string{"shop.example.com"}, OnOptions{Until: &until}))
	later := t0.Add(time.Hour) // the window has ended
	next, events, err := commitChange(st, On([]string{"shop.example.com"}, OnOptions{}), later)
	if err != nil || len(events) != 1 || !next.Site("shop.example.com").Active(later) {
		t.Fatalf("on after the window ended: %v, %d events, active %v; want it on again", err, len(events), next.Site("shop.example.com").Active(later))
	}
	if s := next.Site("shop.example.com"); !s.Until.IsZero() || !s.ChangedAt.Equal(later.UTC().Truncate(time.Millisecond)) {
		t.Errorf("on after the window ended kept until %s / since %s", s.Until, s.ChangedAt)
	}

	w := Window{From: t0.Add(-time.Minute), Until: t0.Add(time.Hour)}
	w2 := Window{From: t0.Add(2 * time.Hour), Until: t0.Add(3 * time.Hour)}
	st = stateOf(t, AddWindow("", w), AddWindow("", w2))
	if !st.Site("*").Active(t0) {
		t.Fatal("test setup: the window is not in progress")
	}
	next, events, err = commitChange(st, Off(nil), t0)
	if err != nil || len(events) != 1 || next.Site("*").Active(t0) || len(next.Site("*").Schedule) != 1 || next.Site("*").Schedule[0].ID != 2 {
		t.Errorf("off during a window: %v, %d events, schedule %+v; want it ended and the later window kept", err, len(events), next.Site("*").Schedule)
	}
}

// TestRestoreDoesNotShareSchedule: committing a Restore twice (as a store
// retrying a conflict does) works the same both times. Found in review.
func TestRestoreDoesNotShareSchedule(t *testing.T) {
	t0 := time.Now()
	ended := Window{From: t0.Add(-2 * time.Hour), Until: t0.Add(-time.Hour)}
	future := Window{From: t0.Add(time.Hour), Until: t0.Add(2 * time.Hour)}
	before := &State{Version: 1, Sites: []SiteState{{Site: "*", Version: 1, Schedule: []Window{{ID: 1, From: ended.From, Until: ended.Until}, {ID: 2, From: future.From, Until: future.Until}}}}}
	on, _, err := commitChange(before, On(nil, OnOptions{}), t0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"*": on.Site("*").Version}
	var skipped []string
	c := restoreChange(before, want, &skipped)
	for i := range 2 {
		if _, _, err := commitChange(on, c, t0); err != nil {
			t.Fatalf("commit %d of the same restore: %v", i+1, err)
		}
	}
	if len(before.Site("*").Schedule) != 2 || before.Site("*").Schedule[0].ID != 1 {
		t.Errorf("the restore changed the state it restores from: %+v", before.Site("*").Schedule)
	}
}
