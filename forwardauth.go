package maintenance

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// The headers of the forward-auth protocols the decision server answers.
const (
	// nginx auth_request (the example config sets them) and ingress-nginx
	// auth-url (X-Original-URL is scheme://host/uri).
	hdrOriginalURI    = "X-Original-Uri"
	hdrOriginalURL    = "X-Original-Url"
	hdrOriginalMethod = "X-Original-Method"
	// ingress-nginx custom-http-errors: the request to the default backend
	// carries the status it replaces.
	hdrCode = "X-Code"
	// Traefik ForwardAuth and Caddy forward_auth.
	hdrForwardedURI    = "X-Forwarded-Uri"
	hdrForwardedMethod = "X-Forwarded-Method"
	hdrForwardedHost   = "X-Forwarded-Host"
)

// ForwardAuthBlocked is the status the decision server answers an nginx
// auth_request sub-request with when the gate answers the request itself (the
// maintenance answer, or one of its /_maintenance/ endpoints): nginx passes
// 401 and 403 on, and turns any other status but 2xx into a 500 of its own.
// The example config catches it with `error_page 401 = @maintenance`, a named
// location that sends the visitor's request to the decision server, which
// answers it in full (status, Retry-After, page or problem+json, cookies).
const ForwardAuthBlocked = http.StatusUnauthorized

// maxOriginalURI bounds the request-target a proxy may name (nginx's own
// default header buffers hold 8 KiB).
const maxOriginalURI = 8 << 10

// ForwardAuth returns the handler of a forward-auth decision server: it
// answers the sub-requests of nginx auth_request and ingress-nginx auth-url
// (X-Original-URI or X-Original-URL, X-Original-Method), of Traefik
// ForwardAuth and Caddy forward_auth (X-Forwarded-Method, -Proto, -Host,
// -Uri, -For), and ingress-nginx's custom error backend (X-Code,
// X-Original-URI). From a peer in Options.TrustedProxies those headers name
// the visitor's request, which is rebuilt (method, host, URI; the visitor's
// other headers, cookies and Accept included, come as the proxy passed them)
// and run through g.Handler around a handler that answers 200: the decision
// is the gate's own, the client IP is the gate's (forwarding headers believed
// from trusted proxies only).
//
// A request that may pass gets 200 with no body, carrying the application's
// Maintenance header (MaintenanceHeader, Status.HeaderValue) while its site
// is in maintenance or has a window announced, for the proxy to copy onto
// the request it passes on (nginx auth_request_set, Traefik
// authResponseHeaders, ingress-nginx auth-response-headers, Caddy
// handle_response or copy_headers; see examples/). One
// that may not gets the gate's answer as is (status, Retry-After, the page or
// problem+json by Accept, the bypass link's cookie), which Traefik, Caddy and
// ingress-nginx's error backend send to the visitor; an nginx sub-request
// gets ForwardAuthBlocked instead, since nginx drops an auth answer's body.
// Any other request (from a peer that is not trusted, or carrying none of
// those headers, like nginx's error_page location or a proxied
// /_maintenance/ path) is the visitor's own: the gate answers it in full; if
// it may pass now (the state changed since the sub-request), it gets a 307
// to the same URI, so that the visitor tries again through the proxy.
// A malformed method or URI from a trusted proxy gets 400, and so does a
// request whose headers name two different requests (X-Original-URI and
// X-Forwarded-Uri differ, X-Original-Method and X-Forwarded-Method, the
// host of X-Original-URL and X-Forwarded-Host), or carry one header twice:
// proxies pass the visitor's headers on, so one of them is the visitor's.
func (g *Gate) ForwardAuth() http.Handler {
	pass := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := r.Context().Value(faKey{}).(*bool); ok {
			*p = true
		}
		h := w.Header()
		if v := MaintenanceHeaderFrom(r.Context()); v != nil {
			h[MaintenanceHeader] = v
		}
		h["Cache-Control"] = hdrNoStore
		w.WriteHeader(http.StatusOK)
	})
	gated := g.Handler(pass)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto := protoDirect
		if g.fromTrusted(r) {
			proto = forwardProtocol(r.Header)
		}
		orig := r
		if proto != protoDirect {
			var msg string
			if msg = conflicting(r.Header); msg != "" {
				orig = nil
			} else {
				orig, msg = rebuild(r, proto)
			}
			if orig == nil {
				h := w.Header()
				h[hdrContentType] = []string{"text/plain; charset=utf-8"}
				h["Cache-Control"] = hdrNoStore
				h["X-Content-Type-Options"] = hdrNoSniff
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(msg + "\n"))
				return
			}
		}
		passed := new(bool)
		orig = orig.WithContext(context.WithValue(orig.Context(), faKey{}, passed))
		switch proto {
		case protoForwarded:
			gated.ServeHTTP(w, orig)
		case protoNginx:
			// The gate's own endpoints are answered by the follow-up
			// request (error_page), and only there, so that a bypass
			// link's use is counted once.
			if strings.HasPrefix(orig.URL.Path, ReservedPrefix) {
				w.Header()["Cache-Control"] = hdrNoStore
				w.WriteHeader(ForwardAuthBlocked)
				return
			}
			d := discardWriter{h: http.Header{}}
			gated.ServeHTTP(&d, orig)
			if *passed && r.Header[hdrOriginalURI] != nil && r.Header[hdrOriginalURL] != nil && !strings.EqualFold(hostName(orig.Host), hostName(r.Host)) {
				// X-Original-URI and X-Original-URL: the host is
				// X-Original-URL's (ingress-nginx's auth-method), or
				// Host (nginx as configured by examples/nginx.conf,
				// X-Original-URL then the visitor's). The request
				// passes only if it may on both.
				*passed = false
				alt := orig.Clone(orig.Context())
				alt.Host = r.Host
				gated.ServeHTTP(&discardWriter{h: http.Header{}}, alt)
			}
			if !*passed {
				w.Header()["Cache-Control"] = hdrNoStore
				w.WriteHeader(ForwardAuthBlocked)
				return
			}
			h := w.Header()
			for k, v := range d.h {
				h[k] = v
			}
			w.WriteHeader(http.StatusOK)
		default: // the visitor's own request, or the error backend's
			gated.ServeHTTP(&passWriter{ResponseWriter: w, passed: passed, uri: orig.RequestURI}, orig)
		}
	})
}

