package maintenance_test

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/sqlite"
)

// TestUpdateBeforeRacingOff runs many "off" at once on a site that is on:
// exactly one finds it on and changes it, and what each reports (before
// and after, read inside its transaction) matches the audit log: one
// event, by the one that says it changed the site.
func TestUpdateBeforeRacingOff(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for round := range 5 {
		c := maintenance.On([]string{"race.example.com"}, maintenance.OnOptions{})
		c.Actor, c.Source = "setup", "test"
		if _, err := st.Update(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		const n = 20
		var wg sync.WaitGroup
		changed := make([]bool, n)
		for i := range n {
			wg.Go(func() {
				c := maintenance.Off([]string{"race.example.com"})
				c.Actor, c.Source, c.Reason = "racer", "test", "racer "+string(rune('a'+i))
				before, after, err := maintenance.UpdateBefore(t.Context(), st, c)
				if err != nil {
					t.Error(err)
					return
				}
				changed[i] = after.Version > before.Version
				if was := before.Site("race.example.com"); changed[i] != was.On {
					t.Errorf("racer %d: before says on=%v, yet changed=%v", i, was.On, changed[i])
				}
			})
		}
		wg.Wait()
		evs, err := st.Events(t.Context(), maintenance.EventFilter{Actor: "racer", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var winners []int
		for i, c := range changed {
			if c {
				winners = append(winners, i)
			}
		}
		if len(winners) != 1 || len(evs) != round+1 || evs[0].Reason != "racer "+string(rune('a'+winners[0])) {
			t.Fatalf("round %d: racers that say they changed the site: %v; events by racers: %d, newest reason %q", round, winners, len(evs), evs[0].Reason)
		}
	}
}

// TestWaitFleet checks the wait for the gates: none live, all switched,
// one behind (named, after the wait), and one that catches up meanwhile.
func TestWaitFleet(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	beat := func(id string, v int64, age time.Duration) {
		t.Helper()
		if err := st.Heartbeat(t.Context(), maintenance.GateInfo{ID: id, Host: "h-" + id, Version: v, LastSeen: time.Now().Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := maintenance.WaitFleet(t.Context(), st, 5, time.Second, nil)
	if err != nil || f.Gates.Live != 0 {
		t.Fatalf("no gate: %+v, %v", f, err)
	}
	beat("stale", 1, maintenance.GateTTL+time.Second) // not live
	beat("a", 5, 0)
	beat("b", 7, 0)
	f, err = maintenance.WaitFleet(t.Context(), st, 5, time.Second, nil)
	if err != nil || f.Gates.Live != 2 || f.Gates.Switched != 2 || len(f.Gates.Lagging) != 0 {
		t.Fatalf("all switched: %+v, %v", f, err)
	}
	beat("c", 4, 0)
	start := time.Now()
	f, err = maintenance.WaitFleet(t.Context(), st, 5, 50*time.Millisecond, nil)
	var lag *maintenance.LaggingError
	if !errors.As(err, &lag) || time.Since(start) < 50*time.Millisecond || len(f.Gates.Lagging) != 1 || f.Gates.Lagging[0] != (maintenance.LaggingGate{ID: "c", Host: "h-c", Version: 4}) {
		t.Fatalf("one behind: %+v, %v", f, err)
	}
	if msg := err.Error(); msg == "" || !strings.Contains(msg, "c (h-c, version 4)") {
		t.Errorf("error %q does not name the gate", msg)
	}
	// The gate catches up while we wait; progress sees 2/3 first.
	var seen []int
	go func() {
		time.Sleep(30 * time.Millisecond)
		beat("c", 5, 0)
	}()
	f, err = maintenance.WaitFleet(t.Context(), st, 5, 5*time.Second, func(f maintenance.Fleet) { seen = append(seen, f.Gates.Switched) })
	if err != nil || f.Gates.Switched != 3 || len(seen) == 0 || seen[0] != 2 {
		t.Fatalf("catching up: %+v, %v, progress %v", f, err, seen)
	}
	// A closed gate leaves the registry.
	if err := st.ForgetGate(t.Context(), "c"); err != nil {
		t.Fatal(err)
	}
	if f, _ = maintenance.WaitFleet(t.Context(), st, 5, 0, nil); f.Gates.Live != 2 {
		t.Errorf("after ForgetGate: %+v", f)
	}
}

// TestParseWait checks the accepted waits and the rejected ones.
func TestParseWait(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "10s": 10 * time.Second, "30": 30 * time.Second, "10m": 10 * time.Minute, "250ms": 250 * time.Millisecond} {
		if got, err := maintenance.ParseWait(in); err != nil || got != want {
			t.Errorf("ParseWait(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "-1s", "-1", "10m1s", "601", "9223372036854775807", "1e3s"} {
		if _, err := maintenance.ParseWait(in); !errors.Is(err, maintenance.ErrInvalid) {
			t.Errorf("ParseWait(%q) = %v; want ErrInvalid", in, err)
		}
	}
}
