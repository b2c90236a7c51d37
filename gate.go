package maintenance

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Gate. The zero value is useful: every host belongs to a
// site in the store (or "*"), forwarding headers are ignored, the built-in
// page is used.
type Options struct {
	// Sites are declared in the store when the gate starts, if missing, so
	// that `maintenance on` with no --site reaches them.
	Sites []string
	// TrustedProxies are the proxies whose forwarding header is believed.
	// Empty: the TCP peer is the client and forwarding headers
	// are ignored.
	TrustedProxies []netip.Prefix
	// TrustAllProxies allows TrustedProxies prefixes wider than /8 (IPv4)
	// or /32 (IPv6), such as 0.0.0.0/0: every client inside them may then
	// choose its own address. Without it New refuses them; with it the gate
	// logs a warning naming them.
	TrustAllProxies bool
	// ForwardedHeader is the header the trusted proxies write:
	// "X-Forwarded-For" (the default) or "Forwarded". Only that one is read:
	// a header the proxy does not write is controlled by the client.
	ForwardedHeader string
	// Exempt are ignore patterns of this gate, for every site (health checks,
	// webhooks): same syntax as `maintenance ignore add`.
	Exempt []string
	// Reserved are the paths under ReservedPrefix that the application
	// serves itself, such as the admin package's (admin.Paths): an exact
	// path, or one ending in "/" for a subtree (which covers the path
	// without its last slash too, as http.ServeMux redirects it). They are
	// exempt. Every other path under ReservedPrefix that is not one of the
	// gate's own endpoints gets the gate's 404 and never reaches the
	// application, whatever the maintenance state.
	Reserved []string
	// Bypass, when it returns true, lets a request through (staff, superusers).
	// It is called only for requests that would otherwise be blocked.
	Bypass func(*http.Request) bool
	// BlockStaff, when true, stops admin sessions from passing: people
	// signed in to the admin page get the maintenance answer like everyone
	// else (step 6 of the decision). Bypass links and the Bypass hook still pass.
	BlockStaff bool
	// Templates is a directory of page templates: 503.html for every site and
	// HOST/503.html for one site (a wildcard's "*" is written "_", as in
	// _.example.com/503.html). Templates are parsed and checked by New.
	Templates string
	// Release is this gate's own release ($MAINTENANCE_RELEASE when
	// empty), reported to the store so that `maintenance gates` shows which
	// gate runs which. While it differs from the fleet's target release
	// (`maintenance release set`), server errors become the maintenance
	// answer (deploy-error mode).
	Release string
	// StateCache is a file where the gate keeps the last state it read
	// from the store, so that a gate that starts while the store is
	// unreachable serves that state. Empty: no cache.
	StateCache string
	// FailClosed says what a gate that starts while the store is unreachable
	// and has no state cache does: false (fail open, the default) passes
	// every request; true answers every request with the maintenance answer
	// of the default site, until the store is reached.
	FailClosed bool
	// MaxDuration, when set, is how long a site may stay in maintenance with
	// no end before the gate calls it forgotten: an error log line every
	// minute, and a warning in the registry that `maintenance status` shows.
	MaxDuration time.Duration
	// Logger receives store errors and warnings; nil means slog.Default().
	Logger *slog.Logger
	// HoldLimit is the most requests a gate holds at once while sites are
	// on in mode hold (see ModeHold); past it, a request gets the
	// maintenance answer at once. 0 means DefaultHoldLimit.
	HoldLimit int
	// HoldTimeout is how long a request waits in mode hold before it gets
	// the maintenance answer. 0 means DefaultHoldTimeout.
	HoldTimeout time.Duration
	// Observer, when set, is told the outcome of every request the gate
	// decides (metrics.Metrics is one). Nil costs nothing.
	Observer Observer
}

// The defaults of Options.HoldLimit and Options.HoldTimeout.
const (
	DefaultHoldLimit   = 10000
	DefaultHoldTimeout = 30 * time.Second
)

// Gate is net/http middleware that puts sites into maintenance. It decides
// every request from an immutable snapshot of the store's state, swapped
// atomically when the store reports a change. A Gate is safe for concurrent use.
type Gate struct {
	store  Store
	opts   Options
	cfg    buildConfig
	header string
	snap   atomic.Pointer[snapshot]

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every swap

	// reserved are the parsed Options.Reserved.
	reserved []reservedPath

	// follow keeps the gate in step with the store.
	follow *follower

	// id and started identify this gate in the store's registry.
	id      string
	started time.Time
	// regressed notes a version that went backwards, until the next change.
	regressed atomic.Pointer[string]
	// problems are the invalid values of the state last read (checkState).
	problems atomic.Pointer[[]Problem]
	// key is the store's server key, once read; it checks bypass cookies
	// and admin sessions.
	key atomic.Pointer[[]byte]
	// uses counts bypass link uses until the next heartbeat writes them.
	uses uses

	// buildMu serializes snapshot builds; last is the state of the last
	// one, and timer rebuilds it at its next window boundary.
	buildMu sync.Mutex
	last    *State
	timer   *time.Timer

	// ctx is the gate's own background context, cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool
	// closing is closed by Close, to release held requests.
	closing chan struct{}

	// held counts the requests waiting in mode hold.
	held atomic.Int64
}

