package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/gomaint/maintenance"
)

func (a *Admin) addWindow(p *page) error {
	n, err := formSite(p)
	if err != nil {
		return err
	}
	f := p.r.PostForm
	w, err := readWindow(&formInput{f: f}, p.now)
	if err != nil {
		return a.siteFailed(p, n, "window-add", err)
	}
	if _, err := a.pageUpdate(p, "from", maintenance.AddWindow(n, w), f.Get("reason")); err != nil {
		return a.siteFailed(p, n, "window-add", err)
	}
	return p.done(sitePath(n)+"#schedule", "window-add")
}

func (a *Admin) removeWindow(p *page) error {
	n, err := formSite(p)
	if err != nil {
		return err
	}
	var id int
	if _, err := fmt.Sscan(p.r.PathValue("id"), &id); err != nil {
		return fmt.Errorf("%w: no window %q", maintenance.ErrNotFound, p.r.PathValue("id"))
	}
	if _, err := a.pageUpdate(p, "", maintenance.RemoveWindow(n, id), p.r.PostForm.Get("reason")); err != nil {
		return a.siteFailed(p, n, "window-remove", err)
	}
	return p.done(sitePath(n)+"#schedule", "window-rm")
}

func (a *Admin) apiSchedule(c *call) error {
	s, err := declaredSite(c.r, c.st)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, c.st.Version, s.View(c.now).Schedule)
}

func (a *Admin) apiAddWindow(c *call) error {
	n, err := pathSite(c.r)
	if err != nil {
		return err
	}
	in, err := readInput(c.w, c.r)
	if err != nil {
		return err
	}
	win, err := readWindow(in, c.now)
	if err != nil {
		return err
	}
	// An overlap with another window is the only error left that depends
	// on the stored state.
	st, err := a.update(c, "from", maintenance.AddWindow(n, win), win.Reason)
	if err != nil {
		return err
	}
	s := st.Site(n)
	if s == nil || len(s.Schedule) == 0 {
		return fmt.Errorf("site %q has no window after adding one", n)
	}
	// The new window has the highest ID of the site.
	w := slices.MaxFunc(s.Schedule, func(x, y maintenance.Window) int { return x.ID - y.ID })
	c.w.Header().Set("Location", APIPrefix+"sites/"+url.PathEscape(n)+"/schedule/"+strconv.Itoa(w.ID))
	return c.reply(http.StatusCreated, st.Version, w.View(c.now))
}

func (a *Admin) apiRemoveWindow(c *call) error {
	n, err := pathSite(c.r)
	if err != nil {
		return err
	}
	id, err := strconv.Atoi(c.r.PathValue("id"))
	if err != nil || id < 1 {
		return invalidField("id", "window ID %q: accepted: a positive integer", c.r.PathValue("id"))
	}
	st, err := a.update(c, "id", maintenance.RemoveWindow(n, id), c.r.URL.Query().Get("reason"))
	if err != nil {
		return err
	}
	return c.siteReply(http.StatusOK, st, n)
}
