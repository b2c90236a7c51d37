package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

// maxBody is the largest request body accepted, in bytes.
const maxBody = 64 << 10

// input is a JSON object read field by field, so that every error names its
// field and an absent field is told from one that is null. It is the one
// reader of the API's bodies: each getter returns the field's value, or
// its zero value once a field was bad; finish returns the first error, so
// that a handler reads its fields in a row and checks once.
type input struct {
	fields map[string]json.RawMessage
	known  []string
	err    error
}

// fail records err unless an earlier field failed.
func (in *input) fail(err error) {
	if in.err == nil {
		in.err = err
	}
}

// readInput reads the body of r as a JSON object. An empty body is an empty
// object. A body that is not JSON is errBadJSON, one with another media type
// errMediaType, one over maxBody an *http.MaxBytesError.
func readInput(w http.ResponseWriter, r *http.Request) (*input, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, fmt.Errorf("the body is larger than %d bytes: %w", maxBody, err)
		}
		return nil, fmt.Errorf("%w: reading the body: %v", errBadJSON, err)
	}
	in := &input{fields: map[string]json.RawMessage{}}
	if len(bytes.TrimSpace(b)) == 0 {
		return in, nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return nil, fmt.Errorf("%w: Content-Type %q; accepted: application/json", errMediaType, ct)
		}
	} else {
		return nil, fmt.Errorf("%w: no Content-Type; accepted: application/json (curl --json)", errMediaType)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		return nil, fmt.Errorf("%w: the body is not a JSON object", errBadJSON)
	}
	if err := json.Unmarshal(b, &in.fields); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadJSON, err)
	}
	return in, nil
}

