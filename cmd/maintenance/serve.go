package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/admin"
	"github.com/gomaint/maintenance/internal/storeurl"
	"github.com/gomaint/maintenance/metrics"
	"github.com/gomaint/maintenance/proxy"
	"github.com/gomaint/maintenance/staffcheck"
)

const serveUsage = `Usage: maintenance serve [--config FILE] [--listen ADDR]
           (--upstream URL | --demo | --site HOST=URL...) [flags]

Runs a reverse proxy in front of web applications. While a site is in
maintenance its visitors get the maintenance answer; everything else is
passed to the site's application unchanged: the Host header and the query
are kept, X-Forwarded-For, -Host, -Proto and Forwarded (RFC 7239) are set.
Uploads and answers are streamed (event streams are flushed as each event
comes), WebSockets and other upgrades pass through; an upgraded connection
whose site turns on is closed (WebSockets with close code 1012 and the
site's message). GET
/_maintenance/status answers the state of the request's site as JSON, GET
/_maintenance/health 200 while serve runs (for load balancers). Any other
/_maintenance/ path (but the admin page and API with --admin) gets serve's
404 and never reaches an application. A path that some server reads as
another (/static/..;/admin, %2e%2e, %2f, //, a backslash) is never exempt.

Routing: a request goes to the --site HOST=URL of its exact host, else of
the longest wildcard that matches it, else to --upstream (or the demo).
Without a default, a host with no route gets a 502 page saying that no
application is configured for it. An application that is down gets a 502
page, one that sends no response headers within --upstream-timeout a 504
page: HTML, application/problem+json or text/plain, as Accept asks.

Flags:
  --config FILE          read settings from FILE too (see below)
  --listen ADDR          address to listen on (default 127.0.0.1:8080; use
                         :8080 to listen on every interface)
  --upstream URL         the default application, like http://127.0.0.1:8000
  --demo                 serve a built-in sample app as the default
  --site HOST[=URL]      declare a site (repeatable): exact host
                         (shop.example.com), *.wildcard (any subdomain) or
                         *; with =URL, its requests go to that application
  --upstream-timeout DUR how long an application may take to send its
                         response headers before a 504 (default 60s); bodies
                         (streams, downloads, uploads) have no time limit
  --body-idle-timeout DUR
                         a request body that sends nothing for this long is
                         cut with a 408 (default 60s; 0s: never); a body
                         that keeps moving, however slowly, is not
  --max-connections N    the most client connections open at once (default:
                         from the descriptor limit, ulimit -n, leaving one
                         per connection for its upstream); past it a small
                         reserve answers /_maintenance/health only, then new
                         connections are closed
  --upstream-max-connections N
                         the most connections to one application at once;
                         past it requests wait their turn (default: the
                         same as --max-connections)
  --shutdown-timeout DUR on SIGINT or SIGTERM, how long requests under way
                         may take to finish before they are cut (default
                         30s)
  --tls-cert FILE        serve HTTPS (and HTTP/2) with this certificate
  --tls-key FILE         chain and key (PEM); both or neither
  --trusted-proxy CIDR   a proxy in front of serve whose X-Forwarded-For and
                         Forwarded are believed and appended to (repeatable);
                         without one, forwarding headers from clients are
                         replaced and the TCP peer is the client; a
                         prefix wider than /8 (IPv4) or /32 (IPv6) needs
                         --trust-all-proxies
  --trust-all-proxies    accept --trusted-proxy prefixes that wide, such
                         as 0.0.0.0/0: every client in them may choose its
                         own address (logged as a warning at start)
  --exempt PATTERN       a path never blocked, for every site (repeatable):
                         /exact, /prefix/*, ^regex, with an optional method
  --templates DIR        page templates: DIR/503.html for every site,
                         DIR/HOST/503.html for one (write *. as _.)
  --state-cache PATH     keep the last state read from the store in PATH, so
                         that serve starting while the store is unreachable
                         serves it
  --fail open|closed     what serve does when it starts while the store is
                         unreachable and there is no state cache: open (the
                         default) passes every request, closed answers every
                         request with the maintenance page
  --release ID           this instance's release, shown by 'maintenance
                         gates' (default $MAINTENANCE_RELEASE)
  --hold-timeout DUR     in mode hold, how long a request waits for the site
                         to come back before it gets the maintenance answer
                         (default 30s)
  --hold-limit N         in mode hold, the most requests held at once; past
                         it, the maintenance answer at once (default 10000)
  --max-duration DUR     call maintenance forgotten when a site has been on
                         this long with no end: an error in the log every
                         minute, and a warning in 'maintenance status'
                         (default: no limit)
  --metrics-listen ADDR  serve Prometheus metrics on http://ADDR/metrics
                         (off by default; a separate listener, so the
                         metrics are not exposed to visitors): the sites'
                         state, requests by site and outcome, and the
                         upstreams' requests, errors and latency
  --admin                mount the admin page (/_maintenance/admin/) and the
                         JSON API (/_maintenance/api/v1/) on this listener;
                         sign in as a user of 'maintenance user add', call
                         the API with a token of 'maintenance token create'
  --block-staff          signed-in admins get the maintenance answer like
                         every visitor (by default their session lets them
                         through the sites in maintenance)
  --staff-check PATH     let the application's own staff through: a request
                         that would get the maintenance answer and carries
                         cookies or an Authorization header is let through
                         when GET PATH on its site's application, with those
                         headers only, answers 2xx (fails closed on errors
                         and after 2s)
  --staff-check-ttl DUR  how long an answer is kept per credential (default
                         30s; 1s to 1h)
  --webhooks=false       do not deliver webhooks; by default every serve
                         takes part and the one holding the store's lease
                         delivers (see 'maintenance help webhook')
  --webhook-lease DUR    how long the delivery lease lasts unless renewed
                         (3s to 10m, default 30s): another serve takes over
                         within about that long after the holder dies
  --log-format text|json the format of every log line on stderr (default
                         text)
  --access-log=false     no access log; by default every request is logged:
                         method, host, path (no query), status, bytes,
                         duration, client, site, outcome (the gate's
                         decision: passed, exempt, allowed-ip, bypass, held,
                         blocked; gate for its own endpoints) and
                         maintenance=true when the visitor got the
                         maintenance answer

Configuration file (--config FILE): one setting per line, the name of a
flag without dashes, a space, and the value (the rest of the line); '#'
starts a comment line; a repeatable flag is repeated; a boolean is its name
alone or 'name true|false'. For example:

  # /etc/maintenance/serve.conf
  listen :8080
  upstream http://127.0.0.1:8000
  site shop.example.com=http://127.0.0.1:8001
  site *.example.org=http://127.0.0.1:8002
  trusted-proxy 10.0.0.0/8
  exempt /healthz
  store postgres://maintenance@db/maintenance

A flag on the command line wins over the file; a repeatable flag on the
command line replaces the file's list. Errors name the file and the line.

Signals: SIGINT or SIGTERM stops serve gracefully: it stops accepting,
held requests get the maintenance answer, upgraded connections are closed
(WebSockets with close code 1001), and requests under way finish for up to
--shutdown-timeout; those still running then are cut (a 503 if no answer
was sent yet), logged with cut=true, and serve exits 0. SIGHUP reloads: the file
and the templates are read again, the certificate too, and a new gate and
proxy take the new requests while those under way finish on the old ones;
no connection is dropped. A file with an error leaves the running
configuration in place (the error is logged). listen, metrics-listen,
store, demo, log-format, max-connections and switching TLS on or off take
effect on a restart only (a reload says so in the log).

While the store is unreachable, serve keeps serving the last state it read,
retries every second at most, and logs the error once.
`

