// Package staffcheck lets an application's own staff through a gate in
// maintenance: for a request that would get the maintenance answer and
// carries credentials (cookies, an Authorization header), it asks the
// application, with a GET of a path it serves (a ten-line view that answers
// 2xx for staff and 403 otherwise), whether those credentials are staff's.
//
// A Checker's Bypass method is a maintenance.Options.Bypass hook: `maintenance
// serve --staff-check PATH` uses it, and any Go gate or forward-auth server
// can. Answers are cached per credential (the key is a SHA-256 of the Host
// and the credentials; the credentials themselves are not kept) for a TTL,
// in a bounded cache; identical checks under way are made once; errors,
// timeouts and 5xx answers fail closed (the request gets the maintenance
// answer) and are cached for a shorter time, so an application that is
// down is not asked again by every request.
package staffcheck

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomaint/maintenance"
)

// The defaults of Options.
const (
	DefaultTTL         = 30 * time.Second
	DefaultTimeout     = 2 * time.Second
	DefaultMaxEntries  = 10000
	DefaultMaxInFlight = 64
	// FailureTTL is how long a failed check (an error, a timeout, a 5xx
	// answer) is remembered, at most: the request fails closed meanwhile.
	FailureTTL = 5 * time.Second
	// MaxTTL is the longest Options.TTL.
	MaxTTL = time.Hour
)

// UserAgent is the User-Agent of the checks, so that the application can
// tell them from visitors in its logs.
const UserAgent = "maintenance-staff-check"

// Options configure a Checker.
type Options struct {
	// Path is what is asked of the application: "/staff-check", or with a
	// query, "/staff-check?scope=maintenance" (see ParsePath).
	Path string
	// Upstream returns the base URL of the application of a request's
	// Host header, or nil when there is none (the check then fails).
	Upstream func(host string) *url.URL
	// Transport reaches the applications; nil: a transport of the
	// Checker's own, closed by Close.
	Transport http.RoundTripper
	// TTL is how long an answer is cached per credential; 0: DefaultTTL.
	TTL time.Duration
	// Timeout bounds one check, connection included; 0: DefaultTimeout.
	Timeout time.Duration
	// MaxEntries bounds the cache; 0: DefaultMaxEntries.
	MaxEntries int
	// MaxInFlight bounds the checks under way at once; past it a request
	// fails closed at once. 0: DefaultMaxInFlight.
	MaxInFlight int
	// StripCookies are cookies never passed to the application (the
	// gate's own: maintenance.BypassCookie and maintenance.SessionCookie
	// when nil).
	StripCookies []string
	// Logger receives failed checks (at most one line every 10 s); nil
	// means slog.Default().
	Logger *slog.Logger
}

// Checker asks an application whether a request's credentials are staff's.
// It is safe for concurrent use.
type Checker struct {
	path, query string
	upstream    func(string) *url.URL
	client      *http.Client
	own         *http.Transport
	ttl         time.Duration
	timeout     time.Duration
	maxEntries  int
	maxInFlight int
	strip       []string
	logger      *slog.Logger
	lastLog     atomic.Int64

	mu    sync.RWMutex
	cache map[[32]byte]entry
	calls map[[32]byte]*call
}

type entry struct {
	ok  bool
	exp int64 // Unix ns
}

type call struct {
	done chan struct{}
	ok   bool
}

// ParsePath checks a staff-check path: "/" then printable ASCII, with an
// optional query, no fragment, not "//..." (which would name another host),
// and not under the gate's own /_maintenance/ prefix.
func ParsePath(p string) (string, error) {
	const accepted = "accepted: a path of the application, like /staff-check"
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || len(p) > 2048 {
		return "", fmt.Errorf("staff-check path %q: %s: %w", p, accepted, maintenance.ErrInvalid)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '#' || c == '\\' {
			return "", fmt.Errorf("staff-check path %q: %s (printable ASCII, no spaces, no #): %w", p, accepted, maintenance.ErrInvalid)
		}
	}
	if strings.HasPrefix(p, maintenance.ReservedPrefix) {
		return "", fmt.Errorf("staff-check path %q: %s, not under the gate's own %s: %w", p, accepted, maintenance.ReservedPrefix, maintenance.ErrInvalid)
	}
	if _, err := url.ParseRequestURI(p); err != nil {
		return "", fmt.Errorf("staff-check path %q: %s: %w", p, accepted, maintenance.ErrInvalid)
	}
	return p, nil
}

