package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// ErrBodyIdle is the error of reading a request body that sent nothing for
// longer than its idle timeout (see LimitBodyIdle). The proxy answers it
// with 408 Request Timeout.
var ErrBodyIdle = errors.New("request body idle")

// LimitBodyIdle returns next with a limit on idle request bodies: a read of
// the body that waits longer than idle for the client's next bytes fails
// with an error wrapping ErrBodyIdle, and the connection is closed. Each
// read has its own idle time, so a body that keeps moving, however slowly,
// is never cut, and an application reading slowly does not count against
// the client. On HTTP/1.x the limit holds from the start of the handler
// too, so that a body nobody reads (a request the gate answers) is not
// waited for forever when the server drains it. Zero idle means no limit.
func LimitBodyIdle(next http.Handler, idle time.Duration) http.Handler {
	if idle <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		h1 := r.ProtoMajor == 1
		if h1 {
			// An HTTP/2 deadline fires even with no read pending: there
			// it is set around each read only.
			rc.SetReadDeadline(time.Now().Add(idle))
		}
		b := &idleBody{ReadCloser: r.Body, rc: rc, idle: idle, h1: h1}
		// The reverse proxy wraps the body: the error handler finds it in
		// the context.
		r = r.WithContext(context.WithValue(r.Context(), idleBodyKey{}, b))
		r.Body = b
		next.ServeHTTP(w, r)
	})
}

// idleBody is a request body whose every read has a deadline.
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	h1   bool
	done bool

	// What bodyIdled asks from another goroutine: when a read times out,
	// the server cancels the request's context at once, and the round
	// trip may fail with that before the read returns here.
	mu       sync.Mutex
	reading  bool
	deadline time.Time
	idled    bool
}

type idleBodyKey struct{}

// bodyIdled reports whether r's body timed out (LimitBodyIdle), or is
// timing out: a read waits past its deadline.
func bodyIdled(r *http.Request) bool {
	b, ok := r.Context().Value(idleBodyKey{}).(*idleBody)
	if !ok {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.idled || b.reading && !time.Now().Before(b.deadline)
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	deadline := time.Now().Add(b.idle)
	if err := b.rc.SetReadDeadline(deadline); err != nil {
		// No deadline on this connection (a hijacked one): no limit.
		b.done = true
		return b.ReadCloser.Read(p)
	}
	b.mu.Lock()
	b.reading, b.deadline = true, deadline
	b.mu.Unlock()
	n, err := b.ReadCloser.Read(p)
	idled := err != nil && errors.Is(err, os.ErrDeadlineExceeded)
	b.mu.Lock()
	b.reading, b.idled = false, idled
	b.mu.Unlock()
	switch {
	case err == io.EOF:
		// The whole body is here: from now on the server watches the
		// connection for the client going away, which a deadline would
		// take for a failure.
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	case idled:
		b.done = true
		return n, fmt.Errorf("%w: no bytes for %s: %w", ErrBodyIdle, b.idle, err)
	case !b.h1:
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