// passWriter turns the pass handler's 200 into a 307 to the request's own
// URI: the request may pass now, and must go through the proxy again (a
// decision server is not a proxy).
type passWriter struct {
	http.ResponseWriter
	passed *bool
	uri    string
}

func (p *passWriter) WriteHeader(code int) {
	if *p.passed {
		h := p.Header()
		for k := range h {
			delete(h, k)
		}
		h["Cache-Control"] = hdrNoStore
		// The URI is the visitor's: the rules of a bypass link's ?next=
		// keep it a path of this site ("/\evil" is "//evil" to a browser).
		h["Location"] = []string{BypassNext(p.uri)}
		code = http.StatusTemporaryRedirect
	}
	p.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (p *passWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// faKey carries a *bool that the pass handler sets.
type faKey struct{}

// discardWriter records headers and drops the answer.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// The protocols of forward-auth requests.
const (
	protoDirect    = iota // the visitor's own request
	protoNginx            // nginx auth_request, ingress-nginx auth-url
	protoForwarded        // Traefik ForwardAuth, Caddy forward_auth
	protoErrorPage        // ingress-nginx custom-http-errors default backend
)

// forwardProtocol tells which protocol a trusted proxy's request speaks.
func forwardProtocol(h http.Header) int {
	switch {
	case h[hdrCode] != nil && h[hdrOriginalURI] != nil:
		return protoErrorPage
	case h[hdrOriginalURI] != nil || h[hdrOriginalURL] != nil:
		return protoNginx
	case h[hdrForwardedURI] != nil:
		return protoForwarded
	}
	return protoDirect
}

// A proxy sets its own protocol's headers and passes the visitor's other
// headers on (Traefik and Caddy all of them, nginx's auth_request and
// ingress-nginx's auth-url too). Some set two protocols' headers for the
// same request (ingress-nginx's auth-method sets X-Original-URI and
// X-Original-URL; Authelia's nginx snippets X-Original-URL and
// X-Forwarded-*), and then they agree. When a method, host or target is
// named twice and the two differ, or a header is sent twice, one of them is
// the visitor's, and nothing tells which.
var faHeaders = [...]string{hdrOriginalURI, hdrOriginalURL, hdrOriginalMethod, hdrForwardedURI, hdrForwardedMethod, hdrForwardedHost}

// conflicting returns why the headers of a trusted proxy's request do not
// name a single request (method, host, target), or "".
func conflicting(h http.Header) string {
	const accepted = "; accepted: one request, named alike by every forward-auth header"
	for _, k := range faHeaders {
		if len(h[k]) > 1 {
			return k + " is sent twice: one is the visitor's" + accepted
		}
	}
	differ := func(a, b string) string {
		return a + " and " + b + " name different requests: one is the visitor's" + accepted
	}
	// The target and host of X-Original-URL, as sent.
	urlTarget, urlHost := "", ""
	if u := h.Get(hdrOriginalURL); u != "" {
		if _, rest, ok := strings.Cut(u, "://"); ok {
			urlHost, urlTarget = rest, ""
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				urlHost, urlTarget = rest[:i], rest[i:]
			}
		}
	}
	targets := [...]struct{ name, v string }{{hdrOriginalURI, h.Get(hdrOriginalURI)}, {hdrOriginalURL, urlTarget}, {hdrForwardedURI, h.Get(hdrForwardedURI)}}
	first := -1
	for i, t := range targets {
		if h[t.name] == nil {
			continue
		}
		if first < 0 {
			first = i
		} else if t.v != targets[first].v {
			return differ(targets[first].name, t.name)
		}
	}
	if h[hdrOriginalMethod] != nil && h[hdrForwardedMethod] != nil && h.Get(hdrOriginalMethod) != h.Get(hdrForwardedMethod) {
		return differ(hdrOriginalMethod, hdrForwardedMethod)
	}
	if h[hdrOriginalURL] != nil && h[hdrForwardedHost] != nil && !strings.EqualFold(hostName(urlHost), hostName(h.Get(hdrForwardedHost))) {
		return differ(hdrOriginalURL, hdrForwardedHost)
	}
	return ""
}

// fromTrusted reports whether r's TCP peer is a trusted proxy.
func (g *Gate) fromTrusted(r *http.Request) bool {
	if len(g.opts.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && inPrefixes(g.opts.TrustedProxies, ap.Addr().Unmap())
}

// rebuild returns the visitor's request that a trusted proxy's
// forward-auth request describes, or nil and why it cannot.
func rebuild(r *http.Request, proto int) (*http.Request, string) {
	h := r.Header
	method, host, target := r.Method, r.Host, ""
	switch proto {
	case protoNginx:
		method = h.Get(hdrOriginalMethod)
		// X-Original-URL names the host too (with X-Original-URI,
		// as ingress-nginx's auth-method sends them, Host is the
		// auth-url's); conflicting made sure both name one target.
		if u := h.Get(hdrOriginalURL); u != "" {
			if len(u) > maxOriginalURI {
				return nil, "X-Original-URL is longer than 8 KiB"
			}
			pu, err := url.Parse(u)
			if err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https") {
				return nil, "X-Original-URL " + quoteShort(u) + ": accepted: an absolute http(s) URL"
			}
			host, target = pu.Host, pu.RequestURI()
		} else {
			target = h.Get(hdrOriginalURI)
		}
	case protoErrorPage:
		target = h.Get(hdrOriginalURI)
	case protoForwarded:
		method = h.Get(hdrForwardedMethod)
		if fh := h.Get(hdrForwardedHost); fh != "" {
			host = fh
		}
		target = h.Get(hdrForwardedURI)
	}
	if method == "" {
		method = http.MethodGet
	}
	if !validMethod(method) {
		return nil, "method " + quoteShort(method) + ": accepted: an HTTP method token (GET, POST...)"
	}
	if len(target) > maxOriginalURI {
		return nil, "URI longer than 8 KiB"
	}
	u, err := url.ParseRequestURI(target)
	if err != nil || !strings.HasPrefix(target, "/") {
		return nil, "URI " + quoteShort(target) + ": accepted: an origin-form request target, like /path?query"
	}
	o := new(http.Request)
	*o = *r
	o.Method, o.Host, o.URL, o.RequestURI = method, host, u, target
	o.Body, o.ContentLength = http.NoBody, 0
	return o, ""
}

// validMethod reports whether m is a short HTTP token.
func validMethod(m string) bool {
	if len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// quoteShort quotes at most 64 bytes of s, for an error message.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}
