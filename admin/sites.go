package admin

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

// The JSON forms of the API, in the file of each resource, follow
// `maintenance status --json` and `maintenance log --json`: fields may be
// added, never changed.

// sitesView is the list of sites.
type sitesView struct {
	Version int64                   `json:"version"`
	Sites   []*maintenance.SiteView `json:"sites"`
}

// siteRow is a site as the page shows it.
type siteRow struct {
	S *maintenance.SiteState
	// E is the site as it applies now (a scheduled window in progress).
	E                maintenance.SiteState
	Scheduled        bool
	NextFrom, NextTo time.Time
	NextMessage      string
	HasNext          bool
}

func newSiteRow(s *maintenance.SiteState, now time.Time) siteRow {
	r := siteRow{S: s, E: s.Effective(now)}
	r.Scheduled = r.E.On && !s.On
	r.NextFrom, r.NextTo, r.NextMessage, r.HasNext = s.Next(now)
	return r
}

// Mode is the mode shown for the site: "" when up.
func (r siteRow) Mode() string {
	if !r.E.On && !r.S.On {
		return ""
	}
	m := r.E.Mode
	if !r.E.On {
		m = r.S.Mode
	}
	if m == "" {
		m = maintenance.ModeFull
	}
	return string(m)
}

func (a *Admin) sitesPage(p *page) error {
	return a.renderSites(p, http.StatusOK, p.data("Sites", "sites"))
}

func (a *Admin) renderSites(p *page, status int, d *pageData) error {
	// The registry of gates says whether the fleet has followed; a store
	// that cannot tell does not stop the page.
	if gs, err := a.store.Gates(p.r.Context()); err == nil && len(gs) > 0 {
		d.Gates = &gatesSummary{Total: len(gs)}
		for _, g := range gs {
			if g.Version >= p.st.Version {
				d.Gates.Current++
			}
			if g.StoreError != "" {
				d.Gates.Errors++
			}
		}
	}
	for i := range p.st.Sites {
		d.Sites = append(d.Sites, newSiteRow(&p.st.Sites[i], p.now))
	}
	a.render(p.w, p.r, status, "sites", d)
	return nil
}

// formSite returns the canonical site of the path.
func formSite(p *page) (string, error) {
	n, err := maintenance.ParseSite(p.r.PathValue("site"))
	if err != nil {
		return "", fmt.Errorf("%w: %w", maintenance.ErrNotFound, err)
	}
	return n, nil
}

func (a *Admin) sitePage(p *page) error {
	n, err := formSite(p)
	if err != nil {
		return err
	}
	d := p.data("Site "+siteName(n), "sites")
	return a.renderSite(p, n, http.StatusOK, d)
}

func (a *Admin) renderSite(p *page, n string, status int, d *pageData) error {
	s := p.st.Site(n)
	if s == nil {
		return fmt.Errorf("%w: site %q is not declared", maintenance.ErrNotFound, n)
	}
	row := newSiteRow(s, p.now)
	d.Site, d.Preview = &row, true
	a.render(p.w, p.r, status, "site", d)
	return nil
}

func (a *Admin) siteFailed(p *page, n, formName string, err error) error {
	return a.failed(p, formName, err, func(status int, d *pageData) error {
		d.Title, d.Nav = "Site "+siteName(n), "sites"
		if p.st.Site(n) == nil {
			return err
		}
		return a.renderSite(p, n, status, d)
	})
}

func (a *Admin) sitesFailed(p *page, formName string, err error) error {
	return a.failed(p, formName, err, func(status int, d *pageData) error {
		d.Title, d.Nav = "Sites", "sites"
		return a.renderSites(p, status, d)
	})
}

func (a *Admin) addSite(p *page) error {
	f := p.r.PostForm
	n, err := maintenance.ParseSite(f.Get("site"))
	if err != nil {
		return a.sitesFailed(p, "site-add", inField("site", err))
	}
	if _, err := a.pageUpdate(p, "site", maintenance.AddSites(n), f.Get("reason")); err != nil {
		return a.sitesFailed(p, "site-add", err)
	}
	return p.done(sitePath(n), "site-add")
}

func (a *Admin) removeSite(p *page) error {
	n, err := formSite(p)
	if err != nil {
		return err
	}
	if _, err := a.pageUpdate(p, "", maintenance.RemoveSite(n), p.r.PostForm.Get("reason")); err != nil {
		return a.siteFailed(p, n, "site-remove", err)
	}
	return p.done(PagePrefix, "site-rm")
}

// messageLines writes a site's translated messages for the form: one per
// line, "de: Zurück um 14 Uhr".
func messageLines(m map[string]string) string {
	var b strings.Builder
	for _, tag := range slices.Sorted(maps.Keys(m)) {
		b.WriteString(tag + ": " + strings.ReplaceAll(m[tag], "\n", " ") + "\n")
	}
	return b.String()
}

