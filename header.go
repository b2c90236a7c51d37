package maintenance

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// MaintenanceHeader is the request header that tells the application
// behind a gate that the request's site is in maintenance, or has a window
// announced, although this request was let through (an ignored path, an
// allowed IP, a bypass link, staff, a GET in read-only mode, mode errors).
// `maintenance serve` sets it on what it passes on, and removes any
// Maintenance header a client sent. Its value is Status.HeaderValue.
const MaintenanceHeader = "Maintenance"

// HeaderValue returns the value of the Maintenance request header for s:
// an RFC 8941 structured-field dictionary, or "" when the site is off
// with nothing announced (then no header is sent). The keys:
//
//   - on: a boolean, ?1 (written as the bare key "on") while the site is
//     in maintenance, ?0 when a window is only announced;
//   - mode: while on, a token: full, read-only, errors or hold;
//   - starts: when an announced window begins, a string in RFC 3339, UTC;
//   - until: when the maintenance ends by itself, a string in RFC 3339,
//     UTC; absent when unknown;
//   - retry-after: while on with no known end, the configured Retry-After
//     in seconds, an integer; absent when none.
//
// For example: `on, mode=read-only, until="2026-12-07T18:00:00Z"` or
// `on=?0, starts="2026-12-07T22:00:00Z", until="2026-12-07T23:00:00Z"`.
// Parsers must ignore keys they do not know: more may come. The message is
// not in it (it may hold any text); GET /_maintenance/status has it.
func (s Status) HeaderValue() string {
	var b strings.Builder
	switch {
	case s.On:
		mode := s.Mode
		if mode == "" {
			mode = ModeFull
		}
		b.WriteString("on, mode=")
		b.WriteString(string(mode))
		if !s.Until.IsZero() {
			b.WriteString(`, until="` + s.Until.UTC().Format(time.RFC3339) + `"`)
		} else if s.RetryAfter > 0 {
			b.WriteString(", retry-after=" + strconv.Itoa(s.RetryAfter))
		}
	case !s.Starts.IsZero():
		b.WriteString(`on=?0, starts="` + s.Starts.UTC().Format(time.RFC3339) + `"`)
		if !s.Until.IsZero() {
			b.WriteString(`, until="` + s.Until.UTC().Format(time.RFC3339) + `"`)
		}
	}
	return b.String()
}

// siteStatus is a site's Status as the gate hands it to the requests it
// lets through, with its Maintenance header value built once per snapshot.
type siteStatus struct {
	Status
	// header is Status.HeaderValue as a header's values; nil when empty.
	header []string
}

func newSiteStatus(s Status) *siteStatus {
	ss := &siteStatus{Status: s}
	if v := s.HeaderValue(); v != "" {
		ss.header = []string{v}
	}
	return ss
}

// MaintenanceHeaderFrom returns the values of the Maintenance request
// header (see MaintenanceHeader and Status.HeaderValue) for a request that
// a gate let through: one value while the request's site is in maintenance
// or has a window announced, else nil. It is built when the gate's
// snapshot is, so it costs no allocation per request; the slice is shared
// and must not be modified. A proxy sets it as is:
//
//	delete(out.Header, maintenance.MaintenanceHeader)
//	if v := maintenance.MaintenanceHeaderFrom(in.Context()); v != nil {
//		out.Header[maintenance.MaintenanceHeader] = v
//	}
func MaintenanceHeaderFrom(ctx context.Context) []string {
	if s, ok := ctx.Value(statusKey{}).(*siteStatus); ok {
		return s.header
	}
	return nil
}
