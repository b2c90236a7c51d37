package maintenance

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
)

// Deploy-error mode: while the gate's release differs from the
// fleet's target release, or the request's site is on in mode errors, a
// server error becomes the maintenance answer. The gate wraps the
// ResponseWriter only then, so the ordinary path gains one boolean test.
//
// What can be replaced: a status of 500 or more set before anything was
// written, and a panic before anything was written. A handler that has
// already sent its status (a stream that fails halfway, say) cannot be
// taken back: its partial answer stands, and a later panic aborts the
// connection as it would without the gate.

// errorWriter replaces a 5xx answer with the maintenance answer.
type errorWriter struct {
	http.ResponseWriter
	r   *http.Request
	ans *answer
	// outer are the headers set before the gate (HSTS, CORS, request
	// IDs): they stay on the answer; the application's go.
	outer http.Header
	// sent: the application's own status went out; replaced: the
	// maintenance answer went out instead, and the rest is discarded.
	sent, replaced bool
}

func (w *errorWriter) WriteHeader(code int) {
	switch {
	case w.sent || w.replaced:
		if w.sent {
			w.ResponseWriter.WriteHeader(code) // net/http reports the superfluous call
		}
	case code >= 500:
		w.replaced = true
		h := w.ResponseWriter.Header()
		clear(h) // the application's headers (cookies...) do not belong to the answer
		for k, v := range w.outer {
			h[k] = v
		}
		w.ans.write(w.ResponseWriter, w.r)
	case code < 200:
		w.ResponseWriter.WriteHeader(code) // informational: the real status follows
	default:
		w.sent = true
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *errorWriter) Write(p []byte) (int, error) {
	if w.replaced {
		return len(p), nil
	}
	if !w.sent {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends the status (200 when none was set) and what was written.
func (w *errorWriter) Flush() {
	if w.replaced {
		return
	}
	if !w.sent {
		w.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over, as the wrapped writer does: the
// application answers on it by itself.
func (w *errorWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.sent = true
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (w *errorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveReplacingErrors serves r with next, replacing a server error with
// the site's error answer.
func (g *Gate) serveReplacingErrors(w http.ResponseWriter, r *http.Request, next http.Handler, ss *siteSnap) {
	ew := &errorWriter{ResponseWriter: w, r: r, ans: g.errorAnswer(ss)}
	if len(w.Header()) > 0 {
		ew.outer = w.Header().Clone()
	}
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler || ew.sent || ew.replaced {
			panic(p) // too late to answer: let net/http abort the connection
		}
		g.cfg.logger.Error("maintenance: the application panicked; answering with the maintenance page",
			"site", ss.name, "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		ew.WriteHeader(http.StatusInternalServerError)
	}()
	next.ServeHTTP(ew, r)
}

// errorAnswer returns the answer that replaces a server error of a site:
// its error status (503 by default), and its message while it is on in
// mode errors. It is built on first use and kept with the snapshot.
func (g *Gate) errorAnswer(ss *siteSnap) *answer {
	if a := ss.errAns.Load(); a != nil {
		return a
	}
	st := ss.state
	st.Status, st.Redirect = st.ErrorStatus, ""
	if !st.On {
		st.Message, st.Messages, st.RetryAfter = "", nil, 0
	}
	why := reasonRelease
	if ss.on && ss.mode == ModeErrors {
		why = reasonErrors
	}
	a := answerFor(&st, g.snap.Load().template(st.Site), why)
	ss.errAns.Store(a)
	return a
}
