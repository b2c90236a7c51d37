package maintenance

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// OnOptions are the options of switching sites on. A nil field keeps the
// site's current value when it is already on, and the default when it is off.
type OnOptions struct {
	Message *string
	// Messages, when not nil, replace the message's translations, by
	// language tag ("de", "pt-BR"; see ParseLang): a visitor whose
	// Accept-Language prefers one of them gets it. Setting Message alone
	// removes the translations (they would say something else).
	Messages   map[string]string
	Mode       *Mode
	Status     *int
	RetryAfter *time.Duration
	Redirect   *string
	// From and Until set the window (SiteState.From, Until); a zero time
	// clears that bound. An end that is not in the future is rejected.
	From, Until *time.Time
}

// On returns a change that switches the named sites on, declaring the ones
// that are new. With no names it switches on every declared site, "*"
// included. A site that is off starts from the defaults plus o; a site that is
// already on changes only what o sets. The change's Reason is kept on the site.
func On(sites []string, o OnOptions) Change {
	at := new(time.Time)
	c := Change{Action: "on", at: at}
	c.Apply = func(st *State, reason string) error {
		names, err := parseSites(sites)
		if err != nil {
			return err
		}
		if err := o.Validate(*at); err != nil {
			return err
		}
		if len(names) == 0 {
			names = st.siteNames()
		}
		for _, n := range names {
			s := st.addSite(n)
			// A site whose window has ended is off: it starts afresh.
			if !s.On || !s.Until.IsZero() && !s.Until.After(*at) {
				clearActivation(s)
				s.On = true
				s.Mode = ModeFull
			}
			if reason != "" {
				s.Reason = reason
			}
			if o.Message != nil {
				s.Message = normalizeLines(*o.Message)
				s.Messages = nil
			}
			if o.Messages != nil {
				s.Messages, _ = canonicalMessages(o.Messages) // checked by Validate
			}
			if o.Mode != nil {
				s.Mode, _ = ParseMode(string(*o.Mode)) // checked by Validate
			}
			if o.Status != nil {
				s.Status = *o.Status
			}
			if o.RetryAfter != nil {
				s.RetryAfter = *o.RetryAfter
			}
			if o.Redirect != nil {
				s.Redirect = *o.Redirect
			}
			if o.From != nil {
				s.From = o.From.UTC()
			}
			if o.Until != nil {
				s.Until = o.Until.UTC()
			}
		}
		return nil
	}
	return c
}

// canonicalMessages returns translations with their tags in canonical form
// (ParseLang), or nil when there are none. Two tags for one language are an
// error.
func canonicalMessages(in map[string]string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > MaxMessages {
		return nil, invalidf("messages in %d languages; accepted: at most %d", len(in), MaxMessages)
	}
	out := make(map[string]string, len(in))
	for tag, text := range in {
		c, err := ParseLang(tag)
		if err != nil {
			return nil, err
		}
		if _, dup := out[c]; dup {
			return nil, invalidf("language %q: given twice", c)
		}
		out[c] = text
	}
	return out, nil
}

// Off returns a change that switches the named sites off, or every site when
// none is named, and clears what was set when they were switched on (message,
// reason, mode, status, retry-after, redirect, window). A scheduled window in
// progress is removed; rules and later windows are kept.
func Off(sites []string) Change {
	at := new(time.Time)
	return Change{Action: "off", at: at, Apply: func(st *State, reason string) error {
		names, err := parseSites(sites)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			names = st.siteNames()
		}
		for _, n := range names {
			s := st.Site(n)
			if s == nil {
				return notFoundf("site %q is not declared; see the declared sites with: maintenance sites ls", n)
			}
			s.On = false
			clearActivation(s)
			// A scheduled window in progress ends now; later ones stay.
			s.Schedule = slices.DeleteFunc(s.Schedule, func(w Window) bool { return !at.Before(w.From) && at.Before(w.Until) })
		}
		return nil
	}}
}

func clearActivation(s *SiteState) {
	s.Messages = nil
	s.Mode, s.Message, s.Reason, s.Status, s.RetryAfter, s.Redirect = "", "", "", 0, 0, ""
	s.From, s.Until = time.Time{}, time.Time{}
}

// AddSites returns a change that declares sites; existing ones are left alone.
func AddSites(sites ...string) Change {
	return Change{Action: "sites add", Apply: func(st *State, reason string) error {
		names, err := parseSites(sites)
		if err != nil {
			return err
		}
		for _, n := range names {
			st.addSite(n)
		}
		return nil
	}}
}

