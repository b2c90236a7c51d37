package maintenance

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The forward-auth requests here are the ones each proxy sends, header for
// header, as their documentation and source describe them:
//
//   - Traefik ForwardAuth (docs/content/middlewares/http/forwardauth.md,
//     "Forward-Request Headers"; pkg/middlewares/auth/forward.go): a GET to
//     the configured address (so Host is the decision server's), carrying
//     the visitor's headers and X-Forwarded-Method, -Proto, -Host, -Uri
//     and -For; a 2xx lets the request through, any other answer (headers,
//     cookies and body) goes to the visitor as it is.
//   - Caddy forward_auth (caddyserver.com/docs/caddyfile/directives/forward_auth):
//     reverse_proxy with "method GET", "rewrite <uri>", and the headers
//     X-Forwarded-Method and X-Forwarded-Uri added to reverse_proxy's
//     X-Forwarded-For, -Proto and -Host; Host is the visitor's.
//   - nginx auth_request with examples/nginx.conf: the visitor's headers,
//     Host, X-Original-URI, X-Original-Method, X-Forwarded-For and
//     -Proto; 2xx passes, 401 and 403 go on, anything else is a 500.
//   - ingress-nginx auth-url (rootfs/etc/nginx/template/nginx.tmpl, the
//     external auth location; docs/user-guide/nginx-configuration/
//     annotations.md#external-authentication): Host is the auth-url's,
//     X-Original-URL ($scheme://$http_host$request_uri),
//     X-Original-Method, X-Sent-From: nginx-ingress-controller,
//     X-Real-IP, X-Forwarded-For, X-Auth-Request-Redirect, X-Request-ID.
//   - ingress-nginx custom-http-errors (docs/user-guide/custom-errors.md):
//     the visitor's request, rewritten to "/", to the default backend with
//     X-Code, X-Format (the Accept), X-Original-URI, X-Namespace,
//     X-Ingress-Name, X-Service-Name, X-Service-Port, X-Request-ID.

const (
	faPeer    = "10.0.0.2:41000" // the proxy, trusted
	faOutside = "198.51.100.9:41000"
)

func faGate(t *testing.T, changes ...Change) (*State, http.Handler, []byte) {
	t.Helper()
	st := stateOf(t, changes...)
	g := testGate(t, st, Options{TrustedProxies: prefixes("10.0.0.0/8")})
	key := newKey()
	g.key.Store(&key)
	return st, g.ForwardAuth(), key
}

func prefixes(ss ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}

// traefik is the request Traefik's ForwardAuth sends for a visitor's
// request (method, host, uri), the visitor at 203.0.113.5.
func traefik(method, host, uri string, visitor map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8081/", nil)
	r.RemoteAddr = faPeer
	for k, v := range visitor {
		r.Header.Set(k, v)
	}
	r.Header.Set("X-Forwarded-Method", method)
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", host)
	r.Header.Set("X-Forwarded-Uri", uri)
	r.Header.Set("X-Forwarded-For", "203.0.113.5")
	return r
}

// ingressAuth is the request of ingress-nginx's auth-url.
func ingressAuth(method, host, uri string, visitor map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://maintenance.default.svc.cluster.local:8081/", nil)
	r.RemoteAddr = faPeer
	for k, v := range visitor {
		r.Header.Set(k, v)
	}
	r.Header.Set("X-Original-URL", "https://"+host+uri)
	r.Header.Set("X-Original-Method", method)
	r.Header.Set("X-Sent-From", "nginx-ingress-controller")
	r.Header.Set("X-Real-IP", "203.0.113.5")
	r.Header.Set("X-Forwarded-For", "203.0.113.5")
	r.Header.Set("X-Auth-Request-Redirect", uri)
	r.Header.Set("X-Request-ID", "0123456789abcdef")
	return r
}