// New starts a gate on store: it checks opts, declares opts.Sites, loads the
// state and follows the store until Close. Bad options are an error wrapping
// ErrInvalid. A store that cannot be reached is not an error: the gate starts
// from opts.StateCache, else by opts.FailClosed, and keeps trying.
func New(ctx context.Context, store Store, opts Options) (*Gate, error) {
	g, sites, err := newGate(store, opts)
	if err != nil {
		return nil, err
	}
	g.follow.sites = sites
	g.ctx, g.cancel = context.WithCancel(context.WithoutCancel(ctx))
	watch, stop, st, err := g.follow.connect(ctx)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			g.cancel()
			return nil, err
		}
		g.install(g.coldStart(err)) // logs why
		msg := err.Error()
		g.follow.storeErr.Store(&msg)
	} else {
		g.follow.read(st)
	}
	go g.follow.run(g.ctx, watch, stop)
	return g, nil
}

// newGate checks opts and returns a gate with no snapshot yet, and the
// canonical names of opts.Sites.
func newGate(store Store, opts Options) (*Gate, []string, error) {
	g := &Gate{store: store, opts: opts, changed: make(chan struct{}),
		closing: make(chan struct{}), id: gateID(), started: time.Now().UTC()}
	g.follow = newFollower(g, store)
	g.problems.Store(new([]Problem))
	g.cfg.logger = opts.Logger
	if g.cfg.logger == nil {
		g.cfg.logger = slog.Default()
	}
	// Stores kept in a file log there when the file is deleted, moved or
	// replaced under the gate.
	if l, ok := store.(interface{ SetLogger(*slog.Logger) }); ok {
		l.SetLogger(g.cfg.logger)
	}
	if g.opts.Release == "" {
		g.opts.Release = os.Getenv("MAINTENANCE_RELEASE")
	}
	if g.opts.Release != "" {
		if _, err := ParseRelease(g.opts.Release); err != nil {
			return nil, nil, err
		}
	}
	g.cfg.release = g.opts.Release
	if opts.MaxDuration < 0 {
		return nil, nil, invalidf("max duration %s: accepted: a positive duration, or 0 for no limit", opts.MaxDuration)
	}
	switch {
	case opts.HoldLimit < 0:
		return nil, nil, invalidf("hold limit %d: accepted: a positive number of requests, or 0 for %d", opts.HoldLimit, DefaultHoldLimit)
	case opts.HoldLimit == 0:
		g.opts.HoldLimit = DefaultHoldLimit
	}
	switch {
	case opts.HoldTimeout < 0:
		return nil, nil, invalidf("hold timeout %s: accepted: a positive duration, or 0 for %s", opts.HoldTimeout, DefaultHoldTimeout)
	case opts.HoldTimeout == 0:
		g.opts.HoldTimeout = DefaultHoldTimeout
	}
	switch h := http.CanonicalHeaderKey(opts.ForwardedHeader); h {
	case "":
		g.header = "X-Forwarded-For"
	case "X-Forwarded-For", "Forwarded":
		g.header = h
	default:
		return nil, nil, invalidf("forwarded header %q: accepted: X-Forwarded-For, Forwarded", opts.ForwardedHeader)
	}
	// Client addresses are compared unmapped, so IPv4-mapped prefixes are
	// unmapped too (::ffff:10.0.0.0/104 is 10.0.0.0/8).
	trusted, wide, err := checkTrustedProxies(opts.TrustedProxies, opts.TrustAllProxies)
	if err != nil {
		return nil, nil, err
	}
	g.opts.TrustedProxies = trusted
	if len(wide) > 0 {
		g.cfg.logger.Warn("maintenance: trusting the forwarding headers of every client in these wide prefixes (TrustAllProxies): they can choose their own address and pass allow entries", "trusted_proxies", fmt.Sprint(wide))
	}
	for _, e := range opts.Exempt {
		p, err := ParsePattern(e)
		if err != nil {
			return nil, nil, fmt.Errorf("exempt path: %w", err)
		}
		g.cfg.exempt = append(g.cfg.exempt, p)
	}
	for _, v := range opts.Reserved {
		p, err := parseReserved(v)
		if err != nil {
			return nil, nil, err
		}
		g.reserved = append(g.reserved, p)
	}
	sites, err := parseSites(opts.Sites)
	if err != nil {
		return nil, nil, err
	}
	if g.cfg.pages, err = loadPages(opts.Templates); err != nil {
		return nil, nil, err
	}

	return g, sites, nil
}

