// Package proxy is the reverse proxy behind `maintenance serve`: it forwards
// the requests a Gate lets through to the application of the request's host.
//
// It is an httputil.ReverseProxy (Rewrite, SetURL, SetXForwarded) per route
// over one tuned http.Transport. Bodies are streamed both ways: an upload is
// passed on as it arrives, and a response without a Content-Length (a
// stream) or of type text/event-stream is flushed to the client piece by
// piece. WebSockets and other HTTP/1.1 upgrades are passed through.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/hostmatch"
)

// DefaultUpstreamTimeout is how long an upstream may take to send its
// response headers when Options.UpstreamTimeout is zero.
const DefaultUpstreamTimeout = 60 * time.Second

// DialTimeout is how long connecting to an upstream may take.
const DialTimeout = 5 * time.Second

// Route sends the requests of one site to one upstream.
type Route struct {
	// Site is the host the route serves, as maintenance.ParseSite accepts
	// it: an exact host (shop.example.com), a wildcard (*.example.com: any
	// subdomain, not example.com itself), or "*" for every host without a
	// route of its own.
	Site string
	// Upstream is the application's base URL, as ParseUpstream accepts it.
	Upstream *url.URL
}

// Options configure a proxy.
type Options struct {
	// Upstream is the default route's upstream: the application of every
	// host that no route names. Nil: such hosts get a 502 answer saying no
	// application is configured for them.
	Upstream *url.URL
	// Routes are per-site upstreams. A request goes to the route of its
	// exact host, else of the longest wildcard that matches it, else to
	// Upstream (a route for "*" is the same as Upstream).
	Routes []Route
	// TrustedProxies are the peers whose forwarding headers are believed:
	// from them, X-Forwarded-For and Forwarded are kept and appended to, and
	// X-Forwarded-Host and -Proto are kept when present. From any other peer
	// they are replaced, so the application cannot be lied to through this
	// proxy.
	TrustedProxies []netip.Prefix
	// TrustAllProxies allows TrustedProxies wider than /8 (IPv4) or /32
	// (IPv6), as maintenance.Options.TrustAllProxies does for the gate;
	// without it New refuses them.
	TrustAllProxies bool
	// Transport is used to reach the upstreams; nil means NewTransport
	// with UpstreamTimeout.
	Transport http.RoundTripper
	// UpstreamTimeout is how long an upstream may take to send its response
	// headers before the request fails with 504 Gateway Timeout; zero means
	// DefaultUpstreamTimeout. It is not a limit on the body: streams and
	// downloads may run for as long as they need. It applies to the default
	// transport only.
	UpstreamTimeout time.Duration
	// MaxConnsPerUpstream is the most connections open to one upstream
	// (scheme, host and port) at once, upgraded ones included: past it,
	// requests wait their turn for a connection (for as long as their
	// client waits) rather than dial more, so that releasing thousands of
	// held requests at once neither runs out of descriptors nor floods the
	// application. Zero means no limit. It applies to the default transport
	// only.
	MaxConnsPerUpstream int
	// Logger receives upstream errors; nil means slog.Default().
	Logger *slog.Logger
	// ObserveUpstream, when set, is called after each round trip to an
	// upstream with the outgoing request (its Host and context are the
	// incoming request's), the route's site, the time until the response
	// headers arrived (or the round trip failed), and the error (nil when
	// the upstream answered, whatever its status). A round trip ended
	// because the client went away is not reported.
	ObserveUpstream func(r *http.Request, route string, d time.Duration, err error)
}

// Proxy is a reverse proxy to one upstream per site. It is safe for
// concurrent use.
type Proxy struct {
	// table finds a host's route as the gate finds its site.
	table  hostmatch.Table[*route]
	routes []Route
	// transport is closed by Close when the proxy made it.
	transport *http.Transport
	logger    *slog.Logger
}

type route struct {
	site   string
	target *url.URL
	rp     *httputil.ReverseProxy
}