// ingressError is the request of ingress-nginx's custom error backend.
func ingressError(method, host, uri, code string, visitor map[string]string) *http.Request {
	r := httptest.NewRequest(method, "http://"+host+"/", nil)
	r.RemoteAddr = faPeer
	for k, v := range visitor {
		r.Header.Set(k, v)
	}
	r.Header.Set("X-Code", code)
	r.Header.Set("X-Format", r.Header.Get("Accept"))
	r.Header.Set("X-Original-URI", uri)
	r.Header.Set("X-Namespace", "default")
	r.Header.Set("X-Ingress-Name", "shop")
	r.Header.Set("X-Service-Name", "shop")
	r.Header.Set("X-Service-Port", "8000")
	r.Header.Set("X-Request-ID", "0123456789abcdef")
	r.Header.Set("X-Forwarded-For", "203.0.113.5")
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestForwardAuthTraefik(t *testing.T) {
	secret, id := NewSecret()
	st, h, key := faGate(t,
		AddSites("shop.example.com", "blog.example.com"),
		On([]string{"shop.example.com"}, OnOptions{RetryAfter: ptr(30 * time.Minute)}),
		AddIgnore("shop.example.com", "/static/*", ""),
		AddAllow("shop.example.com", "192.0.2.0/24", ""),
		CreateBypass(BypassLink{ID: id, Site: "shop.example.com", Hash: HashSecret(secret)}, time.Hour),
		AddUser("alice", "$2a$04$abcdefghijklmnopqrstuv"),
	)
	html := map[string]string{"Accept": "text/html,application/xhtml+xml"}
	// Off: 200, no body.
	if w := serve(h, traefik("GET", "blog.example.com", "/", html)); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("site off: %d %q, want 200 and no body", w.Code, w.Body)
	}
	// On: the page, its status and Retry-After, for the visitor.
	w := serve(h, traefik("GET", "shop.example.com", "/cart?x=1", html))
	if w.Code != 503 || w.Header().Get("Retry-After") != "1800" || !strings.Contains(w.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(w.Body.String(), "<html") {
		t.Errorf("site on: %d %v, want the 503 page with Retry-After 1800", w.Code, w.Header())
	}
	// JSON clients get problem+json.
	w = serve(h, traefik("POST", "shop.example.com", "/api/orders", map[string]string{"Accept": "application/json"}))
	var problem struct {
		Status int    `json:"status"`
		Site   string `json:"site"`
	}
	if w.Code != 503 || w.Header().Get("Content-Type") != "application/problem+json" ||
		json.Unmarshal(w.Body.Bytes(), &problem) != nil || problem.Status != 503 || problem.Site != "shop.example.com" {
		t.Errorf("JSON client: %d %v %s", w.Code, w.Header(), w.Body)
	}
	// An ignored path, decided on X-Forwarded-Uri, not the request's own.
	if w := serve(h, traefik("GET", "shop.example.com", "/static/app.css", nil)); w.Code != 200 {
		t.Errorf("ignored path: %d, want 200", w.Code)
	}
	if w := serve(h, traefik("GET", "shop.example.com", "/static/../admin", nil)); w.Code != 503 {
		t.Errorf("ignored path with dot segments: %d, want 503", w.Code)
	}
	// The allowed IP, from X-Forwarded-For of the trusted proxy only.
	r := traefik("GET", "shop.example.com", "/", nil)
	r.Header.Set("X-Forwarded-For", "192.0.2.7")
	if w := serve(h, r); w.Code != 200 {
		t.Errorf("allowed IP through a trusted proxy: %d, want 200", w.Code)
	}
	r = traefik("GET", "shop.example.com", "/", nil)
	r.Header.Set("X-Forwarded-For", "192.0.2.7, 203.0.113.5")
	if w := serve(h, r); w.Code != 503 {
		t.Errorf("allowed IP named by the client, behind its real address: %d, want 503", w.Code)
	}
	// A bypass link: the cookie is on the answer Traefik sends the visitor.
	w = serve(h, traefik("GET", "shop.example.com", BypassPath+secret, html))
	c := bypassCookie(t, w)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" || !c.Secure {
		t.Errorf("bypass link: %d %v, want 303 to / with a Secure cookie (X-Forwarded-Proto: https)", w.Code, w.Header())
	}
	if w := serve(h, traefik("GET", "shop.example.com", "/cart", map[string]string{"Cookie": c.Name + "=" + c.Value})); w.Code != 200 {
		t.Errorf("bypass cookie: %d, want 200", w.Code)
	}
	// An admin session.
	session := sessionValue(key, st.user("alice"), time.Now().Add(time.Hour))
	if w := serve(h, traefik("GET", "shop.example.com", "/", map[string]string{"Cookie": SessionCookie + "=" + session})); w.Code != 200 {
		t.Errorf("admin session: %d, want 200", w.Code)
	}
	// The same headers from a peer that is not trusted are the visitor's
	// own: its request (GET / on 127.0.0.1:8081) is decided, and a request
	// that may pass gets a redirect, never a 2xx.
	r = traefik("GET", "blog.example.com", "/static/x", nil)
	r.RemoteAddr = faOutside
	if w := serve(h, r); w.Code != http.StatusTemporaryRedirect || w.Header().Get("Location") != "/" {
		t.Errorf("untrusted peer: %d %v, want 307 to /", w.Code, w.Header())
	}
	r = traefik("GET", "blog.example.com", "/", nil)
	r.RemoteAddr = faOutside
	r.Host = "shop.example.com"
	if w := serve(h, r); w.Code != 503 {
		t.Errorf("untrusted peer naming a site that is off in X-Forwarded-Host: %d, want 503 (its own Host is on)", w.Code)
	}
}

