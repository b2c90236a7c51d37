package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/server"
	"github.com/gomaint/maintenance/internal/storeurl"
	"github.com/gomaint/maintenance/staffcheck"
)

const forwardAuthUsage = `Usage: maintenance forward-auth --trusted-proxy CIDR... [--listen ADDR] [flags]

Runs a decision server for the proxy you already have: nginx auth_request,
ingress-nginx auth-url, Traefik ForwardAuth and Caddy forward_auth ask it,
for each visitor's request, whether the request may go on to the
application. It decides with the gate's own code (the same rules as serve and
the Go library: sites, ignore patterns, allowed IPs, bypass links, admin
sessions) from the headers the proxy sends:

  nginx, ingress-nginx  X-Original-URI (or X-Original-URL), X-Original-Method,
                        Host, X-Forwarded-For
  Traefik, Caddy        X-Forwarded-Method, -Proto, -Host, -Uri, -For

These headers are believed only from a --trusted-proxy; a request from
anyone else is taken as a visitor's own request. The client IP is the
gate's: X-Forwarded-For walked from the right, skipping trusted proxies.

Answers: 200 (no body) when the request may pass, with a Maintenance
header while its site is in maintenance or has a window announced, for the
proxy to copy onto the request it passes on (the examples do, and remove a
visitor's own Maintenance header). When it may not, the
maintenance answer (status, Retry-After, the page or problem+json as Accept
asks), which Traefik and Caddy send to the visitor as it is; nginx, which
drops the body of an auth answer, gets 401 and sends the visitor's request
to the decision server with 'error_page 401 = @maintenance' (see
examples/nginx.conf), where it gets the full answer. Bypass links
(/_maintenance/bypass/SECRET) set their cookie on the visitor's answer
through any of them. A request of the visitor's own that may pass gets a
307 to the same URI (the decision server is not a proxy).

Flags:
  --listen ADDR          address to listen on (default 127.0.0.1:8081)
  --trusted-proxy CIDR   a proxy whose forward-auth headers and
                         X-Forwarded-For are believed (repeatable; at least
                         one: the proxies that ask)
  --site HOST            declare a site (repeatable)
  --exempt PATTERN       a path never blocked, for every site (repeatable)
  --templates DIR        page templates, as for serve
  --state-cache PATH     keep the last state read from the store in PATH
  --fail open|closed     with the store unreachable at start and no state
                         cache: pass every request (open, the default) or
                         answer the maintenance page (closed)
  --release ID           this instance's release (default $MAINTENANCE_RELEASE)
  --block-staff          signed-in admins get the maintenance answer too
  --staff-check URL      let the application's own staff through: a request
                         that would get the maintenance answer and carries
                         cookies or an Authorization header is let through
                         when GET URL, with those headers only and the
                         visitor's Host, answers 2xx (fails closed on errors
                         and after 2s). URL is the application's own address
                         (like http://127.0.0.1:8000/staff-check): checks go
                         there whatever Host a visitor sends
  --staff-check-ttl DUR  how long an answer is kept per credential (default
                         30s; 1s to 1h)
  --log-format text|json the format of the log lines on stderr

Examples, used by the tests: examples/nginx.conf, examples/Caddyfile,
examples/traefik.yml, examples/ingress-nginx.yaml.
`

// forwardAuthConfig is forward-auth's checked configuration.
type forwardAuthConfig struct {
	listen    string
	jsonLog   bool
	gate      maintenance.Options
	staffPath string                // --staff-check's path; "" for none
	staffBase func(string) *url.URL // --staff-check's application
	staffTTL  time.Duration         // --staff-check-ttl
}