// cutWait is how long serve waits, once --shutdown-timeout ran out and the
// requests still under way were cut, for their handlers to log them.
const cutWait = 5 * time.Second

// Server timeouts: the headers of a request must arrive within
// readHeaderTimeout; an idle keep-alive connection is closed after
// idleTimeout. There is no limit on bodies, so that uploads, downloads and
// streams run for as long as they need.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
)

func runServe(ctx context.Context, e *env, args []string) error {
	base := *e // before the flags: a reload parses them again from here
	cfg, err := loadServeConfig(e, args)
	if err != nil {
		return err
	}
	logger := newServeLogger(e.stderr, cfg.jsonLog)
	useLogger(logger)
	// From here on SIGHUP reloads (and no longer ends the process).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	rawLn, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.listen, err)
	}
	defer rawLn.Close()
	nofile := openFilesLimit()
	reserve := connReserve(int(min(nofile, 1<<20)))
	ln := newLimitListener(rawLn, cfg.maxConns, reserve, logger)
	if nofile > 0 && uint64(2*cfg.maxConns+reserve+fdHeadroom) > nofile {
		logger.Warn(fmt.Sprintf("--max-connections %d may run out of descriptors: the limit (ulimit -n) is %d, and each connection may need one to its upstream too", cfg.maxConns, nofile))
	}

	var demoURL string
	if cfg.demo {
		stop, addr, err := startDemo()
		if err != nil {
			return err
		}
		defer stop()
		demoURL = "http://" + addr
	}

	// serve creates its store (with init, the only command that does), so
	// that the CLI finds it. A store that cannot be reached yet is not
	// fatal: the gate serves its state cache or its failure policy, and
	// connects when it can.
	if kind, _, _ := storeurl.Parse(cfg.store); kind == "sqlite" || kind == "file" {
		if _, err := storeurl.Create(ctx, cfg.store); errors.Is(err, maintenance.ErrInvalid) {
			return err
		}
	}
	st, err := storeurl.OpenLazy(ctx, cfg.store)
	if err != nil {
		return err
	}
	defer st.Close()

	s := &server{ctx: ctx, st: st, logger: logger, demoURL: demoURL, live: map[*generation]bool{}, upgrades: newUpgrades()}
	startMetrics := func() {}
	if cfg.metricsListen != "" {
		mln, err := net.Listen("tcp", cfg.metricsListen)
		if err != nil {
			return fmt.Errorf("listening on %s for metrics: %w", cfg.metricsListen, err)
		}
		defer mln.Close()
		reg := prometheus.NewRegistry()
		s.metrics = metrics.New(reg)
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
		defer msrv.Close()
		// Served once the first gate is watched: a scrape never sees no gate.
		startMetrics = func() {
			go msrv.Serve(mln)
			logger.Info("metrics on http://" + mln.Addr().String() + "/metrics")
		}
	}
	gen, err := s.newGeneration(cfg)
	if err != nil {
		return err
	}
	s.cur.Store(gen)
	defer s.closeAll()
	if s.metrics != nil {
		s.metrics.Watch(gen.gate)
	}
	startMetrics()
	if cfg.webhooks {
		// One serve or gate of the fleet delivers webhooks at a time (a
		// lease in the store); the others stand by to take over.
		dl := maintenance.NewDeliverer(st, maintenance.DelivererOptions{Logger: logger, LeaseTTL: cfg.webhookLease})
		s.deliverer = dl
		dctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			dl.Run(dctx)
		}()
		defer func() { stop(); <-done }()
		if s.metrics != nil {
			s.metrics.WatchWebhooks(dl.Failed)
		}
	}

	// Requests' contexts end with cause http.ErrServerClosed when stopping
	// cuts them.
	baseCtx, cutRequests := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cutRequests(nil)
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ConnContext:       connContext,
	}
	scheme := "http"
	if cfg.cert != nil {
		scheme = "https"
		s.cert.Store(cfg.cert)
		srv.TLSConfig = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			NextProtos:     []string{"h2", "http/1.1"},
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil },
		}
	}
	served := make(chan error, 1)
	go func() {
		if cfg.cert != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	what := "the built-in demo app"
	if cfg.upstream != nil {
		what = cfg.upstream.Redacted()
	} else if !cfg.demo {
		what = "none (hosts without a route get a 502)"
	}
	logger.Info("serving "+scheme+"://"+ln.Addr().String(), "upstream", what, "store", storeurl.Redact(cfg.store), "version", gen.gate.Version(),
		"max_connections", cfg.maxConns)
	for _, r := range cfg.routes {
		logger.Info("route", "site", r.Site, "upstream", r.Upstream.Redacted())
	}
	if err := gen.gate.StoreError(); err != nil {
		logger.Warn("the store cannot be read yet", "err", err)
	}
	if cfg.admin {
		logger.Info("admin page on "+scheme+"://"+ln.Addr().String()+admin.PagePrefix, "api", scheme+"://"+ln.Addr().String()+admin.APIPrefix)
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
			logger.Warn("the admin page is reachable from other machines: serve listens on " + ln.Addr().String() + "; sign-in is required and throttled, but consider --listen 127.0.0.1:PORT and a tunnel")
		}
	}
	if cfg.demo {
		logger.Info(fmt.Sprintf("try it: open %s://%s, then run 'maintenance on --message \"Back in 5 minutes\"' and 'maintenance off' in another terminal", scheme, ln.Addr()))
	}

	for {
		select {
		case err := <-served:
			return fmt.Errorf("serving: %w", err)
		case <-hup:
			next := base
			cfg = s.reload(&next, args, cfg)
			continue
		case <-ctx.Done():
		}
		break
	}
	return s.stop(srv, served, cutRequests, cfg.shutdown)
}

