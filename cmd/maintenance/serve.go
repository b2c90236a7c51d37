package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gomaint/maintenance/internal/server"
)

// serveUsage is the usage of serve; its flags come from the table of
// serve's settings (server.Settings).
var serveUsage = `Usage: maintenance serve [--config FILE] [--listen ADDR]
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
` + server.FlagsUsage() + `
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
configuration in place (the error is logged).
` + server.RestartUsage() + `
While the store is unreachable, serve keeps serving the last state it read,
retries every second at most, and logs the error once.
`

func runServe(ctx context.Context, e *env, args []string) error {
	base := *e // before the flags: a reload parses them again from here
	cfg, err := loadServeConfig(e, args)
	if err != nil {
		return err
	}
	logger := server.NewLogger(e.stderr, cfg.JSONLog())
	useLogger(logger)
	// From here on SIGHUP reloads (and no longer ends the process).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	srv, err := server.New(cfg, server.Options{Logger: logger, Demo: demoHandler()})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	for {
		select {
		case <-srv.Done():
			srv.Close()
			return fmt.Errorf("serving: %w", srv.Err())
		case <-hup:
			// The file and the templates are read again, the certificate
			// too; a file with an error leaves the running configuration.
			logger.Info("SIGHUP: reloading the configuration")
			next := base
			next.stdout, next.stderr = io.Discard, io.Discard
			cfg, err := loadServeConfig(&next, args)
			if err != nil {
				logger.Error("reload failed; the running configuration stays", "err", err.Error())
				continue
			}
			srv.Reload(cfg) // logs what it did
		case <-ctx.Done():
			return srv.Shutdown()
		}
	}
}

// loadServeConfig parses serve's command line and its configuration file,
// and checks every value. Errors name the value, where it came from and
// what is accepted (exit 2).
func loadServeConfig(e *env, args []string) (*server.Config, error) {
	fs := e.newFlagSet("serve", serveUsage)
	vals := server.Values{}
	for _, s := range server.Settings {
		if s.Name != "store" {
			fs.Var(vals.Flag(s), s.Name, "")
		}
	}
	var file string
	fs.StringVar(&file, "config", "", "")
	pos, err := fs.parse(args)
	if err != nil {
		return nil, err
	}
	if err := noArgs("serve", pos); err != nil {
		return nil, err
	}
	fromFlag := e.storeFlag
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "store" {
			fromFlag = true
		}
	})
	if fromFlag {
		store, _ := server.FindSetting("store")
		vals.Flag(store).Set(e.storeURL)
	}
	return server.Load(vals, file, server.Defaults{Store: e.storeURL, Release: e.getenv("MAINTENANCE_RELEASE")})
}
