package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/gomaint/maintenance/internal/redact"
	"io"

	"github.com/gomaint/maintenance"
)

// Exit codes.
const (
	exitOK      = 0 // done
	exitFailed  = 1 // the store is unreachable, I/O failed
	exitInvalid = 2 // invalid usage or input; nothing changed
)

// errUsage marks errors in the command line itself: an unknown command or
// flag, a flag value of the wrong kind, a missing argument.
var errUsage = errors.New("usage error")

// usageError is a usage error with a message for the person who typed it.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

// usageErrorf returns a usage error; the message names the bad value and
// says what is accepted.
func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCodes maps errors to exit codes: the first entry that err wraps wins;
// an error that wraps none of them exits with exitFailed.
var exitCodes = []struct {
	err  error
	code int
}{
	{flag.ErrHelp, exitOK}, // the usage was asked for and printed
	{errUsage, exitInvalid},
	{maintenance.ErrInvalid, exitInvalid},
	{maintenance.ErrNotFound, exitInvalid},
}

// exitCode returns the exit code for err and, unless it is 0, prints
// "maintenance: " and the error on stderr.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	code := exitFailed
	for _, c := range exitCodes {
		if errors.Is(err, c.err) {
			code = c.code
			break
		}
	}
	if child, ok := errors.AsType[*childExitError](err); ok {
		code = child.code // "maintenance run" exits with its command's code
	}
	if code != exitOK {
		// Every error is redacted once more, so that a password in a store
		// URL that some path quoted raw is never shown.
		fmt.Fprintf(stderr, "maintenance: %s\n", redact.String(err.Error()))
	}
	return code
}

// notFoundError is a maintenance.ErrNotFound with a message for the person
// who typed the missing name.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return maintenance.ErrNotFound }

func notFoundf(format string, args ...any) error {
	return &notFoundError{msg: fmt.Sprintf(format, args...)}
}
