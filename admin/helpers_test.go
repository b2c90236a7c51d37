package admin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/admin"
	"github.com/gomaint/maintenance/internal/password"
	"github.com/gomaint/maintenance/internal/testenv"
	"github.com/gomaint/maintenance/sqlite"
)

func TestMain(m *testing.M) {
	password.Cost = 4 // bcrypt's minimum: fast tests
	os.Exit(testenv.Run(m))
}

// openStore opens a SQLite store in a temporary directory.
func openStore(t *testing.T) maintenance.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "maintenance.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// clock is a settable time for sessions and throttling.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is an admin handler on a real store, served over HTTP.
type fixture struct {
	t     *testing.T
	store maintenance.Store
	admin *admin.Admin
	srv   *httptest.Server
	clock *clock
	// token is a valid API token, named tokenID.
	token, tokenID string
}

const (
	testUser     = "alice"
	testPassword = "correct horse battery"
)

func newFixture(t *testing.T, opts admin.Options) *fixture {
	t.Helper()
	f := &fixture{t: t, store: openStore(t), clock: &clock{t: time.Now()}}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	a, err := admin.New(f.store, opts)
	if err != nil {
		t.Fatalf("admin.New: %v", err)
	}
	f.admin = a
	mux := http.NewServeMux()
	mux.Handle(admin.APIPrefix, a.Handler())
	mux.Handle(admin.PagePrefix, a.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the app\n") })
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)

	f.update(maintenance.AddSites("shop.example.com"))
	h, err := password.Hash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	f.update(maintenance.AddUser(testUser, h))
	f.token, f.tokenID = f.newToken("deploy bot")
	return f
}

// update changes the state as the test.
func (f *fixture) update(c maintenance.Change) *maintenance.State {
	f.t.Helper()
	c.Actor, c.Source = "test", "cli"
	st, err := f.store.Update(f.t.Context(), c)
	if err != nil {
		f.t.Fatalf("Update(%s): %v", c.Action, err)
	}
	return st
}

func (f *fixture) newToken(label string) (token, id string) {
	f.t.Helper()
	token, id = maintenance.NewSecret()
	f.update(maintenance.CreateToken(maintenance.Token{ID: id, Label: label, Hash: maintenance.HashSecret(token)}))
	return token, id
}

func (f *fixture) load() *maintenance.State {
	f.t.Helper()
	st, err := f.store.Load(f.t.Context())
	if err != nil {
		f.t.Fatalf("Load: %v", err)
	}
	return st
}

func (f *fixture) events() []maintenance.Event {
	f.t.Helper()
	evs, err := f.store.Events(f.t.Context(), maintenance.EventFilter{Limit: 1000})
	if err != nil {
		f.t.Fatalf("Events: %v", err)
	}
	return evs
}

// unchanged fails the test when the state or the audit log differs from
// before.
func (f *fixture) unchanged(before *maintenance.State, nEvents int) {
	f.t.Helper()
	if after := f.load(); after.Version != before.Version {
		f.t.Errorf("state version %d -> %d: something changed", before.Version, after.Version)
	}
	if n := len(f.events()); n != nEvents {
		f.t.Errorf("%d events -> %d: something was logged", nEvents, n)
	}
}

// apiResult is an API answer.
type apiResult struct {
	status int
	header http.Header
	body   []byte
}

func (r *apiResult) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// problem decodes a problem+json answer.
func (r *apiResult) problem(t *testing.T) map[string]any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, r.body)
	}
	var p map[string]any
	r.json(t, &p)
	return p
}

// api sends a request to the API with the fixture's token. body is JSON
// (a string is sent as is); hdr are header name, value pairs, and a
// "Authorization" of "" sends none.
func (f *fixture) api(method, path string, body any, hdr ...string) *apiResult {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(f.t.Context(), method, f.srv.URL+admin.APIPrefix+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return &apiResult{status: resp.StatusCode, header: resp.Header, body: b}
}

// browser is a cookie-keeping client of the admin page.
type browser struct {
	f      *fixture
	client *http.Client
	// header is sent with every request.
	header http.Header
}

func (f *fixture) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return &browser{f: f, client: &http.Client{Jar: jar}, header: http.Header{}}
}

// page is an answer of the admin page, after redirects.
type page struct {
	status int
	url    *url.URL
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values) *page {
	b.f.t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(b.f.t.Context(), method, b.f.srv.URL+path, rd)
	if err != nil {
		b.f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.f.t.Fatal(err)
	}
	return &page{status: resp.StatusCode, url: resp.Request.URL, header: resp.Header, body: string(body)}
}

func (b *browser) get(path string) *page { return b.do("GET", path, nil) }

func (b *browser) post(path string, form url.Values) *page { return b.do("POST", path, form) }

// signIn signs the browser in as the test user.
func (b *browser) signIn() {
	b.f.t.Helper()
	p := b.post(admin.PagePrefix+"login", url.Values{"user": {testUser}, "password": {testPassword}})
	if p.status != http.StatusOK || p.url.Path != admin.PagePrefix {
		b.f.t.Fatalf("sign-in: %d at %s, want 200 at %s; body:\n%s", p.status, p.url, admin.PagePrefix, p.body)
	}
}

// version is the state version, as forms carry it.
func (f *fixture) version() string {
	f.t.Helper()
	return strings.TrimSpace(jsonString(f.load().Version))
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