// stop stops serve gracefully: it stops accepting, answers the held
// requests, closes the upgraded connections (WebSockets with close code
// 1001, going away: they never end by themselves), and lets the requests
// under way finish for up to timeout. Those still running then are cut:
// their contexts end with cause http.ErrServerClosed (the proxy answers 503
// to a request still waiting for its upstream), their connections are
// closed, and serve waits up to cutWait for their handlers to return, so
// that each gets its access log line. A stop that went so is a success.
func (s *server) stop(srv *http.Server, served <-chan error, cut context.CancelCauseFunc, timeout time.Duration) error {
	s.logger.Info("stopping; finishing requests under way", "timeout", timeout)
	// Closed gates answer the requests they hold (mode hold) at once.
	s.closeGates()
	if n := s.upgrades.closeAll(wsGoingAway, "serve is stopping"); n > 0 {
		s.logger.Info("closed upgraded connections", "count", n)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", serr)
	}
	if err == nil {
		// Shutdown does not wait for hijacked connections' handlers.
		if !s.waitHandlers(cutWait) {
			s.logger.Warn("stopping: upgraded connections still open", "requests", s.handlers.Load())
		}
		return nil
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stopping: %w", err)
	}
	s.logger.Warn("--shutdown-timeout ran out: cutting the requests still under way", "timeout", timeout, "requests", s.handlers.Load())
	cut(http.ErrServerClosed)
	// A handler cut while it waited for its upstream answers 503 on its
	// connection; then the connections still open are closed (a client
	// that does not read must not hold the stop).
	s.waitHandlers(time.Second)
	srv.Close()
	if !s.waitHandlers(cutWait) {
		return fmt.Errorf("stopping: %d requests did not end within %s of being cut", s.handlers.Load(), cutWait)
	}
	return nil
}

