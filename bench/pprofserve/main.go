// Command pprofserve runs the handler stack of `maintenance serve` (a gate
// over a fresh SQLite store in front of proxy.New, in an http.Server with
// serve's settings) with net/http/pprof on a second listener, to profile
// the pass-through or the maintenance answer under load:
//
//	go run ./bench/upstream -listen 127.0.0.1:8000 &
//	go run ./bench/pprofserve -upstream http://127.0.0.1:8000 [-on] &
//	wrk -c 64 -d 30s http://127.0.0.1:8080/ &
//	go tool pprof -top 'http://127.0.0.1:6060/debug/pprof/profile?seconds=20'
//
// /debug/vars has the runtime's memstats (Mallocs, TotalAlloc), to count
// allocations per request. -on puts every site in maintenance first (the 503 answer). It stops on
// SIGINT or SIGTERM and removes its store.
package main

import (
	"context"
	"expvar"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
	"github.com/gomaint/maintenance/proxy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pprofserve:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pprofserve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	pprofListen := fs.String("pprof", "127.0.0.1:6060", "address of the pprof listener")
	upstream := fs.String("upstream", "http://127.0.0.1:8000", "the application")
	on := fs.Bool("on", false, "put every site in maintenance before serving")
	if err := fs.Parse(args); err != nil {
		return err
	}
	up, err := proxy.ParseUpstream(*upstream)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "pprofserve")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	storeURL := "sqlite:" + filepath.Join(dir, "m.db")
	st, err := storeurl.OpenLazy(ctx, storeURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if *on {
		c := maintenance.On(nil, maintenance.OnOptions{})
		c.Actor, c.Source = "pprofserve", "bench"
		if _, err := st.Update(ctx, c); err != nil {
			return fmt.Errorf("switching maintenance on: %w", err)
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	gate, err := maintenance.New(ctx, st, maintenance.Options{Logger: logger})
	if err != nil {
		return err
	}
	defer gate.Close()
	rp, err := proxy.New(proxy.Options{Upstream: up, Logger: logger})
	if err != nil {
		return err
	}
	// The same server settings as cmd/maintenance/serve.go.
	srv := &http.Server{
		Handler:           gate.Handler(rp),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	pln, err := net.Listen("tcp", *pprofListen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	psrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go psrv.Serve(pln)
	defer psrv.Close()
	go srv.Serve(ln)
	fmt.Fprintf(os.Stderr, "pprofserve: serving http://%s -> %s, pprof on http://%s/debug/pprof/\n", ln.Addr(), up, pln.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