// ParseUpstream validates an upstream URL: http or https, with a host, and
// no query, fragment or user information.
func ParseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return nil, fmt.Errorf("upstream %q: accepted: an http:// or https:// URL with a host and no query, like http://127.0.0.1:8000", s)
	}
	return u, nil
}

// NewTransport returns a transport tuned for busy upstreams: many idle
// keep-alive connections, 32 KiB buffers for large bodies, bounded dial and
// TLS handshake times, a bound on the wait for response headers (timeout;
// zero means DefaultUpstreamTimeout) but none on bodies, HTTP/1.1 (which
// upgrades need), and no compression negotiation (the application's own
// encoding passes through).
//
// Past maxConns connections to one upstream (zero: no limit), requests wait
// for one to be free.
func NewTransport(timeout time.Duration, maxConns int) *http.Transport {
	if timeout <= 0 {
		timeout = DefaultUpstreamTimeout
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    512,
		MaxConnsPerHost:        max(maxConns, 0),
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		WriteBufferSize:        32 << 10,
		ReadBufferSize:         32 << 10,
		MaxResponseHeaderBytes: 1 << 20,
	}
}

// New returns a proxy to o's upstreams. The client's Host header is kept
// (applications check it, as Django's ALLOWED_HOSTS does), the query string
// is passed on as it came, and X-Forwarded-For, -Host, -Proto and RFC 7239
// Forwarded are set. Bad options are an error wrapping
// maintenance.ErrInvalid.
func New(o Options) (*Proxy, error) {
	p := &Proxy{logger: o.Logger}
	// Peers are compared unmapped, as the gate compares them.
	trusted := make([]netip.Prefix, 0, len(o.TrustedProxies))
	for _, t := range o.TrustedProxies {
		t, err := maintenance.TrustedPrefix(t)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		if maintenance.WideTrustedPrefix(t) && !o.TrustAllProxies {
			return nil, fmt.Errorf("proxy: trusted proxy %s is wider than /%d (IPv4) or /%d (IPv6); accepted: a narrower prefix, or TrustAllProxies: %w",
				t, maintenance.MinTrustedBits4, maintenance.MinTrustedBits6, maintenance.ErrInvalid)
		}
		trusted = append(trusted, t)
	}
	o.TrustedProxies = trusted
	if p.logger == nil {
		p.logger = slog.Default()
	}
	transport := o.Transport
	if transport == nil {
		p.transport = NewTransport(o.UpstreamTimeout, o.MaxConnsPerUpstream)
		transport = p.transport
	}
	routes := o.Routes
	if o.Upstream != nil {
		routes = append([]Route{{Site: maintenance.DefaultSite, Upstream: o.Upstream}}, routes...)
	}
	for _, rt := range routes {
		site, err := maintenance.ParseSite(rt.Site)
		if err != nil {
			return nil, fmt.Errorf("route: %w", err)
		}
		if rt.Upstream == nil {
			return nil, fmt.Errorf("route %s: no upstream: %w", site, maintenance.ErrInvalid)
		}
		if _, err := ParseUpstream(rt.Upstream.String()); err != nil {
			return nil, fmt.Errorf("route %s: %v: %w", site, err, maintenance.ErrInvalid)
		}
		r := &route{site: site, target: rt.Upstream, rp: p.reverseProxy(site, rt.Upstream, transport, o)}
		if p.table.Add(site, r) {
			return nil, fmt.Errorf("route %s: two upstreams for one site: %w", site, maintenance.ErrInvalid)
		}
		p.routes = append(p.routes, Route{Site: site, Upstream: rt.Upstream})
	}
	if len(p.routes) == 0 {
		return nil, fmt.Errorf("proxy: no upstream and no route: %w", maintenance.ErrInvalid)
	}
	return p, nil
}

// Routes returns the proxy's routes, sites canonical, the default route
// (site "*") first when there is one.
func (p *Proxy) Routes() []Route { return append([]Route(nil), p.routes...) }

