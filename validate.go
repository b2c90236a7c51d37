package maintenance

import (
	"errors"
	"time"
)

// A FieldError is invalid input in one field of what a person gave: the
// options of a switch, a window. Field names the field as the admin's JSON
// API and form do ("retry_after", "for"); the CLI's flag is the same name
// with "-" for "_" ("--retry-after"). The error unwraps to ErrInvalid.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Err.Error() }

// Unwrap returns the cause, which wraps ErrInvalid.
func (e *FieldError) Unwrap() error { return e.Err }

// inField names the field of err, an ErrInvalid; nil stays nil and an error
// that names its field already keeps it.
func inField(field string, err error) error {
	var fe *FieldError
	if err == nil || errors.As(err, &fe) {
		return err
	}
	return &FieldError{Field: field, Err: err}
}

// MinWindowLength is the shortest length ("for") a window may be given:
// shorter ones are typing mistakes (500ms for 500m) rather than maintenance.
const MinWindowLength = time.Second

// Validate checks every option of o on its own, in the order of the
// fields, as On does before it changes anything: the error is a
// *FieldError naming the first field that is not accepted. now is the time
// the end (Until) must be after. Checks that need the stored state (the
// site's current window, when only one bound is given) are left to the
// change.
func (o OnOptions) Validate(now time.Time) error {
	if o.Message != nil {
		if err := validateMessage("message", normalizeLines(*o.Message)); err != nil {
			return inField("message", err)
		}
	}
	if o.Messages != nil {
		m, err := canonicalMessages(o.Messages)
		if err == nil {
			err = validateMessages(m)
		}
		if err != nil {
			return inField("messages", err)
		}
	}
	if o.Mode != nil {
		if _, err := ParseMode(string(*o.Mode)); err != nil {
			return inField("mode", err)
		}
	}
	if o.Status != nil {
		if err := validateStatus(*o.Status); err != nil {
			return inField("status", err)
		}
	}
	if o.RetryAfter != nil {
		if err := validateRetryAfter(*o.RetryAfter); err != nil {
			return inField("retry_after", err)
		}
		if *o.RetryAfter%time.Second != 0 {
			return &FieldError{"retry_after", invalidf("retry-after %s: not a whole number of seconds; accepted: whole seconds from 1s to 168h, like 90s or 2h", *o.RetryAfter)}
		}
	}
	if o.Redirect != nil && *o.Redirect != "" {
		if _, err := parseRedirect(*o.Redirect); err != nil {
			return inField("redirect", err)
		}
	}
	var from, until time.Time
	if o.From != nil {
		from = *o.From
	}
	if o.Until != nil {
		until = *o.Until
	}
	return checkBounds(from, until, o.Until != nil, "until", now)
}

// checkBounds checks the bounds of a window, zero when not set: each a time
// a store can keep, the end after the start and, when it is new, after now.
// Errors about the end name endField.
func checkBounds(from, until time.Time, newEnd bool, endField string, now time.Time) error {
	if err := validateTime("from", from); err != nil {
		return inField("from", err)
	}
	endWhat := "until"
	if endField != "until" {
		endWhat = "the end"
	}
	if err := validateTime(endWhat, until); err != nil {
		return inField(endField, err)
	}
	if !from.IsZero() && !until.IsZero() && !until.After(from) {
		return &FieldError{endField, invalidf("the end %s is not after the start %s; accepted: an end after the start", until.UTC().Format(time.RFC3339), from.UTC().Format(time.RFC3339))}
	}
	if newEnd && !until.IsZero() && !until.After(now) {
		return &FieldError{endField, invalidf("the end %s is in the past; accepted: a time after now (%s)", until.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))}
	}
	return nil
}

// A WindowInput is a window as a person gives it, in a form, in a JSON body
// or on the command line: a start, and an end or a length from the start.
// A nil field was not given; a zero From or Until clears that bound (see
// OnOptions).
type WindowInput struct {
	From, Until *time.Time
	For         *time.Duration
}

// Resolve returns the window of a switch (OnOptions.From and Until) from
// in: nil where nothing was given, a zero time where a bound is cleared. The
// rules, the same for the CLI, the admin's form and its JSON API:
//
//   - for and until both set the end: giving both (a non-zero until) is an
//     error;
//   - for is at least MinWindowLength, and counts from from when it is
//     given and not zero, else from now;
//   - the end is after the start and after now.
//
// Errors are *FieldError naming "from", "until" or "for" (for an end
// computed from for).
func (in WindowInput) Resolve(now time.Time) (from, until *time.Time, err error) {
	endField := "until"
	if in.For != nil {
		endField = "for"
		if in.Until != nil && !in.Until.IsZero() {
			return nil, nil, &FieldError{"for", invalidf("for and until both set the end; give one of them")}
		}
		if *in.For < MinWindowLength {
			return nil, nil, &FieldError{"for", invalidf("for %s: accepted: a duration of at least %s, like 90m or 2h30m", *in.For, MinWindowLength)}
		}
	}
	var f, u time.Time
	if in.From != nil {
		f = in.From.UTC()
		from = &f
	}
	switch {
	case in.For != nil:
		start := now
		if !f.IsZero() {
			start = f
		}
		u = start.Add(*in.For).UTC()
		until = &u
	case in.Until != nil:
		u = in.Until.UTC()
		until = &u
	}
	if err := checkBounds(f, u, until != nil, endField, now); err != nil {
		return nil, nil, err
	}
	return from, until, nil
}

// Scheduled returns the bounds of a scheduled window (AddWindow) from in:
// the rules of Resolve, and both bounds are required.
func (in WindowInput) Scheduled(now time.Time) (from, until time.Time, err error) {
	if in.From == nil || in.From.IsZero() {
		return from, until, &FieldError{"from", invalidf("the start of the window is missing; accepted: a time, like 2026-11-21T22:00:00Z")}
	}
	if in.For == nil && (in.Until == nil || in.Until.IsZero()) {
		return from, until, &FieldError{"until", invalidf("the end of the window is missing; accepted: an end time (until) or a duration from the start (for)")}
	}
	f, u, err := in.Resolve(now)
	if err != nil {
		return from, until, err
	}
	return *f, *u, nil
}

// Validate checks what a window says apart from its bounds, as AddWindow
// does: its mode, message, translations and reason. The error is a
// *FieldError naming "mode", "message", "messages" or "reason".
func (w Window) Validate() error {
	if _, err := ParseMode(string(w.Mode)); err != nil {
		return inField("mode", err)
	}
	if err := validateMessage("message", normalizeLines(w.Message)); err != nil {
		return inField("message", err)
	}
	m, err := canonicalMessages(w.Messages)
	if err == nil {
		err = validateMessages(m)
	}
	if err != nil {
		return inField("messages", err)
	}
	return inField("reason", ValidateReason(w.Reason))
}
