package metrics

import (
	"slices"

	"github.com/gomaint/maintenance"
)

// Unwatch stops collecting a gate's state, as when `maintenance serve`
// replaces its gate on a reload: two gates of one process would report the
// same series twice. Unwatching a gate that is not watched does nothing.
func (m *Metrics) Unwatch(g *maintenance.Gate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gates = slices.DeleteFunc(m.gates, func(w *maintenance.Gate) bool { return w == g })
}

// Replace watches cur instead of old, in one step, so that no scrape sees
// both or neither: serve's reload, where the old gate keeps running until
// its requests under way are done (a stream may take hours). It starts
// cur's sites' request counters at zero, as Watch.
func (m *Metrics) Replace(old, cur *maintenance.Gate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gates = slices.DeleteFunc(m.gates, func(w *maintenance.Gate) bool { return w == old || w == cur })
	m.gates = append(m.gates, cur)
	m.addSites(cur.Sites())
}
