package maintenance

import (
	"reflect"
	"slices"
	"time"
)

// Change is one atomic modification of the state: who makes it, why, and
// what it does. Build one with the constructors (On, Off, AddSite...), set
// Actor, Source and Reason, and pass it to Store.Update.
type Change struct {
	Actor  string
	Source string
	Reason string
	// Action names the change in the audit log.
	Action string
	// Apply mutates a deep copy of the current state; reason is the change's
	// Reason. An error aborts the change; nothing is written.
	Apply func(st *State, reason string) error

	// restore marks a change that puts back an earlier state (restoreChange): it
	// keeps the earlier "changed by/at" and window, even one that has ended.
	restore bool
	// at, when set, receives the time of the change before Apply runs, for
	// constructors that decide by time (a window that has ended).
	at *time.Time
}

// ValidateReason checks the reason of a change (Change.Reason) as every
// change does before it is applied: one line of at most MaxText bytes
// without control or format characters.
func ValidateReason(reason string) error { return validateLine("reason", reason) }

// commitChange applies c to a copy of cur and validates the result. A Change is
// applied by one commitChange at a time. It returns the
// new state (version cur.Version+1) and one event per site that changed; when
// nothing changed it returns cur (normalized) and no events. Stores call it, as
// internal/state.Commit, inside their write transaction; events get their IDs from the store.
func commitChange(cur *State, c Change, now time.Time) (*State, []Event, error) {
	if c.Apply == nil {
		return nil, nil, invalidf("change %q does nothing", c.Action)
	}
	if err := ValidateReason(c.Reason); err != nil {
		return nil, nil, err
	}
	for _, f := range []struct{ what, v string }{{"actor", c.Actor}, {"source", c.Source}} {
		if err := validateLine(f.what, f.v); err != nil {
			return nil, nil, err
		}
	}
	if !cur.normalized() {
		n := cur.Clone()
		n.Normalize()
		cur = n
	}
	next := cur.Clone()
	if c.at != nil {
		*c.at = now
	}
	if err := c.Apply(next, c.Reason); err != nil {
		return nil, nil, err
	}
	next.Links = slices.DeleteFunc(next.Links, func(l BypassLink) bool { return !l.Expires.After(now) })
	next.Normalize()
	next.Version = cur.Version + 1
	now = now.UTC().Truncate(time.Millisecond)

	var events []Event
	before := make(map[string]*SiteState, len(cur.Sites))
	for i := range cur.Sites {
		before[cur.Sites[i].Site] = &cur.Sites[i]
	}
	for i := range next.Sites {
		s := &next.Sites[i]
		old := before[s.Site]
		delete(before, s.Site)
		if old != nil && sameSite(old, s) {
			continue
		}
		if !c.restore && !s.Until.IsZero() && (old == nil || !old.Until.Equal(s.Until)) && !s.Until.After(now) {
			return nil, nil, invalidf("site %q: the end %s is in the past; accepted: a time after now (%s)", s.Site, s.Until.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		// Windows that have ended go with the site's next change; a new
		// window that has already ended is rejected.
		var kept []Window
		for _, w := range s.Schedule {
			if w.Until.After(now) {
				kept = append(kept, w)
				continue
			}
			if !c.restore && (old == nil || !slices.ContainsFunc(old.Schedule, func(x Window) bool { return x.ID == w.ID })) {
				return nil, nil, invalidf("window %s - %s of site %q: the end is in the past; accepted: a time after now (%s)", w.From.UTC().Format(time.RFC3339), w.Until.UTC().Format(time.RFC3339), s.Site, now.UTC().Format(time.RFC3339))
			}
		}
		s.Schedule = kept
		// Switching stamps who and when; so does switching on again a site
		// whose window had ended.
		ended := old != nil && old.On && !old.Until.IsZero() && !old.Until.After(now)
		if !c.restore && (old == nil || old.On != s.On || ended && s.On) {
			s.ChangedAt, s.ChangedBy = now, c.Actor
		}
		s.Version = next.Version
		events = append(events, newEvent(c, now, next.Version, s.Site, old, s))
	}
	for _, old := range cur.Sites {
		if _, gone := before[old.Site]; gone {
			events = append(events, newEvent(c, now, next.Version, old.Site, &old, nil))
		}
	}
	if next.Release != cur.Release {
		e := newEvent(c, now, next.Version, "", nil, nil)
		e.ReleaseBefore, e.ReleaseAfter = cur.Release, next.Release
		events = append(events, e)
	}
	events = append(events, authEvents(c, now, cur, next)...)
	// Validated once stamped (who changed it, when): a site that the
	// change touches is checked whole, the others not at all.
	if err := next.validate(cur); err != nil {
		return nil, nil, err
	}
	events = append(events, pageEvents(c, now, cur, next)...)
	events = append(events, webhookEvents(c, now, cur, next)...)
	if len(events) == 0 {
		return cur, nil, nil
	}
	slices.SortStableFunc(events, func(a, b Event) int {
		switch {
		case a.Site < b.Site:
			return -1
		case a.Site > b.Site:
			return 1
		}
		return 0
	})
	return next, events, nil
}

func newEvent(c Change, now time.Time, version int64, site string, before, after *SiteState) Event {
	e := Event{Version: version, Time: now, Actor: c.Actor, Source: c.Source, Reason: c.Reason, Action: c.Action, Site: site}
	if before != nil {
		b := *before
		e.Before = &b
	}
	if after != nil {
		a := *after
		e.After = &a
	}
	return e
}

// sameSite reports whether two states are equal apart from bookkeeping.
func sameSite(a, b *SiteState) bool {
	x, y := *a, *b
	x.Version, y.Version = 0, 0
	x.ChangedAt, y.ChangedAt = time.Time{}, time.Time{}
	x.ChangedBy, y.ChangedBy = "", ""
	if len(x.Ignore) == 0 {
		x.Ignore = nil
	}
	if len(y.Ignore) == 0 {
		y.Ignore = nil
	}
	if len(x.Allow) == 0 {
		x.Allow = nil
	}
	if len(y.Allow) == 0 {
		y.Allow = nil
	}
	if len(x.Schedule) == 0 {
		x.Schedule = nil
	}
	if len(y.Schedule) == 0 {
		y.Schedule = nil
	}
	return reflect.DeepEqual(x, y)
}

// authEvents returns one event per user, token and bypass link that the
// change added, removed or changed, and stamps the new ones' CreatedBy.
// Bypass links that expired are dropped without an event.
func authEvents(c Change, now time.Time, cur, next *State) []Event {
	var events []Event
	ev := func(target, site string) {
		e := newEvent(c, now, next.Version, site, nil, nil)
		e.Target = target
		events = append(events, e)
	}
	users := map[string]string{}
	for _, u := range cur.Users {
		users[u.Name] = u.Hash
	}
	for i := range next.Users {
		u := &next.Users[i]
		h, ok := users[u.Name]
		delete(users, u.Name)
		if !ok && u.CreatedBy == "" {
			u.CreatedBy = c.Actor
		}
		if !ok || h != u.Hash {
			ev("user "+u.Name, "")
		}
	}
	for name := range users {
		ev("user "+name, "")
	}
	tokens := map[string]bool{}
	for _, t := range cur.Tokens {
		tokens[t.ID] = true
	}
	for i := range next.Tokens {
		t := &next.Tokens[i]
		if !tokens[t.ID] {
			if t.CreatedBy == "" {
				t.CreatedBy = c.Actor
			}
			ev("token "+t.ID, "")
		}
		delete(tokens, t.ID)
	}
	for id := range tokens {
		ev("token "+id, "")
	}
	links := map[string]*BypassLink{}
	for i := range cur.Links {
		links[cur.Links[i].ID] = &cur.Links[i]
	}
	for i := range next.Links {
		l := &next.Links[i]
		if links[l.ID] == nil {
			if l.CreatedBy == "" {
				l.CreatedBy = c.Actor
			}
			ev("bypass "+l.ID, l.Site)
		}
		delete(links, l.ID)
	}
	for id, l := range links {
		if l.Expires.After(now) {
			ev("bypass "+id, l.Site)
		}
	}
	return events
}
