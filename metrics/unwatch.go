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
