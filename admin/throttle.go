package admin

import (
	"slices"
	"sync"
	"time"
)

// Sign-in throttling: after MaxFailures failed sign-ins within
// FailureWindow from one client address (for IPv6, one /64: a client
// usually holds all of it), or for one user name, further
// attempts from it (or for it) are refused with 429 until the oldest of
// those failures is FailureWindow old. An attempt counts as a failure from
// the moment it is let through until its password matches; refused
// attempts do not check the password and do not count.
const (
	MaxFailures   = 5
	FailureWindow = 15 * time.Minute
)

// maxThrottleKeys bounds the memory of the throttle; past it, the keys
// with no recent failure go first, then those not refused yet (see evict).
const maxThrottleKeys = 10000

// throttle counts failed sign-ins per key ("ip 203.0.113.7", "user alice"),
// in memory: each process counts its own.
type throttle struct {
	now func() time.Time
	mu  sync.Mutex
	// failures holds the times of the recent failures of each key, oldest
	// first.
	failures map[string][]time.Time
}

func newThrottle(now func() time.Time) *throttle {
	return &throttle{now: now, failures: map[string][]time.Time{}}
}

// recent returns the failures of key within the window, pruning the rest.
func (t *throttle) recent(key string, now time.Time) []time.Time {
	f := t.failures[key]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= FailureWindow {
		i++
	}
	if i == len(f) {
		delete(t.failures, key)
		return nil
	}
	f = f[i:]
	t.failures[key] = f
	return f
}

// begin decides whether an attempt under keys may go on: it returns how
// long the keys must wait, or 0 and the time at which it counted the attempt
// as a failure of each key. Counting it at once, before the password is
// checked, makes attempts sent together see each other: however many
// arrive at once, at most MaxFailures are checked per window. A success
// takes the count back (succeed).
func (t *throttle) begin(keys ...string) (time.Duration, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var w time.Duration
	for _, k := range keys {
		if f := t.recent(k, now); len(f) >= MaxFailures {
			// Free again when the failure that makes the count MaxFailures
			// leaves the window.
			w = max(w, f[len(f)-MaxFailures].Add(FailureWindow).Sub(now))
		}
	}
	if w > 0 {
		return w, time.Time{}
	}
	for _, k := range keys {
		f := t.recent(k, now)
		if f == nil && len(t.failures) >= maxThrottleKeys {
			t.evict(now)
		}
		t.failures[k] = append(f, now)
	}
	return 0, now
}

// evict makes room when the throttle is full: it forgets the keys with no
// recent failure, then, down to nine tenths of the bound, the keys that are
// not refused yet, and refused ones only when nothing else is left. So an
// attacker who fills the throttle with new keys (user names, addresses) wins
// no new tries on a key it got refused, and the scan runs once per tenth of
// the bound, not on every new key.
func (t *throttle) evict(now time.Time) {
	for k := range t.failures {
		t.recent(k, now)
	}
	low := maxThrottleKeys * 9 / 10
	for _, refused := range []bool{false, true} {
		for k, f := range t.failures {
			if len(t.failures) <= low {
				return
			}
			if (len(f) >= MaxFailures) == refused {
				delete(t.failures, k)
			}
		}
	}
}

// forget forgets the failures of key, after a success.
func (t *throttle) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, key)
}

// takeBack takes back the failure that begin counted at for each key: the
// attempt succeeded, or could not be checked.
func (t *throttle) takeBack(at time.Time, keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		f := t.failures[k]
		if i := slices.IndexFunc(f, at.Equal); i >= 0 {
			f = slices.Delete(f, i, i+1)
		}
		if len(f) == 0 {
			delete(t.failures, k)
		} else {
			t.failures[k] = f
		}
	}
}
