package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

// Errors of the edge, mapped to statuses by statusOf with the root's
// sentinels.
var (
	// errStale is a write whose If-Match (or form version) names a state
	// version that is no longer the current one.
	errStale = fmt.Errorf("%w: the state was changed by someone else meanwhile; reload it and try again", maintenance.ErrConflict)
	// errUnauthorized is a request with no valid credentials.
	errUnauthorized = errors.New("unauthorized")
	// errCrossOrigin is a write refused by http.CrossOriginProtection.
	errCrossOrigin = errors.New("cross-origin request refused")
	// errBadJSON is a body that is not a JSON object.
	errBadJSON = errors.New("bad JSON")
	// errBadForm is a form that cannot be parsed.
	errBadForm = errors.New("bad form")
	// errMediaType is a body that is not JSON.
	errMediaType = errors.New("unsupported media type")
	// errMethod is a method the path does not accept.
	errMethod = errors.New("method not allowed")
	// errThrottled is a sign-in refused after too many failures.
	errThrottled = errors.New("too many failed sign-ins")
)

// fieldError is invalid input in one named field of a request: the root
// package's field error, so that its validators' errors name their field as
// they are.
type fieldError = maintenance.FieldError

// invalidField returns an ErrInvalid for field with a message that says what
// is accepted.
func invalidField(field, format string, args ...any) error {
	return &fieldError{Field: field, Err: fmt.Errorf("%w: "+format, append([]any{maintenance.ErrInvalid}, args...)...)}
}

// inField names the field of err when it is invalid input that names none.
func inField(field string, err error) error {
	var fe *fieldError
	if err == nil || field == "" || errors.As(err, &fe) || !errors.Is(err, maintenance.ErrInvalid) {
		return err
	}
	return &fieldError{Field: field, Err: err}
}

// methodError is errMethod with the methods the path accepts.
type methodError struct{ allow []string }

func (e *methodError) Error() string {
	return "method not allowed; accepted: " + strings.Join(e.allow, ", ")
}
func (e *methodError) Unwrap() error { return errMethod }

// throttledError is errThrottled with the time until the next try.
type throttledError struct{ wait time.Duration }

func (e *throttledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins; try again in %s", roundUp(e.wait))
}
func (e *throttledError) Unwrap() error { return errThrottled }

func roundUp(d time.Duration) time.Duration {
	if d <= time.Minute {
		return d.Round(time.Second)
	}
	return (d + time.Minute - 1).Truncate(time.Minute)
}

// statusOf is the one table from errors to HTTP statuses, with the title
// of the problem and whether the error's text may be shown to the client.
// Anything not in it is a 500 whose details go to the log only.
func statusOf(err error) (status int, title string, show bool) {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, errStale):
		return http.StatusPreconditionFailed, "Changed by someone else meanwhile", true
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized, "Sign-in required", true
	case errors.Is(err, errCrossOrigin):
		return http.StatusForbidden, "Cross-origin request refused", true
	case errors.Is(err, errThrottled):
		return http.StatusTooManyRequests, "Too many failed sign-ins", true
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, "Request body too large", true
	case errors.Is(err, errBadJSON):
		return http.StatusBadRequest, "Bad JSON", true
	case errors.Is(err, errBadForm):
		return http.StatusBadRequest, "Bad form", true
	case errors.Is(err, errMediaType):
		return http.StatusUnsupportedMediaType, "Unsupported media type", true
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed, "Method not allowed", true
	case errors.Is(err, maintenance.ErrInvalid):
		return http.StatusUnprocessableEntity, "Invalid input", true
	case errors.Is(err, maintenance.ErrNotFound):
		return http.StatusNotFound, "Not found", true
	case errors.Is(err, maintenance.ErrConflict):
		return http.StatusConflict, "Conflict", true
	case errors.Is(err, maintenance.ErrClosed):
		return http.StatusServiceUnavailable, "Store closed", false
	}
	return http.StatusInternalServerError, "Internal error", false
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Field names the invalid field of the request, for 422.
	Field string `json:"field,omitempty"`
}

// detail returns the text of err for a client: the root package's message
// without the sentinel's or the change's prefix.
func detail(err error) string {
	msg := err.Error()
	for _, p := range []string{maintenance.ErrInvalid.Error() + ": ", maintenance.ErrConflict.Error() + ": "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// writeProblem answers err as application/problem+json, with the headers its
// status calls for. A 5xx is logged with its cause, which the client never
// sees.
func writeProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, title, show := statusOf(err)
	p := problem{Type: "urn:gomaint:maintenance:admin:" + strings.ReplaceAll(strings.ToLower(title), " ", "-"),
		Title: title, Status: status, Detail: title}
	if show {
		p.Detail = detail(err)
	} else {
		log.Error("admin: "+r.Method+" "+r.URL.Path, "err", err)
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		p.Field = fe.Field
	}
	h := w.Header()
	setErrorHeaders(h, err)
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

// setErrorHeaders sets the headers that go with err's status.
func setErrorHeaders(h http.Header, err error) {
	var me *methodError
	var te *throttledError
	switch {
	case errors.As(err, &me):
		h.Set("Allow", strings.Join(me.allow, ", "))
	case errors.As(err, &te):
		h.Set("Retry-After", strconv.Itoa(int((te.wait+time.Second-1)/time.Second)))
	case errors.Is(err, errBadToken):
		h.Set("WWW-Authenticate", `Bearer realm="maintenance", error="invalid_token"`)
	case errors.Is(err, errUnauthorized):
		h.Set("WWW-Authenticate", `Bearer realm="maintenance"`)
	}
}
