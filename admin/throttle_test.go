package admin

import (
	"fmt"
	"testing"
	"time"
)

// Keys that are refused (MaxFailures recent failures) are the last the
// throttle forgets when it is full: an attacker who fills it with new keys
// (new user names, new addresses) does not win new tries on a user it
// locked.
func TestThrottleKeepsLockedKeys(t *testing.T) {
	now := time.Now()
	th := newThrottle(func() time.Time { return now })
	for range MaxFailures {
		if w, _ := th.begin("ip 203.0.113.1", "user alice"); w != 0 {
			t.Fatalf("refused before %d failures", MaxFailures)
		}
	}
	for i := range 6 * maxThrottleKeys {
		th.begin(fmt.Sprintf("ip 198.51.%d.%d", i/256%256, i%256), fmt.Sprintf("user junk%d", i))
	}
	if n := len(th.failures); n > maxThrottleKeys {
		t.Errorf("%d keys kept, want at most %d", n, maxThrottleKeys)
	}
	if w, _ := th.begin("ip 192.0.2.1", "user alice"); w == 0 {
		t.Error("alice is let through again after the throttle filled up with other keys")
	}
}