// Site returns the site of the route that serves a Host header value, and
// false when no route does.
func (p *Proxy) Site(host string) (string, bool) {
	if r := p.route(host); r != nil {
		return r.site, true
	}
	return "", false
}

// Upstream returns the upstream URL of the route that serves a Host header
// value, or nil when no route does. It must not be modified.
func (p *Proxy) Upstream(host string) *url.URL {
	if r := p.route(host); r != nil {
		return r.target
	}
	return nil
}

// ServeHTTP proxies r to the upstream of its host. A host without a route
// gets a 502 answer (see maintenance.WriteUpstreamError) saying so.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := p.route(r.Host)
	if rt == nil {
		maintenance.WriteUpstreamError(w, r, http.StatusBadGateway, "No application is configured for this host name.")
		return
	}
	rt.rp.ServeHTTP(w, r)
}

// Close closes the idle connections of a transport the proxy made. Requests
// under way are not affected.
func (p *Proxy) Close() {
	if p.transport != nil {
		p.transport.CloseIdleConnections()
	}
}

// route finds the route of a Host header value: the exact host, then the
// longest matching wildcard, then the default route (see hostmatch, which
// the gate uses too).
func (p *Proxy) route(host string) *route { return p.table.Lookup(host) }

// reverseProxy returns the reverse proxy of one route.
func (p *Proxy) reverseProxy(site string, target *url.URL, transport http.RoundTripper, o Options) *httputil.ReverseProxy {
	trusted := o.TrustedProxies
	if o.ObserveUpstream != nil {
		transport = observed{transport, site, o.ObserveUpstream}
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			fromTrusted := peerTrusted(pr.In.RemoteAddr, trusted)
			if fromTrusted {
				if xff := pr.In.Header["X-Forwarded-For"]; len(xff) > 0 {
					pr.Out.Header["X-Forwarded-For"] = xff
				}
			}
			pr.SetURL(target)
			// ReverseProxy drops query parameters it cannot parse (a ';',
			// say); the application gets the query as the client sent it.
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			pr.SetXForwarded()
			// The host and scheme the client asked for, as this hop knows
			// them: from a trusted proxy, what it said; else what came.
			host, proto := pr.In.Host, "http"
			if pr.In.TLS != nil {
				proto = "https"
			}
			if fromTrusted {
				host, proto = trustedView(pr.In, host, proto)
			}
			pr.Out.Header["X-Forwarded-Host"] = []string{host}
			pr.Out.Header["X-Forwarded-Proto"] = []string{proto}
			if host == "" {
				delete(pr.Out.Header, "X-Forwarded-Host")
			}
			setForwarded(pr.Out.Header, pr.In, fromTrusted, host, proto)
			// Other client-IP headers are the client's to write, unless
			// a trusted proxy sent them: X-Real-IP says who the peer is.
			if !fromTrusted {
				for _, k := range clientIPHeaders {
					delete(pr.Out.Header, k)
				}
				if ap, err := netip.ParseAddrPort(pr.In.RemoteAddr); err == nil {
					pr.Out.Header["X-Real-Ip"] = []string{ap.Addr().Unmap().WithZone("").String()}
				}
			}
			pr.Out.Host = pr.In.Host
			// The gate's credentials are not the application's: a bypass
			// secret or an admin session must not reach its logs.
			delete(pr.Out.Header, maintenance.BypassHeader)
			stripCookies(pr.Out.Header, maintenance.BypassCookie, maintenance.SessionCookie)
			// The Maintenance header is the gate's word only: a client's
			// is dropped, and the gate's set while the site is in
			// maintenance or has a window announced.
			delete(pr.Out.Header, maintenance.MaintenanceHeader)
			if v := maintenance.MaintenanceHeaderFrom(pr.In.Context()); v != nil {
				pr.Out.Header[maintenance.MaintenanceHeader] = v
			}
		},
		Transport: transport,
		// Zero, as in Caddy and nginx: an answer with a Content-Length is
		// written through the server's buffer, in one write when it is
		// complete or the buffer is full. -1 (flush after every write) cost
		// a goroutine, a timer and a second write syscall per request.
		// Streaming answers (no Content-Length, text/event-stream) are
		// still flushed after every read: ReverseProxy does that itself.
		FlushInterval: 0,
		// Body copy buffers are reused: without a pool each request
		// allocates 32 KiB, most of the garbage of the pass-through.
		BufferPool: bufferPool{},
		ErrorLog:   slog.NewLogLogger(p.logger.Handler(), slog.LevelError),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			switch cause := context.Cause(r.Context()); {
			case errors.Is(cause, http.ErrServerClosed):
				// The server is stopping and its time for requests
				// under way ran out: an answer rather than an empty reply.
				p.logger.Warn("request cut: the server is stopping", "site", site, "method", r.Method, "path", r.URL.Path)
				w.Header().Set("Connection", "close")
				maintenance.WriteUpstreamError(w, r, http.StatusServiceUnavailable, "The server is restarting. Please try again in a moment.")
				return
			case errors.Is(err, ErrBodyIdle) || bodyIdled(r):
				p.logger.Info("request body idle: cut", "site", site, "method", r.Method, "path", r.URL.Path, "err", err)
				w.Header().Set("Connection", "close")
				http.Error(w, "request timeout: the request body stopped arriving", http.StatusRequestTimeout)
				return
			}
			if r.Context().Err() != nil {
				// The client went away: nobody to answer. 499 is what
				// nginx logs for it.
				p.logger.Debug("client went away before the upstream answered", "site", site, "method", r.Method, "path", r.URL.Path, "err", err)
				w.WriteHeader(499)
				return
			}
			status := http.StatusBadGateway
			if isTimeout(err) {
				status = http.StatusGatewayTimeout
			}
			p.logger.Error("upstream request failed", "site", site, "upstream", target.Redacted(), "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
			maintenance.WriteUpstreamError(w, r, status, "")
		},
	}
}

