package postgres

import "time"

// SetIdleCheck sets how long the listeners of the Stores opened next wait
// for a notification before they check their connection, and returns a
// function that restores it. Tests that call it must not run in parallel.
func SetIdleCheck(d time.Duration) (restore func()) {
	old := idleCheck
	idleCheck = d
	return func() { idleCheck = old }
}
