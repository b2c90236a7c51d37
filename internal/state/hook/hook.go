// Package hook carries functions of the root package to internal/state,
// which cannot be imported by the root package since it imports it. The
// root package sets these variables when it is initialized; they are typed
// any because this package cannot name the root package's types, and
// internal/state gives them their types back. Nothing else uses them.
package hook

// The functions of the root package that internal/state exports, with the
// type each one has.
var (
	// Commit is func(*maintenance.State, maintenance.Change, time.Time) (*maintenance.State, []maintenance.Event, error).
	Commit any
	// DecodeState is func([]byte, int64) (*maintenance.State, error).
	DecodeState any
	// Restore is func(*maintenance.State, map[string]int64, *[]string) maintenance.Change.
	Restore any
	// CheckUses is func(map[string]int64) error.
	CheckUses any
	// NewKey is func() []byte.
	NewKey any
	// SessionValue is func([]byte, *maintenance.User, time.Time) string.
	SessionValue any
	// VerifySession is func([]byte, *maintenance.State, string, time.Time) (*maintenance.User, bool).
	VerifySession any
)
