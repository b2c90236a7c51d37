package admin_test

import (
	"fmt"
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/admin"
	"github.com/gomaint/maintenance/internal/password"
	"github.com/gomaint/maintenance/internal/state"
)

const testSite = "shop.example.com"

var sitePath = admin.PagePrefix + "sites/" + testSite

// has fails the test when the page does not contain each of want, as
// HTML or as text.
func (p *page) has(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(p.body, w) && !strings.Contains(html.UnescapeString(p.body), w) {
			t.Errorf("page %s (%d) does not contain %q", p.url, p.status, w)
		}
	}
}

func (p *page) lacks(t *testing.T, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(p.body, w) || strings.Contains(html.UnescapeString(p.body), w) {
			t.Errorf("page %s (%d) contains %q", p.url, p.status, w)
		}
	}
}

func TestSignInOut(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	p := b.get(admin.PagePrefix + "log?site=" + testSite)
	if p.status != http.StatusOK || p.url.Path != admin.PagePrefix+"login" || p.url.Query().Get("next") != admin.PagePrefix+"log?site="+testSite {
		t.Fatalf("signed out: %d at %s, want the sign-in page coming back to the log", p.status, p.url)
	}
	p.has(t, `id="login"`, `name="user"`, `name="password"`)

	// A wrong password, and an unknown user: the same answer.
	for _, user := range []string{testUser, "mallory"} {
		p = b.post(admin.PagePrefix+"login", url.Values{"user": {user}, "password": {"wrong password"}})
		if p.status != http.StatusUnauthorized {
			t.Errorf("wrong password for %s: %d, want 401", user, p.status)
		}
		p.has(t, "Wrong user name or password.", `value="`+user+`"`)
	}

	// The cookie a sign-in sets.
	noFollow := *b.client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.PostForm(f.srv.URL+admin.PagePrefix+"login", url.Values{
		"user": {testUser}, "password": {testPassword}, "next": {admin.PagePrefix + "log?site=" + testSite}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != admin.PagePrefix+"log?site="+testSite {
		t.Errorf("sign-in: %d to %q, want 303 to the log", resp.StatusCode, resp.Header.Get("Location"))
	}
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == maintenance.SessionCookie {
			c = k
		}
	}
	if c == nil {
		t.Fatalf("no %s cookie in %v", maintenance.SessionCookie, resp.Header["Set-Cookie"])
	}
	if c.Path != "/" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.MaxAge != int((12*time.Hour).Seconds()) {
		t.Errorf("cookie %+v: want Path=/, HttpOnly, SameSite=Lax, not Secure over plain HTTP, 12h", c)
	}
	key, err := f.store.Key(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := state.VerifySession(key, f.load(), c.Value, time.Now()); !ok || u.Name != testUser {
		t.Errorf("the cookie is not a session of %s that the gate accepts", testUser)
	}

	// Signed in, the pages show; signing in again goes to the page.
	p = b.get(admin.PagePrefix)
	if p.status != http.StatusOK || p.url.Path != admin.PagePrefix {
		t.Fatalf("signed in: %d at %s", p.status, p.url)
	}
	p.has(t, `id="user">alice<`, `id="on-shop.example.com"`)
	if p = b.get(admin.PagePrefix + "login"); p.url.Path != admin.PagePrefix {
		t.Errorf("sign-in page when signed in: at %s, want the sites", p.url)
	}
	// Sign-out is a POST that expires the cookie.
	if p = b.get(admin.PagePrefix + "logout"); p.status != http.StatusMethodNotAllowed || p.header.Get("Allow") != "POST" {
		t.Errorf("GET logout: %d, Allow %q; want 405, POST", p.status, p.header.Get("Allow"))
	}
	p = b.post(admin.PagePrefix+"logout", url.Values{})
	if p.url.Path != admin.PagePrefix+"login" {
		t.Errorf("after sign-out: at %s", p.url)
	}
	p.has(t, "Signed out.")
	if p = b.get(admin.PagePrefix); p.url.Path != admin.PagePrefix+"login" {
		t.Errorf("after sign-out, the sites: at %s, want the sign-in page", p.url)
	}

	// A session ends with its TTL, and with its user.
	b.signIn()
	f.clock.Add(12*time.Hour + time.Second)
	if p = b.get(admin.PagePrefix); p.url.Path != admin.PagePrefix+"login" {
		t.Errorf("after 12h: at %s, want the sign-in page", p.url)
	}
	b.signIn()
	f.update(maintenance.RemoveUser(testUser))
	if p = b.get(admin.PagePrefix); p.url.Path != admin.PagePrefix+"login" {
		t.Errorf("after the user's removal: at %s, want the sign-in page", p.url)
	}
}

func TestSecureCookies(t *testing.T) {
	f := newFixture(t, admin.Options{SecureCookies: true, SessionTTL: time.Hour})
	b := f.browser()
	b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := b.client.PostForm(f.srv.URL+admin.PagePrefix+"login", url.Values{"user": {testUser}, "password": {testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cs := resp.Cookies()
	if len(cs) != 1 || !cs[0].Secure || cs[0].MaxAge != 3600 {
		t.Errorf("cookies %+v, want one Secure cookie for 1h", cs)
	}
}

func TestSignInThrottle(t *testing.T) {
	// The client address comes from a header here, to play several clients.
	f := newFixture(t, admin.Options{ClientIP: func(r *http.Request) netip.Addr {
		a, _ := netip.ParseAddr(r.Header.Get("X-Test-IP"))
		return a
	}})
	from := func(ip string) *browser {
		b := f.browser()
		b.header.Set("X-Test-IP", ip)
		return b
	}
	attacker := from("203.0.113.1")
	for i := range admin.MaxFailures {
		if p := attacker.post(admin.PagePrefix+"login", url.Values{"user": {testUser}, "password": {fmt.Sprint("guess", i)}}); p.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, p.status)
		}
	}
	// The right password is refused too now, for this address and for this
	// user from anywhere.
	for _, tc := range []struct {
		name, ip, user, pw string
	}{
		{"same address, same user", "203.0.113.1", testUser, testPassword},
		{"same user, another address", "198.51.100.9", testUser, testPassword},
		{"same address, another user", "203.0.113.1", "bob", "whatever1"},
	} {
		p := from(tc.ip).post(admin.PagePrefix+"login", url.Values{"user": {tc.user}, "password": {tc.pw}})
		if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "900" {
			t.Errorf("%s: %d, Retry-After %q; want 429, 900", tc.name, p.status, p.header.Get("Retry-After"))
		}
		p.has(t, "too many failed sign-ins; try again in 15m0s")
	}
	// Another user from another address is not affected.
	h, err := password.Hash("bob's password")
	if err != nil {
		t.Fatal(err)
	}
	f.update(maintenance.AddUser("bob", h))
	if p := from("198.51.100.9").post(admin.PagePrefix+"login", url.Values{"user": {"bob"}, "password": {"bob's password"}}); p.url.Path != admin.PagePrefix {
		t.Errorf("bob from elsewhere: %d at %s, want signed in", p.status, p.url)
	}
	// The window slides: 10 minutes on, still refused; 15 minutes after the
	// failures, let through.
	f.clock.Add(10 * time.Minute)
	if p := from("198.51.100.9").post(admin.PagePrefix+"login", url.Values{"user": {testUser}, "password": {testPassword}}); p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "300" {
		t.Errorf("after 10 minutes: %d, Retry-After %q; want 429, 300", p.status, p.header.Get("Retry-After"))
	}
	f.clock.Add(5 * time.Minute)
	if p := attacker.post(admin.PagePrefix+"login", url.Values{"user": {testUser}, "password": {testPassword}}); p.url.Path != admin.PagePrefix {
		t.Errorf("after 15 minutes: %d at %s, want signed in", p.status, p.url)
	}
}

func TestToggleSite(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	p := b.get(admin.PagePrefix)
	p.has(t, `<input type="checkbox" class="toggle" name="on" value="1" id="on-shop.example.com"  aria-describedby`)

	p = b.post(sitePath+"/switch", url.Values{"on": {"1"}, "view": {"list"}, "version": {f.version()}})
	if p.status != http.StatusOK || p.url.Path != admin.PagePrefix {
		t.Fatalf("switch on: %d at %s", p.status, p.url)
	}
	p.has(t, "Maintenance is on.", `id="on-shop.example.com" checked`, "In maintenance")
	s := f.load().Site(testSite)
	if !s.On || s.ChangedBy != testUser {
		t.Errorf("site %+v: want on, by %s", s, testUser)
	}
	if e := f.events()[0]; e.Action != "on" || e.Actor != testUser || e.Source != "admin" || e.Site != testSite {
		t.Errorf("event %+v", e)
	}
	// Saving it unchanged changes nothing.
	v := f.load().Version
	b.post(sitePath+"/switch", url.Values{"on": {"1"}, "view": {"list"}, "version": {f.version()}})
	if f.load().Version != v {
		t.Error("saving a ticked site again changed the state")
	}
	p = b.post(sitePath+"/switch", url.Values{"view": {"list"}, "version": {f.version()}})
	p.has(t, "Maintenance is off.")
	if f.load().Site(testSite).On {
		t.Error("unticked site still on")
	}

	// Every site at once.
	b.post(admin.PagePrefix+"switch", url.Values{"on": {"1"}, "message": {"all down"}, "version": {f.version()}})
	for _, s := range f.load().Sites {
		if !s.On || s.Message != "all down" {
			t.Errorf("all on: %+v", s)
		}
	}
	b.post(admin.PagePrefix+"switch", url.Values{"on": {"0"}, "version": {f.version()}})
	for _, s := range f.load().Sites {
		if s.On {
			t.Errorf("all off: %s still on", s.Site)
		}
	}
}

func TestSitePageSwitch(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	p := b.get(sitePath)
	p.has(t, `id="switch"`, `id="message"`, `id="mode"`, `id="until"`, `id="ignore-add"`, `id="allow-add"`, `id="preview"`)
	form := url.Values{"view": {"site"}, "on": {"1"}, "message": {"Back <soon>"}, "messages": {"de: Bald zurück\r\n\r\npt-br: De volta logo\r\n"}, "mode": {"read-only"}, "for": {"2h"},
		"reason": {"upgrade"}, "status": {""}, "retry_after": {"30m"}, "redirect": {""}, "from": {""}, "until": {""}, "version": {f.version()}}
	p = b.post(sitePath+"/switch", form)
	if p.status != http.StatusOK || p.url.Path != sitePath {
		t.Fatalf("switch on: %d at %s\n%s", p.status, p.url, p.body)
	}
	p.has(t, "Maintenance is on.", "Back &lt;soon&gt;")
	s := f.load().Site(testSite)
	if !s.On || s.Message != "Back <soon>" || s.Mode != maintenance.ModeReadOnly || s.Reason != "upgrade" ||
		s.RetryAfter != 30*time.Minute || time.Until(s.Until) < 110*time.Minute || len(s.Messages) != 2 || s.Messages["pt-BR"] != "De volta logo" {
		t.Errorf("site %+v", s)
	}
	p.has(t, ">de: Bald zurück\npt-BR: De volta logo\n</textarea>")
	// The form shows the saved values, and saving it unchanged keeps the end.
	p.has(t, `value="`+s.Until.Format(time.RFC3339)+`"`, `<option value="read-only" selected>`, `value="30m"`)
	until := s.Until

	// Invalid input: 422, the error beside the field, the input kept, and
	// nothing changed.
	for _, tc := range []struct{ field, value, want string }{
		{"until", "2000-01-01 00:00", "is in the past"},
		{"until", "soon", "is not a time"},
		{"status", "302", "status 302"},
		{"mode", "sideways", "mode &#34;sideways&#34;"},
		{"retry_after", "1000h", "retry-after"},
		{"messages", "deutsch: x", "language &#34;deutsch&#34;"},
		{"messages", "de Bald zurück", "one message per line"},
		{"messages", "de: a\nDE: b", "given twice"},
	} {
		t.Run(tc.field+" "+tc.value, func(t *testing.T) {
			before, n := f.load(), len(f.events())
			bad := url.Values{}
			for k, v := range form {
				bad[k] = v
			}
			bad.Set("for", "")
			bad.Set("message", "my new message")
			bad.Set("version", f.version())
			bad.Set(tc.field, tc.value)
			p := b.post(sitePath+"/switch", bad)
			if p.status != http.StatusUnprocessableEntity {
				t.Errorf("%d, want 422", p.status)
			}
			p.has(t, "Nothing was saved", tc.want, ">my new message</textarea>")
			if tc.field != "mode" && tc.field != "messages" {
				p.has(t, `id="`+tc.field+`" name="`+tc.field+`"`, `value="`+html.EscapeString(tc.value)+`" aria-invalid="true"`)
			}
			f.unchanged(before, n)
		})
	}
	if !f.load().Site(testSite).Until.Equal(until) {
		t.Error("the end moved")
	}
	p = b.post(sitePath+"/switch", url.Values{"view": {"site"}, "version": {f.version()}, "message": {"x"}})
	p.has(t, "Maintenance is off.")
	if f.load().Site(testSite).On {
		t.Error("still on")
	}
}

func TestRulesInline(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	p := b.post(sitePath+"/ignore", url.Values{"pattern": {"/healthz"}, "note": {"load balancer"}, "version": {f.version()}})
	if p.status != http.StatusOK || p.url.Path != sitePath {
		t.Fatalf("add: %d at %s", p.status, p.url)
	}
	p.has(t, "Ignore pattern saved.", `data-value="/healthz"`, `value="load balancer"`)
	if r := f.load().Site(testSite).Ignore; len(r) != 1 || r[0] != (maintenance.Rule{Value: "/healthz", Note: "load balancer"}) {
		t.Errorf("ignore %+v", r)
	}
	if e := f.events()[0]; e.Action != "ignore add" || e.Actor != testUser || e.Source != "admin" {
		t.Errorf("event %+v", e)
	}
	// Edit the note inline.
	b.post(sitePath+"/ignore", url.Values{"row": {"1"}, "pattern": {"/healthz"}, "note": {"LB checks"}, "version": {f.version()}})
	if r := f.load().Site(testSite).Ignore; len(r) != 1 || r[0].Note != "LB checks" {
		t.Errorf("after the note edit: %+v", r)
	}
	// A bad pattern: the message beside the field, the input kept.
	before, n := f.load(), len(f.events())
	p = b.post(sitePath+"/ignore", url.Values{"pattern": {"healthz"}, "note": {"my note"}, "version": {f.version()}})
	if p.status != http.StatusUnprocessableEntity {
		t.Errorf("bad pattern: %d", p.status)
	}
	p.has(t, `id="ignore-pattern-error"`, "accepted: /exact/path", `value="healthz" autocapitalize`, `value="my note"`)
	f.unchanged(before, n)
	p = b.post(sitePath+"/ignore/remove", url.Values{"row": {"1"}, "pattern": {"/healthz"}, "note": {"LB checks"}, "version": {f.version()}})
	p.has(t, "Ignore pattern removed.", `id="ignore-empty"`)
	if r := f.load().Site(testSite).Ignore; len(r) != 0 {
		t.Errorf("after remove: %+v", r)
	}

	p = b.post(sitePath+"/allow", url.Values{"entry": {"10.0.0.0/8"}, "note": {"office"}, "version": {f.version()}})
	p.has(t, "Allow entry saved.", `data-value="10.0.0.0/8"`)
	p = b.post(sitePath+"/allow", url.Values{"entry": {"10.0.0.1/8"}, "version": {f.version()}})
	if p.status != http.StatusUnprocessableEntity {
		t.Errorf("bad entry: %d", p.status)
	}
	p.has(t, `id="allow-entry-error"`, "did you mean 10.0.0.0/8?")
	p = b.post(sitePath+"/allow/remove", url.Values{"entry": {"10.0.0.0/8"}, "version": {f.version()}})
	p.has(t, "Allow entry removed.")
	if r := f.load().Site(testSite).Allow; len(r) != 0 {
		t.Errorf("after remove: %+v", r)
	}

	// Windows.
	from := time.Now().Add(24 * time.Hour).UTC().Format("2006-01-02 15:04")
	p = b.get(sitePath)
	p.has(t, `id="window-messages" name="messages"`)
	// Translated messages, one "lang: text" per line as in the switch form;
	// bad lines are refused beside the field, the input kept, nothing saved.
	for _, tc := range []struct{ value, want string }{
		{"deutsch: x", "language &#34;deutsch&#34;"},
		{"de Bald zurück", "one message per line"},
		{"de: a\nDE: b", "given twice"},
	} {
		before, n := f.load(), len(f.events())
		p = b.post(sitePath+"/schedule", url.Values{"from": {from}, "for": {"1h"}, "mode": {"full"}, "message": {"planned"}, "messages": {tc.value}, "version": {f.version()}})
		if p.status != http.StatusUnprocessableEntity {
			t.Errorf("window messages %q: %d, want 422", tc.value, p.status)
		}
		p.has(t, "Nothing was saved", tc.want, `id="window-messages" name="messages" rows="2" placeholder="de: Zurück um 14 Uhr" aria-invalid="true">`+html.EscapeString(tc.value)+`</textarea>`, `value="planned"`)
		f.unchanged(before, n)
	}
	p = b.post(sitePath+"/schedule", url.Values{"from": {from}, "for": {"1h"}, "mode": {"full"}, "message": {"planned"},
		"messages": {"de: Geplante Wartung\r\n\r\npt-br: Manutenção planejada\r\n"}, "version": {f.version()}})
	p.has(t, "Window scheduled.", `id="window-1"`, `id="window-langs-1"`, "de: Geplante Wartung;", "pt-BR: Manutenção planejada;")
	if w := f.load().Site(testSite).Schedule; len(w) != 1 || len(w[0].Messages) != 2 || w[0].Messages["de"] != "Geplante Wartung" || w[0].Messages["pt-BR"] != "Manutenção planejada" {
		t.Errorf("window %+v: want its messages in de and pt-BR", w)
	}
	p = b.post(sitePath+"/schedule/1/remove", url.Values{"version": {f.version()}})
	p.has(t, "Window removed.")
	if w := f.load().Site(testSite).Schedule; len(w) != 0 {
		t.Errorf("windows %+v", w)
	}
}

func TestSitesDeclareRemove(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	p := b.post(admin.PagePrefix+"sites", url.Values{"site": {"Blog.Example.com"}, "version": {f.version()}})
	if p.url.Path != admin.PagePrefix+"sites/blog.example.com" {
		t.Fatalf("declare: at %s", p.url)
	}
	p.has(t, "Site declared.")
	p = b.post(admin.PagePrefix+"sites", url.Values{"site": {"not a host"}, "version": {f.version()}})
	if p.status != http.StatusUnprocessableEntity {
		t.Errorf("bad site: %d", p.status)
	}
	p.has(t, `value="not a host"`, "aria-invalid")
	p = b.post(admin.PagePrefix+"sites/blog.example.com/remove", url.Values{"version": {f.version()}})
	p.has(t, "Site removed.")
	if f.load().Site("blog.example.com") != nil {
		t.Error("still declared")
	}
	if p = b.get(admin.PagePrefix + "sites/blog.example.com"); p.status != http.StatusNotFound {
		t.Errorf("removed site's page: %d", p.status)
	}
}

var newLinkRE = regexp.MustCompile(`id="new-link" class="mono grow" readonly value="([^"]+)"`)

func TestBypassLinks(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	p := b.get(admin.PagePrefix + "bypass")
	p.has(t, `id="bypass-create"`, `id="no-links"`)
	p = b.post(admin.PagePrefix+"bypass", url.Values{"site": {testSite}, "label": {"QA: Dana"}, "ttl": {"2h"}, "version": {f.version()}})
	if p.status != http.StatusCreated {
		t.Fatalf("create: %d\n%s", p.status, p.body)
	}
	m := newLinkRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no new link on the page:\n%s", p.body)
	}
	link := m[1]
	prefix := "http://" + testSite + maintenance.BypassPath
	if !strings.HasPrefix(link, prefix) {
		t.Fatalf("link %q, want %s...", link, prefix)
	}
	secret := strings.TrimPrefix(link, prefix)
	st := f.load()
	if len(st.Links) != 1 || st.Links[0].Hash != maintenance.HashSecret(secret) || st.Links[0].CreatedBy != testUser || st.Links[0].Label != "QA: Dana" {
		t.Fatalf("links %+v", st.Links)
	}
	id := st.Links[0].ID
	p.has(t, `data-copy="new-link"`, `id="link-`+id+`"`, "QA: Dana")
	// Shown once.
	p = b.get(admin.PagePrefix + "bypass")
	p.lacks(t, secret, `id="new-link"`)
	p.has(t, `id="link-`+id+`"`, `id="uses-`+id+`">0<`)
	if err := f.store.CountUses(t.Context(), map[string]int64{id: 7}); err != nil {
		t.Fatal(err)
	}
	b.get(admin.PagePrefix+"bypass").has(t, `id="uses-`+id+`">7<`)
	// A bad TTL keeps the input.
	p = b.post(admin.PagePrefix+"bypass", url.Values{"site": {testSite}, "label": {"x"}, "ttl": {"100d"}, "version": {f.version()}})
	if p.status != http.StatusUnprocessableEntity {
		t.Errorf("bad ttl: %d", p.status)
	}
	p.has(t, `value="100d"`)
	p = b.post(admin.PagePrefix+"bypass/"+id+"/revoke", url.Values{"version": {f.version()}})
	p.has(t, "Bypass link revoked.", `id="no-links"`)
	if l := f.load().Links; len(l) != 0 {
		t.Errorf("links after revoke: %+v", l)
	}
	// A link for * is for the host the page was reached by.
	p = b.post(admin.PagePrefix+"bypass", url.Values{"site": {"*"}, "version": {f.version()}})
	if m := newLinkRE.FindStringSubmatch(p.body); m == nil || !strings.HasPrefix(m[1], f.srv.URL+maintenance.BypassPath) {
		t.Errorf("link for *: %v", m)
	}
}

func TestLogPage(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	for i := range 3 {
		b.post(sitePath+"/ignore", url.Values{"pattern": {fmt.Sprintf("/p%d", i)}})
	}
	b.post(sitePath+"/switch", url.Values{"on": {"1"}, "view": {"list"}, "reason": {"night work"}})
	p := b.get(admin.PagePrefix + "log")
	p.has(t, `id="events"`, "+ignore /p2", "off -&gt; on (full)", "night work", `<td>alice</td>`, `<td>admin</td>`, "token create")

	p = b.get(admin.PagePrefix + "log?action=ignore+add&site=" + testSite + "&limit=2")
	p.has(t, "+ignore /p2", "+ignore /p1", `id="older"`, `<option value="ignore add" selected>`)
	p.lacks(t, "+ignore /p0", "off -&gt; on")
	m := regexp.MustCompile(`id="older"|href="([^"]+)" id="older"`).FindStringSubmatch(p.body)
	if m == nil || m[1] == "" {
		t.Fatal("no link to older events")
	}
	p = b.get(html.UnescapeString(m[1]))
	p.has(t, "+ignore /p0", `id="newest"`)
	p.lacks(t, "+ignore /p1", `id="older"`)

	p = b.get(admin.PagePrefix + "log?actor=nobody")
	p.has(t, `id="no-events"`, "match these filters")
	p = b.get(admin.PagePrefix + "log?site=bad_site")
	if p.status != http.StatusUnprocessableEntity {
		t.Errorf("bad site filter: %d", p.status)
	}
	p.has(t, `value="bad_site"`)
}

func TestStaleForm(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	stale := f.version()
	f.update(maintenance.AddIgnore("", "/other", "someone else"))
	before, n := f.load(), len(f.events())
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{sitePath + "/switch", url.Values{"on": {"1"}, "view": {"list"}}},
		{sitePath + "/switch", url.Values{"on": {"1"}, "view": {"site"}, "message": {"mine"}}},
		{sitePath + "/ignore", url.Values{"pattern": {"/mine"}, "note": {"my note"}}},
		{admin.PagePrefix + "bypass", url.Values{"site": {"*"}, "label": {"mine"}}},
	} {
		tc.form.Set("version", stale)
		p := b.post(tc.path, tc.form)
		if p.status != http.StatusPreconditionFailed {
			t.Errorf("%s: %d, want 412", tc.path, p.status)
		}
		p.has(t, "changed by someone else meanwhile", "Reload the page", `name="version" value="`+stale+`"`)
		for _, v := range tc.form {
			if v[0] != "1" && v[0] != "list" && v[0] != "site" && v[0] != "*" {
				p.has(t, html.EscapeString(v[0]))
			}
		}
	}
	f.unchanged(before, n)
}

func TestPageCrossOrigin(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	before, n := f.load(), len(f.events())
	for _, h := range [][2]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
		b.header = http.Header{}
		b.header.Set(h[0], h[1])
		p := b.post(sitePath+"/switch", url.Values{"on": {"1"}, "view": {"list"}})
		if p.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", h[0], p.status)
		}
		p.has(t, "Cross-origin request refused")
		if p := b.post(admin.PagePrefix+"login", url.Values{"user": {testUser}, "password": {testPassword}}); p.status != http.StatusForbidden {
			t.Errorf("cross-origin sign-in with %s: %d, want 403", h[0], p.status)
		}
	}
	f.unchanged(before, n)
}