// ParseURL checks a staff-check URL, for a gate with no upstream of its
// own (`maintenance forward-auth`, the Caddy module): an absolute http or
// https URL of the application, without user info or fragment, whose path
// (with its query) ParsePath accepts. It returns the Options.Path and
// Options.Upstream that ask it: every check goes to the URL's scheme and
// host, whatever the request's Host header (which is passed on as the Host
// of the check), so a client cannot choose where a check goes.
func ParseURL(s string) (path string, upstream func(string) *url.URL, err error) {
	const accepted = "accepted: the absolute URL of the application's staff check, like http://127.0.0.1:8000/staff-check"
	u, perr := url.Parse(s)
	switch {
	case len(s) > 2048 || perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return "", nil, fmt.Errorf("staff-check URL %q: %s: %w", s, accepted, maintenance.ErrInvalid)
	case u.User != nil:
		return "", nil, fmt.Errorf("staff-check URL %q: %s, without user info (the check passes the visitor's own credentials): %w", u.Redacted(), accepted, maintenance.ErrInvalid)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "", nil, fmt.Errorf("staff-check URL %q: %s, without a fragment: %w", s, accepted, maintenance.ErrInvalid)
	case u.Path == "" || u.Path == "/":
		return "", nil, fmt.Errorf("staff-check URL %q: %s, with the path of the check: %w", s, accepted, maintenance.ErrInvalid)
	}
	if path, err = ParsePath(u.RequestURI()); err != nil {
		return "", nil, err
	}
	base := &url.URL{Scheme: u.Scheme, Host: u.Host}
	return path, func(string) *url.URL { return base }, nil
}