// parseMessageLines reads the form's translated messages, one per line
// ("de: Zurück um 14 Uhr"); blank lines are skipped. It returns an empty,
// not nil, map when there are none, which removes them.
func parseMessageLines(s string) (map[string]string, error) {
	m := map[string]string{}
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		tag, text, ok := strings.Cut(line, ":")
		tag, text = strings.TrimSpace(tag), strings.TrimSpace(text)
		if !ok || text == "" {
			return nil, invalidField("messages", "line %d %q: accepted: one message per line, a language and a colon first, like de: Zurück um 14 Uhr", i+1, line)
		}
		if _, dup := m[tag]; dup {
			return nil, invalidField("messages", "line %d: language %q given twice; accepted: one message per language", i+1, tag)
		}
		m[tag] = text
	}
	return m, nil
}

// formOn reads the switch form of the site page: each field that is in
// the form sets its option; the sites list's form has none of them, so a
// site that is on keeps its settings.
func formOn(f url.Values, now time.Time) (*onInput, error) {
	opts, err := readOnOptions(&formInput{f: f}, now)
	return &onInput{reason: f.Get("reason"), opts: opts}, err
}

func (a *Admin) switchSite(p *page) error {
	n, err := formSite(p)
	if err != nil {
		return err
	}
	f := p.r.PostForm
	back, formName := PagePrefix, "switch-"+n
	failed := func(err error) error { return a.sitesFailed(p, formName, err) }
	if f.Get("view") == "site" {
		back, formName = sitePath(n), "switch"
		failed = func(err error) error { return a.siteFailed(p, n, formName, err) }
	}
	if f.Get("view") != "site" {
		// The sites list shows a site as ticked while it is switched on or
		// in a scheduled window: saving it unchanged changes nothing (it
		// would turn a window into a switch that outlives it).
		if s := p.st.Site(n); s != nil && f.Has("on") == (s.On || s.Active(p.now)) {
			return p.done(back, "saved")
		}
	}
	if !f.Has("on") {
		if _, err := a.pageUpdate(p, "reason", maintenance.Off([]string{n}), f.Get("reason")); err != nil {
			return failed(err)
		}
		return p.done(back, "off")
	}
	o, err := formOn(f, p.now)
	if err != nil {
		return failed(err)
	}
	if _, err := a.pageUpdate(p, "until", maintenance.On([]string{n}, o.opts), o.reason); err != nil {
		return failed(err)
	}
	return p.done(back, "on")
}

// switchAll switches every site on or off, as `maintenance on` with no
// --site does.
func (a *Admin) switchAll(p *page) error {
	f := p.r.PostForm
	var ch maintenance.Change
	flash := "off"
	if f.Get("on") == "1" {
		o, err := formOn(url.Values{"message": f["message"]}, p.now)
		if err != nil {
			return a.sitesFailed(p, "switch-all", err)
		}
		if strings.TrimSpace(f.Get("message")) == "" {
			o.opts.Message = nil
		}
		ch, flash = maintenance.On(nil, o.opts), "on"
	} else {
		ch = maintenance.Off(nil)
	}
	if _, err := a.pageUpdate(p, "reason", ch, f.Get("reason")); err != nil {
		return a.sitesFailed(p, "switch-all", err)
	}
	return p.done(PagePrefix, flash)
}

func (a *Admin) preview(p *page) error {
	n, err := formSite(p)
	if err != nil {
		return err
	}
	if p.st.Site(n) == nil {
		return fmt.Errorf("%w: site %q is not declared", maintenance.ErrNotFound, n)
	}
	h := p.w.Header()
	// The page is shown in a sandboxed frame of the site page: no script;
	// inline styles, and the page's own stylesheets, images and fonts
	// (served by the gate under maintenance.AssetsPath) from this origin
	// only.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; frame-ancestors 'self'; sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if a.opts.Gate != nil {
		r := p.r.Clone(p.r.Context())
		r.Header.Set("Accept", "text/html")
		r.Method = http.MethodGet
		a.opts.Gate.Preview(p.w, r, n)
		return nil
	}
	d := p.data("Preview", "")
	var b bytes.Buffer
	if err := a.pages.tmpl["nopreview"].ExecuteTemplate(&b, "nopreview", d); err != nil {
		return err
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	p.w.Write(b.Bytes())
	return nil
}

func (a *Admin) apiSites(c *call) error {
	v := sitesView{Version: c.st.Version, Sites: []*maintenance.SiteView{}}
	for i := range c.st.Sites {
		v.Sites = append(v.Sites, c.st.Sites[i].View(c.now))
	}
	return c.reply(http.StatusOK, c.st.Version, v)
}

func (a *Admin) apiSite(c *call) error {
	s, err := declaredSite(c.r, c.st)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, c.st.Version, s.View(c.now))
}

// siteReply answers the site name of st after a change.
func (c *call) siteReply(status int, st *maintenance.State, name string) error {
	s := st.Site(name)
	if s == nil {
		return fmt.Errorf("%w: site %q is not declared", maintenance.ErrNotFound, name)
	}
	if status == http.StatusCreated {
		c.w.Header().Set("Location", APIPrefix+"sites/"+url.PathEscape(name))
	}
	return c.reply(status, st.Version, s.View(c.now))
}

