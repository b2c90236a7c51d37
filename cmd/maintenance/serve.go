package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
	"github.com/gomaint/maintenance/metrics"
	"github.com/gomaint/maintenance/proxy"
)

func init() {
	register("serve", command{runServe, "run a reverse proxy that gates a web app (or the built-in demo)"})
}

const serveUsage = `Usage: maintenance serve [--listen ADDR] (--upstream URL | --demo) [flags]

Runs a reverse proxy in front of a web application. While a site is in
maintenance its visitors get the maintenance answer; everything else is
passed to the upstream unchanged (the Host header is kept, X-Forwarded-For,
-Host and -Proto are set). GET /_maintenance/status answers the state of the
request's site as JSON. SIGINT or SIGTERM stops it gracefully: requests under
way are finished (for up to 30s).

Flags:
  --listen ADDR          address to listen on (default 127.0.0.1:8080; use
                         :8080 to listen on every interface)
  --upstream URL         the application, like http://127.0.0.1:8000
  --demo                 serve a built-in sample app as the upstream
  --site HOST            declare a site (repeatable): exact host, *.wildcard
  --trusted-proxy CIDR   a proxy whose X-Forwarded-For is believed
                         (repeatable); without one, forwarding headers are
                         ignored and the TCP peer is the client
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
  --metrics-listen ADDR  serve Prometheus metrics on http://ADDR/metrics
                         (off by default; a separate listener, so the
                         metrics are not exposed to visitors)
  --max-duration DUR     call maintenance forgotten when a site has been on
                         this long with no end: an error in the log every
                         minute, and a warning in 'maintenance status'
                         (default: no limit)

While the store is unreachable, serve keeps serving the last state it read,
retries every second at most, and logs the error once.
`

// shutdownGrace is how long requests under way may take to finish on stop.
const shutdownGrace = 30 * time.Second

func runServe(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("serve", serveUsage)
	var (
		listen, upstream, templates string
		stateCache, fail, release   string
		metricsListen               string
		maxDuration                 time.Duration
		demo                        bool
		sites, trusted, exempt      stringsFlag
	)
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "")
	fs.StringVar(&upstream, "upstream", "", "")
	fs.BoolVar(&demo, "demo", false, "")
	fs.Var(&sites, "site", "")
	fs.Var(&trusted, "trusted-proxy", "")
	fs.Var(&exempt, "exempt", "")
	fs.StringVar(&templates, "templates", "", "")
	fs.StringVar(&stateCache, "state-cache", "", "")
	fs.StringVar(&fail, "fail", "open", "")
	fs.StringVar(&release, "release", e.getenv("MAINTENANCE_RELEASE"), "")
	fs.DurationVar(&maxDuration, "max-duration", 0, "")
	fs.StringVar(&metricsListen, "metrics-listen", "", "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("serve", pos); err != nil {
		return err
	}
	if demo == (upstream != "") {
		return usageErrorf("serve needs either --upstream URL or --demo; run 'maintenance help serve' for usage")
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return usageErrorf("--listen %q: accepted: HOST:PORT or :PORT, like 127.0.0.1:8080", listen)
	}
	if _, _, err := net.SplitHostPort(metricsListen); metricsListen != "" && err != nil {
		return usageErrorf("--metrics-listen %q: accepted: HOST:PORT or :PORT, like 127.0.0.1:9090", metricsListen)
	}
	if maxDuration < 0 {
		return usageErrorf("--max-duration %s: accepted: a positive duration, like 4h", maxDuration)
	}
	opts := maintenance.Options{Sites: sites, Exempt: exempt, Templates: templates, StateCache: stateCache, Release: release, MaxDuration: maxDuration}
	switch fail {
	case "open":
	case "closed":
		opts.FailClosed = true
	default:
		return usageErrorf("--fail %q: accepted: open, closed", fail)
	}
	if stateCache != "" {
		if fi, err := os.Stat(filepath.Dir(stateCache)); err != nil || !fi.IsDir() {
			return usageErrorf("--state-cache %q: the directory %s does not exist", stateCache, filepath.Dir(stateCache))
		}
	}
	for _, t := range trusted {
		p, err := parseTrustedProxy(t)
		if err != nil {
			return err
		}
		opts.TrustedProxies = append(opts.TrustedProxies, p)
	}
	var up = upstream
	if !demo {
		if _, err := proxy.ParseUpstream(upstream); err != nil {
			return usageErrorf("--upstream: %v", err)
		}
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, nil))
	opts.Logger = logger
	useLogger(logger)

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	defer ln.Close()

	if demo {
		stop, addr, err := startDemo()
		if err != nil {
			return err
		}
		defer stop()
		up = "http://" + addr
	}
	upURL, _ := proxy.ParseUpstream(up)

	// A store that cannot be reached yet is not fatal: the gate serves its
	// state cache or its failure policy, and connects when it can.
	st, err := storeurl.OpenLazy(ctx, e.storeURL)
	if err != nil {
		return err
	}
	defer st.Close()
	return func() error {
		gate, err := maintenance.New(ctx, st, opts)
		if err != nil {
			return err
		}
		defer gate.Close()
		rp, err := proxy.New(proxy.Options{Upstream: upURL, TrustedProxies: opts.TrustedProxies, Logger: logger})
		if err != nil {
			return err
		}
		srv := &http.Server{
			Handler:           gate.Handler(rp),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		if metricsListen != "" {
			mln, err := net.Listen("tcp", metricsListen)
			if err != nil {
				return fmt.Errorf("listening on %s for metrics: %w", metricsListen, err)
			}
			reg := prometheus.NewRegistry()
			metrics.New(reg).Watch(gate)
			mux := http.NewServeMux()
			mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			go msrv.Serve(mln)
			defer msrv.Close()
			fmt.Fprintf(e.stderr, "maintenance: metrics on http://%s/metrics\n", mln.Addr())
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		what := up
		if demo {
			what = "the built-in demo app"
		}
		fmt.Fprintf(e.stderr, "maintenance: serving http://%s -> %s (store %s, state version %d)\n", ln.Addr(), what, storeurl.Redact(e.storeURL), gate.Version())
		if err := gate.StoreError(); err != nil {
			fmt.Fprintf(e.stderr, "maintenance: warning: %v\n", err)
		}
		if demo {
			fmt.Fprintf(e.stderr, "maintenance: try it: open http://%s, then run 'maintenance on --message \"Back in 5 minutes\"' and 'maintenance off' in another terminal\n", ln.Addr())
		}
		select {
		case err := <-served:
			return fmt.Errorf("serving: %w", err)
		case <-ctx.Done():
		}
		fmt.Fprintf(e.stderr, "maintenance: stopping; finishing requests under way\n")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("stopping: %w", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving: %w", err)
		}
		return nil
	}()
}

// parseTrustedProxy parses a --trusted-proxy value: a CIDR prefix or a single
// address, without host bits set.
func parseTrustedProxy(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return netip.Prefix{}, usageErrorf("--trusted-proxy %q: accepted: an IP address or CIDR prefix, like 10.0.0.0/8 or 192.0.2.1", s)
		}
		p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, usageErrorf("--trusted-proxy %q: host bits are set; did you mean %s?", s, m)
	}
	return p, nil
}