func TestForwardAuthReadOnly(t *testing.T) {
	_, h, _ := faGate(t,
		AddSites("shop.example.com"),
		On([]string{"shop.example.com"}, OnOptions{Mode: ptr(ModeReadOnly)}),
	)
	for _, tc := range []struct {
		method string
		want   int
	}{{"GET", 200}, {"HEAD", 200}, {"OPTIONS", 200}, {"POST", 503}, {"DELETE", 503}} {
		if w := serve(h, traefik(tc.method, "shop.example.com", "/x", nil)); w.Code != tc.want {
			t.Errorf("Traefik %s: %d, want %d", tc.method, w.Code, tc.want)
		}
		want := tc.want
		if want == 503 {
			want = ForwardAuthBlocked
		}
		if w := serve(h, ingressAuth(tc.method, "shop.example.com", "/x", nil)); w.Code != want {
			t.Errorf("ingress-nginx %s: %d, want %d", tc.method, w.Code, want)
		}
	}
}

func TestForwardAuthIngressNginx(t *testing.T) {
	secret, id := NewSecret()
	_, h, _ := faGate(t,
		AddSites("shop.example.com", "blog.example.com"),
		On([]string{"shop.example.com"}, OnOptions{RetryAfter: ptr(time.Hour)}),
		AddIgnore("shop.example.com", "POST /webhooks/*", ""),
		CreateBypass(BypassLink{ID: id, Site: "shop.example.com", Hash: HashSecret(secret)}, time.Hour),
	)
	// auth-url: 200 or 401, nothing else (nginx makes any other status a 500).
	for _, tc := range []struct {
		method, host, uri string
		want              int
	}{
		{"GET", "blog.example.com", "/", 200},
		{"GET", "shop.example.com", "/", 401},
		{"POST", "shop.example.com", "/webhooks/stripe", 200},
		{"GET", "shop.example.com", "/webhooks/stripe", 401},
		{"GET", "shop.example.com", BypassPath + secret, 401},
		{"GET", "shop.example.com", StatusPath, 401},
	} {
		w := serve(h, ingressAuth(tc.method, tc.host, tc.uri, nil))
		if w.Code != tc.want || w.Body.Len() != 0 {
			t.Errorf("auth-url %s %s%s: %d %q, want %d and no body", tc.method, tc.host, tc.uri, w.Code, w.Body, tc.want)
		}
	}
	// The bypass header passes the sub-request.
	if w := serve(h, ingressAuth("GET", "shop.example.com", "/", map[string]string{BypassHeader: secret})); w.Code != 200 {
		t.Errorf("bypass header: %d, want 200", w.Code)
	}
	// The error backend answers the 401 in full, for the original URI.
	w := serve(h, ingressError("GET", "shop.example.com", "/cart", "401", map[string]string{"Accept": "application/json"}))
	if w.Code != 503 || w.Header().Get("Content-Type") != "application/problem+json" || w.Header().Get("Retry-After") != "3600" {
		t.Errorf("error backend, JSON: %d %v", w.Code, w.Header())
	}
	w = serve(h, ingressError("GET", "shop.example.com", BypassPath+secret, "401", nil))
	if w.Code != http.StatusSeeOther || bypassCookie(t, w) == nil {
		t.Errorf("error backend, bypass link: %d %v", w.Code, w.Header())
	}
	// If the request may pass by now, the visitor is sent to it again.
	w = serve(h, ingressError("GET", "blog.example.com", "/post/1?c=2", "401", nil))
	if w.Code != http.StatusTemporaryRedirect || w.Header().Get("Location") != "/post/1?c=2" {
		t.Errorf("error backend, site off: %d %v, want 307 to /post/1?c=2", w.Code, w.Header())
	}
}

