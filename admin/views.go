package admin

import (
	"time"

	"github.com/gomaint/maintenance"
)

// The JSON forms of the API. They follow `maintenance status --json` and
// `maintenance log --json`: fields may be added, never changed.

// siteView is a site's state as it applies now.
type siteView struct {
	Site string `json:"site"`
	// On is true while the site is in maintenance: switched on and inside
	// its window, or inside a scheduled window.
	On bool `json:"on"`
	// SwitchedOn is true when the site is switched on, also before its
	// window starts.
	SwitchedOn bool   `json:"switched_on"`
	Mode       string `json:"mode"` // "" when off
	Message    string `json:"message"`
	// Messages are the message in other languages; absent when none.
	Messages map[string]string `json:"messages,omitempty"`
	Reason   string            `json:"reason"`
	// Since is when the site was last switched on or off.
	Since      *time.Time   `json:"since"`
	ChangedBy  string       `json:"changed_by"`
	From       *time.Time   `json:"from"`
	Until      *time.Time   `json:"until"`
	RetryAfter int64        `json:"retry_after"` // seconds; 0: none
	Status     int          `json:"status"`
	ErrorStat  int          `json:"error_status"`
	Redirect   string       `json:"redirect"`
	Ignore     []ignoreView `json:"ignore"`
	Allow      []allowView  `json:"allow"`
	Schedule   []windowView `json:"schedule"`
	Next       *nextView    `json:"next"`
	Version    int64        `json:"version"`
}

type ignoreView struct {
	Pattern string `json:"pattern"`
	Note    string `json:"note"`
}

type allowView struct {
	Entry string `json:"entry"`
	Note  string `json:"note"`
}

type windowView struct {
	ID      int       `json:"id"`
	From    time.Time `json:"from"`
	Until   time.Time `json:"until"`
	Mode    string    `json:"mode"`
	Message string    `json:"message"`
	// Messages are the message in other languages; absent when none.
	Messages map[string]string `json:"messages,omitempty"`
	Reason   string            `json:"reason"`
	Active   bool              `json:"active"`
}

type nextView struct {
	From    time.Time  `json:"from"`
	Until   *time.Time `json:"until"`
	Message string     `json:"message"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func orDefault(code int) int {
	if code == 0 {
		return maintenance.DefaultStatus
	}
	return code
}

func toSiteView(s *maintenance.SiteState, now time.Time) *siteView {
	e := s.Effective(now)
	v := &siteView{
		Site:       s.Site,
		On:         e.On,
		SwitchedOn: s.On,
		Message:    e.Message,
		Messages:   e.Messages,
		Reason:     e.Reason,
		Since:      timePtr(s.ChangedAt),
		ChangedBy:  s.ChangedBy,
		From:       timePtr(s.From),
		Until:      timePtr(s.Until),
		RetryAfter: int64(s.RetryAfter / time.Second),
		Status:     orDefault(s.Status),
		ErrorStat:  orDefault(s.ErrorStatus),
		Redirect:   s.Redirect,
		Ignore:     []ignoreView{},
		Allow:      []allowView{},
		Schedule:   []windowView{},
		Version:    s.Version,
	}
	if e.On {
		v.Mode = string(e.Mode)
		if v.Mode == "" {
			v.Mode = string(maintenance.ModeFull)
		}
		v.From, v.Until = timePtr(e.From), timePtr(e.Until)
	} else if s.On {
		v.Mode = string(s.Mode)
	}
	for _, r := range s.Ignore {
		v.Ignore = append(v.Ignore, ignoreView{Pattern: r.Value, Note: r.Note})
	}
	for _, r := range s.Allow {
		v.Allow = append(v.Allow, allowView{Entry: r.Value, Note: r.Note})
	}
	for _, w := range s.Schedule {
		v.Schedule = append(v.Schedule, toWindowView(w, now))
	}
	if from, until, msg, ok := s.Next(now); ok {
		v.Next = &nextView{From: from.UTC(), Until: timePtr(until), Message: msg}
	}
	return v
}

func toWindowView(w maintenance.Window, now time.Time) windowView {
	m := string(w.Mode)
	if m == "" {
		m = string(maintenance.ModeFull)
	}
	return windowView{ID: w.ID, From: w.From.UTC(), Until: w.Until.UTC(), Mode: m, Message: w.Message, Messages: w.Messages,
		Reason: w.Reason, Active: !now.Before(w.From) && now.Before(w.Until)}
}

// sitesView is the list of sites.
type sitesView struct {
	Version int64       `json:"version"`
	Sites   []*siteView `json:"sites"`
}

// linkView is a bypass link, never with its secret.
type linkView struct {
	ID        string    `json:"id"`
	Site      string    `json:"site"`
	Label     string    `json:"label"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	CreatedBy string    `json:"created_by"`
	// Uses counts the requests the link let through, as the gates report
	// them (a few seconds late).
	Uses int64 `json:"uses"`
}

func toLinkView(l *maintenance.BypassLink, uses int64) linkView {
	return linkView{ID: l.ID, Site: l.Site, Label: l.Label, Created: l.Created.UTC(), Expires: l.Expires.UTC(),
		CreatedBy: l.CreatedBy, Uses: uses}
}

// newLinkView is a bypass link just created, with its secret: the only time
// it is shown.
type newLinkView struct {
	linkView
	Secret string `json:"secret"`
	// Path is the link to open: maintenance.BypassPath + Secret.
	Path string `json:"path"`
}

// eventView is an audit event.
type eventView struct {
	ID      int64            `json:"id"`
	Version int64            `json:"version"`
	Time    time.Time        `json:"time"`
	Actor   string           `json:"actor"`
	Source  string           `json:"source"`
	Reason  string           `json:"reason"`
	Action  string           `json:"action"`
	Site    string           `json:"site"`
	Target  string           `json:"target,omitempty"`
	Before  *siteView        `json:"before"`
	After   *siteView        `json:"after"`
	Release *releaseChangeVw `json:"release,omitempty"`
}

type releaseChangeVw struct {
	Before *string `json:"before"`
	After  *string `json:"after"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// toEventView shows the sites of an event as they applied at its time.
func toEventView(e *maintenance.Event) eventView {
	v := eventView{ID: e.ID, Version: e.Version, Time: e.Time.UTC(), Actor: e.Actor, Source: e.Source,
		Reason: e.Reason, Action: e.Action, Site: e.Site, Target: e.Target}
	if e.Before != nil {
		v.Before = toSiteView(e.Before, e.Time)
	}
	if e.After != nil {
		v.After = toSiteView(e.After, e.Time)
	}
	if e.ReleaseBefore != "" || e.ReleaseAfter != "" {
		v.Release = &releaseChangeVw{Before: nullable(e.ReleaseBefore), After: nullable(e.ReleaseAfter)}
	}
	return v
}

// eventsView is a page of the audit log.
type eventsView struct {
	Events []eventView `json:"events"`
	// NextBefore is the "before" of the next (older) page; null on the last.
	NextBefore *int64 `json:"next_before"`
}

type releaseView struct {
	Release *string `json:"release"`
	Version int64   `json:"version"`
}
