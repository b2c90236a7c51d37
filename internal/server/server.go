// Package server is the reverse proxy of 'maintenance serve': a gate in
// front of web applications, with its listener, its connection limits,
// its access log, its metrics listener, its webhook delivery and its
// reloads. Its settings, one table of them (Settings), are the command's
// flags and configuration file.
//
// The package is internal: its Config mirrors the command's flags and
// changes with them, and it is not an API for other programs. A program
// that gates its own server uses the root package's Gate, and the proxy
// package for a reverse proxy.
//
// A Server runs one configuration at a time as a generation (a gate, a
// proxy, and the handler around them). Reload starts a new generation,
// which takes the new requests, and retires the old one, which is closed
// once its last request is done: no connection is dropped.
package server

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
	"strings"
	"sync"
	"sync/atomic"
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

// cutWait is how long a stop waits, once the shutdown timeout ran out and
// the requests still under way were cut, for their handlers to log them.
const cutWait = 5 * time.Second

// Server timeouts: the headers of a request must arrive within
// ReadHeaderTimeout; an idle keep-alive connection is closed after
// IdleTimeout. There is no limit on bodies, so that uploads, downloads and
// streams run for as long as they need.
const (
	ReadHeaderTimeout = 10 * time.Second
	IdleTimeout       = 2 * time.Minute
)

// Options are what a Server needs besides its configuration.
type Options struct {
	// Logger receives every log line; nil discards them.
	Logger *slog.Logger
	// Demo is the built-in sample app, served on a loopback port as the
	// default application when the configuration says demo.
	Demo http.Handler
}

// Server is a running 'maintenance serve'.
type Server struct {
	opts   Options
	logger *slog.Logger

	ctx     context.Context
	st      maintenance.Store
	demoURL string
	metrics *metrics.Metrics // nil without metrics-listen
	// deliverer delivers webhooks; nil with webhooks false.
	deliverer *maintenance.Deliverer
	cur       atomic.Pointer[generation]
	cert      atomic.Pointer[tls.Certificate]

	mu   sync.Mutex
	cfg  *Config              // the running configuration
	live map[*generation]bool // not closed yet

	upgrades *upgrades    // upgraded connections
	handlers atomic.Int64 // requests being served

	ln, metricsLn net.Listener
	srv           *http.Server
	cutRequests   context.CancelCauseFunc
	served        chan struct{} // closed when srv.Serve returned
	serveErr      error         // what it returned
	closers       []func()      // run by Close, last first
	closeOnce     sync.Once
}

// New returns a server for cfg; Start starts it.
func New(cfg *Config, opts Options) (*Server, error) {
	if cfg == nil {
		return nil, errors.New("server.New: no configuration")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{opts: opts, logger: logger, cfg: cfg, live: map[*generation]bool{}, upgrades: newUpgrades(), served: make(chan struct{})}, nil
}

// Start listens on the configuration's address (port 0 picks a free
// one: see Addr), opens the store (creating a SQLite or file store that
// does not exist yet), and serves until Shutdown or Close. A store that
// cannot be reached is not an error: the gate serves its state cache or
// its failure policy, and connects when it can. ctx is the server's
// lifetime: the gates stop following the store when it ends. On error
// Start releases whatever it had started.
func (s *Server) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	cfg := s.cfg
	s.ctx = ctx
	if err := s.listen(); err != nil {
		return err
	}
	if cfg.demo {
		addr, stop, err := serveDemo(s.opts.Demo)
		if err != nil {
			return err
		}
		s.onClose(stop)
		s.demoURL = "http://" + addr
	}
	if err := s.openStore(ctx); err != nil {
		return err
	}
	startMetrics, err := s.metricsListener()
	if err != nil {
		return err
	}
	gen, err := s.newGeneration(cfg)
	if err != nil {
		return err
	}
	s.cur.Store(gen)
	s.onClose(s.closeAll)
	if s.metrics != nil {
		s.metrics.Watch(gen.gate)
	}
	startMetrics()
	if cfg.webhooks {
		s.deliverWebhooks(ctx)
	}

	// Requests' contexts end with cause http.ErrServerClosed when stopping
	// cuts them.
	baseCtx, cutRequests := context.WithCancelCause(context.WithoutCancel(ctx))
	s.cutRequests = cutRequests
	s.onClose(func() { cutRequests(nil) })
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ConnContext:       connContext,
	}
	if cfg.cert != nil {
		s.cert.Store(cfg.cert)
		s.srv.TLSConfig = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			NextProtos:     []string{"h2", "http/1.1"},
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil },
		}
	}
	srv, ln := s.srv, s.ln
	go func() {
		defer close(s.served)
		if cfg.cert != nil {
			s.serveErr = srv.ServeTLS(ln, "", "")
		} else {
			s.serveErr = srv.Serve(ln)
		}
	}()
	s.logStart(gen)
	return nil
}