func TestPageHeaders(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	for _, path := range []string{admin.PagePrefix + "login", admin.PagePrefix + "nothing"} {
		p := b.get(path)
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "same-origin",
			"Cache-Control":          "no-store",
		} {
			if got := p.header.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", path, k, got, want)
			}
		}
		csp := p.header.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'self'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, d)
			}
		}
		if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " onclick=") || strings.Contains(p.body, " style=") {
			t.Errorf("%s: inline script or style, which the CSP forbids", path)
		}
	}
	if p := b.get(admin.PagePrefix + "nothing"); p.status != http.StatusNotFound {
		t.Errorf("unknown page: %d", p.status)
	}
	p := b.get(admin.PagePrefix + "static/admin.css")
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/css") {
		t.Errorf("admin.css: %d %q", p.status, p.header.Get("Content-Type"))
	}
}

func TestPreview(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	p := b.get(sitePath + "/preview")
	p.has(t, `id="no-preview"`)

	gate, err := maintenance.New(t.Context(), f.store, maintenance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	a, err := admin.New(f.store, admin.Options{Gate: gate})
	if err != nil {
		t.Fatal(err)
	}
	st := f.update(maintenance.On([]string{testSite}, maintenance.OnOptions{Message: ptr("Back <at> 14:00")}))
	if err := gate.WaitVersion(t.Context(), st.Version); err != nil {
		t.Fatal(err)
	}
	f.srv.Config.Handler = a.Handler()
	p = b.get(sitePath + "/preview")
	if p.status != http.StatusServiceUnavailable {
		t.Errorf("preview: %d, want the maintenance answer's 503", p.status)
	}
	p.has(t, "Back &lt;at&gt; 14:00")
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
		t.Errorf("preview CSP %q, want a sandbox", csp)
	}
	if p = b.get(admin.PagePrefix + "sites/none.example.com/preview"); p.status != http.StatusNotFound {
		t.Errorf("preview of an undeclared site: %d", p.status)
	}
}

