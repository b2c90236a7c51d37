package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gomaint/maintenance"
)

// The paths the handler serves. Both live under maintenance.ReservedPrefix;
// a Gate in front of the handler passes them on, whatever the maintenance
// state, when they are in its Options.Reserved (Paths), so the admin page
// and the API stay reachable while every site is in maintenance.
const (
	// APIPrefix is the root of the JSON API.
	APIPrefix = maintenance.ReservedPrefix + "api/v1/"
	// PagePrefix is the root of the admin page.
	PagePrefix = maintenance.ReservedPrefix + "admin/"
)

// Paths returns the paths under maintenance.ReservedPrefix that the handler
// serves, for maintenance.Options.Reserved of a gate in front of it.
func Paths() []string { return []string{PagePrefix, APIPrefix} }

// Sources of the changes the admin makes, as the audit log shows them.
const (
	SourcePage = "admin"
	SourceAPI  = "api"
)

// DefaultSessionTTL is how long a sign-in lasts when Options.SessionTTL is 0.
const DefaultSessionTTL = 12 * time.Hour

// Options configure an Admin. The zero value is useful.
type Options struct {
	// Logger receives errors that are not the client's (a store that fails);
	// nil means slog.Default().
	Logger *slog.Logger
	// Gate, when set, renders the preview of each site's maintenance page
	// with its own templates. Without it the preview says it is unavailable.
	Gate *maintenance.Gate
	// SessionTTL is how long a sign-in to the admin page lasts; 0 means
	// DefaultSessionTTL.
	SessionTTL time.Duration
	// SecureCookies marks the session cookie Secure on every answer. When
	// false it is Secure on requests that came over TLS; set it when a
	// proxy in front terminates TLS.
	SecureCookies bool
	// TrustedOrigins are origins ("https://ops.example.com") whose
	// cross-origin writes are let through: every other cross-origin POST,
	// PUT or DELETE is refused with 403 (http.CrossOriginProtection).
	TrustedOrigins []string
	// ClientIP returns the address that sign-in throttling counts failures
	// by; nil means the TCP peer. Behind a proxy, give one that reads the
	// proxy's forwarding header, or every client shares the proxy's count.
	ClientIP func(*http.Request) netip.Addr
	// Now is the clock of sessions and throttling; nil means time.Now.
	Now func() time.Time
}

// Admin serves the admin page and the JSON API over one store. It is safe
// for concurrent use.
type Admin struct {
	store    maintenance.Store
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	throttle *throttle
	pages    *pages
	handler  http.Handler

	keyMu sync.Mutex
	key   []byte
}

// New returns an Admin over store. The store's server key signs the
// sessions, and its use counts are shown beside the bypass links. Bad
// options are an error wrapping maintenance.ErrInvalid. New does no I/O.
func New(store maintenance.Store, opts Options) (*Admin, error) {
	if store == nil {
		return nil, fmt.Errorf("admin: %w: no store", maintenance.ErrInvalid)
	}
	if opts.SessionTTL < 0 {
		return nil, fmt.Errorf("admin: %w: session TTL %s: accepted: a positive duration, or 0 for %s", maintenance.ErrInvalid, opts.SessionTTL, DefaultSessionTTL)
	}
	if opts.SessionTTL == 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	a := &Admin{store: store, opts: opts, log: opts.Logger, now: opts.Now}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.throttle = newThrottle(a.now)
	var err error
	if a.pages, err = loadPages(); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range opts.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("admin: %w: trusted origin %q: %v", maintenance.ErrInvalid, o, err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(a.denyCrossOrigin))
	mux := http.NewServeMux()
	a.register(mux)
	a.handler = cop.Handler(mux)
	return a, nil
}

// Handler returns the handler of the JSON API under APIPrefix and of the
// admin page under PagePrefix, at those absolute paths: mount it on a mux
// with mux.Handle(admin.APIPrefix, h) and mux.Handle(admin.PagePrefix, h).
// Other paths get 404.
func (a *Admin) Handler() http.Handler { return a.handler }

// serverKey returns the store's server key, read once.
func (a *Admin) serverKey(ctx context.Context) ([]byte, error) {
	a.keyMu.Lock()
	defer a.keyMu.Unlock()
	if a.key != nil {
		return a.key, nil
	}
	k, err := a.store.Key(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the server key: %w", err)
	}
	a.key = k
	return k, nil
}

// clientIP returns the address sign-in failures are counted by.
func (a *Admin) clientIP(r *http.Request) netip.Addr {
	if a.opts.ClientIP != nil {
		return a.opts.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, _ := netip.ParseAddr(host)
	return addr.Unmap()
}

// denyCrossOrigin answers a write that http.CrossOriginProtection refused.
func (a *Admin) denyCrossOrigin(w http.ResponseWriter, r *http.Request) {
	if isAPI(r) {
		writeProblem(w, r, a.log, errCrossOrigin)
		return
	}
	a.pageError(w, r, errCrossOrigin)
}
