package maintenance

import "net/http"

// Admits decides r again on the gate's current snapshot, and reports
// whether the gate lets it through to the application now: its site is off,
// or a rule (read-only mode, exempt path, allowed IP, bypass, staff) lets it
// through. A request the gate would hold (mode hold) is not admitted. It
// returns the status of the request's site too, for its message. The
// observer is not told, and routes wrapped in ForceOff are not known here.
//
// It is for what outlives its request: a proxy asks it about each upgraded
// connection (a WebSocket) when the gate's snapshot changes (see Changed),
// and closes the ones no longer admitted.
func (g *Gate) Admits(r *http.Request) (Status, bool) {
	s := g.snap.Load()
	ss := s.onSite(r.Host)
	if ss == nil {
		return s.site(r.Host).status.Status, true
	}
	return ss.status.Status, g.decide(s, ss, r) != Blocked
}
