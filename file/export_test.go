package file

// SetMaxEvents lowers the number of events kept, for a test that does not run
// in parallel with others, and returns the function that restores it.
func SetMaxEvents(n int) (restore func()) {
	old := maxEvents
	maxEvents = n
	return func() { maxEvents = old }
}
