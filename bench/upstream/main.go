// Command upstream is the bare Go server of bench/proxy.sh: a net/http
// server that answers every request with one fixed body, as the application
// behind the proxies (status 200) or as the bare 503 server that `maintenance
// serve`'s maintenance answer is compared with.
//
//	go run ./bench/upstream -listen 127.0.0.1:8000 [-status 503] [-body FILE] [-header 'Name: value']...
//
// Without -body it answers a small HTML body. It stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const smallBody = "<!doctype html><title>upstream</title><p>Hello from the upstream application.</p>\n"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8000", "address to listen on")
	status := fs.Int("status", http.StatusOK, "status code of every answer")
	bodyFile := fs.String("body", "", "file whose content is the body of every answer (default: a small HTML body)")
	contentType := fs.String("content-type", "text/html; charset=utf-8", "Content-Type of every answer")
	var extra headerFlag
	fs.Var(&extra, "header", "a header to send with every answer, like 'Cache-Control: no-store' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body := []byte(smallBody)
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			return err
		}
		body = b
	}
	// Header values are built once; each answer only assigns them.
	ct := []string{*contentType}
	cl := []string{strconv.Itoa(len(body))}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Content-Type"] = ct
		hd["Content-Length"] = cl
		for _, kv := range extra {
			hd[kv.k] = kv.v
		}
		w.WriteHeader(*status)
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Fprintf(os.Stderr, "upstream: serving http://%s (status %d, %d-byte body)\n", ln.Addr(), *status, len(body))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

type header struct {
	k string
	v []string
}

// headerFlag collects -header values.
type headerFlag []header

func (f *headerFlag) String() string { return "" }

func (f *headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("header %q: accepted: 'Name: value'", s)
	}
	*f = append(*f, header{http.CanonicalHeaderKey(strings.TrimSpace(k)), []string{strings.TrimSpace(v)}})
	return nil
}
