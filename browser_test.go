package maintenance_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/testenv"
	"github.com/gomaint/maintenance/proxy"
	"github.com/gomaint/maintenance/sqlite"
)

// shop is a small application behind the gate: a form that POSTs an order,
// which is saved and then fails while failing is set. It counts the
// requests it receives.
type shop struct {
	mu      sync.Mutex
	counts  map[string]int
	failing bool
}

func (s *shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.counts[r.Method+" "+r.URL.Path]++
	failing := s.failing
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	switch {
	case r.URL.Path == "/form":
		io.WriteString(w, `<!doctype html><title>Order</title><form method="post" action="/order"><input name="item" value="book"><button id="buy">Buy</button></form>`)
	case r.URL.Path == "/order" && r.Method == http.MethodPost:
		// The order is saved; then the view raises.
		if failing {
			http.Error(w, "Traceback (most recent call last)", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/done", http.StatusSeeOther)
	default:
		io.WriteString(w, `<!doctype html><title>Shop</title><h1 id="app">The shop</h1>`)
	}
}

func (s *shop) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[key]
}

// browserEnv is a gate (release v1, on a SQLite store) in front of a real
// upstream through serve's proxy, and a headless Chromium.
type browserEnv struct {
	t     *testing.T
	ctx   context.Context
	store maintenance.Store
	gate  *maintenance.Gate
	app   *shop
	url   string
	shots string
	// lie, when set, makes the status endpoint say that nothing is
	// going on, like a gate of the fleet that has already switched.
	lie atomicBool
}

type atomicBool struct {
	mu sync.Mutex
	v  bool
}

func (b *atomicBool) set(v bool) { b.mu.Lock(); b.v = v; b.mu.Unlock() }
func (b *atomicBool) get() bool  { b.mu.Lock(); defer b.mu.Unlock(); return b.v }

func newBrowserEnv(t *testing.T) (*browserEnv, context.Context) {
	if testing.Short() {
		t.Skip("SKIP: starts Chromium; not in -short mode")
	}
	chromium := testenv.Chromium(t)
	e := &browserEnv{t: t, app: &shop{counts: map[string]int{}}}
	e.shots = os.Getenv("MAINTENANCE_TEST_SCREENSHOTS")
	if e.shots == "" {
		e.shots = t.TempDir()
	} else if err := os.MkdirAll(e.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "maintenance.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e.store = store
	const host = "127.0.0.1"
	e.gate, err = maintenance.New(t.Context(), store, maintenance.Options{Sites: []string{host}, Release: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.gate.Close() })
	up := httptest.NewServer(e.app)
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	p, err := proxy.New(proxy.Options{Upstream: u})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	gated := e.gate.Handler(p)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == maintenance.StatusPath && e.lie.get() {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"site":"127.0.0.1","on":false,"reasons":[],"version":1}`)
			return
		}
		gated.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	if !strings.HasPrefix(front.URL, "http://"+host+":") {
		t.Fatalf("server at %s, want %s", front.URL, host)
	}
	e.url = front.URL

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(900, 760),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancelAlloc)
	bctx, cancelB := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelB)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	e.ctx = bctx
	return e, bctx
}

// change applies changes and waits until the gate serves them.
func (e *browserEnv) change(cs ...maintenance.Change) {
	e.t.Helper()
	for _, c := range cs {
		c.Actor = "test"
		if _, err := e.store.Update(e.ctx, c); err != nil {
			e.t.Fatal(err)
		}
	}
	st, err := e.store.Load(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.gate.WaitVersion(e.ctx, st.Version); err != nil {
		e.t.Fatal(err)
	}
}

func (e *browserEnv) do(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// within runs steps with a deadline.
func (e *browserEnv) within(ctx context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		e.t.Fatalf("%s (within %v): %v", what, d, err)
	}
}

// until evaluates a predicate every 200 ms, across navigations, until it is
// true or d has passed.
func (e *browserEnv) until(ctx context.Context, d time.Duration, what, js string) {
	e.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
	}
	e.t.Fatalf("%s: not within %v", what, d)
}

func (e *browserEnv) eval(ctx context.Context, js string) string {
	e.t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		e.t.Fatalf("evaluating %s: %v", js, err)
	}
	return s
}

func (e *browserEnv) shot(ctx context.Context, name string) {
	e.t.Helper()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		e.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(e.shots, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.t.Logf("screenshot: %s", p)
}

// TestBrowserPageNeverRepeatsAWrite drives the maintenance page in Chromium
// with a real form POST through the gate and serve's proxy to a real
// application, and counts what the application receives. The page must
// never make the browser send a POST again: not in deploy-error mode (where
// the status endpoint says "on": false from the start, since only the
// releases differ), and not when read-only mode ends. It offers a way back
// instead. A GET is reloaded when the reason it was refused is over, and the
// back-off survives reloads.
func TestBrowserPageNeverRepeatsAWrite(t *testing.T) {
	e, ctx := newBrowserEnv(t)
	const waitReady = 20 * time.Second

	// 1. Deploy-error mode: the view saves the order, then raises.
	e.app.failing = true
	e.change(maintenance.SetRelease("v2"))
	e.do(ctx, "the form", chromedp.Navigate(e.url+"/form"), chromedp.WaitVisible(chromedp.ID("buy")))
	e.do(ctx, "buy", chromedp.Click(chromedp.ID("buy")), chromedp.WaitVisible(chromedp.ID("title")))
	if got := e.eval(ctx, `document.getElementById("title").textContent`); !strings.Contains(got, "updating") {
		t.Errorf("deploy error: heading %q", got)
	}
	if got := e.eval(ctx, `document.getElementById("outcome").textContent`); !strings.Contains(got, "may have been saved") {
		t.Errorf("deploy error: outcome %q", got)
	}
	e.shot(ctx, "page-deploy-post.png")
	// The old page reloaded at its first poll (5 s), since "on" was false.
	e.do(ctx, "wait past the first poll", chromedp.Sleep(7*time.Second))
	if n := e.app.count("POST /order"); n != 1 {
		t.Fatalf("deploy error: the application received the POST %d times during the deploy, want 1", n)
	}
	// The deploy ends: the page says so, and still sends nothing.
	e.app.failing = false
	e.change(maintenance.SetRelease("v1"))
	e.within(ctx, waitReady, "ready after the deploy", chromedp.WaitVisible(chromedp.ID("ready")))
	e.shot(ctx, "page-deploy-post-ready.png")
	if n := e.app.count("POST /order"); n != 1 {
		t.Fatalf("deploy error: the application received the POST %d times, want 1", n)
	}
	// Going back lands on the form, with a GET.
	forms := e.app.count("GET /form")
	e.do(ctx, "go back", chromedp.Click(chromedp.ID("back")), chromedp.WaitVisible(chromedp.ID("buy")))
	if n := e.app.count("POST /order"); n != 1 || e.app.count("GET /form") != forms+1 {
		t.Errorf("after going back: %d POSTs, %d GETs of the form (was %d)", n, e.app.count("GET /form"), forms)
	}

	// 2. Read-only mode: the POST is refused, and not re-sent when
	// maintenance ends.
	e.change(maintenance.On(nil, maintenance.OnOptions{Mode: ptr(maintenance.ModeReadOnly)}))
	e.do(ctx, "buy, read-only", chromedp.Navigate(e.url+"/form"), chromedp.WaitVisible(chromedp.ID("buy")),
		chromedp.Click(chromedp.ID("buy")), chromedp.WaitVisible(chromedp.ID("title")))
	if got := e.eval(ctx, `document.getElementById("title").textContent`); !strings.Contains(got, "Changes are paused") {
		t.Errorf("read-only: heading %q", got)
	}
	e.shot(ctx, "page-read-only-post.png")
	e.change(maintenance.Off(nil))
	e.within(ctx, waitReady, "ready after read-only", chromedp.WaitVisible(chromedp.ID("ready")), chromedp.Sleep(2*time.Second))
	if n := e.app.count("POST /order"); n != 1 {
		t.Fatalf("read-only: the application received %d POSTs in all, want 1 (the refused one never)", n)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasSuffix(loc, "/order") {
		t.Errorf("read-only: the page went to %s by itself", loc)
	}

	// 3. A GET is reloaded once its reason is over.
	e.change(maintenance.On(nil, maintenance.OnOptions{}))
	e.do(ctx, "GET in full mode", chromedp.Navigate(e.url+"/form"), chromedp.WaitVisible(chromedp.ID("title")))
	forms = e.app.count("GET /form")
	e.change(maintenance.Off(nil))
	e.within(ctx, waitReady, "reloaded when off", chromedp.WaitVisible(chromedp.ID("buy")))
	if n := e.app.count("GET /form"); n != forms+1 {
		t.Errorf("the GET reached the application %d more times, want 1", n-forms)
	}

	// 4. The back-off survives reloads: a status that says "over" while the
	// page is still served (another gate, a cache) makes each reload wait
	// longer than the one before.
	e.change(maintenance.On(nil, maintenance.OnOptions{}))
	e.do(ctx, "clear the back-off", chromedp.Navigate(e.url+"/form"), chromedp.WaitVisible(chromedp.ID("title")))
	e.eval(ctx, `sessionStorage.clear(); ""`)
	e.do(ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("title")))
	first := e.eval(ctx, `String(JSON.parse(sessionStorage.getItem("maintenance-page-backoff")).d)`)
	e.eval(ctx, `window.marker = 1; ""`)
	e.lie.set(true)
	defer e.lie.set(false)
	// Wait for the page's own reload (the marker goes), then read the delay.
	e.until(ctx, waitReady, "the page reloads by itself", `window.marker === undefined && !!document.getElementById("title")`)
	second := e.eval(ctx, `String(JSON.parse(sessionStorage.getItem("maintenance-page-backoff")).d)`)
	if first != "5000" || second != "10000" {
		t.Errorf("back-off across a reload: %s ms, then %s ms; want 5000 then 10000", first, second)
	}
}

// TestBrowserPageScreenshots takes screenshots of the built-in page for
// each reason, in a few languages, light and dark, and checks the
// language and the page's layout (nothing wider than the window).
func TestBrowserPageScreenshots(t *testing.T) {
	e, ctx := newBrowserEnv(t)
	e.app.failing = true
	now := time.Now()
	modes := []struct {
		name    string
		changes []maintenance.Change
		post    bool
	}{
		{"full", []maintenance.Change{maintenance.On(nil, maintenance.OnOptions{Message: ptr("Back at 14:00."), RetryAfter: ptr(30 * time.Minute),
			Messages: map[string]string{"de": "Zurück um 14 Uhr.", "ja": "14時に再開します。"}})}, false},
		{"scheduled", []maintenance.Change{maintenance.Off(nil), maintenance.AddWindow("127.0.0.1", maintenance.Window{From: now.Add(-time.Minute), Until: now.Add(90 * time.Minute), Message: "Database upgrade."})}, false},
		{"read-only", []maintenance.Change{maintenance.On(nil, maintenance.OnOptions{Mode: ptr(maintenance.ModeReadOnly), RetryAfter: ptr(10 * time.Minute)})}, true},
		{"deploy", []maintenance.Change{maintenance.Off(nil), maintenance.SetRelease("v2")}, true},
	}
	langs := []struct{ header, lang, dark string }{{"en-US,en;q=0.9", "en", ""}, {"de-DE,de;q=0.9", "de", "dark"}, {"ja", "ja", ""}, {"fr", "fr", "dark"}, {"pl", "pl", ""}, {"zh-CN", "zh", "dark"}}
	for _, m := range modes {
		e.change(m.changes...)
		for _, l := range langs {
			scheme := "light"
			if l.dark != "" {
				scheme = "dark"
			}
			e.do(ctx, "emulate", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				if _, err := cdp.Call(ctx, tg, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
					UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36", AcceptLanguage: l.header}); err != nil {
					return err
				}
				_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
					Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
				return err
			}))
			if m.post {
				e.do(ctx, "post", chromedp.Navigate(e.url+"/form"), chromedp.WaitVisible(chromedp.ID("buy")),
					chromedp.Click(chromedp.ID("buy")), chromedp.WaitVisible(chromedp.ID("title")))
			} else {
				e.do(ctx, "get", chromedp.Navigate(e.url+"/"), chromedp.WaitVisible(chromedp.ID("title")))
			}
			if got := e.eval(ctx, `document.documentElement.lang`); got != l.lang {
				t.Errorf("%s, %s: lang %q", m.name, l.header, got)
			}
			if w := e.eval(ctx, `String(document.documentElement.scrollWidth > window.innerWidth)`); w != "false" {
				t.Errorf("%s, %s: the page is wider than the window", m.name, l.header)
			}
			e.shot(ctx, fmt.Sprintf("page-%s-%s-%s.png", m.name, l.lang, scheme))
		}
	}
	// A favicon and an image fetched while the site is down get the short
	// text answer, not the page.
	e.change(maintenance.SetRelease("v1"), maintenance.On(nil, maintenance.OnOptions{}))
	for _, p := range []string{"/favicon.ico", "/logo.png"} {
		js := `fetch(` + "`" + p + "`" + `).then(r => r.headers.get("Content-Type") + " " + r.status)`
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil || got != "text/plain; charset=utf-8 503" {
			t.Errorf("fetch %s: %q, %v", p, got, err)
		}
	}
}