func ptr[T any](v T) *T { return &v }

func TestFleetAndWindowNotes(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	b.get(admin.PagePrefix).lacks(t, `id="gates"`)
	v := f.load().Version
	now := time.Now()
	for _, g := range []maintenance.GateInfo{
		{ID: "web-1", Host: "web-1", Version: v, Started: now, LastSeen: now},
		{ID: "web-2", Host: "web-2", Version: v - 1, Started: now, LastSeen: now, StoreError: "connection refused"},
	} {
		if err := f.store.Heartbeat(t.Context(), g); err != nil {
			t.Fatal(err)
		}
	}
	b.get(admin.PagePrefix).has(t, `id="gates"`, "1/2 gates", "the others have not followed yet", "1 cannot reach the store")

	// A window in progress keeps a site that is not switched on down.
	f.update(maintenance.AddWindow(testSite, maintenance.Window{From: now.Add(-time.Minute), Until: now.Add(time.Hour), Message: "planned"}))
	p := b.get(admin.PagePrefix)
	p.has(t, `id="on-shop.example.com" checked`, "In maintenance", "planned")
	p = b.get(sitePath)
	p.has(t, `id="window-note"`, "A scheduled window is in progress")
	// Saving the list's row unchanged keeps the window.
	b.post(sitePath+"/switch", url.Values{"on": {"1"}, "view": {"list"}, "version": {f.version()}})
	if s := f.load().Site(testSite); s.On || len(s.Schedule) != 1 {
		t.Errorf("after saving the ticked row: %+v, want the window and no switch", s)
	}
}
