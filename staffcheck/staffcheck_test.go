package staffcheck

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
)

// app is a real application: /staff answers 200 for the cookie
// "sessionid=staff" or "Authorization: Bearer staff", 403 otherwise, and
// counts the checks it got.
type app struct {
	srv  *httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	last http.Header
	host string
	path string
	hold chan struct{} // when set, /staff waits for it
}

func newApp(t testing.TB, handler func(a *app, w http.ResponseWriter, r *http.Request)) *app {
	a := &app{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		a.mu.Lock()
		a.last, a.host, a.path = r.Header.Clone(), r.Host, r.URL.RequestURI()
		hold := a.hold
		a.mu.Unlock()
		if hold != nil {
			<-hold
		}
		if handler != nil {
			handler(a, w, r)
			return
		}
		c, _ := r.Cookie("sessionid")
		if c != nil && c.Value == "staff" || r.Header.Get("Authorization") == "Bearer staff" {
			w.Write([]byte("staff"))
			return
		}
		http.Error(w, "not staff", http.StatusForbidden)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) url() *url.URL { u, _ := url.Parse(a.srv.URL); return u }

func newChecker(t *testing.T, a *app, o Options) *Checker {
	t.Helper()
	if o.Path == "" {
		o.Path = "/staff"
	}
	if o.Upstream == nil {
		u := a.url()
		o.Upstream = func(string) *url.URL { return u }
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func request(header ...string) *http.Request {
	r := httptest.NewRequest("POST", "http://shop.example.com/orders", nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

func TestBypass(t *testing.T) {
	a := newApp(t, nil)
	c := newChecker(t, a, Options{Path: "/staff?scope=maintenance"})
	if c.Bypass(request()) {
		t.Error("no credentials: let through")
	}
	if n := a.hits.Load(); n != 0 {
		t.Errorf("no credentials: the application was asked %d times", n)
	}
	r := request("Cookie", "csrftoken=x; "+maintenance.BypassCookie+"=secret; sessionid=staff", "X-Forwarded-For", "203.0.113.9", "Accept", "text/html")
	if !c.Bypass(r) {
		t.Fatal("staff cookie: not let through")
	}
	a.mu.Lock()
	host, path, h := a.host, a.path, a.last
	a.mu.Unlock()
	if host != "shop.example.com" || path != "/staff?scope=maintenance" {
		t.Errorf("asked %s %s, want shop.example.com /staff?scope=maintenance", host, path)
	}
	if got := h.Get("Cookie"); got != "csrftoken=x; sessionid=staff" {
		t.Errorf("cookies passed: %q, want the application's only", got)
	}
	for k := range h {
		if k != "Cookie" && k != "User-Agent" {
			t.Errorf("header %s passed on: %q", k, h[k])
		}
	}
	if !c.Bypass(request("Authorization", "Bearer staff")) {
		t.Error("staff bearer token: not let through")
	}
	if c.Bypass(request("Cookie", "sessionid=visitor")) {
		t.Error("a visitor's cookie: let through")
	}
	if c.Bypass(request("Cookie", maintenance.SessionCookie+"=x")) {
		t.Error("only the gate's cookies: let through")
	}
	n := a.hits.Load()
	for range 10 {
		if !c.Bypass(request("Cookie", "csrftoken=x; "+maintenance.BypassCookie+"=secret; sessionid=staff")) {
			t.Fatal("cached staff: not let through")
		}
		if c.Bypass(request("Cookie", "sessionid=visitor")) {
			t.Fatal("cached visitor: let through")
		}
	}
	if got := a.hits.Load(); got != n {
		t.Errorf("cached answers asked the application %d more times", got-n)
	}
}

func TestBypassExpires(t *testing.T) {
	a := newApp(t, nil)
	c := newChecker(t, a, Options{TTL: time.Second})
	r := request("Cookie", "sessionid=staff")
	c.Bypass(r)
	// Age the entry rather than sleep.
	c.mu.Lock()
	for k, e := range c.cache {
		e.exp = time.Now().Add(-time.Millisecond).UnixNano()
		c.cache[k] = e
	}
	c.mu.Unlock()
	c.Bypass(r)
	if n := a.hits.Load(); n != 2 {
		t.Errorf("after the TTL: %d checks, want 2", n)
	}
}

func TestBypassFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler func(a *app, w http.ResponseWriter, r *http.Request)
		ttl     time.Duration
	}{
		{"server error", func(a *app, w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }, FailureTTL},
		{"redirect to a login page", func(a *app, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/login?next=/staff", http.StatusFound)
		}, DefaultTTL},
		{"timeout", func(a *app, w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, FailureTTL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, tc.handler)
			c := newChecker(t, a, Options{Timeout: 100 * time.Millisecond})
			if c.Bypass(request("Cookie", "sessionid=staff")) {
				t.Fatal("let through")
			}
			for _, e := range c.cache {
				if d := time.Until(time.Unix(0, e.exp)); d > tc.ttl || d < tc.ttl-time.Second {
					t.Errorf("cached for %s, want %s", d, tc.ttl)
				}
			}
		})
	}
	t.Run("down", func(t *testing.T) {
		a := newApp(t, nil)
		c := newChecker(t, a, Options{})
		a.srv.Close()
		if c.Bypass(request("Cookie", "sessionid=staff")) {
			t.Fatal("application down: let through")
		}
	})
	t.Run("no upstream", func(t *testing.T) {
		a := newApp(t, nil)
		c := newChecker(t, a, Options{Upstream: func(string) *url.URL { return nil }})
		if c.Bypass(request("Cookie", "sessionid=staff")) {
			t.Fatal("no upstream: let through")
		}
	})
}

// TestBypassCoalesced: identical checks under way are made once; the
// number of checks under way is bounded.
func TestBypassCoalesced(t *testing.T) {
	a := newApp(t, nil)
	hold := make(chan struct{})
	a.hold = hold
	c := newChecker(t, a, Options{MaxInFlight: 2})
	const n = 20
	results := make(chan bool, n)
	for range n {
		go func() { results <- c.Bypass(request("Cookie", "sessionid=staff")) }()
	}
	// Wait until the one check is under way and the others wait on it.
	for a.hits.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	other := make(chan bool, 1)
	go func() { other <- c.Bypass(request("Cookie", "sessionid=visitor")) }()
	for a.hits.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	// A third distinct credential is over MaxInFlight: refused at once.
	if c.Bypass(request("Cookie", "sessionid=third")) {
		t.Error("over the in-flight limit: let through")
	}
	close(hold)
	for range n {
		if !<-results {
			t.Error("a coalesced staff check: not let through")
		}
	}
	if <-other {
		t.Error("visitor let through")
	}
	if got := a.hits.Load(); got != 2 {
		t.Errorf("%d checks, want 2 (one per credential)", got)
	}
}

func TestCacheBounded(t *testing.T) {
	a := newApp(t, nil)
	c := newChecker(t, a, Options{MaxEntries: 10})
	for i := range 100 {
		c.Bypass(request("Cookie", fmt.Sprintf("sessionid=v%d", i)))
		if n := len(c.cache); n > 10 {
			t.Fatalf("cache holds %d entries, bound 10", n)
		}
	}
}

func TestOptionsInvalid(t *testing.T) {
	up := func(string) *url.URL { return nil }
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Path: "", Upstream: up}, `staff-check path ""`},
		{Options{Path: "staff", Upstream: up}, `staff-check path "staff"`},
		{Options{Path: "//evil/x", Upstream: up}, `staff-check path "//evil/x"`},
		{Options{Path: "/a b", Upstream: up}, `staff-check path "/a b"`},
		{Options{Path: "/a#b", Upstream: up}, `staff-check path "/a#b"`},
		{Options{Path: "/_maintenance/x", Upstream: up}, `not under the gate's own /_maintenance/`},
		{Options{Path: "/%zz", Upstream: up}, `staff-check path "/%zz"`},
		{Options{Path: "/staff", Upstream: up, TTL: time.Millisecond}, "staff-check TTL 1ms: accepted: a duration from 1s to 1h0m0s"},
		{Options{Path: "/staff", Upstream: up, TTL: 2 * time.Hour}, "staff-check TTL 2h0m0s"},
		{Options{Path: "/staff"}, "no Upstream"},
	} {
		_, err := New(tc.o)
		if err == nil || !errors.Is(err, maintenance.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want ErrInvalid naming %q", tc.o, err, tc.want)
		}
	}
}

