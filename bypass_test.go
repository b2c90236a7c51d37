package maintenance

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// authState returns a state with shop.example.com on, two bypass links
// (one for shop, one for every site), one for blog.example.com, and a user.
func authState(t *testing.T) (st *State, secrets map[string]string) {
	t.Helper()
	secrets = map[string]string{}
	link := func(site, label string) Change {
		s, id := NewSecret()
		secrets[label] = s
		secrets[label+".id"] = id
		return CreateBypass(BypassLink{ID: id, Site: site, Label: label, Hash: HashSecret(s)}, time.Hour)
	}
	st = stateOf(t,
		AddSites("shop.example.com", "blog.example.com"),
		On([]string{"shop.example.com", "blog.example.com"}, OnOptions{}),
		link("shop.example.com", "shop"),
		link("*", "all"),
		link("blog.example.com", "blog"),
		AddUser("alice", "$2a$04$abcdefghijklmnopqrstuv"),
	)
	return st, secrets
}

func bypassGate(t *testing.T, st *State, opts Options) (*Gate, []byte) {
	g := testGate(t, st, opts)
	key := newKey()
	g.key.Store(&key)
	return g, key
}

func TestBypassHeader(t *testing.T) {
	st, sec := authState(t)
	g, _ := bypassGate(t, st, Options{})
	h := g.Handler(upstream)
	for _, tc := range []struct {
		name, host, secret string
		want               int
	}{
		{"own site", "shop.example.com", sec["shop"], 200},
		{"every site", "shop.example.com", sec["all"], 200},
		{"every site, other host", "blog.example.com", sec["all"], 200},
		{"other site's link", "shop.example.com", sec["blog"], 503},
		{"unknown secret", "shop.example.com", "nope", 503},
		{"empty", "shop.example.com", "", 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(h, req{host: tc.host, header: map[string]string{BypassHeader: tc.secret}})
			if w.Code != tc.want {
				t.Errorf("status %d, want %d", w.Code, tc.want)
			}
		})
	}
	if n := g.uses.n[sec["shop.id"]].Load(); n != 1 {
		t.Errorf("shop link used %d times, want 1", n)
	}
	if n := g.uses.n[sec["all.id"]].Load(); n != 2 {
		t.Errorf("all link used %d times, want 2", n)
	}
}

// visit opens a bypass link and returns the response.
func visit(h http.Handler, host, secret string) *httptest.ResponseRecorder {
	return do(h, req{host: host, path: BypassPath + secret})
}

func bypassCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == BypassCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", BypassCookie, w.Header()["Set-Cookie"])
	return nil
}

