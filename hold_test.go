package maintenance_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/sqlite"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu   sync.Mutex
	seen []string // "site outcome"
}

func (o *recorder) Observe(r *http.Request, site string, out maintenance.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, site+" "+out.String())
}

func (o *recorder) got() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.seen)
}

// holding is a request under way in a goroutine.
type holding struct {
	w     *httptest.ResponseRecorder
	done  chan struct{}
	start time.Time
	took  time.Duration
}

// send serves r through h in a goroutine.
func send(h http.Handler, r *http.Request) *holding {
	q := &holding{w: httptest.NewRecorder(), done: make(chan struct{}), start: time.Now()}
	go func() {
		defer close(q.done)
		h.ServeHTTP(q.w, r)
		q.took = time.Since(q.start)
	}()
	return q
}

// waiting reports whether the request is still held, once every goroutine
// of the bubble is blocked.
func (q *holding) waiting() bool {
	synctest.Wait()
	select {
	case <-q.done:
		return false
	default:
		return true
	}
}

func (q *holding) wait() *httptest.ResponseRecorder {
	<-q.done
	return q.w
}

func shopRequest(path string) *http.Request {
	r := httptest.NewRequest("GET", "http://shop.example.com"+path, nil)
	r.RemoteAddr = "198.51.100.9:1234"
	return r
}

// holdSetup opens a SQLite store in the bubble, starts a gate on it with
// opts (and a recorder as its Observer), and switches every site on in mode
// hold.
func holdSetup(t *testing.T, opts maintenance.Options) (maintenance.Store, *maintenance.Gate, *recorder) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	obs := &recorder{}
	opts.Observer, opts.Logger = obs, quiet()
	opts.Sites = []string{"shop.example.com"}
	g := newGate(t, st, opts)
	s := update(t, st, maintenance.On(nil, maintenance.OnOptions{Mode: ptr(maintenance.ModeHold)}))
	waitVersion(t, g, s.Version)
	return st, g, obs
}

