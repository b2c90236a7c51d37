package redis

// SetMaxEvents lowers the number of events a store keeps, for a test that
// does not run in parallel with others; restore puts it back.
func SetMaxEvents(n int) (restore func()) {
	old := maxEvents
	maxEvents = n
	return func() { maxEvents = old }
}