func (a *Admin) apiAddSite(c *call) error {
	in, err := readInput(c.w, c.r)
	if err != nil {
		return err
	}
	site := in.text("site")
	reason := in.text("reason")
	if err := in.finish(); err != nil {
		return err
	}
	n, err := maintenance.ParseSite(site)
	if err != nil {
		return inField("site", err)
	}
	existed := c.st.Site(n) != nil
	st, err := a.update(c, "site", maintenance.AddSites(n), reason)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	return c.siteReply(status, st, n)
}

func (a *Admin) apiRemoveSite(c *call) error {
	n, err := pathSite(c.r)
	if err != nil {
		return err
	}
	st, err := a.update(c, "site", maintenance.RemoveSite(n), c.r.URL.Query().Get("reason"))
	if err != nil {
		return err
	}
	return c.reply(http.StatusNoContent, st.Version, nil)
}

// onInput is the body of a switch on.
type onInput struct {
	sites  []string
	reason string
	opts   maintenance.OnOptions
}

// readOn reads the fields of a switch on, each checked on its own so that
// an error names its field. withSites reads a "sites" list too.
func readOn(w http.ResponseWriter, r *http.Request, now time.Time, withSites bool) (*onInput, error) {
	in, err := readInput(w, r)
	if err != nil {
		return nil, err
	}
	o := &onInput{}
	if withSites {
		o.sites = in.strings("sites")
	}
	o.reason = in.text("reason")
	if o.opts, err = readOnOptions(in, now); err != nil {
		return nil, err
	}
	for _, s := range o.sites {
		if _, err := maintenance.ParseSite(s); err != nil {
			return nil, inField("sites", err)
		}
	}
	return o, nil
}

func (a *Admin) apiOn(c *call) error {
	n, err := pathSite(c.r)
	if err != nil {
		return err
	}
	o, err := readOn(c.w, c.r, c.now, false)
	if err != nil {
		return err
	}
	st, err := a.update(c, "", maintenance.On([]string{n}, o.opts), o.reason)
	if err != nil {
		return err
	}
	return c.siteReply(http.StatusOK, st, n)
}

func (a *Admin) apiOnAll(c *call) error {
	o, err := readOn(c.w, c.r, c.now, true)
	if err != nil {
		return err
	}
	st, err := a.update(c, "", maintenance.On(o.sites, o.opts), o.reason)
	if err != nil {
		return err
	}
	return c.sitesReply(st, o.sites)
}

// sitesReply answers the named sites of st, or all of them.
func (c *call) sitesReply(st *maintenance.State, names []string) error {
	v := sitesView{Version: st.Version, Sites: []*maintenance.SiteView{}}
	for i := range st.Sites {
		s := &st.Sites[i]
		if len(names) == 0 || slices.ContainsFunc(names, func(n string) bool {
			c, _ := maintenance.ParseSite(n)
			return c == s.Site
		}) {
			v.Sites = append(v.Sites, s.View(c.now))
		}
	}
	return c.reply(http.StatusOK, st.Version, v)
}

// readReason reads a body that holds a reason only.
func readReason(w http.ResponseWriter, r *http.Request, withSites bool) (reason string, sites []string, err error) {
	in, err := readInput(w, r)
	if err != nil {
		return "", nil, err
	}
	if withSites {
		sites = in.strings("sites")
	}
	reason = in.text("reason")
	if err := in.finish(); err != nil {
		return "", nil, err
	}
	for _, s := range sites {
		if _, err := maintenance.ParseSite(s); err != nil {
			return "", nil, inField("sites", err)
		}
	}
	return reason, sites, nil
}

func (a *Admin) apiOff(c *call) error {
	n, err := pathSite(c.r)
	if err != nil {
		return err
	}
	reason, _, err := readReason(c.w, c.r, false)
	if err != nil {
		return err
	}
	st, err := a.update(c, "reason", maintenance.Off([]string{n}), reason)
	if err != nil {
		return err
	}
	return c.siteReply(http.StatusOK, st, n)
}

func (a *Admin) apiOffAll(c *call) error {
	reason, sites, err := readReason(c.w, c.r, true)
	if err != nil {
		return err
	}
	st, err := a.update(c, "reason", maintenance.Off(sites), reason)
	if err != nil {
		return err
	}
	return c.sitesReply(st, sites)
}

func (a *Admin) apiErrorStatus(c *call) error {
	n, err := pathSite(c.r)
	if err != nil {
		return err
	}
	in, err := readInput(c.w, c.r)
	if err != nil {
		return err
	}
	code := in.integer("error_status")
	reason := in.text("reason")
	if err := in.finish(); err != nil {
		return err
	}
	if code == nil {
		return invalidField("error_status", "error_status is missing; accepted: 200 or 400-599, or null for the default (503)")
	}
	if err := inField("error_status", maintenance.ValidateErrorStatus(*code)); err != nil {
		return err
	}
	st, err := a.update(c, "reason", maintenance.SetErrorStatus(n, *code), reason)
	if err != nil {
		return err
	}
	return c.siteReply(http.StatusOK, st, n)
}