// TestHold: in mode hold, a request that would be blocked waits until the
// site is off, then reaches the application; it gets the maintenance answer
// when the wait runs out or the site turns to another mode.
func TestHold(t *testing.T) {
	t.Run("released by off", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st, g, obs := holdSetup(t, maintenance.Options{})
			q := send(g.Handler(app), shopRequest("/cart"))
			if !q.waiting() {
				t.Fatalf("not held: status %d", q.w.Code)
			}
			s := update(t, st, maintenance.Off(nil))
			w := q.wait()
			if w.Code != 200 || w.Body.String() != "app" {
				t.Errorf("after off: status %d %q, want 200 app", w.Code, w.Body)
			}
			if q.took >= maintenance.DefaultHoldTimeout {
				t.Errorf("released after %s, want at the change", q.took)
			}
			if g.Version() != s.Version {
				t.Errorf("gate at version %d, want %d", g.Version(), s.Version)
			}
			if got, want := obs.got(), []string{"shop.example.com held"}; !slices.Equal(got, want) {
				t.Errorf("observed %q, want %q", got, want)
			}
		})
	})
	t.Run("timed out", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, g, obs := holdSetup(t, maintenance.Options{HoldTimeout: 5 * time.Second})
			q := send(g.Handler(app), shopRequest("/cart"))
			w := q.wait()
			if w.Code != 503 {
				t.Errorf("status %d, want 503", w.Code)
			}
			if q.took != 5*time.Second {
				t.Errorf("answered after %s, want the 5s hold timeout", q.took)
			}
			if got, want := obs.got(), []string{"shop.example.com blocked"}; !slices.Equal(got, want) {
				t.Errorf("observed %q, want %q", got, want)
			}
		})
	})
	t.Run("default timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, g, _ := holdSetup(t, maintenance.Options{})
			q := send(g.Handler(app), shopRequest("/"))
			if w := q.wait(); w.Code != 503 || q.took != maintenance.DefaultHoldTimeout {
				t.Errorf("status %d after %s, want 503 after %s", w.Code, q.took, maintenance.DefaultHoldTimeout)
			}
		})
	})
	t.Run("limit exceeded", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st, g, obs := holdSetup(t, maintenance.Options{HoldLimit: 2})
			h := g.Handler(app)
			q1, q2 := send(h, shopRequest("/1")), send(h, shopRequest("/2"))
			synctest.Wait()
			q3 := send(h, shopRequest("/3"))
			if w := q3.wait(); w.Code != 503 || q3.took != 0 {
				t.Errorf("over the limit: status %d after %s, want 503 at once", w.Code, q3.took)
			}
			if !q1.waiting() || !q2.waiting() {
				t.Fatal("the requests within the limit are not held")
			}
			update(t, st, maintenance.Off(nil))
			for _, q := range []*holding{q1, q2} {
				if w := q.wait(); w.Code != 200 {
					t.Errorf("held request: status %d after off, want 200", w.Code)
				}
			}
			// The places are free again.
			s := update(t, st, maintenance.On(nil, maintenance.OnOptions{Mode: ptr(maintenance.ModeHold)}))
			waitVersion(t, g, s.Version)
			q4, q5 := send(h, shopRequest("/4")), send(h, shopRequest("/5"))
			if !q4.waiting() || !q5.waiting() {
				t.Error("the limit's places were not given back")
			}
			update(t, st, maintenance.Off(nil))
			q4.wait()
			q5.wait()
			got := obs.got()
			slices.Sort(got)
			want := []string{"shop.example.com blocked", "shop.example.com held", "shop.example.com held", "shop.example.com held", "shop.example.com held"}
			if !slices.Equal(got, want) {
				t.Errorf("observed %q, want %q", got, want)
			}
		})
	})
	t.Run("released requests free their place", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st, g, _ := holdSetup(t, maintenance.Options{HoldLimit: 1})
			busy := make(chan struct{})
			h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-busy }))
			q1 := send(h, shopRequest("/1"))
			synctest.Wait()
			waitVersion(t, g, update(t, st, maintenance.Off(nil)).Version)
			s := update(t, st, maintenance.On(nil, maintenance.OnOptions{Mode: ptr(maintenance.ModeHold)}))
			waitVersion(t, g, s.Version)
			// q1 is in the application now, no longer waiting.
			q2 := send(h, shopRequest("/2"))
			if !q1.waiting() || !q2.waiting() {
				t.Fatalf("a request released to the application still takes its place: status %d", q2.w.Code)
			}
			close(busy)
			q1.wait()
			update(t, st, maintenance.Off(nil))
			q2.wait()
		})
	})
	t.Run("client goes away", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, g, obs := holdSetup(t, maintenance.Options{})
			ctx, cancel := context.WithCancel(t.Context())
			q := send(g.Handler(app), shopRequest("/").WithContext(ctx))
			time.Sleep(time.Second)
			if !q.waiting() {
				t.Fatal("not held")
			}
			cancel()
			if w := q.wait(); w.Code != 503 || q.took != time.Second {
				t.Errorf("status %d after %s, want 503 when the client left, after 1s", w.Code, q.took)
			}
			if got, want := obs.got(), []string{"shop.example.com blocked"}; !slices.Equal(got, want) {
				t.Errorf("observed %q, want %q", got, want)
			}
		})
	})
	t.Run("hold then full", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st, g, _ := holdSetup(t, maintenance.Options{})
			q := send(g.Handler(app), shopRequest("/"))
			if !q.waiting() {
				t.Fatal("not held")
			}
			update(t, st, maintenance.On(nil, maintenance.OnOptions{Mode: ptr(maintenance.ModeFull), Message: ptr("Longer than planned")}))
			if w := q.wait(); w.Code != 503 || q.took >= maintenance.DefaultHoldTimeout {
				t.Errorf("status %d after %s, want 503 at the switch to full", w.Code, q.took)
			}
		})
	})
	t.Run("other changes keep holding", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st, g, _ := holdSetup(t, maintenance.Options{})
			q := send(g.Handler(app), shopRequest("/"))
			s := update(t, st, maintenance.AddIgnore("", "/static/*", ""))
			waitVersion(t, g, s.Version)
			if !q.waiting() {
				t.Fatalf("released by a change that keeps the site in hold: status %d", q.w.Code)
			}
			update(t, st, maintenance.AddIgnore("", "/*", ""))
			if w := q.wait(); w.Code != 200 {
				t.Errorf("status %d once an ignore pattern covers the path, want 200", w.Code)
			}
		})
	})
	t.Run("window ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st, g, _ := holdSetup(t, maintenance.Options{})
			until := time.Now().Add(3 * time.Second)
			s := update(t, st, maintenance.On(nil, maintenance.OnOptions{Mode: ptr(maintenance.ModeHold), Until: &until}))
			waitVersion(t, g, s.Version)
			q := send(g.Handler(app), shopRequest("/"))
			if w := q.wait(); w.Code != 200 || time.Now() != until {
				t.Errorf("status %d at %s, want 200 at the end of the window", w.Code, time.Until(until))
			}
		})
	})
	t.Run("close releases", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, g, obs := holdSetup(t, maintenance.Options{})
			h := g.Handler(app)
			q := send(h, shopRequest("/"))
			if !q.waiting() {
				t.Fatal("not held")
			}
			g.Close()
			if w := q.wait(); w.Code != 503 || q.took != 0 {
				t.Errorf("status %d after %s, want 503 at Close", w.Code, q.took)
			}
			q = send(h, shopRequest("/"))
			if w := q.wait(); w.Code != 503 || q.took != 0 {
				t.Errorf("after Close: status %d after %s, want 503 at once", w.Code, q.took)
			}
			if got, want := obs.got(), []string{"shop.example.com blocked", "shop.example.com blocked"}; !slices.Equal(got, want) {
				t.Errorf("observed %q, want %q", got, want)
			}
		})
	})
}

