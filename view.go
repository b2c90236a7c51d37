package maintenance

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EffectiveStatus is the status code of the site's maintenance answer:
// Status, or DefaultStatus when it is 0.
func (s *SiteState) EffectiveStatus() int { return orDefaultStatus(s.Status) }

// EffectiveErrorStatus is the status code of the answer that replaces the
// site's server errors: ErrorStatus, or DefaultStatus when it is 0.
func (s *SiteState) EffectiveErrorStatus() int { return orDefaultStatus(s.ErrorStatus) }

func orDefaultStatus(code int) int {
	if code == 0 {
		return DefaultStatus
	}
	return code
}

// orFull is mode, or ModeFull when it is empty.
func orFull(m Mode) Mode {
	if m == "" {
		return ModeFull
	}
	return m
}

// SiteView is a site's state as it applies at a time, in the JSON form of
// `maintenance status --json` (and of the before and after of
// `maintenance log --json`) and of the admin's JSON API. Fields may be
// added, never changed.
type SiteView struct {
	Site string `json:"site"`
	// On is true while the site is in maintenance: switched on and inside
	// its window, or inside a scheduled window.
	On bool `json:"on"`
	// Mode is "" when the site is neither switched on nor in a scheduled
	// window; during a scheduled window it is the window's.
	Mode    string `json:"mode"`
	Message string `json:"message"`
	// Messages are the message in other languages, by language tag;
	// absent when there are none.
	Messages map[string]string `json:"messages,omitempty"`
	Reason   string            `json:"reason"`
	// Since is when the site was last switched on or off (or declared).
	Since *time.Time `json:"since"`
	// Until is the end of the maintenance window, null when none is set.
	Until *time.Time `json:"until"`
	// From is a later start of the window ("on --from"), null when none.
	From *time.Time `json:"from"`
	// RetryAfter is in seconds; 0 when none is sent.
	RetryAfter int64 `json:"retry_after"`
	// Status is the effective status code of the maintenance answer.
	Status int `json:"status"`
	// ErrorStatus is the effective status code of the answer that replaces
	// a server error.
	ErrorStatus int    `json:"error_status"`
	Redirect    string `json:"redirect"`
	// SwitchedOn is true when the site is switched on, also before its
	// window starts and after it ended.
	SwitchedOn bool `json:"switched_on"`
	// ChangedBy is who last switched the site on or off.
	ChangedBy string       `json:"changed_by"`
	Ignore    []IgnoreView `json:"ignore"`
	Allow     []AllowView  `json:"allow"`
	// Schedule lists the site's planned windows.
	Schedule []WindowView `json:"schedule"`
	// Next announces the next maintenance to start, null when none.
	Next    *NextView `json:"next"`
	Version int64     `json:"version"`
}

// IgnoreView is an ignore pattern; Site is set only in lists of every
// site's patterns.
type IgnoreView struct {
	Site    string `json:"site,omitempty"`
	Pattern string `json:"pattern"`
	Note    string `json:"note"`
}

// AllowView is an allow entry; Site is set only in lists of every site's
// entries.
type AllowView struct {
	Site  string `json:"site,omitempty"`
	Entry string `json:"entry"`
	Note  string `json:"note"`
}

// WindowView is a scheduled window; Site is set only in lists of every
// site's windows.
type WindowView struct {
	Site    string    `json:"site,omitempty"`
	ID      int       `json:"id"`
	From    time.Time `json:"from"`
	Until   time.Time `json:"until"`
	Mode    string    `json:"mode"`
	Message string    `json:"message"`
	// Messages are the message in other languages; absent when none.
	Messages map[string]string `json:"messages,omitempty"`
	Reason   string            `json:"reason"`
	// Active is true while the window is in progress.
	Active bool `json:"active"`
}