// waitHandlers waits up to d for every handler to return, and reports
// whether they did.
func (s *server) waitHandlers(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for s.handlers.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// newServeLogger returns the logger of every serve log line: text or JSON
// on w. In JSON, durations are in seconds.
func newServeLogger(w io.Writer, asJSON bool) *slog.Logger {
	if !asJSON {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindDuration {
			a.Value = slog.Float64Value(a.Value.Duration().Seconds())
		}
		return a
	}}))
}

// server is the handler of serve's listener: it passes each request to the
// current generation, which a reload replaces.
type server struct {
	ctx     context.Context
	st      maintenance.Store
	logger  *slog.Logger
	demoURL string
	metrics *metrics.Metrics // nil without --metrics-listen
	// deliverer delivers webhooks; nil with --webhooks=false.
	deliverer *maintenance.Deliverer
	cur       atomic.Pointer[generation]
	cert      atomic.Pointer[tls.Certificate]

	mu   sync.Mutex
	live map[*generation]bool // not closed yet

	upgrades *upgrades    // upgraded connections
	handlers atomic.Int64 // requests being served
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Add(-1)
	if fromReserve(r) {
		// Past --max-connections: health only, one request.
		w.Header().Set("Connection", "close")
		if r.URL.Path != maintenance.HealthPath {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "serve is at its connection limit; try again in a moment", http.StatusServiceUnavailable)
			return
		}
	}
	// A generation retired between the Load and the count may already be
	// closed: the request goes to the one that replaced it.
	for !s.cur.Load().serve(w, r) {
	}
}

