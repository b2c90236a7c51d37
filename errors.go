package maintenance

import (
	"errors"
	"fmt"
)

// Sentinel errors. Stores and the domain wrap them ("adding pattern: %w");
// the edges (CLI exit codes, HTTP statuses) map them in one table each.
var (
	// ErrInvalid reports input that was rejected before anything was written.
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound reports a site, rule or event that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict reports a write that lost a race with another writer.
	ErrConflict = errors.New("conflict")
	// ErrClosed reports a call on a store or gate after Close.
	ErrClosed = errors.New("closed")
)

// invalidError is an ErrInvalid with a message meant for the person who
// typed the value: it names the value and says what is accepted.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return ErrNotFound }

func notFoundf(format string, args ...any) error {
	return &notFoundError{msg: fmt.Sprintf(format, args...)}
}
