package redis

import "time"

// SetMaxEvents lowers the number of events a store keeps, for a test that
// does not run in parallel with others; restore puts it back.
func SetMaxEvents(n int) (restore func()) {
	old := maxEvents
	maxEvents = n
	return func() { maxEvents = old }
}

// SetHealthCheck sets how long a watcher's connection may stay silent before
// it is pinged, for watchers started afterwards; restore puts it back once
// they are done.
func SetHealthCheck(d time.Duration) (restore func()) {
	old := healthCheck
	healthCheck = d
	return func() { healthCheck = old }
}
