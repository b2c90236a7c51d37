package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/admin"
	"github.com/gomaint/maintenance/internal/password"
	"github.com/gomaint/maintenance/internal/testenv"
)

// TestBrowserStoredPage: a page kept in the store (maintenance page set)
// is served by the gate with its stylesheet and image, which a real
// Chromium loads from /_maintenance/assets/ while the site is in
// maintenance, and the admin page's preview shows it styled the same way.
func TestBrowserStoredPage(t *testing.T) {
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
	const host = "127.0.0.1"
	store := openStore(t)
	h, err := password.Hash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"503.html":             `<!doctype html><title>Fleet</title><link rel="stylesheet" href="/_maintenance/assets/css/fleet.css"><h1 id="fleet">{{.Message}}</h1><img id="logo" src="/_maintenance/assets/logo.svg" width="40" height="40">`,
		"assets/css/fleet.css": `#fleet { color: rgb(0, 128, 128); font-family: serif }`,
		"assets/logo.svg":      `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="teal"/></svg>`,
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	page, err := maintenance.ReadPageDir(dir, "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []maintenance.Change{maintenance.AddUser(testUser, h), maintenance.AddSites(host), maintenance.SetPage(page),
		maintenance.On([]string{host}, maintenance.OnOptions{Message: ptr("Styled from the store")})} {
		c.Actor = "test"
		if _, err := store.Update(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	gate, err := maintenance.New(t.Context(), store, maintenance.Options{Reserved: admin.Paths()})
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
	app.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("the app")) })
	srv := httptest.NewServer(gate.Handler(app))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(800, 600),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	bctx, cancelB := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelB()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	styled := func(what string) {
		t.Helper()
		color, err := chromedp.Run(bctx, chromedp.Evaluate[string](`getComputedStyle(document.getElementById("fleet")).color`))
		if err != nil || color != "rgb(0, 128, 128)" {
			t.Errorf("%s: heading color %q (%v), want the stored stylesheet's rgb(0, 128, 128)", what, color, err)
		}
		w, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.getElementById("logo").naturalWidth`))
		if err != nil || w != 40 {
			t.Errorf("%s: logo natural width %d (%v), want 40: the stored image did not load", what, w, err)
		}
		b, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err == nil {
			name := strings.ReplaceAll(what, " ", "-") + ".png"
			os.WriteFile(filepath.Join(shots, name), b, 0o644)
			t.Logf("screenshot: %s", filepath.Join(shots, name))
		}
	}
	do("visit in maintenance", chromedp.Navigate(srv.URL+"/cart"), chromedp.WaitVisible(chromedp.ID("fleet")))
	styled("stored page")
	do("sign in",
		chromedp.Navigate(srv.URL+admin.PagePrefix),
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.ID("user"), testUser),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.ID("login-button")),
		chromedp.WaitVisible(chromedp.ID("sites")),
	)
	do("preview", chromedp.Navigate(srv.URL+admin.PagePrefix+"sites/"+host+"/preview"), chromedp.WaitVisible(chromedp.ID("fleet")))
	styled("stored page preview")
}