// New returns a Checker. Bad options are an error wrapping
// maintenance.ErrInvalid.
func New(o Options) (*Checker, error) {
	path, err := ParsePath(o.Path)
	if err != nil {
		return nil, err
	}
	if o.Upstream == nil {
		return nil, fmt.Errorf("staff check: no Upstream: %w", maintenance.ErrInvalid)
	}
	c := &Checker{upstream: o.Upstream, ttl: o.TTL, timeout: o.Timeout, maxEntries: o.MaxEntries,
		maxInFlight: o.MaxInFlight, strip: o.StripCookies, logger: o.Logger,
		cache: map[[32]byte]entry{}, calls: map[[32]byte]*call{}}
	c.path, c.query, _ = strings.Cut(path, "?")
	switch {
	case c.ttl < 0 || c.ttl > MaxTTL:
		return nil, fmt.Errorf("staff-check TTL %s: accepted: a duration from 1s to %s, like 30s: %w", o.TTL, MaxTTL, maintenance.ErrInvalid)
	case c.ttl == 0:
		c.ttl = DefaultTTL
	case c.ttl < time.Second:
		return nil, fmt.Errorf("staff-check TTL %s: accepted: a duration from 1s to %s, like 30s: %w", o.TTL, MaxTTL, maintenance.ErrInvalid)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxEntries <= 0 {
		c.maxEntries = DefaultMaxEntries
	}
	if c.maxInFlight <= 0 {
		c.maxInFlight = DefaultMaxInFlight
	}
	if c.strip == nil {
		c.strip = []string{maintenance.BypassCookie, maintenance.SessionCookie}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	rt := o.Transport
	if rt == nil {
		c.own = &http.Transport{
			DialContext:            (&net.Dialer{Timeout: c.timeout}).DialContext,
			MaxIdleConnsPerHost:    16,
			IdleConnTimeout:        90 * time.Second,
			TLSHandshakeTimeout:    c.timeout,
			ResponseHeaderTimeout:  c.timeout,
			MaxResponseHeaderBytes: 64 << 10,
			DisableCompression:     true,
		}
		rt = c.own
	}
	// Redirects are answers, not staff: a login redirect is a 3xx.
	c.client = &http.Client{Transport: rt, Timeout: c.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c, nil
}

// Close closes the idle connections of the Checker's own transport.
func (c *Checker) Close() {
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
}

// Bypass reports whether r carries the credentials of the application's
// staff: cookies or an Authorization header that the application's
// Options.Path answers with a 2xx. A request without either is not staff,
// and nothing is asked. It is a maintenance.Options.Bypass hook; the gate
// calls it only for requests that would get the maintenance answer.
func (c *Checker) Bypass(r *http.Request) bool {
	auth, cookie := r.Header["Authorization"], r.Header["Cookie"]
	if len(auth) == 0 && len(cookie) == 0 {
		return false
	}
	k := key(r.Host, auth, cookie)
	now := time.Now().UnixNano()
	c.mu.RLock()
	e, ok := c.cache[k]
	c.mu.RUnlock()
	if ok && now < e.exp {
		return e.ok
	}
	return c.check(r, k)
}

// key hashes a request's Host and credentials. Each part is preceded by its
// length, so no two different requests hash the same input.
func key(host string, auth, cookie []string) [32]byte {
	var buf [512]byte
	b := buf[:0]
	add := func(s string) {
		n := len(s)
		b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		b = append(b, s...)
	}
	add(host)
	b = append(b, byte(len(auth)))
	for _, v := range auth {
		add(v)
	}
	b = append(b, byte(len(cookie)))
	for _, v := range cookie {
		add(v)
	}
	return sha256.Sum256(b)
}

// check asks the application, once for concurrent identical requests.
func (c *Checker) check(r *http.Request, k [32]byte) bool {
	c.mu.Lock()
	if e, ok := c.cache[k]; ok && time.Now().UnixNano() < e.exp {
		c.mu.Unlock()
		return e.ok
	}
	if cl := c.calls[k]; cl != nil {
		c.mu.Unlock()
		select {
		case <-cl.done:
			return cl.ok
		case <-r.Context().Done():
			return false
		}
	}
	if len(c.calls) >= c.maxInFlight {
		c.mu.Unlock()
		c.warn("staff check: too many checks under way; failing closed", "limit", c.maxInFlight)
		return false
	}
	cl := &call{done: make(chan struct{})}
	c.calls[k] = cl
	c.mu.Unlock()

	ok, ttl := c.ask(r)
	c.mu.Lock()
	delete(c.calls, k)
	c.put(k, entry{ok: ok, exp: time.Now().Add(ttl).UnixNano()})
	c.mu.Unlock()
	cl.ok = ok
	close(cl.done)
	return ok
}

// put caches an entry, within the bound: expired entries go first, then
// arbitrary ones (a tenth of the cache), so the cache never grows past
// maxEntries. Called with mu held.
func (c *Checker) put(k [32]byte, e entry) {
	if _, ok := c.cache[k]; !ok && len(c.cache) >= c.maxEntries {
		now := time.Now().UnixNano()
		for x, v := range c.cache {
			if v.exp <= now {
				delete(c.cache, x)
			}
		}
		for x := range c.cache {
			if len(c.cache) < c.maxEntries-c.maxEntries/10 {
				break
			}
			delete(c.cache, x)
		}
	}
	c.cache[k] = e
}

// ask makes the GET; it returns the answer and how long to keep it.
func (c *Checker) ask(r *http.Request) (bool, time.Duration) {
	base := c.upstream(r.Host)
	if base == nil {
		return false, FailureTTL
	}
	cookies := stripCookies(r.Header["Cookie"], c.strip)
	auth := r.Header["Authorization"]
	if len(auth) == 0 && len(cookies) == 0 {
		return false, c.ttl
	}
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + c.path
	u.RawPath, u.RawQuery, u.Fragment = "", c.query, ""
	// The check outlives the request that started it: others may wait
	// on it. It is bounded by the timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		c.warn("staff check failed; failing closed", "url", u.Redacted(), "err", err)
		return false, FailureTTL
	}
	req.Host = r.Host
	req.Header["User-Agent"] = []string{UserAgent}
	if len(auth) > 0 {
		req.Header["Authorization"] = auth
	}
	if len(cookies) > 0 {
		req.Header["Cookie"] = cookies
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.warn("staff check failed; failing closed", "url", u.Redacted(), "err", err)
		return false, FailureTTL
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		c.warn("staff check answered a server error; failing closed", "url", u.Redacted(), "status", resp.StatusCode)
		return false, FailureTTL
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return true, c.ttl
	}
	return false, c.ttl
}

// warn logs at most one line every 10 s: an application that is down must
// not flood the log with one line per visitor.
func (c *Checker) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := c.lastLog.Load()
	if now-last < int64(10*time.Second) || !c.lastLog.CompareAndSwap(last, now) {
		return
	}
	c.logger.Warn("maintenance: "+msg, args...)
}

// stripCookies returns the cookie lines without the named cookies.
func stripCookies(lines []string, names []string) []string {
	var kept []string
	for _, l := range lines {
		var parts []string
		for part := range strings.SplitSeq(l, ";") {
			part = strings.TrimSpace(part)
			name, _, _ := strings.Cut(part, "=")
			if part != "" && !slices.Contains(names, name) {
				parts = append(parts, part)
			}
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	return kept
}