func TestBypassLinkSetsCookie(t *testing.T) {
	st, sec := authState(t)
	g, _ := bypassGate(t, st, Options{})
	h := g.Handler(upstream)

	w := visit(h, "shop.example.com", sec["shop"])
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("visit: %d %q, want 303 to /", w.Code, w.Header().Get("Location"))
	}
	if got := w.Header().Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q", got)
	}
	c := bypassCookie(t, w)
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie attributes: %+v", c)
	}
	if d := time.Until(c.Expires); d < 59*time.Minute || d > time.Hour {
		t.Errorf("cookie expires in %s, want the link's hour", d)
	}
	with := func(value string) int {
		return do(h, req{host: "shop.example.com", header: map[string]string{"Cookie": "a=b; " + BypassCookie + "=" + value}}).Code
	}
	if code := with(c.Value); code != 200 {
		t.Errorf("with the cookie: %d, want 200", code)
	}
	// Tampering with any part fails.
	parts := strings.Split(c.Value, ".")
	for i, bad := range []string{
		"ffffffff." + parts[1] + "." + parts[2],
		parts[0] + "." + "9999999999" + "." + parts[2],
		parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		parts[0] + "." + parts[1],
		"",
	} {
		if code := with(bad); code != 503 {
			t.Errorf("tampered cookie %d (%q): %d, want 503", i, bad, code)
		}
	}
	// The cookie does not open another site.
	if code := do(h, req{host: "blog.example.com", header: map[string]string{"Cookie": BypassCookie + "=" + c.Value}}).Code; code != 503 {
		t.Errorf("shop's cookie on blog: %d, want 503", code)
	}
	// Over TLS the cookie is Secure.
	r := httptest.NewRequest("GET", "https://shop.example.com"+BypassPath+sec["shop"], nil)
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, r)
	if c := bypassCookie(t, rw); !c.Secure {
		t.Error("cookie set over TLS is not Secure")
	}

	// Behind a trusted proxy that terminates TLS, too; not from others.
	gp, _ := bypassGate(t, st, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	for peer, want := range map[string]bool{"10.1.2.3:4567": true, "192.0.2.1:4567": false} {
		w := do(gp.Handler(upstream), req{host: "shop.example.com", path: BypassPath + sec["shop"], peer: peer, header: map[string]string{"X-Forwarded-Proto": "https"}})
		if c := bypassCookie(t, w); c.Secure != want {
			t.Errorf("X-Forwarded-Proto: https from %s: Secure %v, want %v", peer, c.Secure, want)
		}
	}

	// Revoked: the next snapshot has no link, and the cookie stops working.
	next, _, err := commitChange(st, RevokeBypass(sec["shop.id"]), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g.swap(buildSnapshot(next, &g.cfg, time.Now()))
	if code := with(c.Value); code != 503 {
		t.Errorf("revoked link's cookie: %d, want 503", code)
	}
	if w := visit(h, "shop.example.com", sec["shop"]); w.Code != 404 || len(w.Result().Cookies()) != 0 {
		t.Errorf("revoked link visit: %d %v, want 404 and no cookie", w.Code, w.Result().Cookies())
	}
}

func TestBypassLinkRefusals(t *testing.T) {
	st, sec := authState(t)
	g, _ := bypassGate(t, st, Options{})
	h := g.Handler(upstream)
	for _, tc := range []struct{ name, host, secret string }{
		{"unknown", "shop.example.com", "nope"},
		{"empty", "shop.example.com", ""},
		{"other site", "shop.example.com", sec["blog"]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := visit(h, tc.host, tc.secret)
			if w.Code != 404 || len(w.Result().Cookies()) != 0 || w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("got %d, cookies %v, Cache-Control %q; want 404, none, no-store", w.Code, w.Result().Cookies(), w.Header().Get("Cache-Control"))
			}
		})
	}
	if w := do(h, req{method: "POST", host: "shop.example.com", path: BypassPath + sec["shop"]}); w.Code != 405 {
		t.Errorf("POST: %d, want 405", w.Code)
	}
	// Expired: the link is still in the state (not yet pruned by a change).
	exp := st.Clone()
	for i := range exp.Links {
		exp.Links[i].Created = time.Now().Add(-2 * time.Hour)
		exp.Links[i].Expires = time.Now().Add(-time.Second)
	}
	g.swap(buildSnapshot(exp, &g.cfg, time.Now()))
	if w := visit(h, "shop.example.com", sec["shop"]); w.Code != 404 {
		t.Errorf("expired link: %d, want 404", w.Code)
	}
	if w := do(h, req{host: "shop.example.com", header: map[string]string{BypassHeader: sec["shop"]}}); w.Code != 503 {
		t.Errorf("expired link's header: %d, want 503", w.Code)
	}
}

func TestBypassWithoutKey(t *testing.T) {
	st, sec := authState(t)
	g := testGate(t, st, Options{})
	h := g.Handler(upstream)
	w := visit(h, "shop.example.com", sec["shop"])
	if w.Code != 404 || !strings.Contains(w.Body.String(), "key") {
		t.Errorf("visit without a key: %d %q", w.Code, w.Body.String())
	}
	// The header form needs no key.
	if w := do(h, req{header: map[string]string{BypassHeader: sec["shop"]}}); w.Code != 200 {
		t.Errorf("header without a key: %d, want 200", w.Code)
	}
}

