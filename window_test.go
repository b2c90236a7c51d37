package maintenance

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// installGate returns a gate that has installed st (with its window timer),
// without a store.
func installGate(t *testing.T, st *State) *Gate {
	t.Helper()
	g, _, err := newGate(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	g.install(st)
	t.Cleanup(func() {
		g.closed.Store(true)
		g.buildMu.Lock()
		if g.timer != nil {
			g.timer.Stop()
		}
		g.buildMu.Unlock()
	})
	return g
}

// TestWindowBoundaries: a window is half-open, [from, until): the site goes
// down exactly at from and is up again exactly at until, by itself.
func TestWindowBoundaries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		from, until := start.Add(time.Hour), start.Add(2*time.Hour)
		st := stateOf(t, On([]string{"shop.example.com"}, OnOptions{From: &from, Until: &until}))
		g := installGate(t, st)
		h := g.Handler(upstream)
		check := func(when string, want int) {
			t.Helper()
			if got := do(h, req{}).Code; got != want {
				t.Errorf("%s (%s): status %d, want %d", when, time.Since(start), got, want)
			}
		}
		check("before the start", 200)
		time.Sleep(time.Until(from) - time.Nanosecond)
		synctest.Wait()
		check("1ns before the start", 200)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		check("at the start", 503)
		time.Sleep(time.Until(until) - time.Nanosecond)
		synctest.Wait()
		check("1ns before the end", 503)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		check("at the end", 200)
	})
}