// loadForwardAuthConfig parses forward-auth's flags.
func loadForwardAuthConfig(e *env, args []string) (*forwardAuthConfig, error) {
	fs := e.newFlagSet("forward-auth", forwardAuthUsage)
	c := &forwardAuthConfig{}
	var sites, proxies, exempt []string
	var fail, logFormat, stateCache, staffCheck string
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8081", "")
	fs.Func("site", "", func(v string) error { sites = append(sites, v); return nil })
	fs.Func("trusted-proxy", "", func(v string) error { proxies = append(proxies, v); return nil })
	fs.Func("exempt", "", func(v string) error { exempt = append(exempt, v); return nil })
	fs.StringVar(&c.gate.Templates, "templates", "", "")
	fs.StringVar(&stateCache, "state-cache", "", "")
	fs.StringVar(&fail, "fail", "open", "")
	fs.StringVar(&c.gate.Release, "release", e.getenv("MAINTENANCE_RELEASE"), "")
	fs.BoolVar(&c.gate.BlockStaff, "block-staff", false, "")
	fs.StringVar(&logFormat, "log-format", "text", "")
	fs.StringVar(&staffCheck, "staff-check", "", "")
	fs.DurationVar(&c.staffTTL, "staff-check-ttl", staffcheck.DefaultTTL, "")
	pos, err := fs.parse(args)
	if err != nil {
		return nil, err
	}
	if err := noArgs("forward-auth", pos); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		return nil, usageErrorf("--listen %q: accepted: HOST:PORT or :PORT, like 127.0.0.1:8081", c.listen)
	}
	if len(proxies) == 0 {
		return nil, usageErrorf("forward-auth needs --trusted-proxy CIDR: the address of the proxy that asks (like 127.0.0.1 or 10.0.0.0/8); run 'maintenance help forward-auth' for usage")
	}
	for _, v := range proxies {
		p, err := server.ParseTrustedProxy(v)
		if err != nil {
			return nil, usageErrorf("--trusted-proxy %q: %v", v, err)
		}
		c.gate.TrustedProxies = append(c.gate.TrustedProxies, p)
	}
	for _, v := range sites {
		site, err := maintenance.ParseSite(v)
		if err != nil {
			return nil, usageErrorf("--site: %v", err)
		}
		if !slices.Contains(c.gate.Sites, site) {
			c.gate.Sites = append(c.gate.Sites, site)
		}
	}
	for _, v := range exempt {
		if _, err := maintenance.ParsePattern(v); err != nil {
			return nil, usageErrorf("--exempt: %v", err)
		}
		c.gate.Exempt = append(c.gate.Exempt, v)
	}
	if stateCache != "" {
		if fi, err := os.Stat(filepath.Dir(stateCache)); err != nil || !fi.IsDir() {
			return nil, usageErrorf("--state-cache %q: the directory %s does not exist", stateCache, filepath.Dir(stateCache))
		}
		c.gate.StateCache = stateCache
	}
	switch fail {
	case "open":
	case "closed":
		c.gate.FailClosed = true
	default:
		return nil, usageErrorf("--fail %q: accepted: open, closed", fail)
	}
	if c.gate.Release != "" {
		if _, err := maintenance.ParseRelease(c.gate.Release); err != nil {
			return nil, usageErrorf("--release: %v", err)
		}
	}
	if staffCheck != "" {
		if c.staffPath, c.staffBase, err = staffcheck.ParseURL(staffCheck); err != nil {
			return nil, usageErrorf("--staff-check: %v", strings.TrimSuffix(err.Error(), ": "+maintenance.ErrInvalid.Error()))
		}
	}
	if c.staffTTL < time.Second || c.staffTTL > staffcheck.MaxTTL {
		return nil, usageErrorf("--staff-check-ttl %s: accepted: a duration from 1s to 1h, like 30s", c.staffTTL)
	}
	switch logFormat {
	case "text":
	case "json":
		c.jsonLog = true
	default:
		return nil, usageErrorf("--log-format %q: accepted: text, json", logFormat)
	}
	return c, nil
}

// forwardAuthGrace is how long forward-auth lets requests under way finish
// when it stops.
const forwardAuthGrace = 10 * time.Second

// forwardAuthReadTimeout bounds the time to read a request, body included:
// the decision server reads none (a sub-request has no body; nginx's
// error_page request has the one nginx buffered), but once it answered, Go's
// server reads up to 256 KiB of a body left unread, with no deadline but
// this one: a client dripping a body would hold the connection for ever.
const forwardAuthReadTimeout = 30 * time.Second

// forwardAuthServer is the decision server's HTTP server: every wait a
// client can cause is bounded (headers, body, idle connection).
func forwardAuthServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: server.ReadHeaderTimeout,
		ReadTimeout:       forwardAuthReadTimeout,
		IdleTimeout:       server.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// runForwardAuth implements "maintenance forward-auth".
func runForwardAuth(ctx context.Context, e *env, args []string) error {
	cfg, err := loadForwardAuthConfig(e, args)
	if err != nil {
		return err
	}
	logger := server.NewLogger(e.stderr, cfg.jsonLog)
	useLogger(logger)
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.listen, err)
	}
	defer ln.Close()
	st, err := storeurl.OpenLazy(ctx, e.storeURL)
	if err != nil {
		return err
	}
	defer st.Close()
	opts := cfg.gate
	opts.Logger = logger
	// The application's own "is this staff?": the gate calls it with the
	// visitor's rebuilt request (its Host, cookies and Authorization as the
	// proxy passed them); the check goes to --staff-check's address only.
	if cfg.staffPath != "" {
		staff, err := staffcheck.New(staffcheck.Options{Path: cfg.staffPath, Upstream: cfg.staffBase, TTL: cfg.staffTTL, Logger: logger})
		if err != nil {
			return err
		}
		defer staff.Close()
		opts.Bypass = staff.Bypass
	}
	gate, err := maintenance.New(ctx, st, opts)
	if err != nil {
		return err
	}
	defer gate.Close()
	srv := forwardAuthServer(gate.ForwardAuth(), logger)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var trusted []string
	for _, p := range cfg.gate.TrustedProxies {
		trusted = append(trusted, p.String())
	}
	logger.Info("forward-auth on http://"+ln.Addr().String(), "store", storeurl.Redact(e.storeURL),
		"trusted", strings.Join(trusted, ","), "version", gate.Version())
	if err := gate.StoreError(); err != nil {
		logger.Warn("the store cannot be read yet", "err", err)
	}
	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Info("stopping; finishing requests under way")
	gate.Close()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), forwardAuthGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Decisions take microseconds: what is left is a client that
		// does not read. A stop that ran its course exits 0.
		logger.Warn("cutting the connections still open", "after", forwardAuthGrace)
		srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