// Actor names the OS user and host, for the audit log: "alice@web-1". The
// user comes from the user database, else $USER or $USERNAME.
func Actor() string {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	for _, v := range []string{"USER", "USERNAME"} {
		if name == "" {
			name = os.Getenv(v)
		}
	}
	if name == "" {
		name = "unknown"
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return name
}

func (g *Gate) swap(s *snapshot) {
	g.snap.Store(s)
	g.mu.Lock()
	close(g.changed)
	g.changed = make(chan struct{})
	g.mu.Unlock()
	select {
	case g.follow.kick <- struct{}{}:
	default:
	}
}

// Version returns the state version the gate serves.
func (g *Gate) Version() int64 { return g.snap.Load().version }

// Changed returns a channel that is closed the next time the gate swaps its
// snapshot. Tests and tools use it to wait for a change without sleeping.
func (g *Gate) Changed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changed
}

// WaitVersion waits until the gate serves version v or a later one.
func (g *Gate) WaitVersion(ctx context.Context, v int64) error {
	for {
		ch := g.Changed()
		if g.Version() >= v {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// SiteOf returns the name of the declared site that requests with this
// Host header value belong to: an exact name, a wildcard or "*". It is the
// name the Observer is given, for labels of bounded cardinality.
func (g *Gate) SiteOf(host string) string { return g.snap.Load().site(host).name }

// State returns a copy of the state the gate serves, as it read it from the
// store (or its state cache, or its failure policy); nil before any.
func (g *Gate) State() *State {
	g.buildMu.Lock()
	defer g.buildMu.Unlock()
	if g.last == nil {
		return nil
	}
	return g.last.Clone()
}

// Synced returns when the gate last read the whole state from the store
// (at each change, and every GateHeartbeat as a safety net), whether or not
// it changed anything; zero when it never has (it serves its state cache or
// its failure policy). The time since then says how stale the state it
// serves may be.
func (g *Gate) Synced() time.Time {
	if ns := g.follow.synced.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Close stops watching the store, and releases the requests held in mode
// hold: each is decided once more on the last snapshot, and goes on or gets
// the maintenance answer with no more waiting. It does not close the store.
// It is idempotent.
func (g *Gate) Close() error {
	if g.closed.Swap(true) {
		return nil
	}
	close(g.closing)
	g.cancel()
	<-g.follow.done
	g.buildMu.Lock()
	if g.timer != nil {
		g.timer.Stop()
	}
	g.buildMu.Unlock()
	return nil
}

// checkTemplate executes a page template with sample data for each reason,
// with an end and without, for a safe and an unsafe request, so that a
// template that uses .EndsAt unguarded (or fails otherwise) is refused when
// it is loaded or set, never on a request.
func checkTemplate(t *template.Template, name string) error {
	for _, end := range []*PageTime{{time.Now().Add(time.Hour)}, nil} {
		for _, why := range []reason{reasonFull, reasonReadOnly, reasonRelease} {
			a := answerFor(&SiteState{Site: "shop.example.com", RetryAfter: time.Hour}, nil, why)
			for _, unsafe := range []bool{false, true} {
				sample := a.pageData(catalogs[0], -1, unsafe)
				if sample.EndsAt = end; end == nil {
					sample.SecondsLeft = 0
				} else {
					sample.SecondsLeft = 3600
				}
				if err := t.Execute(discard{}, sample); err != nil {
					return invalidf("template %s: %v", name, err)
				}
			}
		}
	}
	return nil
}

// loadPages parses the page templates of dir and checks them by executing
// each once, so that a broken template fails at start, never per request.
func loadPages(dir string) (*pages, error) {
	p := &pages{sites: map[string]*template.Template{}}
	if dir == "" {
		return p, nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, invalidf("templates directory %q: %v", dir, errors.Unwrap(err))
	}
	if !fi.IsDir() {
		return nil, invalidf("templates directory %q: not a directory", dir)
	}
	parse := func(path string) (*template.Template, error) {
		t, err := template.ParseFiles(path)
		if err != nil {
			return nil, invalidf("template %s: %v", path, err)
		}
		if err := checkTemplate(t, path); err != nil {
			return nil, err
		}
		return t, nil
	}
	def := filepath.Join(dir, "503.html")
	if _, err := os.Stat(def); err == nil {
		if p.def, err = parse(def); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, invalidf("templates directory %q: %v", dir, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name(), "503.html")
		if _, err := os.Stat(path); err != nil {
			continue
		}
		name := e.Name()
		if strings.HasPrefix(name, "_.") {
			name = "*" + name[1:]
		}
		site, err := ParseSite(name)
		if err != nil {
			return nil, invalidf("template %s: the directory does not name a site: %v", path, err)
		}
		if p.sites[site], err = parse(path); err != nil {
			return nil, err
		}
	}
	if p.def == nil && len(p.sites) == 0 {
		return nil, invalidf("templates directory %q has no 503.html and no HOST/503.html", dir)
	}
	// DIR/assets/ is served under AssetsPath, as a stored page's assets.
	assets, err := readAssets(filepath.Join(dir, "assets"))
	if err != nil {
		return nil, err
	}
	total := 0
	for _, a := range assets {
		total += len(a.Data)
	}
	if total > MaxPageSize {
		return nil, invalidf("templates directory %q: assets/ holds %d bytes; accepted: at most %d (1 MiB)", dir, total, MaxPageSize)
	}
	d := (&Page{Assets: assets}).digest()
	p.assets = compileAssets(assets, d[:16])
	return p, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