// TestWindowCountdown: Retry-After and retry_after count down to the end.
func TestWindowCountdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		until := time.Now().Add(90 * time.Second)
		st := stateOf(t, On(nil, OnOptions{Until: &until, RetryAfter: ptr(time.Hour)}))
		h := installGate(t, st).Handler(upstream)
		for _, wait := range []time.Duration{0, 30 * time.Second, 59*time.Second + 500*time.Millisecond} {
			time.Sleep(wait)
			left := strconv.Itoa(int((time.Until(until) + time.Second - 1) / time.Second))
			w := do(h, req{accept: "application/json"})
			if got := w.Header().Get("Retry-After"); got != left {
				t.Errorf("Retry-After = %q, want %s (the end, not the configured hour)", got, left)
			}
			var p struct {
				RetryAfter int    `json:"retry_after"`
				EndsAt     string `json:"ends_at"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatalf("%v: %s", err, w.Body)
			}
			if strconv.Itoa(p.RetryAfter) != left || p.EndsAt != until.UTC().Format(time.RFC3339) {
				t.Errorf("problem = %+v, want retry_after %s and ends_at %s", p, left, until.UTC().Format(time.RFC3339))
			}
			page := do(h, req{accept: "text/html"}).Body.String()
			if !strings.Contains(page, `datetime="`+until.UTC().Format(time.RFC3339)+`"`) {
				t.Errorf("the page does not give the end")
			}
		}
		// The last second: never 0, never empty.
		time.Sleep(time.Until(until) - time.Millisecond)
		if got := do(h, req{}).Header().Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After in the last millisecond = %q, want 1", got)
		}
	})
}

// TestWindowAnnounced: maintenance switched on for later is announced by
// the status endpoint before it starts.
func TestWindowAnnounced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from := time.Now().Add(time.Hour)
		until := from.Add(time.Hour)
		h := installGate(t, stateOf(t, On([]string{"shop.example.com"}, OnOptions{From: &from, Until: &until, Message: ptr("tonight")}))).Handler(upstream)
		var s Status
		if err := json.Unmarshal(do(h, req{path: StatusPath}).Body.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		if s.On || !s.Starts.Equal(from) || !s.Until.Equal(until) || s.Message != "tonight" {
			t.Errorf("status before the window = %+v, want off, starting %s until %s", s, from, until)
		}
	})
}

// TestWindowAcrossDST: windows are instants; a window written in local
// time across a DST change lasts what it says.
func TestWindowAcrossDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	// 2026-10-25: clocks go back from 03:00 CEST to 02:00 CET.
	from := time.Date(2026, 10, 25, 1, 30, 0, 0, berlin)
	until := time.Date(2026, 10, 25, 2, 30, 0, 0, berlin).Add(time.Hour) // 02:30 CET, after the change
	if got := until.Sub(from); got != 3*time.Hour {
		t.Fatalf("test setup: window of %s", got)
	}
	st := &State{}
	st.Normalize()
	s := st.Site("*")
	s.On, s.From, s.Until = true, from.UTC(), until.UTC()
	if b := buildSnapshot(st, &buildConfig{pages: &pages{}}, from.Add(2*time.Hour+59*time.Minute)); !b.def.on {
		t.Errorf("2h59m into a 3h window across the DST change: off")
	}
	if b := buildSnapshot(st, &buildConfig{pages: &pages{}}, until); b.def.on {
		t.Errorf("at its end: still on")
	}
}

// TestWindowSeveralGates: every gate goes back up at the end by itself.
func TestWindowSeveralGates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		until := time.Now().Add(10 * time.Minute)
		st := stateOf(t, On(nil, OnOptions{Until: &until}))
		var hs []http.Handler
		for range 3 {
			hs = append(hs, installGate(t, st).Handler(upstream))
		}
		time.Sleep(time.Until(until))
		synctest.Wait()
		for i, h := range hs {
			if c := do(h, req{}).Code; c != 200 {
				t.Errorf("gate %d at the end: %d, want 200", i, c)
			}
		}
	})
}

func TestWindowEndInThePast(t *testing.T) {
	st := stateOf(t)
	past := time.Now().Add(-time.Minute)
	if _, _, err := commitChange(st, On(nil, OnOptions{Until: &past}), time.Now()); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "in the past") {
		t.Errorf("an end in the past: %v, want ErrInvalid", err)
	}
	from, until := time.Now().Add(2*time.Hour), time.Now().Add(time.Hour)
	if _, _, err := commitChange(st, On(nil, OnOptions{From: &from, Until: &until}), time.Now()); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not after the start") {
		t.Errorf("an end before the start: %v, want ErrInvalid", err)
	}
	// on --for on a site that is on moves its end and keeps the message.
	end1, end2 := time.Now().Add(time.Hour), time.Now().Add(3*time.Hour)
	st = stateOf(t, On(nil, OnOptions{Until: &end1, Message: ptr("keep me")}), On(nil, OnOptions{Until: &end2}))
	if s := st.Site("*"); !s.Until.Equal(end2.UTC().Truncate(0)) && !s.Until.Equal(end2.UTC()) || s.Message != "keep me" {
		t.Errorf("moving the end: until %s message %q", s.Until, s.Message)
	}
	// off clears the window.
	st = stateOf(t, On(nil, OnOptions{Until: &end1}), Off(nil))
	if s := st.Site("*"); !s.Until.IsZero() || !s.From.IsZero() {
		t.Errorf("off kept the window: %+v", s)
	}
}

// TestColdStartHonoursWindows: a gate that starts from its state cache arms
// the timers of the cached windows. Found in review.
func TestColdStartHonoursWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		until := time.Now().Add(time.Minute)
		st := stateOf(t, On(nil, OnOptions{Until: &until}))
		cache := t.TempDir() + "/cache.json"
		g, _, err := newGate(nil, Options{StateCache: cache, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		g.saveCache(st)
		g.install(g.coldStart(errors.New("store down")))
		t.Cleanup(func() {
			g.closed.Store(true)
			g.buildMu.Lock()
			if g.timer != nil {
				g.timer.Stop()
			}
			g.buildMu.Unlock()
		})
		h := g.Handler(upstream)
		if c := do(h, req{}).Code; c != 503 {
			t.Fatalf("cached state before its end: %d, want 503", c)
		}
		time.Sleep(time.Until(until))
		synctest.Wait()
		if c := do(h, req{}).Code; c != 200 {
			t.Errorf("cached state after its end: %d, want 200", c)
		}
		if len(g.Forgotten()) != 0 {
			t.Errorf("Forgotten with no MaxDuration: %v", g.Forgotten())
		}
	})
}