func TestForwardAuthNginxSubrequest(t *testing.T) {
	_, h, _ := faGate(t,
		AddSites("shop.example.com"),
		On([]string{"shop.example.com"}, OnOptions{}),
		AddIgnore("shop.example.com", "/static/*", ""),
	)
	nginx := func(method, uri string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://shop.example.com/_maintenance_auth", nil)
		r.RemoteAddr = faPeer
		r.Header.Set("X-Original-URI", uri)
		r.Header.Set("X-Original-Method", method)
		r.Header.Set("X-Forwarded-For", "203.0.113.5")
		return r
	}
	w := serve(h, nginx("GET", "/static/a.css"))
	if w.Code != 200 || w.Header().Get("Maintenance") != "on, mode=full" {
		t.Errorf("exempt path: %d %v, want 200 with the application's header", w.Code, w.Header())
	}
	if w := serve(h, nginx("GET", "/")); w.Code != ForwardAuthBlocked || w.Header().Get("Maintenance") != "" {
		t.Errorf("blocked: %d %v, want %d without the application's header", w.Code, w.Header(), ForwardAuthBlocked)
	}
	// Hostile values from the proxy are refused with 400, naming them.
	for name, r := range map[string]*http.Request{
		"method with a space":  nginx("GE T", "/"),
		"absolute URI":         nginx("GET", "http://evil.example/"),
		"no leading slash":     nginx("GET", "static/a.css"),
		"long URI":             nginx("GET", "/"+strings.Repeat("a", 9000)),
		"control byte in URI":  nginx("GET", "/static/\x7f"),
		"ingress URL, no host": ingressAuth("GET", "", "/", nil),
	} {
		w := serve(h, r)
		if w.Code != 400 {
			t.Errorf("%s: %d %q, want 400", name, w.Code, w.Body)
		}
	}
}

// FuzzForwardAuth checks that a forward-auth request is decided as the gate
// decides the visitor's request it names: the same status (2xx: it passes),
// and for nginx 200 exactly when the gate lets the request through.
func FuzzForwardAuth(f *testing.F) {
	f.Add("GET", "/static/a.css", "shop.example.com", "203.0.113.5")
	f.Add("POST", "/webhooks/x", "shop.example.com", "192.0.2.1")
	f.Add("GET", "/static/../admin", "SHOP.example.com.", "")
	f.Add("GET", "/_maintenance/status", "blog.example.com:8080", "192.0.2.1, 10.0.0.1")
	f.Add("PUT", "/%2e%2e/x?y", "[::1]", "x")
	st := stateOf(f,
		AddSites("shop.example.com", "blog.example.com"),
		On([]string{"shop.example.com", "*"}, OnOptions{}),
		AddIgnore("shop.example.com", "/static/*", ""),
		AddIgnore("", "POST /webhooks/*", ""),
		AddAllow("", "192.0.2.0/24", ""),
	)
	g := testGate(f, st, Options{TrustedProxies: prefixes("10.0.0.0/8")})
	h := g.ForwardAuth()
	gated := g.Handler(upstream)
	f.Fuzz(func(t *testing.T, method, uri, host, xff string) {
		r := traefik(method, host, uri, nil)
		r.Header.Set("X-Forwarded-For", xff)
		w := serve(h, r)
		u, err := url.ParseRequestURI(uri)
		if w.Code == 400 {
			return
		}
		if err != nil || !validMethod(method) {
			t.Fatalf("accepted %q %q: %d", method, uri, w.Code)
		}
		// A proxy that sends no method header means GET, as the decision
		// server reads it; a Go server never hands a handler an empty method.
		om := method
		if om == "" {
			om = http.MethodGet
		}
		o := httptest.NewRequest("GET", "/", nil)
		o.Method, o.URL, o.RequestURI, o.Host, o.RemoteAddr = om, u, uri, host, faPeer
		o.Header.Set("X-Forwarded-For", xff)
		want := serve(gated, o)
		if w.Code != want.Code {
			t.Fatalf("%s %s %q xff %q: forward-auth %d, gate %d %q", method, host, uri, xff, w.Code, want.Code, want.Body)
		}
		r = ingressAuth(method, host, uri, nil)
		r.Header.Del("X-Original-URL")
		r.Header.Set("X-Original-URI", uri)
		r.Host = host
		r.Header.Set("X-Forwarded-For", xff)
		w = serve(h, r)
		if passed := want.Code == 200 && want.Body.String() == "app"; (w.Code == 200) != passed || w.Code != 200 && w.Code != ForwardAuthBlocked {
			t.Fatalf("nginx %s %s %q xff %q: forward-auth %d, gate %d %q", method, host, uri, xff, w.Code, want.Code, want.Body)
		}
	})
}

