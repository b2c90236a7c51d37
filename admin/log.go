package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gomaint/maintenance"
)

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

type eventRow struct {
	E maintenance.Event
}

// logActions are the actions the audit log can be filtered by.
var logActions = []string{"on", "off", "restore", "sites add", "sites rm", "sites set", "ignore add", "ignore rm",
	"allow add", "allow rm", "schedule add", "schedule rm", "release set", "bypass create", "bypass revoke",
	"token create", "token revoke", "user add", "user passwd", "user rm", "webhook add", "webhook rm"}

func (a *Admin) logPage(p *page) error {
	q := p.r.URL.Query()
	d := p.data("Audit log", "log")
	d.Actions = logActions
	d.FormName, d.Form = "log-filter", q
	f, err := eventFilter(q)
	if err != nil {
		status, _ := formFailed(d, p.r, "log-filter", err)
		d.Form = q
		a.render(p.w, p.r, status, "log", d)
		return nil
	}
	d.Filter = f
	evs, next, err := a.readEvents(p.r, f)
	if err != nil {
		return err
	}
	for _, e := range evs {
		d.Events = append(d.Events, eventRow{E: e})
	}
	if next != nil {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("before", fmt.Sprint(*next))
		d.Older = PagePrefix + "log?" + nq.Encode()
	}
	if f.Before != 0 {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Del("before")
		d.Newer = PagePrefix + "log?" + nq.Encode()
	}
	a.render(p.w, p.r, http.StatusOK, "log", d)
	return nil
}

// Bounds of a page of the audit log.
const (
	defaultEventPage = 50
	maxEventPage     = 500
)

// eventFilter reads the filters and paging of the audit log from a query.
func eventFilter(q url.Values) (maintenance.EventFilter, error) {
	f := maintenance.EventFilter{Actor: q.Get("actor"), Action: q.Get("action"), Limit: defaultEventPage}
	if s := q.Get("site"); s != "" {
		n, err := maintenance.ParseSite(s)
		if err != nil {
			return f, inField("site", err)
		}
		f.Site = n
	}
	if b := q.Get("before"); b != "" {
		v, err := strconv.ParseInt(b, 10, 64)
		if err != nil || v < 1 {
			return f, invalidField("before", "before %q: accepted: an event ID (a positive integer)", b)
		}
		f.Before = v
	}
	if l := q.Get("limit"); l != "" {
		v, err := strconv.Atoi(l)
		if err != nil || v < 1 || v > maxEventPage {
			return f, invalidField("limit", "limit %q: accepted: 1 to %d", l, maxEventPage)
		}
		f.Limit = v
	}
	return f, nil
}

func (a *Admin) apiEvents(c *call) error {
	f, err := eventFilter(c.r.URL.Query())
	if err != nil {
		return err
	}
	evs, next, err := a.readEvents(c.r, f)
	if err != nil {
		return err
	}
	v := eventsView{Events: []eventView{}, NextBefore: next}
	for i := range evs {
		v.Events = append(v.Events, toEventView(&evs[i]))
	}
	return c.reply(http.StatusOK, c.st.Version, v)
}

// readEvents reads one page of the audit log, and the "before" of the next
// page, nil when this one is the last.
func (a *Admin) readEvents(r *http.Request, f maintenance.EventFilter) ([]maintenance.Event, *int64, error) {
	limit := f.Limit
	f.Limit++
	evs, err := a.store.Events(r.Context(), f)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the audit log: %w", err)
	}
	if len(evs) <= limit {
		return evs, nil, nil
	}
	evs = evs[:limit]
	next := evs[limit-1].ID
	return evs, &next, nil
}