// clientIPHeaders are the headers, besides the forwarding ones, in which
// proxies and CDNs tell an application the client's address (nginx,
// Akamai, Cloudflare, Fastly, F5, Azure, App Engine...). Applications and
// libraries (django-ipware, Rails, Laravel) read them, so a client that
// writes one could pick its address: serve drops them unless a trusted
// proxy sent them, and sets X-Real-IP to the peer.
var clientIPHeaders = []string{
	"X-Real-Ip", "True-Client-Ip", "Cf-Connecting-Ip", "Cf-Connecting-Ipv6", "X-Client-Ip", "Client-Ip",
	"Fastly-Client-Ip", "X-Cluster-Client-Ip", "X-Forwarded", "Forwarded-For", "X-Original-Forwarded-For",
	"X-Originating-Ip", "X-Remote-Ip", "X-Remote-Addr", "X-Proxyuser-Ip", "X-Azure-Clientip",
	"X-Azure-Socketip", "X-Appengine-User-Ip", "Akamai-Client-Ip", "X-Envoy-External-Address",
}

// trustedView returns the host and scheme a trusted proxy says the client
// asked for: its X-Forwarded-Host and -Proto, else the host= and proto= of
// the last element of its Forwarded, else host and proto unchanged.
func trustedView(in *http.Request, host, proto string) (string, string) {
	fhost, fproto := lastForwarded(in.Header["Forwarded"])
	if v := in.Header["X-Forwarded-Host"]; len(v) > 0 && validHost(v[0]) {
		host = v[0]
	} else if fhost != "" {
		host = fhost
	}
	if v := in.Header["X-Forwarded-Proto"]; len(v) > 0 && (strings.EqualFold(v[0], "http") || strings.EqualFold(v[0], "https")) {
		proto = strings.ToLower(v[0])
	} else if fproto != "" {
		proto = fproto
	}
	return host, proto
}