func TestBypassLinkWhileOff(t *testing.T) {
	st, sec := authState(t)
	st = func() *State {
		next, _, err := commitChange(st, Off(nil), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return next
	}()
	g, _ := bypassGate(t, st, Options{})
	// Opening the link before maintenance starts sets the cookie too.
	if w := visit(g.Handler(upstream), "shop.example.com", sec["shop"]); w.Code != http.StatusSeeOther {
		t.Errorf("visit while off: %d, want 303", w.Code)
	}
}

func TestStaffSession(t *testing.T) {
	st, _ := authState(t)
	g, key := bypassGate(t, st, Options{})
	h := g.Handler(upstream)
	alice := st.user("alice")
	session := sessionValue(key, alice, time.Now().Add(time.Hour))
	with := func(h http.Handler, v string) int {
		return do(h, req{header: map[string]string{"Cookie": SessionCookie + "=" + v}}).Code
	}
	if code := with(h, session); code != 200 {
		t.Errorf("signed-in admin: %d, want 200", code)
	}
	bob := &User{Name: "bob", Hash: alice.Hash}
	otherKey := newKey()
	for name, v := range map[string]string{
		"expired":      sessionValue(key, alice, time.Now().Add(-time.Second)),
		"unknown user": sessionValue(key, bob, time.Now().Add(time.Hour)),
		"other key":    sessionValue(otherKey, alice, time.Now().Add(time.Hour)),
		"old password": sessionValue(key, &User{Name: "alice", Hash: "$2a$04$other"}, time.Now().Add(time.Hour)),
		"garbage":      "x.y.z.w",
		"empty":        "",
	} {
		if code := with(h, v); code != 503 {
			t.Errorf("%s session: %d, want 503", name, code)
		}
	}
	// BlockStaff: admins see the page like everyone.
	gb, _ := bypassGate(t, st, Options{BlockStaff: true})
	gb.key.Store(&key)
	if code := with(gb.Handler(upstream), session); code != 503 {
		t.Errorf("BlockStaff: %d, want 503", code)
	}
	// A removed user's sessions end with the next snapshot.
	next, _, err := commitChange(st, RemoveUser("alice"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g.swap(buildSnapshot(next, &g.cfg, time.Now()))
	if code := with(h, session); code != 503 {
		t.Errorf("removed user's session: %d, want 503", code)
	}
}

func TestPreview(t *testing.T) {
	st := stateOf(t, AddSites("shop.example.com"), On([]string{"shop.example.com"}, OnOptions{Message: ptr("Back at <six>")}), Off([]string{"shop.example.com"}),
		On([]string{"shop.example.com"}, OnOptions{Message: ptr("Back at <six>")}))
	g := testGate(t, st, Options{})
	w := httptest.NewRecorder()
	g.Preview(w, httptest.NewRequest("GET", "/", nil), "shop.example.com")
	if w.Code != 503 || !strings.Contains(w.Body.String(), "Back at &lt;six&gt;") {
		t.Errorf("preview: %d, body lacks the escaped message", w.Code)
	}
}

// BenchmarkBypass measures the requests that steps 5 and 6 let through, and
// the maintenance answer of a gate that has links and users (what they add
// to a blocked request that carries no credentials).
func BenchmarkBypass(b *testing.B) {
	t := &testing.T{}
	st, sec := authState(t)
	g := testGate(b, st, Options{})
	key := newKey()
	g.key.Store(&key)
	h := g.Handler(bare)
	var l *BypassLink
	for i := range st.Links {
		if st.Links[i].ID == sec["shop.id"] {
			l = &st.Links[i]
		}
	}
	req := func(k, v string) *http.Request {
		r := benchRequest("shop.example.com", "/cart", "198.51.100.9:4242")
		if k != "" {
			r.Header.Set(k, v)
		}
		return r
	}
	b.Run("Header", func(b *testing.B) { runBench(b, h, req(BypassHeader, sec["shop"]), 200) })
	b.Run("Cookie", func(b *testing.B) {
		runBench(b, h, req("Cookie", "theme=dark; "+BypassCookie+"="+bypassCookieValue(key, l)), 200)
	})
	b.Run("StaffSession", func(b *testing.B) {
		runBench(b, h, req("Cookie", SessionCookie+"="+sessionValue(key, st.user("alice"), time.Now().Add(time.Hour))), 200)
	})
	b.Run("AnswerNoCredentials", func(b *testing.B) { runBench(b, h, req("", ""), 503) })
}

// TestBypassLinkNext: a bypass link takes the visitor to ?next= when it is
// a path of the same site, and to "/" for anything a browser could resolve
// to another host or scheme.
func TestBypassLinkNext(t *testing.T) {
	st, sec := authState(t)
	g, _ := bypassGate(t, st, Options{})
	h := g.Handler(upstream)
	for _, tc := range []struct{ next, want string }{
		{"/cart", "/cart"},
		{"/admin/orders?id=7&x=%2F", "/admin/orders?id=7&x=%2F"},
		{"/caf%C3%A9", "/caf%C3%A9"},
		{"/a:b", "/a:b"},
		{"", "/"},
		{"//evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\r/evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{" /x", "/"},
		{"/x#frag", "/"},
		{"/é", "/"},
		{"/x y", "/"},
		{"/00%", "/"},
		{"/%2", "/"},
		{"/%zz", "/"},
		{"/" + strings.Repeat("a", 2048), "/"},
	} {
		w := visit(h, "shop.example.com", sec["shop"]+"?next="+url.QueryEscape(tc.next))
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != tc.want {
			t.Errorf("next %q: %d to %q, want 303 to %q", tc.next, w.Code, w.Header().Get("Location"), tc.want)
		}
		if len(w.Result().Cookies()) != 1 {
			t.Errorf("next %q: cookies %v, want the bypass cookie", tc.next, w.Header()["Set-Cookie"])
		}
	}
}
