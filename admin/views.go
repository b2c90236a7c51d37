package admin

import (
	"time"

	"github.com/gomaint/maintenance"
)

// The JSON forms of the API. They follow `maintenance status --json` and
// `maintenance log --json`: fields may be added, never changed.

// sitesView is the list of sites.
type sitesView struct {
	Version int64                   `json:"version"`
	Sites   []*maintenance.SiteView `json:"sites"`
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
	ID      int64                 `json:"id"`
	Version int64                 `json:"version"`
	Time    time.Time             `json:"time"`
	Actor   string                `json:"actor"`
	Source  string                `json:"source"`
	Reason  string                `json:"reason"`
	Action  string                `json:"action"`
	Site    string                `json:"site"`
	Target  string                `json:"target,omitempty"`
	Before  *maintenance.SiteView `json:"before"`
	After   *maintenance.SiteView `json:"after"`
	Release *releaseChangeVw      `json:"release,omitempty"`
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
		v.Before = e.Before.View(e.Time)
	}
	if e.After != nil {
		v.After = e.After.View(e.Time)
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