// NextView is the next maintenance of a site to start: its first scheduled
// window, or the start of a switch with a later start.
type NextView struct {
	From time.Time `json:"from"`
	// Until is null when the maintenance has no end set.
	Until   *time.Time `json:"until"`
	Message string     `json:"message"`
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// View returns the site as it applies at t (Effective): during a scheduled
// window, on with the window's mode, message, reason and bounds, and the
// default status, no retry-after and no redirect.
func (s *SiteState) View(t time.Time) *SiteView {
	e := s.Effective(t)
	v := &SiteView{
		Site:        s.Site,
		On:          e.On,
		SwitchedOn:  s.On,
		Message:     e.Message,
		Messages:    e.Messages,
		Reason:      e.Reason,
		Since:       timeOrNil(s.ChangedAt),
		ChangedBy:   s.ChangedBy,
		From:        timeOrNil(s.From),
		Until:       timeOrNil(s.Until),
		RetryAfter:  int64(e.RetryAfter / time.Second),
		Status:      e.EffectiveStatus(),
		ErrorStatus: e.EffectiveErrorStatus(),
		Redirect:    e.Redirect,
		Ignore:      []IgnoreView{},
		Allow:       []AllowView{},
		Schedule:    []WindowView{},
		Version:     s.Version,
	}
	switch {
	case e.On:
		v.Mode = string(orFull(e.Mode))
		v.From, v.Until = timeOrNil(e.From), timeOrNil(e.Until)
	case s.On:
		v.Mode = string(orFull(s.Mode))
	}
	for _, r := range s.Ignore {
		v.Ignore = append(v.Ignore, IgnoreView{Pattern: r.Value, Note: r.Note})
	}
	for _, r := range s.Allow {
		v.Allow = append(v.Allow, AllowView{Entry: r.Value, Note: r.Note})
	}
	for i := range s.Schedule {
		v.Schedule = append(v.Schedule, s.Schedule[i].View(t))
	}
	if from, until, msg, ok := s.Next(t); ok {
		v.Next = &NextView{From: from.UTC(), Until: timeOrNil(until), Message: msg}
	}
	return v
}

// View returns the window as seen at t.
func (w *Window) View(t time.Time) WindowView {
	return WindowView{ID: w.ID, From: w.From.UTC(), Until: w.Until.UTC(), Mode: string(orFull(w.Mode)),
		Message: w.Message, Messages: w.Messages, Reason: w.Reason, Active: !t.Before(w.From) && t.Before(w.Until)}
}

// Describe says in a few words whether the site is in maintenance at t:
// "on (MODE)", "off", or that a window is in progress, to come or over:
// "on (MODE, scheduled window ID)", "scheduled (MODE)", "off (its window
// ended)".
func (s *SiteState) Describe(t time.Time) string {
	if !s.switchedOn(t) {
		if w := s.window(t); w != nil {
			return "on (" + string(orFull(w.Mode)) + ", scheduled window " + strconv.Itoa(w.ID) + ")"
		}
	}
	switch {
	case s.On && !s.From.IsZero() && t.Before(s.From):
		return "scheduled (" + string(orFull(s.Mode)) + ")"
	case s.On && !s.Until.IsZero() && !t.Before(s.Until):
		return "off (its window ended)"
	case s.On:
		return "on (" + string(orFull(s.Mode)) + ")"
	}
	return "off"
}

// IsRelease reports whether e records a change of the fleet's target
// release rather than of a site: every site event names its site, and the
// events about users, tokens and links, which may have no site either,
// name their target and leave the release alone.
func (e *Event) IsRelease() bool {
	return e.Site == "" && e.Target == "" && e.ReleaseBefore != e.ReleaseAfter
}

// Summary says, for a person reading the audit log, what e changed, with
// the sites as they applied at the event's time: "off -> on (full)", "set
// message, status", "+ignore /health", "release v41 -> v42", or the user,
// token or link the event is about ("user bob").
func (e *Event) Summary() string {
	b, a := e.Before, e.After
	switch {
	case e.IsRelease():
		return "release " + releaseWord(e.ReleaseBefore) + " -> " + releaseWord(e.ReleaseAfter)
	case e.Target != "":
		return e.Target
	case b == nil && a == nil:
		return ""
	case b == nil:
		return "declared, " + a.Describe(e.Time)
	case a == nil:
		return "removed"
	}
	var parts []string
	if b.On != a.On {
		parts = append(parts, b.Describe(e.Time)+" -> "+a.Describe(e.Time))
	} else if a.On {
		var fields []string
		add := func(name string, changed bool) {
			if changed {
				fields = append(fields, name)
			}
		}
		add("mode", orFull(a.Mode) != orFull(b.Mode))
		add("message", a.Message != b.Message || !maps.Equal(a.Messages, b.Messages))
		add("reason", a.Reason != b.Reason)
		add("status", a.EffectiveStatus() != b.EffectiveStatus())
		add("retry-after", a.RetryAfter != b.RetryAfter)
		add("redirect", a.Redirect != b.Redirect)
		if len(fields) > 0 {
			parts = append(parts, "set "+strings.Join(fields, ", "))
		}
	}
	if x, y := b.EffectiveErrorStatus(), a.EffectiveErrorStatus(); x != y {
		parts = append(parts, fmt.Sprintf("error status %d -> %d", x, y))
	}
	parts = append(parts, diffRules("ignore", b.Ignore, a.Ignore)...)
	parts = append(parts, diffRules("allow", b.Allow, a.Allow)...)
	parts = append(parts, diffWindows(e.Time, b.Schedule, a.Schedule)...)
	return strings.Join(parts, "; ")
}

// releaseWord is a target release for a person: the ID, or "none".
func releaseWord(id string) string {
	if id == "" {
		return "none"
	}
	return id
}

// diffWindows sums up the windows added ("+window 3 FROM - UNTIL") and
// removed ("-window 3", "-window 3 (ended)" when it had ended at t).
func diffWindows(t time.Time, before, after []Window) []string {
	var out []string
	has := func(ws []Window, id int) bool {
		return slices.ContainsFunc(ws, func(w Window) bool { return w.ID == id })
	}
	for _, w := range after {
		if !has(before, w.ID) {
			out = append(out, fmt.Sprintf("+window %d %s - %s", w.ID, w.From.UTC().Format(time.RFC3339), w.Until.UTC().Format(time.RFC3339)))
		}
	}
	for _, w := range before {
		if !has(after, w.ID) {
			s := fmt.Sprintf("-window %d", w.ID)
			if !t.Before(w.Until) {
				s += " (ended)"
			}
			out = append(out, s)
		}
	}
	return out
}

// diffRules sums up the rules added ("+ignore /health"), removed
// ("-ignore /health") and whose note changed ("ignore /health note").
func diffRules(kind string, before, after []Rule) []string {
	var out []string
	old := make(map[string]string, len(before))
	for _, r := range before {
		old[r.Value] = r.Note
	}
	for _, r := range after {
		note, ok := old[r.Value]
		switch {
		case !ok:
			out = append(out, "+"+kind+" "+r.Value)
		case note != r.Note:
			out = append(out, kind+" "+r.Value+" note")
		}
		delete(old, r.Value)
	}
	for _, r := range before {
		if _, gone := old[r.Value]; gone {
			out = append(out, "-"+kind+" "+r.Value)
		}
	}
	return out
}
