package maintenance_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/sqlite"
)

func openStore(t *testing.T) (maintenance.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

func update(t *testing.T, st maintenance.Store, c maintenance.Change) *maintenance.State {
	t.Helper()
	c.Actor, c.Source = "test", "test"
	s, err := st.Update(t.Context(), c)
	if err != nil {
		t.Fatalf("%s: %v", c.Action, err)
	}
	return s
}

func newGate(t *testing.T, st maintenance.Store, opts maintenance.Options) *maintenance.Gate {
	t.Helper()
	g, err := maintenance.New(t.Context(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// waitVersion waits until g serves version v, with a deadline.
func waitVersion(t *testing.T, g *maintenance.Gate, v int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := g.WaitVersion(ctx, v); err != nil {
		t.Fatalf("gate at version %d, want %d: %v", g.Version(), v, err)
	}
}

func TestGateFollowsStore(t *testing.T) {
	st, path := openStore(t)
	g := newGate(t, st, maintenance.Options{Sites: []string{"Shop.Example.com"}})
	app := httptest.NewServer(g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") })))
	defer app.Close()

	// The gate declared its site.
	s, err := st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Site("shop.example.com") == nil {
		t.Fatalf("Options.Sites was not declared in the store: %+v", s.Sites)
	}
	get := func() int {
		resp, err := http.Get(app.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(); got != 200 {
		t.Fatalf("off: status %d", got)
	}
	// A change made through another handle (as another process would) reaches the gate.
	other, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	s = update(t, other, maintenance.On(nil, maintenance.OnOptions{}))
	waitVersion(t, g, s.Version)
	if got := get(); got != 503 {
		t.Fatalf("on: status %d", got)
	}
	s = update(t, other, maintenance.Off(nil))
	waitVersion(t, g, s.Version)
	if got := get(); got != 200 {
		t.Fatalf("off again: status %d", got)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestGateUnderLoad flips the state 100 times while clients hammer the gate:
// every answer is the app's or the maintenance answer, never anything else.
func TestGateUnderLoad(t *testing.T) {
	st, _ := openStore(t)
	g := newGate(t, st, maintenance.Options{})
	srv := httptest.NewServer(g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "app")
	})))
	defer srv.Close()

	var (
		stop          atomic.Bool
		wg            sync.WaitGroup
		apps, answers atomic.Int64
		bad           = make(chan string, 10)
	)
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			accept := []string{"text/html", "application/json", "text/plain"}[i%3]
			for !stop.Load() {
				req, _ := http.NewRequest("GET", srv.URL+"/page", nil)
				req.Header.Set("Accept", accept)
				resp, err := client.Do(req)
				if err != nil {
					select {
					case bad <- err.Error():
					default:
					}
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					bad <- err.Error()
				case resp.StatusCode == 200 && string(body) == "app":
					apps.Add(1)
				case resp.StatusCode == 503 && resp.Header.Get("Cache-Control") == "no-store" && strings.Contains(string(body), "maintenance"):
					answers.Add(1)
				default:
					select {
					case bad <- fmt.Sprintf("status %d body %.80q", resp.StatusCode, body):
					default:
					}
				}
			}
		}()
	}
	for i := range 100 {
		c := maintenance.Off(nil)
		if i%2 == 0 {
			c = maintenance.On(nil, maintenance.OnOptions{})
		}
		s := update(t, st, c)
		waitVersion(t, g, s.Version)
	}
	stop.Store(true)
	wg.Wait()
	close(bad)
	for b := range bad {
		t.Errorf("unexpected answer: %s", b)
	}
	if apps.Load() == 0 || answers.Load() == 0 {
		t.Errorf("app answers %d, maintenance answers %d: want both", apps.Load(), answers.Load())
	}
	t.Logf("%d app answers, %d maintenance answers over 100 flips", apps.Load(), answers.Load())
}

func TestNewRejectsBadOptions(t *testing.T) {
	st, _ := openStore(t)
	before, err := st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "503.html"), []byte("{{.Nope}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts maintenance.Options
		want string
	}{
		{"bad site", maintenance.Options{Sites: []string{"a b"}}, `site "a b"`},
		{"bad exempt", maintenance.Options{Exempt: []string{"health"}}, `pattern "health"`},
		{"bad header", maintenance.Options{ForwardedHeader: "X-Real-IP"}, `forwarded header "X-Real-IP"`},
		{"missing templates", maintenance.Options{Templates: filepath.Join(broken, "nope")}, "templates directory"},
		{"broken template", maintenance.Options{Templates: broken}, "Nope"},
		{"negative hold limit", maintenance.Options{HoldLimit: -1}, "hold limit -1"},
		{"negative hold timeout", maintenance.Options{HoldTimeout: -time.Second}, "hold timeout -1s"},
		{"trusting everyone", maintenance.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, "trusted proxy 0.0.0.0/0: wider than /8"},
		{"trusting a /7", maintenance.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/7")}}, "trusted proxy 10.0.0.0/7"},
		{"trusting every IPv6 client", maintenance.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "trusted proxy ::/0"},
		{"trusting every mapped client", maintenance.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:0.0.0.0/96")}}, "trusted proxy 0.0.0.0/0"},
		{"reserved path of the gate", maintenance.Options{Reserved: []string{"/_maintenance/status"}}, `reserved path "/_maintenance/status"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := maintenance.New(t.Context(), st, tt.opts)
			if !errors.Is(err, maintenance.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
	after, err := st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != before.Version {
		t.Errorf("bad options changed the store: version %d -> %d", before.Version, after.Version)
	}
}

// TestTrustAllProxies: a prefix that wide is accepted with the extra
// option, and logged; /8 and /32 need nothing.
func TestTrustAllProxies(t *testing.T) {
	st, _ := openStore(t)
	var log strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{&mu, &log}, nil))
	newGate(t, st, maintenance.Options{Logger: logger, TrustAllProxies: true,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("10.0.0.0/8")}})
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "0.0.0.0/0") || strings.Contains(log.String(), "10.0.0.0/8") {
		t.Errorf("log %q, want a warning naming 0.0.0.0/0 only", log.String())
	}
	for _, p := range []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.1/32"} {
		newGate(t, st, maintenance.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix(p)}})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestBypassLinkThroughStore follows a bypass link from its creation in the
// store to a visitor who passes, its uses counted in the store, and its
// revocation.
func TestBypassLinkThroughStore(t *testing.T) {
	st, _ := openStore(t)
	update(t, st, maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{}))
	secret, id := maintenance.NewSecret()
	s := update(t, st, maintenance.CreateBypass(maintenance.BypassLink{ID: id, Site: "shop.example.com", Hash: maintenance.HashSecret(secret)}, time.Hour))
	g, err := maintenance.New(t.Context(), st, maintenance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	waitVersion(t, g, s.Version)
	app := httptest.NewServer(g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") })))
	defer app.Close()

	jar := &cookieJar{}
	c := &http.Client{Jar: jar}
	get := func(path string) (int, string) {
		t.Helper()
		r, _ := http.NewRequest("GET", app.URL+path, nil)
		r.Host = "shop.example.com"
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/"); code != 503 {
		t.Fatalf("before the link: %d, want 503", code)
	}
	if code, body := get(maintenance.BypassPath + secret); code != 200 || body != "app" {
		t.Fatalf("after following the link: %d %q, want the app", code, body)
	}
	if code, _ := get("/cart"); code != 200 {
		t.Fatalf("with the cookie: %d, want 200", code)
	}
	// Revoking it reaches the gate with the next snapshot.
	s = update(t, st, maintenance.RevokeBypass(id))
	waitVersion(t, g, s.Version)
	if code, _ := get("/cart"); code != 503 {
		t.Fatalf("after the revocation: %d, want 503", code)
	}
	// The uses (the visit, the redirect it answered with, and /cart) reach
	// the store when the gate stops, or with its next heartbeat.
	g.Close()
	uses, err := st.Uses(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if uses[id] != 3 {
		t.Errorf("uses %v, want %s: 3", uses, id)
	}
}

// cookieJar keeps the cookies of one host, whatever the Host header says.
type cookieJar struct {
	mu      sync.Mutex
	cookies []*http.Cookie
}

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.cookies = append(j.cookies, cs...)
}

func (j *cookieJar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cookies
}
