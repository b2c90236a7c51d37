package maintenance

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Problem is an invalid value that a store holds: one that no change
// through the stores could write, but a hand-edited file, a restored
// backup or an older program could. Site names the site that holds it,
// empty for the state's other parts (the release, users, tokens, links).
type Problem struct {
	Site string
	Err  error
}

// String says which site holds the value, and what is wrong with it.
func (p Problem) String() string {
	if p.Site == "" {
		return "the state: " + p.Err.Error()
	}
	return fmt.Sprintf("site %s: %v", p.Site, p.Err)
}

// Problems checks a state read from a store, site by site, and returns what
// is invalid in it, for gates (which keep serving the last valid state of
// such a site) and `maintenance status`. A state written by Store.Update has none.
func (st *State) Problems() []Problem {
	var ps []Problem
	if st.Release != "" {
		if _, err := ParseRelease(st.Release); err != nil {
			ps = append(ps, Problem{Err: err})
		}
	}
	for i := range st.Sites {
		s := &st.Sites[i]
		if i > 0 && st.Sites[i-1].Site == s.Site {
			ps = append(ps, Problem{Site: s.Site, Err: invalidf("site %q is declared twice", s.Site)})
			continue
		}
		if err := s.Validate(); err != nil {
			ps = append(ps, Problem{Site: s.Site, Err: err})
		}
	}
	if err := st.validateAuth(); err != nil {
		ps = append(ps, Problem{Err: err})
	}
	return ps
}

// repaired returns st with its problems replaced, for a gate to serve: a
// site with a problem as it is in last (the state the gate served before)
// when last has it, else with each invalid field at its default (an invalid
// rule or window dropped); a site whose name is invalid, or declared twice,
// is dropped. An invalid release, or invalid users, tokens or links, are
// taken from last (none when last is nil): bad entries never let anyone
// through.
func (st *State) repaired(ps []Problem, last *State) *State {
	if len(ps) == 0 {
		return st
	}
	out := st.Clone()
	out.Sites = out.Sites[:0]
	bad := map[string]bool{}
	global := false
	for _, p := range ps {
		if p.Site == "" {
			global = true
		} else {
			bad[p.Site] = true
		}
	}
	for i, s := range st.Sites {
		if i > 0 && st.Sites[i-1].Site == s.Site {
			continue
		}
		if !bad[s.Site] {
			out.Sites = append(out.Sites, out.cloneSite(s))
			continue
		}
		if last != nil {
			if old := last.Site(s.Site); old != nil && old.Validate() == nil {
				out.Sites = append(out.Sites, out.cloneSite(*old))
				continue
			}
		}
		if c, err := ParseSite(s.Site); err != nil || c != s.Site {
			continue
		}
		out.Sites = append(out.Sites, repairSite(s))
	}
	if global {
		out.Release, out.Users, out.Tokens, out.Links = "", nil, nil, nil
		if last != nil && last.Problems() == nil {
			out.Release = last.Release
			out.Users, out.Tokens, out.Links = slices.Clone(last.Users), slices.Clone(last.Tokens), slices.Clone(last.Links)
		}
		// A link to a site that is gone would fail validation.
		out.Links = slices.DeleteFunc(out.Links, func(l BypassLink) bool { return out.Site(l.Site) == nil })
	}
	out.Normalize()
	return out
}

func (st *State) cloneSite(s SiteState) SiteState {
	s.Ignore, s.Allow, s.Schedule = slices.Clone(s.Ignore), slices.Clone(s.Allow), slices.Clone(s.Schedule)
	return s
}

// repairSite returns s with each invalid field at its default; invalid
// rules and windows are dropped.
func repairSite(s SiteState) SiteState {
	r := SiteState{Site: s.Site, On: s.On, Version: max(s.Version, 0)}
	if _, err := ParseMode(string(s.Mode)); err == nil {
		r.Mode = s.Mode
	}
	if validateStatus(s.Status) == nil {
		r.Status = s.Status
	}
	if ValidateErrorStatus(s.ErrorStatus) == nil {
		r.ErrorStatus = s.ErrorStatus
	}
	if validateRetryAfter(s.RetryAfter) == nil {
		r.RetryAfter = s.RetryAfter
	}
	if validateMessage("message", s.Message) == nil {
		r.Message = s.Message
	}
	if ValidateReason(s.Reason) == nil {
		r.Reason = s.Reason
	}
	if validateLine("changed by", s.ChangedBy) == nil {
		r.ChangedBy = s.ChangedBy
	}
	if s.Redirect != "" {
		if _, err := parseRedirect(s.Redirect); err == nil {
			r.Redirect = s.Redirect
		}
	}
	okTime := func(t time.Time) bool { return validateTime("", t) == nil }
	if okTime(s.ChangedAt) {
		r.ChangedAt = s.ChangedAt
	}
	if okTime(s.From) && okTime(s.Until) && (s.From.IsZero() || s.Until.IsZero() || s.Until.After(s.From)) {
		r.From, r.Until = s.From, s.Until
	}
	for _, w := range s.Schedule {
		c := r
		c.Schedule = append(slices.Clone(r.Schedule), w)
		if len(c.Schedule) <= MaxWindows && c.Validate() == nil {
			r.Schedule = c.Schedule
		}
	}
	for _, x := range s.Ignore {
		if _, err := ParsePattern(x.Value); err == nil {
			if ValidateNote(x.Note) != nil {
				x.Note = ""
			}
			r.Ignore = append(r.Ignore, x)
		}
	}
	for _, x := range s.Allow {
		if _, err := ParseAllow(x.Value); err == nil {
			if ValidateNote(x.Note) != nil {
				x.Note = ""
			}
			r.Allow = append(r.Allow, x)
		}
	}
	if r.Validate() != nil {
		return SiteState{Site: s.Site, Version: r.Version}
	}
	return r
}

// problemsText joins problems for a log line or a registry warning.
func problemsText(ps []Problem) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}