// listen opens the listener, with its cap on connections.
func (s *Server) listen() error {
	cfg, logger := s.cfg, s.logger
	rawLn, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.listen, err)
	}
	s.onClose(func() { rawLn.Close() })
	nofile := openFilesLimit()
	reserve := connReserve(int(min(nofile, 1<<20)))
	s.ln = newLimitListener(rawLn, cfg.maxConns, reserve, logger)
	if nofile > 0 && uint64(2*cfg.maxConns+reserve+fdHeadroom) > nofile {
		logger.Warn(fmt.Sprintf("--max-connections %d may run out of descriptors: the limit (ulimit -n) is %d, and each connection may need one to its upstream too", cfg.maxConns, nofile))
	}
	return nil
}

// openStore opens the store. serve creates its store (with init, the only
// command that does), so that the CLI finds it. A store that cannot be
// reached yet is not an error: the gate serves its state cache or its
// failure policy, and connects when it can.
func (s *Server) openStore(ctx context.Context) error {
	store := s.cfg.store
	if kind, _, _ := storeurl.Parse(store); kind == "sqlite" || kind == "file" {
		if _, err := storeurl.Create(ctx, store); errors.Is(err, maintenance.ErrInvalid) {
			return err
		}
	}
	st, err := storeurl.OpenLazy(ctx, store)
	if err != nil {
		return err
	}
	s.st = st
	s.onClose(func() { st.Close() })
	return nil
}

// metricsListener opens the metrics listener, when there is one, and
// returns the function that starts serving it: once the first gate is
// watched, so that a scrape never sees no gate.
func (s *Server) metricsListener() (start func(), err error) {
	addr := s.cfg.metricsListen
	if addr == "" {
		return func() {}, nil
	}
	mln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s for metrics: %w", addr, err)
	}
	s.metricsLn = mln
	s.onClose(func() { mln.Close() })
	reg := prometheus.NewRegistry()
	s.metrics = metrics.New(reg)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	msrv := &http.Server{Handler: mux, ReadHeaderTimeout: ReadHeaderTimeout}
	s.onClose(func() { msrv.Close() })
	return func() {
		go msrv.Serve(mln)
		s.logger.Info("metrics on http://" + mln.Addr().String() + "/metrics")
	}, nil
}

// deliverWebhooks takes part in delivering webhooks: one serve or gate of
// the fleet delivers at a time (a lease in the store); the others stand by
// to take over.
func (s *Server) deliverWebhooks(ctx context.Context) {
	dl := maintenance.NewDeliverer(s.st, maintenance.DelivererOptions{Logger: s.logger, LeaseTTL: s.cfg.webhookLease})
	s.deliverer = dl
	dctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		dl.Run(dctx)
	}()
	s.onClose(func() { stop(); <-done })
	if s.metrics != nil {
		s.metrics.WatchWebhooks(dl.Failed)
	}
}

// logStart logs what the server serves, and where.
func (s *Server) logStart(gen *generation) {
	cfg, logger, addr := s.cfg, s.logger, s.Addr()
	scheme := "http"
	if cfg.cert != nil {
		scheme = "https"
	}
	what := "the built-in demo app"
	if cfg.upstream != nil {
		what = cfg.upstream.Redacted()
	} else if !cfg.demo {
		what = "none (hosts without a route get a 502)"
	}
	logger.Info("serving "+scheme+"://"+addr, "upstream", what, "store", storeurl.Redact(cfg.store), "version", gen.gate.Version(),
		"max_connections", cfg.maxConns)
	for _, r := range cfg.routes {
		logger.Info("route", "site", r.Site, "upstream", r.Upstream.Redacted())
	}
	if err := gen.gate.StoreError(); err != nil {
		logger.Warn("the store cannot be read yet", "err", err)
	}
	if cfg.admin {
		logger.Info("admin page on "+scheme+"://"+addr+admin.PagePrefix, "api", scheme+"://"+addr+admin.APIPrefix)
		if ap, err := netip.ParseAddrPort(addr); err == nil && !ap.Addr().IsLoopback() {
			logger.Warn("the admin page is reachable from other machines: serve listens on " + addr + "; sign-in is required and throttled, but consider --listen 127.0.0.1:PORT and a tunnel")
		}
	}
	if cfg.demo {
		logger.Info(fmt.Sprintf("try it: open %s://%s, then run 'maintenance on --message \"Back in 5 minutes\"' and 'maintenance off' in another terminal", scheme, addr))
	}
}

