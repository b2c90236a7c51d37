package admin_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/admin"
)

// Sign-in attempts sent at once must not all be checked before the first
// failure is counted: the throttle lets MaxFailures guesses through per
// window, however many arrive together.
func TestSignInThrottleConcurrent(t *testing.T) {
	f := newFixture(t, admin.Options{})
	// A slower hash, as in production, so that the attempts overlap.
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), 10)
	if err != nil {
		t.Fatal(err)
	}
	f.update(maintenance.SetPassword(testUser, string(h)))
	const n = 4 * admin.MaxFailures
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[int]int{}
		start = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-start
			resp, err := http.PostForm(f.srv.URL+admin.PagePrefix+"login", url.Values{"user": {testUser}, "password": {"a wrong guess"}})
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if codes[http.StatusUnauthorized] > admin.MaxFailures || codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests] != n {
		t.Errorf("%d attempts at once: %v by status; want at most %d checked (401), the rest refused (429)", n, codes, admin.MaxFailures)
	}
}

// One IPv6 client holds a whole /64 (and writes an IPv4 address in two
// ways): failures count by the /64, so that changing the low bits of the
// address gives no new tries.
func TestSignInThrottleIPv6Prefix(t *testing.T) {
	f := newFixture(t, admin.Options{ClientIP: func(r *http.Request) netip.Addr {
		a, _ := netip.ParseAddr(r.Header.Get("X-Test-IP"))
		return a
	}})
	try := func(ip, user string) int {
		b := f.browser()
		b.header.Set("X-Test-IP", ip)
		return b.post(admin.PagePrefix+"login", url.Values{"user": {user}, "password": {"a wrong guess"}}).status
	}
	for _, tc := range []struct {
		name  string
		addrs [admin.MaxFailures + 1]string
	}{
		{"IPv6 /64", [...]string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:aaaa::3", "2001:db8:1:2::4%eth0", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::99"}},
		{"IPv4 mapped", [...]string{"203.0.113.7", "::ffff:203.0.113.7", "203.0.113.7", "::ffff:203.0.113.7", "203.0.113.7", "::ffff:203.0.113.7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A different user name each time, so that only the address
			// counts.
			for i, ip := range tc.addrs[:admin.MaxFailures] {
				if code := try(ip, fmt.Sprintf("user%d-%s", i, strings.ReplaceAll(tc.name, " ", ""))); code != http.StatusUnauthorized {
					t.Fatalf("failure %d from %s: %d, want 401", i+1, ip, code)
				}
			}
			if code := try(tc.addrs[admin.MaxFailures], "another"); code != http.StatusTooManyRequests {
				t.Errorf("from %s after %d failures from its network: %d, want 429", tc.addrs[admin.MaxFailures], admin.MaxFailures, code)
			}
		})
	}
	// Another /64 is another client.
	if code := try("2001:db8:1:3::1", "another"); code != http.StatusUnauthorized {
		t.Errorf("from another /64: %d, want 401", code)
	}
}
