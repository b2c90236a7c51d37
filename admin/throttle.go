package admin

import (
	"sync"
	"time"
)

// Sign-in throttling: after MaxFailures failed sign-ins within
// FailureWindow from one client address, or for one user name, further
// attempts from it (or for it) are refused with 429 until the oldest of
// those failures is FailureWindow old. Refused attempts do not check the
// password and do not count.
const (
	MaxFailures   = 5
	FailureWindow = 15 * time.Minute
)

// maxThrottleKeys bounds the memory of the throttle; past it, the keys
// with no recent failure go first, then arbitrary ones.
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

// wait returns how long the keys must wait before the next attempt; 0 lets
// the attempt through.
func (t *throttle) wait(keys ...string) time.Duration {
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
	return w
}

// fail records a failed attempt for each key.
func (t *throttle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		f := t.recent(k, now)
		if f == nil && len(t.failures) >= maxThrottleKeys {
			t.evict(now)
		}
		if len(f) >= MaxFailures {
			f = f[1:] // only the last MaxFailures matter
		}
		t.failures[k] = append(f, now)
	}
}

// evict makes room for one key.
func (t *throttle) evict(now time.Time) {
	for k := range t.failures {
		t.recent(k, now)
	}
	for k := range t.failures {
		if len(t.failures) < maxThrottleKeys {
			return
		}
		delete(t.failures, k)
	}
}

// succeed forgets the failures of key.
func (t *throttle) succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, key)
}
