package server

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/metrics"
)

// The access log of serve: one line per request, through slog, with the
// site and the gate's outcome, and maintenance=true when the visitor got
// the maintenance answer, so that alerting on 5xx can leave those out (as
// django-maintenance-mode's logging filter does).

// accessRecord is what the gate tells the access log about a request,
// through the request's context and the gate's Observer.
type accessRecord struct {
	observed bool // false for the gate's own endpoints, which it does not observe
	site     string
	outcome  maintenance.Outcome
}

type accessRecordKey struct{}

func recordFrom(ctx context.Context) *accessRecord {
	rec, _ := ctx.Value(accessRecordKey{}).(*accessRecord)
	return rec
}

// serveObserver is the gate's Observer in serve: it fills the access log's
// record of the request, when there is one, and counts the request in the
// metrics, when there are some.
type serveObserver struct {
	metrics *metrics.Metrics // nil without --metrics-listen
}

func (o serveObserver) Observe(r *http.Request, site string, out maintenance.Outcome) {
	if rec := recordFrom(r.Context()); rec != nil {
		rec.observed, rec.site, rec.outcome = true, site, out
	}
	if o.metrics != nil {
		o.metrics.Observe(r, site, out)
	}
}

// accessLog returns next logging one line per request to logger: method,
// host, path (never the query, which may hold secrets), status, bytes of
// body sent, duration, client (as the gate sees it, with trusted proxies),
// site, outcome and maintenance, and cut=true for a request cut when serve
// stopped. next must be a gate whose Observer is a
// serveObserver; siteOf returns the site of a Host header, for the requests
// the gate answers by itself without observing them.
func accessLog(next http.Handler, logger *slog.Logger, siteOf func(host string) string, trusted []netip.Prefix) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &accessRecord{}
		lw := &logWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), accessRecordKey{}, rec))
		defer func() {
			// A handler that aborts (ReverseProxy, when the upstream
			// fails in the middle of a body) is logged too.
			p := recover()
			status := lw.status
			switch {
			case lw.hijacked:
				status = http.StatusSwitchingProtocols
			case status == 0 && p != nil:
				status = 499 // the answer was cut short
			case status == 0:
				status = http.StatusOK
			}
			site, outcome := rec.site, rec.outcome.String()
			if !rec.observed {
				// The gate's own endpoints: status, health, bypass links.
				site, outcome = siteOf(r.Host), "gate"
			}
			client := ""
			if a, ok := maintenance.ClientIP(r, trusted, ""); ok {
				client = a.String()
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("host", r.Host),
				slog.String("path", logPath(r.URL.Path)),
				slog.Int("status", status),
				slog.Int64("bytes", lw.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("client", client),
				slog.String("site", site),
				slog.String("outcome", outcome),
				slog.Bool("maintenance", rec.observed && rec.outcome == maintenance.Blocked),
			}
			if errors.Is(context.Cause(r.Context()), http.ErrServerClosed) {
				// Cut when serve stopped (--shutdown-timeout ran out).
				attrs = append(attrs, slog.Bool("cut", true))
			}
			logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
			if p != nil {
				panic(p)
			}
		}()
		next.ServeHTTP(lw, r)
	})
}

// logPath is a path as logged: a bypass link's secret token is left out.
func logPath(p string) string {
	if strings.HasPrefix(p, maintenance.BypassPath) && len(p) > len(maintenance.BypassPath) {
		return maintenance.BypassPath + "REDACTED"
	}
	return p
}

// logWriter records the status and the size of an answer. Flush, Hijack and
// the rest reach the wrapped writer through Unwrap (http.ResponseController).
type logWriter struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush sends what was written, as http.Flusher.
func (w *logWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over (an upgrade: WebSockets).
func (w *logWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
