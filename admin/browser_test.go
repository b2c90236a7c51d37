package admin_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/admin"
	"github.com/gomaint/maintenance/internal/password"
	"github.com/gomaint/maintenance/internal/testenv"
)

// TestBrowser drives the admin page in a real Chromium, against a gate
// that wraps a small app with the admin page mounted: the admin switches a
// site on, an anonymous visitor gets the maintenance page while the signed-in
// admin still sees the site, an ignored path added inline passes, and a
// bypass link lets a third visitor through. It saves screenshots to
// $MAINTENANCE_TEST_SCREENSHOTS (or a temporary directory); its assertions
// are on the DOM.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: starts Chromium; not in -short mode")
	}
	chromium := testenv.Chromium(t)
	shots := os.Getenv("MAINTENANCE_TEST_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	// The site is the host the browser asks for: 127.0.0.1.
	const host = "127.0.0.1"
	store := openStore(t)
	h, err := password.Hash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(t.Context(), maintenance.AddUser(testUser, h)); err != nil {
		t.Fatal(err)
	}
	gate, err := maintenance.New(t.Context(), store, maintenance.Options{Sites: []string{host}, Reserved: admin.Paths()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gate.Close() })
	a, err := admin.New(store, admin.Options{Gate: gate})
	if err != nil {
		t.Fatal(err)
	}
	app := http.NewServeMux()
	app.Handle(admin.PagePrefix, a.Handler())
	app.Handle(admin.APIPrefix, a.Handler())
	app.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>Shop</title><h1 id="app">The shop</h1>`)
	})
	app.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>Health</title><p id="health">ok</p>`)
	})
	srv := httptest.NewServer(gate.Handler(app))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://"+host+":") {
		t.Fatalf("server at %s, want %s", srv.URL, host)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
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
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	// Each visitor has a browser context of its own: its own cookies.
	adminCtx, cancelAdmin := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelAdmin()
	if err := chromedp.Do(adminCtx); err != nil { // starts the browser
		t.Fatalf("starting Chromium: %v", err)
	}
	anonCtx, cancelAnon := chromedp.NewContext(adminCtx, chromedp.WithNewBrowserContext())
	defer cancelAnon()
	guestCtx, cancelGuest := chromedp.NewContext(adminCtx, chromedp.WithNewBrowserContext())
	defer cancelGuest()

	do := func(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	shot := func(ctx context.Context, name string) {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		p := filepath.Join(shots, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
	// synced waits until the gate serves the store's current state.
	synced := func() {
		t.Helper()
		st, err := store.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := gate.WaitVersion(ctx, st.Version); err != nil {
			t.Fatal(err)
		}
	}
	sel := func(id string) string { return `[id="` + id + `"]` }

	// Sign in: the admin page sends the visitor to the sign-in form.
	do(adminCtx, "sign in",
		chromedp.Navigate(srv.URL+admin.PagePrefix),
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.ID("user"), testUser),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.ID("login-button")),
		chromedp.WaitVisible(chromedp.ID("sites")),
	)
	if got := text(adminCtx, "#user"); got != testUser {
		t.Errorf("signed in as %q", got)
	}
	do(anonCtx, "anonymous visit", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("app")))

	// Tick the site and save.
	do(adminCtx, "switch on",
		chromedp.Click(chromedp.CSS(sel("on-"+host))),
		chromedp.Click(chromedp.CSS(sel("save-"+host))),
		chromedp.WaitVisible(chromedp.ID("flash")),
	)
	// The page follows the switch: the one gate of the test serves it.
	if got := text(adminCtx, "#flash"); got != "Maintenance is on. 1/1 gates switched." {
		t.Errorf("flash %q", got)
	}
	if got := text(adminCtx, sel("state-"+host)); !strings.Contains(got, "In maintenance") {
		t.Errorf("state of the site on the list: %q", got)
	}
	checked, err := chromedp.Run(adminCtx, chromedp.Evaluate[bool](`document.getElementById("on-`+host+`").checked`))
	if err != nil || !checked {
		t.Errorf("checkbox after saving: %v, %v", checked, err)
	}
	shot(adminCtx, "admin-sites.png")
	synced()

	// The anonymous visitor gets the maintenance page; the admin, signed
	// in, still sees the site.
	do(anonCtx, "anonymous visit in maintenance", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("title")))
	if got := text(anonCtx, "#title"); !strings.Contains(got, "down for maintenance") {
		t.Errorf("maintenance page title %q", got)
	}
	shot(anonCtx, "maintenance-page.png")
	do(adminCtx, "admin visit in maintenance", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("app")))

	// Add an ignored path inline; it passes for the anonymous visitor.
	do(adminCtx, "ignore /healthz",
		chromedp.Navigate(srv.URL+admin.PagePrefix+"sites/"+host),
		chromedp.WaitVisible(chromedp.ID("ignore-add")),
		chromedp.SendKeys(chromedp.ID("ignore-pattern"), "/healthz"),
		chromedp.SendKeys(chromedp.ID("ignore-note"), "load balancer"),
		chromedp.Click(chromedp.ID("ignore-add-button")),
		chromedp.WaitVisible(chromedp.CSS(`form[data-value="/healthz"]`)),
	)
	if got := text(adminCtx, "#flash"); got != "Ignore pattern saved. 1/1 gates switched." {
		t.Errorf("flash %q", got)
	}
	// Navigate waits for the load event, which waits for the preview's frame.
	do(adminCtx, "site page", chromedp.Navigate(srv.URL+admin.PagePrefix+"sites/"+host), chromedp.WaitVisible(chromedp.ID("preview")))
	shot(adminCtx, "admin-site.png")
	synced()
	do(anonCtx, "anonymous /healthz", chromedp.Navigate(srv.URL+"/healthz"), chromedp.WaitVisible(chromedp.ID("health")))
	do(anonCtx, "anonymous / still blocked", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("title")))

	// A bypass link, opened in a third browser context, lets it in.
	do(adminCtx, "create a bypass link",
		chromedp.Navigate(srv.URL+admin.PagePrefix+"bypass"),
		chromedp.WaitVisible(chromedp.ID("bypass-create")),
		chromedp.SetValue(chromedp.ID("bypass-site"), host),
		chromedp.SendKeys(chromedp.ID("bypass-label"), "QA"),
		chromedp.Click(chromedp.ID("bypass-create-button")),
		chromedp.WaitVisible(chromedp.ID("new-link")),
	)
	link, err := chromedp.Run(adminCtx, chromedp.Value(chromedp.ID("new-link")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, srv.URL+maintenance.BypassPath) {
		t.Fatalf("bypass link %q, want %s...", link, srv.URL+maintenance.BypassPath)
	}
	shot(adminCtx, "admin-bypass.png")
	synced()
	do(guestCtx, "open the bypass link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("app")))
	loc, err := chromedp.Run(guestCtx, chromedp.Location())
	if err != nil || loc != srv.URL+"/" {
		t.Errorf("after the bypass link: at %q (%v), want %s/", loc, err, srv.URL)
	}
	do(anonCtx, "anonymous / still blocked after the link", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("title")))

	// Add a webhook on the webhooks page: a bad URL is refused beside its
	// field; then the webhook is added, its signing secret shown once, and
	// its test reaches a real receiver, signed with that secret.
	type delivery struct{ sig, body string }
	got := make(chan delivery, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- delivery{r.Header.Get("Maintenance-Signature"), string(b)}:
		default:
		}
	}))
	t.Cleanup(rcv.Close)
	do(adminCtx, "webhook with a bad URL",
		chromedp.Navigate(srv.URL+admin.PagePrefix+"webhooks"),
		chromedp.WaitVisible(chromedp.ID("webhook-add")),
		chromedp.SendKeys(chromedp.ID("webhook-url"), "ftp://hooks.example.com/x"),
		chromedp.SendKeys(chromedp.ID("webhook-events"), "on,off"),
		chromedp.SendKeys(chromedp.ID("webhook-sites"), host),
		chromedp.SetValue(chromedp.ID("webhook-format"), "slack"),
		chromedp.SendKeys(chromedp.ID("webhook-remind"), "1h,10m"),
		chromedp.SendKeys(chromedp.ID("webhook-max-duration"), "4h"),
		chromedp.Click(chromedp.ID("webhook-add-button")),
		chromedp.WaitVisible(chromedp.CSS(`#webhook-url[aria-invalid="true"]`)),
	)
	if got := text(adminCtx, "#webhook-add .field-error"); !strings.Contains(got, "the scheme is not http or https") {
		t.Errorf("field error %q", got)
	}
	shot(adminCtx, "admin-webhook-error.png")
	if st, _ := store.Load(ctx); len(st.Webhooks) != 0 {
		t.Fatalf("a webhook with a bad URL was stored: %+v", st.Webhooks)
	}
	do(adminCtx, "add a webhook",
		chromedp.SetValue(chromedp.ID("webhook-url"), rcv.URL+"/hook"),
		chromedp.SetValue(chromedp.ID("webhook-format"), "json"),
		chromedp.Click(chromedp.ID("webhook-add-button")),
		chromedp.WaitVisible(chromedp.ID("new-secret")),
	)
	secret, err := chromedp.Run(adminCtx, chromedp.Value(chromedp.ID("new-secret")))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Load(ctx)
	if err != nil || len(st.Webhooks) != 1 {
		t.Fatalf("webhooks %+v, %v", st, err)
	}
	wh := st.Webhooks[0]
	if !strings.HasPrefix(secret, "whsec_") || strings.Join(wh.Events, ",") != "off,on" || strings.Join(wh.Sites, ",") != host || wh.MaxDuration != 4*time.Hour || len(wh.Remind) != 2 {
		t.Errorf("secret %q, webhook %+v", secret, wh)
	}
	if got := text(adminCtx, "#webhook-"+wh.ID); !strings.Contains(got, "off, on") || !strings.Contains(got, "New") {
		t.Errorf("webhook row %q", got)
	}
	shot(adminCtx, "admin-webhook-added.png")
	do(adminCtx, "test the webhook",
		chromedp.Click(chromedp.ID("test-"+wh.ID)),
		chromedp.WaitVisible(chromedp.ID("webhook-test-result")),
	)
	if got := text(adminCtx, "#webhook-test-result"); got != "Webhook "+wh.ID+": test delivered." {
		t.Errorf("test result %q", got)
	}
	select {
	case d := <-got:
		ts, sig, ok := strings.Cut(strings.TrimPrefix(d.sig, "t="), ",v1=")
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "." + d.body))
		if !ok || sig != hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("signature %q does not verify with the secret shown", d.sig)
		}
	case <-ctx.Done():
		t.Fatal("the receiver got nothing")
	}
	do(adminCtx, "webhooks again", chromedp.Navigate(srv.URL+admin.PagePrefix+"webhooks"), chromedp.WaitVisible(chromedp.ID("webhook-"+wh.ID)))
	if n, err := chromedp.Run(adminCtx, chromedp.Evaluate[int](`document.querySelectorAll("#new-secret").length + (document.body.innerHTML.includes(`+"`"+secret+"`"+`) ? 1 : 0)`)); err != nil || n != 0 {
		t.Errorf("the secret is shown again (%d, %v)", n, err)
	}
	// The audit log shows it all.
	do(adminCtx, "audit log", chromedp.Navigate(srv.URL+admin.PagePrefix+"log"), chromedp.WaitVisible(chromedp.ID("events")))
	log := text(adminCtx, "#events")
	for _, want := range []string{"webhook add", "bypass create", "+ignore /healthz", "off -> on (full)"} {
		if !strings.Contains(log, want) {
			t.Errorf("audit log lacks %q:\n%s", want, log)
		}
	}
	shot(adminCtx, "admin-log.png")

	// The same page at 3 a.m.: dark.
	dark := chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return chromedp.Void{}, err
	})
	do(adminCtx, "dark sites", dark, chromedp.Navigate(srv.URL+admin.PagePrefix), chromedp.WaitVisible(chromedp.ID("sites")))
	shot(adminCtx, "admin-sites-dark.png")
}