// generation is one configuration at work: a gate, a proxy and the
// handler around them. A reload starts a new one and retires the old one,
// which is closed once its last request is done.
type generation struct {
	cfg     *serveConfig
	gate    *maintenance.Gate
	proxy   *proxy.Proxy
	staff   *staffcheck.Checker // nil without --staff-check
	handler http.Handler

	active  atomic.Int64
	retired atomic.Bool
	idle    chan struct{}
	once    sync.Once
}

// serve serves r unless g was retired before r was counted, and reports
// whether it did. A request counted before the retirement keeps g open
// until it is done.
func (g *generation) serve(w http.ResponseWriter, r *http.Request) bool {
	g.active.Add(1)
	defer g.done()
	if g.retired.Load() {
		return false
	}
	g.handler.ServeHTTP(w, r)
	return true
}

// done uncounts a request; the last one of a retired generation lets it
// close.
func (g *generation) done() {
	if g.active.Add(-1) == 0 && g.retired.Load() {
		g.once.Do(func() { close(g.idle) })
	}
}

// newGeneration starts a gate and a proxy for cfg.
func (s *server) newGeneration(cfg *serveConfig) (*generation, error) {
	g := &generation{cfg: cfg, idle: make(chan struct{})}
	po := proxy.Options{Upstream: cfg.upstream, Routes: cfg.routes, TrustedProxies: cfg.gate.TrustedProxies,
		TrustAllProxies: cfg.gate.TrustAllProxies, UpstreamTimeout: cfg.timeout, MaxConnsPerUpstream: cfg.upstreamConns, Logger: s.logger}
	if cfg.demo {
		po.Upstream, _ = proxy.ParseUpstream(s.demoURL)
	}
	if s.metrics != nil {
		// Labelled by the request's declared site, as the request metrics.
		po.ObserveUpstream = func(r *http.Request, _ string, d time.Duration, err error) {
			s.metrics.ObserveUpstream(g.gate.SiteOf(r.Host), d, err)
		}
	}
	p, err := proxy.New(po)
	if err != nil {
		return nil, err
	}
	opts := cfg.gate
	opts.Logger = s.logger
	if cfg.staffCheck != "" {
		g.staff, err = staffcheck.New(staffcheck.Options{Path: cfg.staffCheck, TTL: cfg.staffTTL, Upstream: p.Upstream, Logger: s.logger})
		if err != nil {
			p.Close()
			return nil, err
		}
		opts.Bypass = g.staff.Bypass
	}
	if cfg.accessLog || s.metrics != nil {
		opts.Observer = serveObserver{metrics: s.metrics}
	}
	gate, err := maintenance.New(s.ctx, s.st, opts)
	if err != nil {
		p.Close()
		return nil, err
	}
	g.gate, g.proxy = gate, p
	g.handler = gate.Handler(p)
	if cfg.admin {
		trusted := cfg.gate.TrustedProxies
		a, err := admin.New(s.st, admin.Options{Logger: s.logger, Gate: gate, ClientIP: func(r *http.Request) netip.Addr {
			ip, _ := maintenance.ClientIP(r, trusted, "")
			return ip
		}})
		if err != nil {
			gate.Close()
			p.Close()
			return nil, err
		}
		g.handler = withAdmin(a.Handler(), g.handler)
	}
	g.handler = s.upgrades.track(g.handler, gate)
	// The admin's sign-in form too.
	g.handler = proxy.LimitBodyIdle(g.handler, cfg.bodyIdle)
	if cfg.accessLog {
		g.handler = accessLog(g.handler, s.logger, gate.SiteOf, cfg.gate.TrustedProxies)
	}
	s.mu.Lock()
	s.live[g] = true
	s.mu.Unlock()
	return g, nil
}