// lastForwarded returns the host= and proto= of the last element of a
// Forwarded header ("" when absent or not plain); a comma or a quote
// inside a quoted value makes it give up.
func lastForwarded(lines []string) (host, proto string) {
	if len(lines) == 0 {
		return "", ""
	}
	last := lines[len(lines)-1]
	last = last[strings.LastIndexByte(last, ',')+1:]
	for pair := range strings.SplitSeq(last, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		switch {
		case strings.EqualFold(k, "host") && validHost(v):
			host = v
		case strings.EqualFold(k, "proto") && (strings.EqualFold(v, "http") || strings.EqualFold(v, "https")):
			proto = strings.ToLower(v)
		}
	}
	return host, proto
}

// validHost reports whether v can be a Host header value: a name or an
// address with an optional port, no spaces, quotes or control characters.
func validHost(v string) bool {
	if v == "" || len(v) > 261 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-.:[]_", c) >= 0) {
			return false
		}
	}
	return true
}

// setForwarded sets the RFC 7239 Forwarded header of an outgoing request:
// this hop's element (for= the peer, host= and proto= as X-Forwarded-Host
// and -Proto say, so that the two agree), after the incoming header's
// elements when the peer is a trusted proxy.
func setForwarded(out http.Header, in *http.Request, fromTrusted bool, host, proto string) {
	var b strings.Builder
	if fromTrusted {
		for _, v := range in.Header["Forwarded"] {
			if v = strings.TrimSpace(v); v != "" {
				b.WriteString(v)
				b.WriteString(", ")
			}
		}
	}
	if ap, err := netip.ParseAddrPort(in.RemoteAddr); err == nil {
		b.WriteString("for=")
		if a := ap.Addr().Unmap(); a.Is6() {
			b.WriteString(`"[` + a.WithZone("").String() + `]"`)
		} else {
			b.WriteString(a.String())
		}
		b.WriteByte(';')
	} else {
		b.WriteString("for=unknown;")
	}
	if host != "" {
		b.WriteString("host=")
		writeForwardedValue(&b, host)
		b.WriteByte(';')
	}
	b.WriteString("proto=")
	b.WriteString(proto)
	out["Forwarded"] = []string{b.String()}
}

// writeForwardedValue writes v as an RFC 7239 value: a token when it is one,
// else a quoted string.
func writeForwardedValue(b *strings.Builder, v string) {
	token := v != ""
	for i := 0; i < len(v) && token; i++ {
		token = isTokenChar(v[i])
	}
	if token {
		b.WriteString(v)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
}

// isTokenChar reports whether c may appear in an RFC 9110 token.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// stripCookies removes the cookies called names from the Cookie header
// lines of h; it allocates only when one of them is there.
func stripCookies(h http.Header, names ...string) {
	lines := h["Cookie"]
	found := false
	for _, l := range lines {
		for _, n := range names {
			found = found || strings.Contains(l, n)
		}
	}
	if !found {
		return
	}
	var kept []string
	for _, l := range lines {
		var parts []string
		for part := range strings.SplitSeq(l, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if !slices.Contains(names, name) && strings.TrimSpace(part) != "" {
				parts = append(parts, strings.TrimSpace(part))
			}
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = kept
}

// observed reports each round trip to ObserveUpstream.
type observed struct {
	rt      http.RoundTripper
	site    string
	observe func(r *http.Request, route string, d time.Duration, err error)
}

func (o observed) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := o.rt.RoundTrip(r)
	if err == nil || r.Context().Err() == nil {
		o.observe(r, o.site, time.Since(start), err)
	}
	return resp, err
}

// copyBufferSize is ReverseProxy's own buffer size.
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any { return new([copyBufferSize]byte) }}

// bufferPool is the ReverseProxy's pool of body copy buffers. It pools
// array pointers, so that Put does not allocate.
type bufferPool struct{}

func (bufferPool) Get() []byte { return copyBuffers.Get().(*[copyBufferSize]byte)[:] }

func (bufferPool) Put(b []byte) {
	if len(b) == copyBufferSize {
		copyBuffers.Put((*[copyBufferSize]byte)(b))
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func peerTrusted(remoteAddr string, trusted []netip.Prefix) bool {
	if len(trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