// RemoveSite returns a change that removes a declared site with its rules.
// The default site "*" cannot be removed.
func RemoveSite(site string) Change {
	return Change{Action: "sites rm", Apply: func(st *State, reason string) error {
		if err := ValidateRemoveSite(site); err != nil {
			return err
		}
		n, _ := ParseSite(site)
		i := slices.IndexFunc(st.Sites, func(s SiteState) bool { return s.Site == n })
		if i < 0 {
			return notFoundf("site %q is not declared; see the declared sites with: maintenance sites ls", n)
		}
		st.Sites = slices.Delete(st.Sites, i, i+1)
		// Its bypass links and its page go with it.
		st.Links = slices.DeleteFunc(st.Links, func(l BypassLink) bool { return l.Site == n })
		st.Pages = slices.DeleteFunc(st.Pages, func(p Page) bool { return p.Site == n })
		return nil
	}}
}

// ValidateRemoveSite checks that site is a site name that RemoveSite
// accepts: any valid name but the default site "*". Whether it is declared
// is the store's to say.
func ValidateRemoveSite(site string) error {
	n, err := ParseSite(site)
	if err != nil {
		return err
	}
	if n == DefaultSite {
		return invalidf("site %q cannot be removed: it is the site of every host without one of its own", n)
	}
	return nil
}

// ValidateNote checks the note of an ignore pattern or allow entry: one
// line of at most MaxText bytes without control or format characters.
func ValidateNote(note string) error { return validateLine("note", note) }

// AddIgnore returns a change that adds an ignore pattern to a site ("" means
// "*"). Adding a pattern that is there already updates its note.
func AddIgnore(site, pattern, note string) Change {
	return Change{Action: "ignore add", Apply: func(st *State, reason string) error {
		p, err := ParsePattern(pattern)
		if err != nil {
			return err
		}
		s, err := ruleSite(st, site)
		if err != nil {
			return err
		}
		if err := ValidateNote(note); err != nil {
			return err
		}
		s.Ignore = upsertRule(s.Ignore, Rule{Value: p.String(), Note: note})
		return nil
	}}
}

// RemoveIgnore returns a change that removes an ignore pattern from a site.
func RemoveIgnore(site, pattern string) Change {
	return Change{Action: "ignore rm", Apply: func(st *State, reason string) error {
		p, err := ParsePattern(pattern)
		if err != nil {
			return err
		}
		s, err := ruleSite(st, site)
		if err != nil {
			return err
		}
		var ok bool
		if s.Ignore, ok = deleteRule(s.Ignore, p.String()); !ok {
			return notFoundf("site %q has no ignore pattern %q; see them with: maintenance ignore ls --site %s", s.Site, p.String(), s.Site)
		}
		return nil
	}}
}

// AddAllow returns a change that adds an allow entry (IP or CIDR) to a site
// ("" means "*"). Adding an entry that is there already updates its note.
func AddAllow(site, entry, note string) Change {
	return Change{Action: "allow add", Apply: func(st *State, reason string) error {
		p, err := ParseAllow(entry)
		if err != nil {
			return err
		}
		s, err := ruleSite(st, site)
		if err != nil {
			return err
		}
		if err := ValidateNote(note); err != nil {
			return err
		}
		s.Allow = upsertRule(s.Allow, Rule{Value: canonicalAllow(p), Note: note})
		return nil
	}}
}

// RemoveAllow returns a change that removes an allow entry from a site.
func RemoveAllow(site, entry string) Change {
	return Change{Action: "allow rm", Apply: func(st *State, reason string) error {
		p, err := ParseAllow(entry)
		if err != nil {
			return err
		}
		s, err := ruleSite(st, site)
		if err != nil {
			return err
		}
		var ok bool
		if s.Allow, ok = deleteRule(s.Allow, canonicalAllow(p)); !ok {
			return notFoundf("site %q has no allow entry %q; see them with: maintenance allow ls --site %s", s.Site, canonicalAllow(p), s.Site)
		}
		return nil
	}}
}

func ruleSite(st *State, site string) (*SiteState, error) {
	if site == "" {
		site = DefaultSite
	}
	n, err := ParseSite(site)
	if err != nil {
		return nil, err
	}
	s := st.Site(n)
	if s == nil {
		return nil, notFoundf("site %q is not declared; declare it with: maintenance sites add %s", n, n)
	}
	return s, nil
}

func upsertRule(rules []Rule, r Rule) []Rule {
	for i := range rules {
		if rules[i].Value == r.Value {
			rules[i].Note = r.Note
			return rules
		}
	}
	return append(rules, r)
}

func deleteRule(rules []Rule, value string) ([]Rule, bool) {
	i := slices.IndexFunc(rules, func(r Rule) bool { return r.Value == value })
	if i < 0 {
		return rules, false
	}
	return slices.Delete(rules, i, i+1), true
}

