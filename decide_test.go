package maintenance

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance/internal/hostmatch"
)

// stateOf applies changes to an empty state, as a store would.
func stateOf(t testing.TB, changes ...Change) *State {
	t.Helper()
	st := &State{}
	st.Normalize()
	for _, c := range changes {
		next, _, err := commitChange(st, c, time.Now())
		if err != nil {
			t.Fatalf("change %s: %v", c.Action, err)
		}
		st = next
	}
	return st
}

// testGate returns a gate serving st, without a store.
func testGate(t testing.TB, st *State, opts Options) *Gate {
	t.Helper()
	g, _, err := newGate(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	g.swap(buildSnapshot(st, &g.cfg, time.Now()))
	return g
}

func ptr[T any](v T) *T { return &v }

// upstream answers 200 "app" and records the status it saw.
var upstream = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	s := StatusFrom(r.Context())
	w.Header().Set("X-Status-On", map[bool]string{true: "yes", false: "no"}[s.On])
	io.WriteString(w, "app")
})

type req struct {
	method, host, path, peer, accept string
	header                           map[string]string
}

func do(h http.Handler, q req) *httptest.ResponseRecorder {
	if q.method == "" {
		q.method = http.MethodGet
	}
	if q.host == "" {
		q.host = "shop.example.com"
	}
	if q.path == "" {
		q.path = "/"
	}
	r := httptest.NewRequest(q.method, "http://"+q.host+q.path, nil)
	r.Host = q.host
	if q.peer != "" {
		r.RemoteAddr = q.peer
	}
	if q.accept != "" {
		r.Header.Set("Accept", q.accept)
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestDecision(t *testing.T) {
	st := stateOf(t,
		AddSites("shop.example.com", "*.example.com", "api.example.com", "blog.example.com", "ro.example.com", "up.example.com"),
		On([]string{"*", "shop.example.com", "*.example.com", "api.example.com", "blog.example.com"}, OnOptions{}),
		On([]string{"ro.example.com"}, OnOptions{Mode: ptr(ModeReadOnly)}),
		On([]string{"blog.example.com"}, OnOptions{Redirect: ptr("/down")}),
		On([]string{"api.example.com"}, OnOptions{Redirect: ptr("https://API.example.com/now")}),
		AddIgnore("", "/health", ""),
		AddIgnore("shop.example.com", "/static/*", "assets"),
		AddIgnore("shop.example.com", "POST /webhooks/*", ""),
		AddIgnore("shop.example.com", "^/api/v[0-9]+/ping", ""),
		AddAllow("", "203.0.113.7", "office"),
		AddAllow("shop.example.com", "10.1.0.0/16", ""),
		AddAllow("shop.example.com", "2001:db8::/32", ""),
		AddIgnore("ro.example.com", "POST /login", ""),
	)
	g := testGate(t, st, Options{
		Exempt:         []string{"/metrics"},
		Reserved:       []string{"/_maintenance/admin/"},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Bypass:         func(r *http.Request) bool { return r.Header.Get("X-Staff") == "yes" },
	})
	h := g.Handler(upstream)

	tests := []struct {
		name string
		req  req
		want int
	}{
		{"site on blocks", req{}, 503},
		{"host is case-insensitive with port", req{host: "SHOP.Example.COM:8443"}, 503},
		{"trailing dot", req{host: "shop.example.com."}, 503},
		{"declared site that is off passes although * is on", req{host: "up.example.com"}, 200},
		{"undeclared host belongs to *", req{host: "other.test"}, 503},
		{"wildcard covers subdomains", req{host: "x.y.example.com"}, 503},
		{"wildcard does not cover the bare domain, which is *", req{host: "example.com", path: "/health"}, 200},
		{"read-only lets GET through", req{host: "ro.example.com"}, 200},
		{"read-only lets HEAD through", req{host: "ro.example.com", method: "HEAD"}, 200},
		{"read-only lets OPTIONS through", req{host: "ro.example.com", method: "OPTIONS"}, 200},
		{"read-only blocks POST", req{host: "ro.example.com", method: "POST"}, 503},
		{"read-only blocks a WebSocket upgrade", req{host: "ro.example.com", header: map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"}}, 503},
		{"read-only blocks an upgrade among other options", req{host: "ro.example.com", header: map[string]string{"Connection": "keep-alive,\tUPGRADE"}}, 503},
		{"read-only blocks an Upgrade header alone", req{host: "ro.example.com", method: "HEAD", header: map[string]string{"Upgrade": "h2c"}}, 503},
		{"read-only blocks an HTTP/2 extended CONNECT", req{host: "ro.example.com", method: "CONNECT", header: map[string]string{":protocol": "websocket"}}, 503},
		{"read-only lets a keep-alive GET through", req{host: "ro.example.com", header: map[string]string{"Connection": "keep-alive, upgrade-insecure-requests"}}, 200},
		{"read-only lets an exempt POST through", req{host: "ro.example.com", method: "POST", path: "/login"}, 200},
		{"read-only exemption is for its method only", req{host: "ro.example.com", method: "PUT", path: "/login"}, 503},
		{"a reserved path the app serves passes", req{path: "/_maintenance/admin/"}, 200},
		{"a reserved subtree covers its root", req{path: "/_maintenance/admin"}, 200},
		{"a reserved path nobody serves is the gate's 404", req{path: "/_maintenance/other"}, 404},
		{"dot segments do not reach past the reserved prefix", req{path: "/_maintenance/../admin"}, 404},
		{"nor ;params dot segments", req{path: "/_maintenance/..;/orders"}, 404},
		{"nor ;params dot segments under a reserved path the app serves", req{path: "/_maintenance/admin/..;/orders"}, 404},
		{";params dot segments do not reach past a prefix pattern", req{method: "POST", path: "/static/..;/checkout"}, 503},
		{"nor encoded slashes", req{path: "/static%2f..%2fcheckout"}, 503},
		{"nor double slashes", req{path: "/static//x"}, 503},
		{"nor NUL", req{path: "/static/x%00.css"}, 503},
		{"nor double encoding", req{path: "/static/%252e%252e/checkout"}, 503},
		{"nor overlong UTF-8", req{path: "/static/%c0%ae%c0%ae/checkout"}, 503},
		{"nor fullwidth dots", req{path: "/static/%ef%bc%8e%ef%bc%8e/checkout"}, 503},
		{"nor trailing-dot segments", req{path: "/static/.../checkout"}, 503},
		{"plain UTF-8 is exempt", req{path: "/static/caf%c3%a9.css"}, 200},
		{"dot segments do not reach past a prefix pattern", req{path: "/static/../checkout"}, 503},
		{"encoded dot segments neither", req{path: "/static/%2e%2e/checkout"}, 503},
		{"backslash dot segments neither", req{path: `/static/..\checkout`}, 503},
		{"a trailing dot segment neither", req{path: "/static/.."}, 503},
		{"gate exemption", req{path: "/metrics"}, 200},
		{"gate exemption is exact", req{path: "/metrics/x"}, 503},
		{"* ignore pattern applies to a site", req{path: "/health"}, 200},
		{"site prefix pattern", req{path: "/static/app.css"}, 200},
		{"prefix pattern matches its root", req{path: "/static"}, 200},
		{"prefix pattern needs the slash", req{path: "/staticx"}, 503},
		{"method pattern matches its method", req{method: "POST", path: "/webhooks/stripe"}, 200},
		{"method pattern ignores other methods", req{path: "/webhooks/stripe"}, 503},
		{"regexp anchored at start", req{path: "/api/v2/ping/deep"}, 200},
		{"regexp not matched in the middle", req{path: "/x/api/v2/ping"}, 503},
		{"site patterns do not leak to other sites", req{host: "other.test", path: "/static/app.css"}, 503},
		{"allowed peer IP on *", req{peer: "203.0.113.7:5555"}, 200},
		{"allowed peer in site CIDR", req{peer: "10.1.2.3:5555"}, 200},
		{"allowed IPv6 peer", req{peer: "[2001:db8::5]:443"}, 200},
		{"peer outside allow entries", req{peer: "10.2.0.1:5555"}, 503},
		{"site allow entries do not leak", req{host: "other.test", peer: "10.1.2.3:5555"}, 503},
		{"XFF from trusted proxy", req{peer: "192.0.2.10:1", header: map[string]string{"X-Forwarded-For": "203.0.113.7"}}, 200},
		{"XFF spoofed through trusted proxy", req{peer: "192.0.2.10:1", header: map[string]string{"X-Forwarded-For": "203.0.113.7, 198.51.100.9"}}, 503},
		{"XFF from untrusted peer ignored", req{peer: "198.51.100.9:1", header: map[string]string{"X-Forwarded-For": "203.0.113.7"}}, 503},
		{"XFF garbage fails closed", req{peer: "192.0.2.10:1", header: map[string]string{"X-Forwarded-For": "203.0.113.7, garbage"}}, 503},
		{"bypass hook", req{header: map[string]string{"X-Staff": "yes"}}, 200},
		{"redirect for HTML", req{host: "blog.example.com", accept: "text/html"}, 302},
		{"redirect target passes", req{host: "blog.example.com", path: "/down"}, 200},
		{"redirect target with ;params is blocked", req{host: "blog.example.com", path: "/down;/../admin", accept: "application/json"}, 503},
		{"redirect keeps JSON a 503", req{host: "blog.example.com", accept: "application/json"}, 503},
		{"absolute redirect target on its own host passes", req{host: "api.example.com", path: "/now"}, 200},
		{"absolute redirect path on another host is blocked", req{host: "shop.example.com", path: "/now"}, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(h, tt.req)
			if got := w.Code; got != tt.want {
				t.Errorf("status = %d, want %d (body %q)", got, tt.want, w.Body.String())
			}
			if w.Code == 200 && w.Body.String() != "app" {
				t.Errorf("body = %q, want the app's", w.Body.String())
			}
		})
	}
}

func TestStatusFromAndEndpoint(t *testing.T) {
	st := stateOf(t, AddSites("up.example.com"), On([]string{"shop.example.com"}, OnOptions{Message: ptr("back at 5")}), AddIgnore("shop.example.com", "/ok", ""))
	h := testGate(t, st, Options{}).Handler(upstream)

	if w := do(h, req{path: "/ok"}); w.Header().Get("X-Status-On") != "yes" {
		t.Errorf("a request passing during maintenance: StatusFrom().On = false, want true")
	}
	if w := do(h, req{host: "up.example.com"}); w.Header().Get("X-Status-On") != "no" {
		t.Errorf("a request of a site that is off: StatusFrom().On = true, want false")
	}
	if s := StatusFrom(t.Context()); s.On {
		t.Errorf("StatusFrom(no gate) = %+v, want zero", s)
	}
	for _, host := range []string{"shop.example.com", "up.example.com"} {
		w := do(h, req{host: host, path: StatusPath})
		var got Status
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
			t.Fatalf("%s %s = %d %q: %v", host, StatusPath, w.Code, w.Body, err)
		}
		if want := host == "shop.example.com"; got.On != want || got.Site != host {
			t.Errorf("%s status = %+v, want on=%v", host, got, want)
		}
		if got.On && got.Message != "back at 5" {
			t.Errorf("message = %q", got.Message)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q", cc)
		}
	}
	if w := do(h, req{method: "POST", path: StatusPath}); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST %s = %d, want 405", StatusPath, w.Code)
	}
}

func TestForceOnForceOff(t *testing.T) {
	st := stateOf(t, On([]string{"shop.example.com"}, OnOptions{}), AddSites("up.example.com"))
	g := testGate(t, st, Options{})
	mux := http.NewServeMux()
	mux.Handle("/contact", ForceOff(upstream))
	mux.Handle("/beta/", g.ForceOn(upstream))
	mux.Handle("/", upstream)
	h := g.Handler(mux)
	tests := []struct {
		name string
		req  req
		want int
	}{
		{"ForceOff route passes while on", req{path: "/contact"}, 200},
		{"other routes are blocked", req{path: "/"}, 503},
		{"ForceOn route answers while off", req{host: "up.example.com", path: "/beta/x"}, 503},
		{"ForceOn route answers while on", req{path: "/beta/x"}, 503},
		{"unforced route passes while off", req{host: "up.example.com", path: "/"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := do(h, tt.req).Code; got != tt.want {
				t.Errorf("status = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	const (
		chromeNav     = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8"
		chromeImage   = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
		firefoxImage  = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
		chromeStyle   = "text/css,*/*;q=0.1"
		oldBrowserImg = "image/webp,image/*,*/*;q=0.8"
	)
	tests := []struct {
		accept, dest string
		want         format
	}{
		{"", "", formatHTML},
		{"*/*", "", formatHTML},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "", formatHTML},
		{"application/json", "", formatJSON},
		{"application/problem+json", "", formatJSON},
		{"application/vnd.api+json", "", formatJSON},
		{"application/json, text/plain, */*", "", formatJSON},
		{"text/html;q=0.5, application/json", "", formatJSON},
		{"text/html, application/json;q=0.5", "", formatHTML},
		{"application/json, text/html", "", formatHTML},
		{"application/json;q=0", "", formatText},
		{"text/plain", "", formatText},
		{"image/png", "", formatText},
		{"text/*", "", formatHTML},
		{"TEXT/HTML", "", formatHTML},
		{"application/json;q=garbage, text/html;q=0.1", "", formatHTML},
		// Resources that are not pages get the short answer.
		{chromeNav, "document", formatHTML},
		{chromeNav, "iframe", formatHTML},
		{chromeImage, "image", formatText},
		{firefoxImage, "image", formatText},
		{chromeStyle, "style", formatText},
		{"*/*", "script", formatText},
		{"*/*", "font", formatText},
		{"", "image", formatText},
		{"text/html", "image", formatText},
		{"application/json", "script", formatJSON},
		{"application/manifest+json", "manifest", formatJSON},
		// Without Sec-Fetch-Dest, an Accept that names other types but
		// not HTML is a resource.
		{oldBrowserImg, "", formatText},
		{chromeStyle, "", formatText},
		{"application/javascript, */*;q=0.8", "", formatText},
		{"image/*;q=0, */*", "", formatHTML},
		// fetch() and XHR: HTML only when asked for by name.
		{"*/*", "empty", formatText},
		{"", "empty", formatText},
		{"text/html", "empty", formatHTML},
		{"application/json", "empty", formatJSON},
	}
	for _, tt := range tests {
		if got := negotiate(tt.accept, tt.dest); got != tt.want {
			t.Errorf("negotiate(%q, %q) = %d, want %d", tt.accept, tt.dest, got, tt.want)
		}
	}
}

func TestAnswer(t *testing.T) {
	st := stateOf(t,
		On([]string{"shop.example.com"}, OnOptions{Message: ptr(`<script>alert("x")</script> & back soon`), RetryAfter: ptr(90 * time.Second)}),
		On([]string{"teapot.example.com"}, OnOptions{Status: ptr(429)}),
	)
	h := testGate(t, st, Options{}).Handler(upstream)

	t.Run("HTML", func(t *testing.T) {
		w := do(h, req{accept: "text/html"})
		checkAnswerHeaders(t, w, 503, "text/html; charset=utf-8", "90")
		body := w.Body.String()
		if strings.Contains(body, "<script>alert") {
			t.Errorf("message is not escaped in HTML")
		}
		for _, want := range []string{"&lt;script&gt;", `name="robots" content="noindex`, StatusPath, `lang="en"`} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("the built-in page makes an external request")
		}
	})
	t.Run("JSON", func(t *testing.T) {
		w := do(h, req{accept: "application/json"})
		checkAnswerHeaders(t, w, 503, "application/problem+json", "90")
		var p map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if p["detail"] != `<script>alert("x")</script> & back soon` || p["status"] != 503.0 || p["retry_after"] != 90.0 || p["title"] == "" || p["type"] == "" {
			t.Errorf("problem = %v", p)
		}
	})
	t.Run("text", func(t *testing.T) {
		w := do(h, req{accept: "text/plain"})
		checkAnswerHeaders(t, w, 503, "text/plain; charset=utf-8", "90")
		if !strings.Contains(w.Body.String(), "back soon") {
			t.Errorf("body = %q", w.Body)
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		w := do(h, req{method: "HEAD"})
		checkAnswerHeaders(t, w, 503, "text/html; charset=utf-8", "90")
		if w.Body.Len() != 0 {
			t.Errorf("HEAD body has %d bytes", w.Body.Len())
		}
		if w.Header().Get("Content-Length") == "0" {
			t.Errorf("HEAD Content-Length = 0, want the GET body's")
		}
	})
	t.Run("custom status and no Retry-After", func(t *testing.T) {
		w := do(h, req{host: "teapot.example.com"})
		checkAnswerHeaders(t, w, 429, "text/html; charset=utf-8", "")
		if _, ok := w.Header()["Retry-After"]; ok {
			t.Errorf("Retry-After is present but nothing is known")
		}
	})
}

func checkAnswerHeaders(t *testing.T, w *httptest.ResponseRecorder, status int, ctype, retry string) {
	t.Helper()
	if w.Code != status {
		t.Errorf("status = %d, want %d", w.Code, status)
	}
	want := map[string]string{"Content-Type": ctype, "Cache-Control": "no-store", "Vary": "Accept, Accept-Language, Sec-Fetch-Dest", "Retry-After": retry}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestTrustedProxyIPv4Mapped(t *testing.T) {
	st := stateOf(t, On(nil, OnOptions{}), AddAllow("", "203.0.113.7", ""))
	g := testGate(t, st, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:192.0.2.0/120")}})
	w := do(g.Handler(upstream), req{peer: "192.0.2.10:1", header: map[string]string{"X-Forwarded-For": "203.0.113.7"}})
	if w.Code != 200 {
		t.Errorf("an IPv4-mapped trusted prefix is not applied: status %d", w.Code)
	}
	if _, _, err := newGate(nil, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:0:0/90")}}); err == nil {
		t.Errorf("a mapped prefix shorter than /96 is accepted")
	}
}

// onSiteState has few sites on (the onFew path), a declared site that is off
// under an on wildcard, and a longer wildcard that is off.
func onSiteState(t testing.TB) *State {
	return stateOf(t,
		AddSites("shop.example.com", "*.example.net", "off.example.net", "*.deep.example.net", "up.example.com"),
		On([]string{"shop.example.com", "*.example.net"}, OnOptions{}),
	)
}

func TestOnSiteAgreesWithLookup(t *testing.T) {
	s := testGate(t, onSiteState(t), Options{}).snap.Load()
	if !s.onFew {
		t.Fatal("the test state does not take the onFew path")
	}
	hosts := []string{
		"shop.example.com", "SHOP.example.COM", "shop.example.com:443", "shop.example.com.",
		"shop.example.com.:80", "shop.example.com:abc", "shop.example.com:x:y", "shop.example.comx",
		"shop.example.co", "xshop.example.com", "a.example.net", "A.EXAMPLE.NET:8080", "example.net",
		"off.example.net", "OFF.example.net.", "x.deep.example.net", "deep.example.net",
		"x:a.example.net", "a.example.net:x:443", "[::1]:80", "", ":", ".", "..", "up.example.com",
		"\u212aey.example.net", "a.example.net..", ".eXAmple.net", ".example.net:1",
	}
	for _, h := range hosts {
		want := s.site(h)
		if !want.on {
			want = nil
		}
		if got := s.onSite(h); got != want {
			t.Errorf("onSite(%q) = %v, want %v", h, name(got), name(want))
		}
	}
}

func name(ss *siteSnap) string {
	if ss == nil {
		return "<off>"
	}
	return ss.name
}

// TestIPv6SiteTakesFullLookup: a bare IPv6 Host is not mistaken for an on
// IPv6 site by the few-sites-on shortcut. Found in review.
func TestIPv6SiteTakesFullLookup(t *testing.T) {
	s := testGate(t, stateOf(t, On([]string{"2001:db8::1"}, OnOptions{})), Options{}).snap.Load()
	for _, h := range []string{"[2001:db8::1]:443", "[2001:db8::1]", "2001:db8::1", "2001:db8::1:80"} {
		want := s.site(h)
		if !want.on {
			want = nil
		}
		if got := s.onSite(h); got != want {
			t.Errorf("onSite(%q) = %v, site() says %v", h, name(got), name(want))
		}
	}
}

// TestDefaultSiteIsTheMatchersDefault: the site hostmatch gives a host that
// no other site names is the one the root calls DefaultSite.
func TestDefaultSiteIsTheMatchersDefault(t *testing.T) {
	if hostmatch.Default != DefaultSite {
		t.Fatalf("hostmatch.Default = %q, DefaultSite = %q", hostmatch.Default, DefaultSite)
	}
	s := testGate(t, stateOf(t, AddSites("shop.example.com")), Options{}).snap.Load()
	if got := s.site("other.example.com").name; got != DefaultSite {
		t.Fatalf("site(other.example.com) = %q, want %q", got, DefaultSite)
	}
}