// BenchmarkForwardAuth measures a decision: an nginx sub-request and a
// Traefik one, for a site that is off and for one that is on.
func BenchmarkForwardAuth(b *testing.B) {
	st := stateOf(b, AddSites("shop.example.com", "blog.example.com"), On([]string{"shop.example.com"}, OnOptions{}))
	g := testGate(b, st, Options{TrustedProxies: prefixes("10.0.0.0/8")})
	h := g.ForwardAuth()
	nginx := func(host string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://"+host+"/_maintenance_auth", nil)
		r.RemoteAddr = faPeer
		r.Header.Set("X-Original-URI", "/cart?x=1")
		r.Header.Set("X-Original-Method", "GET")
		r.Header.Set("X-Forwarded-For", "203.0.113.5")
		return r
	}
	for _, bc := range []struct {
		name string
		r    *http.Request
		want int
	}{
		{"nginx/off", nginx("blog.example.com"), 200},
		{"nginx/on", nginx("shop.example.com"), ForwardAuthBlocked},
		{"traefik/off", traefik("GET", "blog.example.com", "/cart?x=1", nil), 200},
		{"traefik/on", traefik("GET", "shop.example.com", "/cart?x=1", nil), 503},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, bc.r)
			if w.Code != bc.want {
				b.Fatalf("status %d, want %d", w.Code, bc.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, bc.r)
			}
		})
	}
}

// TestForwardAuthMaintenanceHeader: a 2xx answer carries the application's
// Maintenance header while the request's site is in maintenance (whatever
// the visitor sent in its own Maintenance header), and none when the site
// is off; no other answer carries it.
func TestForwardAuthMaintenanceHeader(t *testing.T) {
	_, h, _ := faGate(t,
		AddSites("shop.example.com", "blog.example.com", "docs.example.com"),
		On([]string{"shop.example.com"}, OnOptions{RetryAfter: ptr(30 * time.Minute)}),
		On([]string{"docs.example.com"}, OnOptions{Mode: ptr(ModeReadOnly)}),
		AddIgnore("shop.example.com", "/static/*", ""),
		AddAllow("shop.example.com", "192.0.2.0/24", ""),
	)
	forged := map[string]string{"Maintenance": "on=?0, forged"}
	allowed := func(r *http.Request) *http.Request { r.Header.Set("X-Forwarded-For", "192.0.2.7"); return r }
	const on = "on, mode=full, retry-after=1800"
	for _, tc := range []struct {
		name string
		r    *http.Request
		code int
		want string
	}{
		{"Traefik, ignored path", traefik("GET", "shop.example.com", "/static/a.css", forged), 200, on},
		{"Traefik, allowed IP", allowed(traefik("GET", "shop.example.com", "/", forged)), 200, on},
		{"Traefik, read-only GET", traefik("GET", "docs.example.com", "/", forged), 200, "on, mode=read-only"},
		{"Traefik, site off", traefik("GET", "blog.example.com", "/", forged), 200, ""},
		{"Traefik, blocked", traefik("GET", "shop.example.com", "/", forged), 503, ""},
		{"ingress-nginx, ignored path", ingressAuth("GET", "shop.example.com", "/static/a.css", forged), 200, on},
		{"ingress-nginx, allowed IP", allowed(ingressAuth("GET", "shop.example.com", "/", forged)), 200, on},
		{"ingress-nginx, site off", ingressAuth("GET", "blog.example.com", "/", forged), 200, ""},
		{"ingress-nginx, blocked", ingressAuth("GET", "shop.example.com", "/", forged), ForwardAuthBlocked, ""},
	} {
		w := serve(h, tc.r)
		if w.Code != tc.code || w.Header().Get("Maintenance") != tc.want || len(w.Header()["Maintenance"]) > 1 {
			t.Errorf("%s: %d Maintenance=%q, want %d %q", tc.name, w.Code, w.Header()["Maintenance"], tc.code, tc.want)
		}
	}
	// A visitor's own request that may pass gets a redirect, without it.
	r := traefik("GET", "shop.example.com", "/static/a.css", nil)
	r.RemoteAddr = faOutside
	r.Host = "shop.example.com"
	r.URL.Path, r.RequestURI = "/static/a.css", "/static/a.css"
	if w := serve(h, r); w.Code != http.StatusTemporaryRedirect || w.Header()["Maintenance"] != nil {
		t.Errorf("visitor's own request: %d %v, want 307 without Maintenance", w.Code, w.Header())
	}
}

