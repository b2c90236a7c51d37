package admin_test

import (
	"net/http"
	"net/url"
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