// BenchmarkBypassCached is the cost of a staff check answered from the
// cache: a request with a typical Django session and CSRF cookie.
func BenchmarkBypassCached(b *testing.B) {
	a := newApp(b, nil)
	u := a.url()
	c, err := New(Options{Path: "/staff", Upstream: func(string) *url.URL { return u }})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := request("Cookie", "csrftoken=Zq3kVbq0mJx8Yc1dQ2w7N4tRr5uV6yZ8aB9cD0eF1gH2iJ3kL4mN5oP6qR7sT8uV; sessionid=staff")
	if !c.Bypass(r) {
		b.Fatal("not staff")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if !c.Bypass(r) {
			b.Fatal("not staff")
		}
	}
}

// TestParseURL: a staff-check URL names the application; its checks go
// there whatever Host the visitor sent, which is passed on as the Host.
func TestParseURL(t *testing.T) {
	a := newApp(t, nil)
	path, up, err := ParseURL(a.srv.URL + "/staff?scope=maintenance")
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(t, a, Options{Path: path, Upstream: up})
	r := request("Cookie", "sessionid=staff")
	r.Host = "evil.example:1"
	if !c.Bypass(r) {
		t.Fatal("staff cookie under another Host: not let through")
	}
	a.mu.Lock()
	host, got := a.host, a.path
	a.mu.Unlock()
	if host != "evil.example:1" || got != "/staff?scope=maintenance" || a.hits.Load() != 1 {
		t.Errorf("asked Host %s %s (%d checks), want the visitor's Host at the configured address", host, got, a.hits.Load())
	}
	for _, bad := range []string{"", "/staff-check", "staff-check", "//app/staff", "ftp://app/staff", "http://app", "http://app/",
		"http:///staff", "http://user:pw@app/staff", "http://app/staff#x", "http://app/_maintenance/status",
		"mailto:x@app", "http://app/staff\x00", "https://app/" + strings.Repeat("a", 3000)} {
		if _, _, err := ParseURL(bad); !errors.Is(err, maintenance.ErrInvalid) {
			t.Errorf("ParseURL(%q): %v, want ErrInvalid", bad, err)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("ParseURL(%q): the password is in the error: %v", bad, err)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8000/staff-check", "https://app.internal/s?x=1", "http://u:p@h/x", "//h/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		path, up, err := ParseURL(s)
		if err != nil {
			return
		}
		if _, err := ParsePath(path); err != nil {
			t.Fatalf("ParseURL(%q) gave the bad path %q", s, path)
		}
		u := up("evil.example")
		if u.User != nil || u.Path != "" || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Fatalf("ParseURL(%q) gave the base %v", s, u)
		}
	})
}