// serveDemo serves h on a free loopback port and returns its address and
// a function that stops it.
func serveDemo(h http.Handler) (addr string, stop func(), err error) {
	if h == nil {
		return "", nil, errors.New("no demo app")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("starting the demo app: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout}
	go srv.Serve(ln)
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// onClose adds f to what Close undoes.
func (s *Server) onClose(f func()) { s.closers = append(s.closers, f) }

// Addr returns the address the server listens on, once started.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// MetricsAddr returns the address of the metrics listener, or "" when
// there is none.
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// Done is closed when the server stopped serving: after Shutdown or
// Close, or when its listener failed (Err says why).
func (s *Server) Done() <-chan struct{} { return s.served }

// Err returns why the server stopped serving, once Done is closed:
// http.ErrServerClosed after Shutdown or Close.
func (s *Server) Err() error {
	select {
	case <-s.served:
		return s.serveErr
	default:
		return nil
	}
}

// Shutdown stops the server gracefully: it stops accepting, answers the
// held requests, closes the upgraded connections (WebSockets with close
// code 1001, going away: they never end by themselves), and lets the
// requests under way finish for up to the shutdown timeout. Those still
// running then are cut: their contexts end with cause
// http.ErrServerClosed (the proxy answers 503 to a request still waiting
// for its upstream), their connections are closed, and Shutdown waits up
// to a few seconds for their handlers to return, so that each gets its
// access log line. A stop that went so is a success. Then it closes
// everything the server opened.
func (s *Server) Shutdown() error {
	if s.srv == nil { // never started
		return s.Close()
	}
	defer s.Close()
	timeout := s.config().shutdown
	s.logger.Info("stopping; finishing requests under way", "timeout", timeout)
	// Closed gates answer the requests they hold (mode hold) at once.
	s.closeGates()
	if n := s.upgrades.closeAll(wsGoingAway, "serve is stopping"); n > 0 {
		s.logger.Info("closed upgraded connections", "count", n)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), timeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	<-s.served
	if serr := s.serveErr; !errors.Is(serr, http.ErrServerClosed) {
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
	s.cutRequests(http.ErrServerClosed)
	// A handler cut while it waited for its upstream answers 503 on its
	// connection; then the connections still open are closed (a client
	// that does not read must not hold the stop).
	s.waitHandlers(time.Second)
	s.srv.Close()
	if !s.waitHandlers(cutWait) {
		return fmt.Errorf("stopping: %d requests did not end within %s of being cut", s.handlers.Load(), cutWait)
	}
	return nil
}

// Close stops the server at once: its connections are closed, and so is
// everything it opened (listeners, gates, store, webhook delivery). It is
// safe to call more than once, and after Shutdown.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.srv != nil {
			s.upgrades.closeAll(wsGoingAway, "serve is stopping")
			s.srv.Close()
			<-s.served
		} else {
			close(s.served) // never served
		}
		for i := len(s.closers) - 1; i >= 0; i-- {
			s.closers[i]()
		}
	})
	return nil
}

// waitHandlers waits up to d for every handler to return, and reports
// whether they did.
func (s *Server) waitHandlers(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for s.handlers.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// NewLogger returns the logger of every serve log line: text or JSON on w.
// In JSON, durations are in seconds.
func NewLogger(w io.Writer, asJSON bool) *slog.Logger {
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

func (s *Server) config() *Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// ServeHTTP passes each request to the current generation, which a reload
// replaces.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	cfg     *Config
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
func (s *Server) newGeneration(cfg *Config) (*generation, error) {
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
func (s *Server) close(g *generation) {
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
func (s *Server) retire(g *generation) {
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
func (s *Server) closeGates() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for g := range s.live {
		g.gate.Close()
	}
}

// closeAll closes every generation not closed yet, on exit.
func (s *Server) closeAll() {
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

// Reload swaps in a new generation for cfg: the new requests go to it,
// while those under way finish on the old one; the certificate and the
// templates are read again. The settings that take effect on a restart
// only (Setting.Restart, and switching TLS on or off) keep their running
// values, and the log says which changed. On any error the running
// configuration stays: the error is logged and returned.
func (s *Server) Reload(cfg *Config) error {
	old := s.config()
	if names := restartChanges(old, cfg); len(names) > 0 {
		s.logger.Warn("reload: these settings changed but take effect on a restart only", "settings", strings.Join(names, ", "))
	}
	gen, err := s.newGeneration(cfg)
	if err != nil {
		s.logger.Error("reload failed; the running configuration stays", "err", err.Error())
		return err
	}
	prev := s.cur.Load()
	if gen.gate.StoreError() != nil && prev.gate.StoreError() == nil {
		s.close(gen)
		const msg = "reload failed: the store cannot be read now, and a new gate would start without its state; the running configuration stays; send SIGHUP again later"
		s.logger.Error(msg)
		return errors.New(msg)
	}
	if cfg.cert != nil {
		s.cert.Store(cfg.cert)
	}
	s.cur.Store(gen)
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
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
	return nil
}
