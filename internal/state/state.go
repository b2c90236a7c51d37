// Package state holds the functions of the root package that only the
// project's own packages need: the stores (which commit changes, decode
// state documents, check use counts and make server keys), the admin
// (which signs and checks session cookies) and the command. They are
// implemented in the root package, beside the types they work on; users of
// the library reach the same behaviour through a Store and a Gate.
package state

import (
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/state/hook"
)

// The root package's functions with their types, checked when this package
// is initialized (after the root package, which sets them).
var (
	commit        = hook.Commit.(func(*maintenance.State, maintenance.Change, time.Time) (*maintenance.State, []maintenance.Event, error))
	decodeState   = hook.DecodeState.(func([]byte, int64) (*maintenance.State, error))
	restore       = hook.Restore.(func(*maintenance.State, map[string]int64, *[]string) maintenance.Change)
	checkUses     = hook.CheckUses.(func(map[string]int64) error)
	newKey        = hook.NewKey.(func() []byte)
	sessionValue  = hook.SessionValue.(func([]byte, *maintenance.User, time.Time) string)
	verifySession = hook.VerifySession.(func([]byte, *maintenance.State, string, time.Time) (*maintenance.User, bool))
)

// Commit applies c to a copy of cur and validates the result. A Change is
// applied by one Commit at a time. It returns the new state (version
// cur.Version+1) and one event per site that changed; when nothing changed
// it returns cur (normalized) and no events. Stores call it inside their
// write transaction; events get their IDs from the store. Bad input is an
// error wrapping maintenance.ErrInvalid or maintenance.ErrNotFound.
func Commit(cur *maintenance.State, c maintenance.Change, now time.Time) (*maintenance.State, []maintenance.Event, error) {
	return commit(cur, c, now)
}

// DecodeState decodes a state document (the JSON encoding of a State) as
// stores keep it, with its version kept beside it; an empty document is the
// empty state. The result is normalized.
func DecodeState(doc []byte, version int64) (*maintenance.State, error) {
	return decodeState(doc, version)
}

// Restore returns a change that puts sites back exactly as they were in
// before (a state read earlier), as maintenance.During does when its
// function returns: each site named in want whose version in the current
// state is still want[site] (nobody changed it since) gets its before state
// back, rules and window included; a site declared since is removed again.
// Sites changed by someone else in the meantime are left as they are and
// reported in skipped, which the change fills in when it is applied.
func Restore(before *maintenance.State, want map[string]int64, skipped *[]string) maintenance.Change {
	return restore(before, want, skipped)
}

// CheckUses validates the argument of maintenance.Secrets.CountUses, for
// stores to call before they write anything: every ID is 1 to 32 bytes and
// every count is 0 or more. The error wraps maintenance.ErrInvalid; it
// gives the length of a bad ID, never the ID itself, which might be a
// secret passed by mistake.
func CheckUses(n map[string]int64) error { return checkUses(n) }

// NewKey returns a new random server key of maintenance.KeySize bytes.
func NewKey() []byte { return newKey() }

// SessionValue returns the value of an admin session cookie for u that
// expires at exp, signed with key. A session ends at exp, when the user is
// removed, or when the password changes (it names a digest of the hash).
func SessionValue(key []byte, u *maintenance.User, exp time.Time) string {
	return sessionValue(key, u, exp)
}

// VerifySession checks an admin session cookie value against the key and
// the users of st at now, and returns the signed-in user.
func VerifySession(key []byte, st *maintenance.State, value string, now time.Time) (*maintenance.User, bool) {
	return verifySession(key, st, value, now)
}