// TestForwardAuthRetryRedirectStaysOnSite: the 307 that sends a visitor
// whose request may pass again through the proxy names a path of the same
// site, whatever the URI the visitor sent: a browser reads "/\evil" as
// "//evil", another host.
func TestForwardAuthRetryRedirectStaysOnSite(t *testing.T) {
	_, h, _ := faGate(t, AddSites("blog.example.com"))
	for _, uri := range []string{`/\evil.example`, `/\/evil.example`, `/%5C%5Cevil.example`} {
		// The error backend's X-Original-URI is the visitor's request
		// target as sent.
		w := serve(h, ingressError("GET", "blog.example.com", uri, "401", nil))
		loc := w.Header().Get("Location")
		if w.Code != http.StatusTemporaryRedirect || loc != BypassNext(uri) || strings.Contains(loc, `\`) {
			t.Errorf("error backend, URI %q: %d Location %q, want 307 to a path of this site", uri, w.Code, loc)
		}
		// The visitor's own request, straight to the decision server.
		r := httptest.NewRequest("GET", "http://blog.example.com/", nil)
		r.RequestURI, r.URL.Path = uri, uri
		r.RemoteAddr = faOutside
		w = serve(h, r)
		loc = w.Header().Get("Location")
		if w.Code != http.StatusTemporaryRedirect || strings.Contains(loc, `\`) {
			t.Errorf("direct request, URI %q: %d Location %q, want 307 to a path of this site", uri, w.Code, loc)
		}
	}
}

// TestForwardAuthVisitorNamesAnotherRequest: proxies pass the visitor's
// headers on to the decision server (Traefik and Caddy all of them, nginx's
// auth_request and ingress-nginx's auth-url too), and set only their own
// protocol's. A visitor who adds another protocol's header, naming an
// exempt path, must not get a request on another path through.
func TestForwardAuthVisitorNamesAnotherRequest(t *testing.T) {
	_, h, _ := faGate(t,
		AddSites("shop.example.com"),
		On([]string{"shop.example.com"}, OnOptions{}),
		AddIgnore("shop.example.com", "/static/*", ""),
	)
	exempt := map[string]string{"X-Original-URI": "/static/a.css", "X-Original-Method": "GET"}
	for name, r := range map[string]*http.Request{
		"Traefik, visitor's X-Original-URI":      traefik("GET", "shop.example.com", "/admin", exempt),
		"ingress auth, visitor's X-Original-URI": ingressAuth("GET", "shop.example.com", "/admin", exempt),
		"ingress auth, visitor's X-Forwarded-Uri": ingressAuth("GET", "shop.example.com", "/admin",
			map[string]string{"X-Forwarded-Uri": "/static/a.css"}),
	} {
		if w := serve(h, r); w.Code/100 == 2 {
			t.Errorf("%s: %d, want the request refused (not 2xx)", name, w.Code)
		}
	}
	// nginx auth_request: the visitor's X-Forwarded-Uri or X-Original-URL.
	for _, k := range []string{"X-Forwarded-Uri", "X-Original-URL"} {
		r := httptest.NewRequest(http.MethodGet, "http://shop.example.com/_maintenance_auth", nil)
		r.RemoteAddr = faPeer
		r.Header.Set(k, "/static/a.css")
		if k == "X-Original-URL" {
			r.Header.Set(k, "https://shop.example.com/static/a.css")
		}
		r.Header.Set("X-Original-URI", "/admin")
		r.Header.Set("X-Original-Method", "GET")
		if w := serve(h, r); w.Code/100 == 2 {
			t.Errorf("nginx, visitor's %s: %d, want the request refused (not 2xx)", k, w.Code)
		}
	}
	// The same target, but another method or host from the visitor.
	r := traefik("GET", "shop.example.com", "/static/a.css", map[string]string{"X-Original-URI": "/static/a.css", "X-Original-Method": "POST"})
	if w := serve(h, r); w.Code != 400 {
		t.Errorf("Traefik, visitor's X-Original-Method: %d, want 400", w.Code)
	}
	r = traefik("GET", "shop.example.com", "/admin", map[string]string{"X-Original-URL": "https://blog.example.com/admin"})
	if w := serve(h, r); w.Code != 400 {
		t.Errorf("Traefik, visitor's X-Original-URL on another host: %d, want 400", w.Code)
	}
	// Proxies that set two protocols' headers alike are served: ingress-nginx
	// with auth-method (X-Original-URI too), nginx as Authelia's snippets
	// configure it (X-Original-URL and X-Forwarded-*).
	r = ingressAuth("GET", "shop.example.com", "/static/a.css", map[string]string{"X-Original-URI": "/static/a.css"})
	if w := serve(h, r); w.Code != 200 {
		t.Errorf("ingress auth-method: %d %q, want 200", w.Code, w.Body)
	}
	r = ingressAuth("GET", "shop.example.com", "/admin", map[string]string{"X-Original-URI": "/admin"})
	if w := serve(h, r); w.Code != 401 {
		t.Errorf("ingress auth-method, site on: %d %q, want 401 (the site is X-Original-URL's, not the auth-url's Host)", w.Code, w.Body)
	}
	r = traefik("GET", "shop.example.com", "/static/a.css", map[string]string{"X-Original-URL": "https://SHOP.example.com/static/a.css", "X-Original-Method": "GET"})
	if w := serve(h, r); w.Code != 200 {
		t.Errorf("X-Original-URL and X-Forwarded-* alike: %d %q, want 200", w.Code, w.Body)
	}
	// A protocol header sent twice: the visitor's and the proxy's.
	r = traefik("GET", "shop.example.com", "/admin", nil)
	r.Header["X-Forwarded-Uri"] = []string{"/static/a.css", "/admin"}
	if w := serve(h, r); w.Code/100 == 2 {
		t.Errorf("X-Forwarded-Uri twice: %d, want the request refused (not 2xx)", w.Code)
	}
}

// TestForwardAuthNginxVisitorURL: behind nginx as examples/nginx.conf
// configures it (X-Original-URI, the visitor's Host), a visitor's
// X-Original-URL naming a site that is off does not get through.
func TestForwardAuthNginxVisitorURL(t *testing.T) {
	_, h, _ := faGate(t,
		AddSites("shop.example.com", "blog.example.com"),
		On([]string{"shop.example.com"}, OnOptions{}),
	)
	r := httptest.NewRequest(http.MethodGet, "http://shop.example.com/_maintenance_auth", nil)
	r.RemoteAddr = faPeer
	r.Header.Set("X-Original-URI", "/admin")
	r.Header.Set("X-Original-Method", "GET")
	r.Header.Set("X-Original-URL", "https://blog.example.com/admin")
	if w := serve(h, r); w.Code != ForwardAuthBlocked {
		t.Errorf("visitor's X-Original-URL on a site that is off: %d, want %d", w.Code, ForwardAuthBlocked)
	}
	r.Host = "blog.example.com"
	if w := serve(h, r); w.Code != 200 {
		t.Errorf("blog, both off: %d, want 200", w.Code)
	}
}