// raw returns the field and whether it is present; null counts as present.
func (in *input) raw(name string) (json.RawMessage, bool) {
	in.known = append(in.known, name)
	v, ok := in.fields[name]
	return v, ok
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// str returns a string field: nil when absent, "" when null.
func (in *input) str(name string) *string {
	v, ok := in.raw(name)
	if !ok {
		return nil
	}
	s := ""
	if !isNull(v) {
		if err := json.Unmarshal(v, &s); err != nil {
			in.fail(invalidField(name, "%s is not a string", name))
			return nil
		}
	}
	return &s
}

// messages returns an object of language tags to texts: nil when absent,
// empty (which removes the translations) when null.
func (in *input) messages(name string) map[string]string {
	v, ok := in.raw(name)
	if !ok {
		return nil
	}
	m := map[string]string{}
	if !isNull(v) {
		if err := json.Unmarshal(v, &m); err != nil {
			in.fail(invalidField(name, "%s is not an object of language tags to texts, like {\"de\": \"Zurück um 14 Uhr\"}", name))
			return nil
		}
	}
	return m
}

// text returns a string field, "" when absent or null.
func (in *input) text(name string) string {
	if p := in.str(name); p != nil {
		return *p
	}
	return ""
}

// integer returns an integer field: nil when absent, 0 when null.
func (in *input) integer(name string) *int {
	v, ok := in.raw(name)
	if !ok {
		return nil
	}
	n := 0
	if !isNull(v) {
		if err := json.Unmarshal(v, &n); err != nil {
			in.fail(invalidField(name, "%s is not an integer", name))
			return nil
		}
	}
	return &n
}

// duration returns a duration field, given as whole seconds (90) or as a Go
// duration ("1h30m"): nil when absent, 0 when null.
func (in *input) duration(name string) *time.Duration {
	v, ok := in.raw(name)
	if !ok {
		return nil
	}
	var d time.Duration
	if isNull(v) {
		return &d
	}
	var n int64
	if err := json.Unmarshal(v, &n); err == nil {
		if n < 0 || n > int64(maxDuration/time.Second) {
			in.fail(invalidField(name, "%s %d is out of range; accepted: whole seconds (5400) or a duration (\"1h30m\")", name, n))
			return nil
		}
		d = time.Duration(n) * time.Second
		return &d
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		in.fail(invalidField(name, "%s is not a duration; accepted: whole seconds (5400) or a duration (\"1h30m\")", name))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		in.fail(invalidField(name, "%s %q is not a duration; accepted: whole seconds (5400) or a duration (\"1h30m\")", name, s))
		return nil
	}
	return &d
}

// maxDuration bounds durations given in seconds, far beyond any accepted
// value, so that the conversion cannot overflow.
const maxDuration = 100 * 365 * 24 * time.Hour

// time returns an RFC 3339 time field: nil when absent, the zero time when
// null.
func (in *input) time(name string) *time.Time {
	v, ok := in.raw(name)
	if !ok {
		return nil
	}
	var t time.Time
	if isNull(v) {
		return &t
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		in.fail(invalidField(name, "%s is not a time; accepted: an RFC 3339 time, like \"2026-11-21T22:00:00Z\"", name))
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		in.fail(invalidField(name, "%s %q is not a time; accepted: an RFC 3339 time, like \"2026-11-21T22:00:00Z\"", name, s))
		return nil
	}
	t = t.UTC()
	return &t
}

// strings returns a list of strings field, nil when absent or null.
func (in *input) strings(name string) []string {
	v, ok := in.raw(name)
	if !ok || isNull(v) {
		return nil
	}
	var l []string
	if err := json.Unmarshal(v, &l); err != nil {
		in.fail(invalidField(name, "%s is not a list of strings", name))
		return nil
	}
	return l
}

// finish returns the first error of a getter, else reports the first field
// (in name order) that no getter asked for.
func (in *input) finish() error {
	if in.err != nil {
		return in.err
	}
	var unknown []string
	for k := range in.fields {
		if !slices.Contains(in.known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	known := slices.Clone(in.known)
	slices.Sort(known)
	known = slices.Compact(known)
	accepted := strings.Join(known, ", ")
	if accepted == "" {
		accepted = "none"
	}
	return invalidField(unknown[0], "unknown field %q; accepted: %s", unknown[0], accepted)
}

// checkReason validates the reason of a change.
func checkReason(reason string) error {
	return inField("reason", maintenance.ValidateReason(reason))
}

// formDuration parses a duration typed in a form: "90m", "2h30m" or whole
// seconds; empty is 0.
func formDuration(field, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		if n < 0 || n > int64(maxDuration/time.Second) {
			return 0, invalidField(field, "%s %q is out of range", field, s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, invalidField(field, "%s %q is not a duration; accepted: 90m, 2h30m, or whole seconds", field, s)
	}
	return d, nil
}

// formTime parses a time typed in a form, in UTC unless it says otherwise
// (maintenance.ParseTime: RFC 3339, "2026-11-21 22:00", the form of
// datetime-local inputs, a time of day, +DURATION; an optional " UTC"
// suffix); empty is the zero time (no bound).
func formTime(field, s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	var t time.Time
	if s == "" {
		return &t, nil
	}
	v, err := maintenance.ParseTime(strings.TrimSuffix(s, " UTC"), time.Now(), time.UTC)
	if err != nil {
		return nil, invalidField(field, "%s %q is not a time (UTC); %s", field, s, strings.TrimPrefix(maintenance.TimeForms, "accepted: "))
	}
	t = v.UTC()
	return &t, nil
}

// fields is what the readers of a switch and of a window need from a
// request: a JSON body (input) or a form (formInput). Each getter returns
// nil for an absent field; finish returns the first bad field.
type fields interface {
	str(name string) *string
	text(name string) string
	messages(name string) map[string]string
	integer(name string) *int
	duration(name string) *time.Duration
	// length is a duration that cannot be cleared: nil when absent, null
	// or empty.
	length(name string) *time.Duration
	time(name string) *time.Time
	finish() error
}

// length returns a duration field, nil when absent or null.
func (in *input) length(name string) *time.Duration {
	if v, ok := in.fields[name]; ok && isNull(v) {
		in.known = append(in.known, name)
		return nil
	}
	return in.duration(name)
}

// formInput is a form read field by field, as input reads a JSON body: an
// empty field is a null one.
type formInput struct {
	f   url.Values
	err error
}

func (in *formInput) fail(err error) {
	if in.err == nil {
		in.err = err
	}
}

func (in *formInput) finish() error { return in.err }

func (in *formInput) str(name string) *string {
	if !in.f.Has(name) {
		return nil
	}
	v := in.f.Get(name)
	return &v
}

func (in *formInput) text(name string) string { return in.f.Get(name) }

// messages reads "de: Zurück um 14 Uhr" lines (parseMessageLines).
func (in *formInput) messages(name string) map[string]string {
	if !in.f.Has(name) {
		return nil
	}
	m, err := parseMessageLines(in.f.Get(name))
	if err != nil {
		in.fail(err)
		return nil
	}
	return m
}

func (in *formInput) integer(name string) *int {
	s := in.str(name)
	if s == nil {
		return nil
	}
	n := 0
	if v := strings.TrimSpace(*s); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			in.fail(invalidField(name, "%s %q is not a whole number", name, *s))
			return nil
		}
	}
	return &n
}

func (in *formInput) duration(name string) *time.Duration {
	s := in.str(name)
	if s == nil {
		return nil
	}
	d, err := formDuration(name, *s)
	if err != nil {
		in.fail(err)
		return nil
	}
	return &d
}

func (in *formInput) length(name string) *time.Duration {
	if strings.TrimSpace(in.f.Get(name)) == "" {
		return nil
	}
	return in.duration(name)
}

func (in *formInput) time(name string) *time.Time {
	s := in.str(name)
	if s == nil {
		return nil
	}
	t, err := formTime(name, *s)
	if err != nil {
		in.fail(err)
		return nil
	}
	return t
}

// readOnOptions reads the options of a switch on and its window, from a
// JSON body or a form alike, and checks them (WindowInput.Resolve,
// OnOptions.Validate).
func readOnOptions(in fields, now time.Time) (maintenance.OnOptions, error) {
	var o maintenance.OnOptions
	o.Message = in.str("message")
	o.Messages = in.messages("messages")
	if m := in.str("mode"); m != nil {
		o.Mode = (*maintenance.Mode)(m)
	}
	o.Status = in.integer("status")
	o.RetryAfter = in.duration("retry_after")
	o.Redirect = in.str("redirect")
	win := maintenance.WindowInput{From: in.time("from"), Until: in.time("until"), For: in.length("for")}
	if err := in.finish(); err != nil {
		return o, err
	}
	var err error
	if o.From, o.Until, err = win.Resolve(now); err != nil {
		return o, err
	}
	return o, o.Validate(now)
}

// readWindow reads a new scheduled window, from a JSON body or a form
// alike, and checks it (WindowInput.Scheduled, Window.Validate).
func readWindow(in fields, now time.Time) (maintenance.Window, error) {
	w := maintenance.Window{Message: in.text("message"), Messages: in.messages("messages"),
		Mode: maintenance.Mode(in.text("mode")), Reason: in.text("reason")}
	win := maintenance.WindowInput{From: in.time("from"), Until: in.time("until"), For: in.length("for")}
	if err := in.finish(); err != nil {
		return w, err
	}
	if len(w.Messages) == 0 {
		w.Messages = nil
	}
	var err error
	if w.From, w.Until, err = win.Scheduled(now); err != nil {
		return w, err
	}
	return w, w.Validate()
}