// withAdmin serves the admin page and the JSON API (--admin) before the
// gate, which would pass them to the application: their paths are under
// the gate's reserved prefix.
func withAdmin(adm, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.HasPrefix(p, admin.PagePrefix) || strings.HasPrefix(p, admin.APIPrefix) ||
			p == strings.TrimSuffix(admin.PagePrefix, "/") {
			adm.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// close stops a generation's gate and proxy.
func (s *server) close(g *generation) {
	if s.metrics != nil {
		s.metrics.Unwatch(g.gate)
	}
	g.gate.Close()
	g.proxy.Close()
	if g.staff != nil {
		g.staff.Close()
	}
	s.mu.Lock()
	delete(s.live, g)
	s.mu.Unlock()
}

// retire closes g once its requests under way are done.
func (s *server) retire(g *generation) {
	g.retired.Store(true)
	if g.active.Load() == 0 {
		g.once.Do(func() { close(g.idle) })
	}
	go func() {
		<-g.idle
		s.close(g)
	}()
}

// closeGates closes the gates of every generation not closed yet, on
// stop: a closed gate answers the requests it holds at once, and leaves
// the registry.
func (s *server) closeGates() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for g := range s.live {
		g.gate.Close()
	}
}

// closeAll closes every generation not closed yet, on exit.
func (s *server) closeAll() {
	s.mu.Lock()
	gens := make([]*generation, 0, len(s.live))
	for g := range s.live {
		gens = append(gens, g)
	}
	s.mu.Unlock()
	for _, g := range gens {
		s.close(g)
	}
}

// reload reads the configuration again (command line and file), reloads
// the certificate and the templates, and swaps in a new generation. On any
// error it logs it and keeps the running configuration, which it returns.
func (s *server) reload(e *env, args []string, old *serveConfig) *serveConfig {
	s.logger.Info("SIGHUP: reloading the configuration")
	e.stdout, e.stderr = io.Discard, io.Discard
	cfg, err := loadServeConfig(e, args)
	if err != nil {
		s.logger.Error("reload failed; the running configuration stays", "err", err.Error())
		return old
	}
	if names := restartChanges(old, cfg); len(names) > 0 {
		s.logger.Warn("reload: these settings changed but take effect on a restart only", "settings", strings.Join(names, ", "))
		cfg.listen, cfg.metricsListen, cfg.store, cfg.demo, cfg.jsonLog = old.listen, old.metricsListen, old.store, old.demo, old.jsonLog
		cfg.maxConns = old.maxConns
		if (old.cert == nil) != (cfg.cert == nil) {
			cfg.tlsCert, cfg.tlsKey, cfg.cert = old.tlsCert, old.tlsKey, old.cert
		}
	}
	gen, err := s.newGeneration(cfg)
	if err != nil {
		s.logger.Error("reload failed; the running configuration stays", "err", err.Error())
		return old
	}
	prev := s.cur.Load()
	if gen.gate.StoreError() != nil && prev.gate.StoreError() == nil {
		s.close(gen)
		s.logger.Error("reload failed: the store cannot be read now, and a new gate would start without its state; the running configuration stays; send SIGHUP again later")
		return old
	}
	if cfg.cert != nil {
		s.cert.Store(cfg.cert)
	}
	s.cur.Store(gen)
	if s.metrics != nil {
		// The old gate runs on until its requests are done: its series
		// would be reported twice, and the scrape fail.
		s.metrics.Replace(prev.gate, gen.gate)
	}
	s.retire(prev)
	for _, r := range cfg.routes {
		s.logger.Info("route", "site", r.Site, "upstream", r.Upstream.Redacted())
	}
	s.logger.Info("reloaded", "routes", len(cfg.routes), "version", gen.gate.Version())
	return cfg
}
