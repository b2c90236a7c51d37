package maintenance

import "github.com/gomaint/maintenance/internal/state/hook"

// The functions that the project's own packages (the stores, the admin, the
// command) need and users of the library do not: internal/state exports
// them.
func init() {
	hook.Commit = commitChange
	hook.DecodeState = decodeState
	hook.Restore = restoreChange
	hook.CheckUses = checkUses
	hook.NewKey = newKey
	hook.SessionValue = sessionValue
	hook.VerifySession = verifySession
}