// TestHoldPassesWhatRulesLetThrough: the rules of steps 3-6 let requests
// through at once in mode hold too; only what would be blocked is held.
func TestHoldPassesWhatRulesLetThrough(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		peer    string
		header  string
		outcome string
	}{
		{"exempt path", "/healthz", "", "", "exempt"},
		{"ignore pattern", "/static/app.css", "", "", "exempt"},
		{"reserved path of the app", "/_maintenance/admin/x", "", "", "exempt"},
		{"allowed IP", "/", "203.0.113.7:1", "", "allowed-ip"},
		{"bypass hook", "/", "", "yes", "bypass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st, g, obs := holdSetup(t, maintenance.Options{
					Exempt:   []string{"/healthz"},
					Reserved: []string{"/_maintenance/admin/"},
					Bypass:   func(r *http.Request) bool { return r.Header.Get("X-Staff") == "yes" },
				})
				update(t, st, maintenance.AddIgnore("", "/static/*", ""))
				s := update(t, st, maintenance.AddAllow("", "203.0.113.7", ""))
				waitVersion(t, g, s.Version)
				r := shopRequest(tt.path)
				if tt.peer != "" {
					r.RemoteAddr = tt.peer
				}
				r.Header.Set("X-Staff", tt.header)
				q := send(g.Handler(app), r)
				if w := q.wait(); w.Code != 200 || q.took != 0 {
					t.Errorf("status %d after %s, want 200 at once", w.Code, q.took)
				}
				if got, want := obs.got(), []string{"shop.example.com " + tt.outcome}; !slices.Equal(got, want) {
					t.Errorf("observed %q, want %q", got, want)
				}
			})
		})
	}
}

func TestParseModeHold(t *testing.T) {
	if m, err := maintenance.ParseMode("hold"); err != nil || m != maintenance.ModeHold {
		t.Errorf(`ParseMode("hold") = %q, %v`, m, err)
	}
	_, err := maintenance.ParseMode("pause")
	if want := `mode "pause": accepted: full, read-only, errors, hold`; err == nil || err.Error() != want {
		t.Errorf("ParseMode(pause) = %v, want %q", err, want)
	}
}

// A Bypass hook that panics while a request is held (net/http recovers
// the panic) must not keep its place: with HoldLimit 1, the next request
// is still held.
func TestHoldPanicFreesThePlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seen sync.Map
		_, g, _ := holdSetup(t, maintenance.Options{HoldLimit: 1, Bypass: func(r *http.Request) bool {
			if r.Header.Get("X-Panic") != "" {
				if _, again := seen.LoadOrStore(r, true); again {
					panic("hook failed")
				}
			}
			return false
		}})
		h := g.Handler(app)
		r := shopRequest("/boom")
		r.Header.Set("X-Panic", "1")
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("the hook's panic did not reach the server")
				}
			}()
			h.ServeHTTP(httptest.NewRecorder(), r)
		}()
		q := send(h, shopRequest("/next"))
		if !q.waiting() {
			t.Fatalf("the next request was not held: status %d; the panicked request kept its place", q.w.Code)
		}
	})
}