func parseSites(sites []string) ([]string, error) {
	var names []string
	for _, s := range sites {
		n, err := ParseSite(s)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names, nil
}

func (st *State) siteNames() []string {
	names := make([]string, len(st.Sites))
	for i, s := range st.Sites {
		names[i] = s.Site
	}
	return names
}

// SetRelease returns a change that sets the fleet's target release. The last
// one set wins, an older ID included (a rollback).
func SetRelease(id string) Change {
	return Change{Action: "release set", Apply: func(st *State, reason string) error {
		r, err := ParseRelease(id)
		if err != nil {
			return err
		}
		st.Release = r
		return nil
	}}
}

// ValidateErrorStatus checks the status that replaces a site's server
// errors, as SetErrorStatus does: 200 or 400-599, or 0 for the default
// (DefaultStatus).
func ValidateErrorStatus(code int) error {
	if err := validateStatus(code); err != nil {
		return fmt.Errorf("error %w", err)
	}
	return nil
}

// SetErrorStatus returns a change that sets the status of the answer that
// replaces a site's server errors ("" means "*"); 0 restores the default.
func SetErrorStatus(site string, code int) Change {
	return Change{Action: "sites set", Apply: func(st *State, reason string) error {
		s, err := ruleSite(st, site)
		if err != nil {
			return err
		}
		if err := ValidateErrorStatus(code); err != nil {
			return err
		}
		s.ErrorStatus = code
		return nil
	}}
}

// restoreChange returns a change that puts sites back exactly as they were in
// before (a state read earlier), for `maintenance run` and During: each site
// named in sites whose version in the current state is still want[site]
// (nobody changed it since) gets its before state back, rules and window
// included; a site declared since is removed again. Sites changed by someone
// else in the meantime are left as they are and reported in skipped, which
// the change fills in when it is applied.
func restoreChange(before *State, want map[string]int64, skipped *[]string) Change {
	return Change{Action: "restore", restore: true, Apply: func(st *State, reason string) error {
		*skipped = (*skipped)[:0]
		for name, v := range want {
			cur := st.Site(name)
			if cur == nil || cur.Version != v {
				*skipped = append(*skipped, name)
				continue
			}
			if old := before.Site(name); old != nil {
				*cur = *old
				cur.Ignore, cur.Allow, cur.Schedule = slices.Clone(old.Ignore), slices.Clone(old.Allow), slices.Clone(old.Schedule)
				continue
			}
			i := slices.IndexFunc(st.Sites, func(s SiteState) bool { return s.Site == name })
			st.Sites = slices.Delete(st.Sites, i, i+1)
			st.Links = slices.DeleteFunc(st.Links, func(l BypassLink) bool { return l.Site == name })
			st.Pages = slices.DeleteFunc(st.Pages, func(p Page) bool { return p.Site == name })
		}
		slices.Sort(*skipped)
		return nil
	}}
}

// AddWindow returns a change that plans a maintenance window for a site (""
// means "*"), half-open [w.From, w.Until), with its own message, mode and
// reason. The window gets the next free ID of the site; an end in the past,
// an end before the start, and an overlap with another window are rejected.
func AddWindow(site string, w Window) Change {
	return Change{Action: "schedule add", Apply: func(st *State, reason string) error {
		s, err := ruleSite(st, site)
		if err != nil {
			return err
		}
		if err := w.Validate(); err != nil {
			return err
		}
		if w.Mode == "" {
			w.Mode = ModeFull
		}
		w.Message = normalizeLines(w.Message)
		if w.Reason == "" {
			w.Reason = reason
		}
		w.From, w.Until = w.From.UTC(), w.Until.UTC()
		m, err := canonicalMessages(w.Messages)
		if err != nil {
			return err
		}
		w.Messages = m
		// Name the window being added and the one it meets as such: the
		// check of the whole state would name them by their order.
		for _, x := range s.Schedule {
			if w.From.Before(x.Until) && x.From.Before(w.Until) {
				return invalidf("the new window %s - %s of site %q overlaps window %d (%s - %s); accepted: a window that ends by the other's start or starts at its end or later",
					w.From.Format(time.RFC3339), w.Until.Format(time.RFC3339), s.Site, x.ID, x.From.Format(time.RFC3339), x.Until.Format(time.RFC3339))
			}
		}
		w.ID = 1
		for _, x := range s.Schedule {
			w.ID = max(w.ID, x.ID+1)
		}
		i, _ := slices.BinarySearchFunc(s.Schedule, w.From, func(x Window, t time.Time) int { return x.From.Compare(t) })
		s.Schedule = slices.Insert(s.Schedule, i, w)
		return nil
	}}
}

// RemoveWindow returns a change that removes the scheduled window id of a
// site ("" means "*").
func RemoveWindow(site string, id int) Change {
	return Change{Action: "schedule rm", Apply: func(st *State, reason string) error {
		s, err := ruleSite(st, site)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(s.Schedule, func(w Window) bool { return w.ID == id })
		if i < 0 {
			return notFoundf("site %q has no scheduled window %d; see them with: maintenance schedule ls --site %s", s.Site, id, s.Site)
		}
		s.Schedule = slices.Delete(s.Schedule, i, i+1)
		return nil
	}}
}

// normalizeLines turns the CRLF line ends of a message (what a browser's
// text area sends) into LF, the only line end a message keeps.
func normalizeLines(s string) string {
	if !strings.Contains(s, "\r\n") {
		return s
	}
	return strings.ReplaceAll(s, "\r\n", "\n")
}
