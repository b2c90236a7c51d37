package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gomaint/maintenance"
)

//go:embed templates static
var assets embed.FS

// pages are the parsed templates of the admin page and its static files.
type pages struct {
	tmpl map[string]*template.Template
	// static maps a file name to its content and content type.
	static map[string]staticFile
	// version is a digest of the static files, in their URLs so that a
	// new release is never served from a stale cache.
	version string
}

type staticFile struct {
	body        []byte
	contentType string
}

// loadPages parses the embedded templates once.
func loadPages() (*pages, error) {
	p := &pages{tmpl: map[string]*template.Template{}, static: map[string]staticFile{}}
	h := sha256.New()
	for _, name := range []string{"admin.css", "admin.js"} {
		b, err := fs.ReadFile(assets, "static/"+name)
		if err != nil {
			return nil, err
		}
		ct := "text/css; charset=utf-8"
		if path.Ext(name) == ".js" {
			ct = "text/javascript; charset=utf-8"
		}
		p.static[name] = staticFile{body: b, contentType: ct}
		h.Write(b)
	}
	p.version = hex.EncodeToString(h.Sum(nil)[:6])
	funcs := template.FuncMap{
		"utc":          fmtUTC,
		"rfc3339":      fmtRFC3339,
		"sitePath":     sitePath,
		"static":       func(name string) string { return PagePrefix + "static/" + name + "?v=" + p.version },
		"prefix":       func() string { return PagePrefix },
		"seconds":      func(d time.Duration) int64 { return int64(d / time.Second) },
		"duration":     fmtDuration,
		"summary":      func(e maintenance.Event) string { return e.Summary() },
		"siteName":     siteName,
		"messageLines": messageLines,
	}
	layout, err := template.New("layout").Funcs(funcs).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"login", "sites", "site", "bypass", "webhooks", "log", "error", "nopreview"} {
		t, err := template.Must(layout.Clone()).ParseFS(assets, "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.tmpl[name] = t
	}
	return p, nil
}

// Formats of times on the page: UTC, always said.
func fmtUTC(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func fmtRFC3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// sitePath is the path of a site's page.
func sitePath(site string) string { return PagePrefix + "sites/" + url.PathEscape(site) }

// siteName shows the default site by what it means.
func siteName(site string) string {
	if site == maintenance.DefaultSite {
		return "* (every other host)"
	}
	return site
}

// pageData is what every page template is executed with.
type pageData struct {
	Title string
	// Nav names the section of the page, for the navigation.
	Nav  string
	User string
	// Flash says what the last change did; Error what went wrong with it.
	Flash, Error string
	// FormName names the form Errors and Form belong to: the page shows
	// each error beside its field and keeps what the user typed.
	FormName string
	Errors   map[string]string
	Form     url.Values
	Version  int64
	Now      time.Time

	Next    string // login: where to go after
	NoUsers bool   // login: no user exists yet

	Sites []siteRow
	Site  *siteRow
	Links []linkRow
	// Webhooks are the webhooks page's rows.
	Webhooks []webhookRow
	// TestResult says how the last webhook test went.
	TestResult string
	NewLink    string
	NewID      string
	// NewSecret is a new webhook's signing secret, shown once.
	NewSecret string
	Events    []eventRow
	Filter    maintenance.EventFilter
	Older     string
	Newer     string
	Actions   []string
	Status    int
	Preview   bool
	// Gates sums up the running gates: how many serve Version.
	Gates *gatesSummary
}

// gatesSummary says whether the fleet follows the state.
type gatesSummary struct {
	Total, Current int
	Errors         int
}

// Val returns what the user typed in field of form when the page shows
// that form again, else def.
func (d *pageData) Val(form, field, def string) string {
	if d.FormName == form && d.Form != nil && d.Form.Has(field) {
		return d.Form.Get(field)
	}
	return def
}

// Checked is Val for a checkbox.
func (d *pageData) Checked(form, field string, def bool) bool {
	if d.FormName == form && d.Form != nil {
		return d.Form.Has(field)
	}
	return def
}

// Err returns the error of field when the page shows form again.
func (d *pageData) Err(form, field string) string {
	if d.FormName == form {
		return d.Errors[field]
	}
	return ""
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

type linkRow struct {
	L       maintenance.BypassLink
	Uses    int64
	Expired bool
}

type eventRow struct {
	E maintenance.Event
}

// securityHeaders are set on every answer of the admin page.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Cache-Control", "no-store")
}

// render executes the page name with d.
func (a *Admin) render(w http.ResponseWriter, r *http.Request, status int, name string, d *pageData) {
	if d.Now.IsZero() {
		d.Now = a.now()
	}
	d.Status = status
	var b bytes.Buffer
	if err := a.pages.tmpl[name].ExecuteTemplate(&b, "layout", d); err != nil {
		a.log.Error("admin: rendering "+name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// pageError answers err with the error page.
func (a *Admin) pageError(w http.ResponseWriter, r *http.Request, err error) {
	status, title, show := statusOf(err)
	d := &pageData{Title: title, Error: title}
	if show {
		d.Error = detail(err)
	} else {
		a.log.Error("admin: "+r.Method+" "+r.URL.Path, "err", err)
	}
	setErrorHeaders(w.Header(), err)
	w.Header().Del("WWW-Authenticate")
	a.render(w, r, status, "error", d)
}

// page is one signed-in request to the admin page.
type page struct {
	w    http.ResponseWriter
	r    *http.Request
	now  time.Time
	st   *maintenance.State
	user *maintenance.User
	// fleet is how the fleet followed the page's change (pageUpdate).
	fleet *maintenance.Fleet
}

// pageRoute is one route of the admin page; path is relative to
// PagePrefix.
type pageRoute struct {
	method, path string
	h            http.HandlerFunc
}

// routePages registers the admin page on mux.
func (a *Admin) routePages(mux *http.ServeMux) {
	signed := func(h func(*page) error) http.HandlerFunc { return a.signedInHandler(h) }
	routes := []pageRoute{
		{"GET", "{$}", signed(a.sitesPage)},
		{"GET", "login", a.loginForm},
		{"POST", "login", a.login},
		{"POST", "logout", a.logout},
		{"GET", "static/{file}", a.serveStatic},
		{"POST", "sites", signed(a.addSite)},
		{"POST", "switch", signed(a.switchAll)},
		{"GET", "sites/{site}", signed(a.sitePage)},
		{"POST", "sites/{site}/switch", signed(a.switchSite)},
		{"POST", "sites/{site}/remove", signed(a.removeSite)},
		{"POST", "sites/{site}/ignore", signed(a.addIgnore)},
		{"POST", "sites/{site}/ignore/remove", signed(a.removeIgnore)},
		{"POST", "sites/{site}/allow", signed(a.addAllow)},
		{"POST", "sites/{site}/allow/remove", signed(a.removeAllow)},
		{"POST", "sites/{site}/schedule", signed(a.addWindow)},
		{"POST", "sites/{site}/schedule/{id}/remove", signed(a.removeWindow)},
		{"GET", "sites/{site}/preview", signed(a.preview)},
		{"GET", "bypass", signed(a.bypassPage)},
		{"POST", "bypass", signed(a.createLink)},
		{"POST", "bypass/{id}/revoke", signed(a.revokeLink)},
		{"GET", "webhooks", signed(a.webhooksPage)},
		{"POST", "webhooks", signed(a.addWebhook)},
		{"POST", "webhooks/{id}/remove", signed(a.removeWebhook)},
		{"POST", "webhooks/{id}/test", signed(a.testWebhook)},
		{"GET", "log", signed(a.logPage)},
	}
	methods := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		mux.Handle(rt.method+" "+PagePrefix+rt.path, rt.h)
		p := strings.TrimSuffix(rt.path, "{$}")
		if methods[p] == nil {
			paths = append(paths, p)
		}
		methods[p] = append(methods[p], rt.method)
		if rt.method == "GET" {
			methods[p] = append(methods[p], "HEAD")
		}
	}
	for _, p := range paths {
		allow := methods[p]
		pattern := PagePrefix + p
		if p == "" {
			pattern += "{$}"
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			a.pageError(w, r, &methodError{allow: allow})
		})
	}
	mux.HandleFunc(PagePrefix, func(w http.ResponseWriter, r *http.Request) {
		a.pageError(w, r, fmt.Errorf("%w: no page %s", maintenance.ErrNotFound, r.URL.Path))
	})
	mux.HandleFunc("GET "+strings.TrimSuffix(PagePrefix, "/"), func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, PagePrefix, http.StatusMovedPermanently)
	})
}

// signedInHandler runs h for a signed-in user; others go to the sign-in
// page.
func (a *Admin) signedInHandler(h func(*page) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := a.store.Load(r.Context())
		if err != nil {
			a.pageError(w, r, fmt.Errorf("reading the state: %w", err))
			return
		}
		u, err := a.signedIn(r, st)
		if err != nil {
			a.pageError(w, r, err)
			return
		}
		if u == nil {
			http.Redirect(w, r, loginPath(r), http.StatusSeeOther)
			return
		}
		p := &page{w: w, r: r, now: a.now(), st: st, user: u}
		if r.Method == http.MethodPost {
			if err := parseForm(w, r); err != nil {
				a.pageError(w, r, err)
				return
			}
		}
		if err := h(p); err != nil {
			a.pageError(w, r, err)
		}
	}
}

func (a *Admin) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := a.pages.static[r.PathValue("file")]
	if !ok {
		a.pageError(w, r, fmt.Errorf("%w: no file %s", maintenance.ErrNotFound, r.URL.Path))
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == a.pages.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	w.Write(f.body)
}

// data returns the page data every signed-in page starts from.
func (p *page) data(title, nav string) *pageData {
	d := &pageData{Title: title, Nav: nav, User: p.user.Name, Version: p.st.Version, Now: p.now,
		Flash: flashes[p.r.URL.Query().Get("done")]}
	if d.Flash != "" {
		d.Flash += fleetFlash(p.r.URL.Query().Get("gates"))
	}
	return d
}

// flashes are the messages a change's redirect may ask for (?done=KEY):
// fixed texts, so that a link cannot make the page say anything else.
var flashes = map[string]string{
	"on":         "Maintenance is on.",
	"off":        "Maintenance is off.",
	"saved":      "Saved.",
	"site-add":   "Site declared.",
	"site-rm":    "Site removed.",
	"ignore-add": "Ignore pattern saved.",
	"ignore-rm":  "Ignore pattern removed.",
	"allow-add":  "Allow entry saved.",
	"allow-rm":   "Allow entry removed.",
	"window-add": "Window scheduled.",
	"window-rm":  "Window removed.",
	"revoked":    "Bypass link revoked.",
	"webhook-rm": "Webhook removed.",
}

// formVersion returns the guard of the form's state version: a form
// filled from an older state is refused.
func (p *page) formVersion() func(int64) bool {
	v := p.r.PostForm.Get("version")
	if v == "" {
		return nil
	}
	return parseIfMatch(`"` + v + `"`)
}

// update applies ch as the signed-in user, with reason, under the form's
// version.
func (a *Admin) pageUpdate(p *page, field string, ch maintenance.Change, reason string) (*maintenance.State, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	ch.Actor, ch.Source, ch.Reason = p.user.Name, SourcePage, reason
	st, err := a.store.Update(p.r.Context(), guard(ch, p.formVersion()))
	if err != nil {
		return nil, inField(field, trimAction(ch.Action, err))
	}
	// The page follows the switch: the redirect says how many gates
	// serve it (done).
	f, err := maintenance.WaitFleet(p.r.Context(), a.store, st.Version, pageWait, nil)
	var lag *maintenance.LaggingError
	if err == nil || errors.As(err, &lag) {
		p.fleet = &f
	} else {
		a.log.Error("maintenance: admin page: waiting for the gates", "err", err)
	}
	return st, nil
}

// pageWait is how long a change made on the page waits for the fleet.
const pageWait = 5 * time.Second

// fleetFlash says how the fleet followed a change, from ?gates=SWITCHED/LIVE
// of the redirect: numbers only, so that a link cannot make the page say
// anything else.
func fleetFlash(q string) string {
	sw, live, ok := strings.Cut(q, "/")
	s, err1 := strconv.Atoi(sw)
	l, err2 := strconv.Atoi(live)
	switch {
	case !ok || err1 != nil || err2 != nil || s < 0 || l < 0 || s > l || l > 1_000_000:
		return ""
	case l == 0:
		return " No gate follows this store: nothing is blocked or let through by it until a gate runs on it."
	case s == l:
		return fmt.Sprintf(" %d/%d gates switched.", s, l)
	}
	return fmt.Sprintf(" %d/%d gates switched; the others still serve an older version after %s: see them with 'maintenance gates'.", s, l, pageWait)
}

// formFailed fills d to show err with the form formName again, and returns
// the status of the page. Errors that are not the user's input go to the
// error page instead (ok false).
func formFailed(d *pageData, r *http.Request, formName string, err error) (status int, ok bool) {
	status, _, _ = statusOf(err)
	var fe *fieldError
	switch {
	case errors.Is(err, errStale):
		d.Error = "This was changed by someone else meanwhile, so nothing was saved. Reload the page to see the current state, then try again."
	case errors.As(err, &fe):
		d.Errors = map[string]string{fe.Field: detail(err)}
		d.Error = "Nothing was saved: see the field marked below."
	case errors.Is(err, maintenance.ErrInvalid), errors.Is(err, maintenance.ErrNotFound) && r.Method == http.MethodPost:
		d.Error = "Nothing was saved: " + detail(err)
	default:
		return status, false
	}
	d.FormName, d.Form = formName, r.PostForm
	return status, true
}

// done redirects to the page at path (which may end in a #fragment)
// after a change, to say what it did.
func (p *page) done(path, flash string) error {
	path, frag, _ := strings.Cut(path, "#")
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	path += sep + "done=" + flash
	if f := p.fleet; f != nil {
		path += fmt.Sprintf("&gates=%d/%d", f.Gates.Switched, f.Gates.Live)
	}
	if frag != "" {
		path += "#" + frag
	}
	http.Redirect(p.w, p.r, path, http.StatusSeeOther)
	return nil
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

// failed shows the page a form came from again with err, or the error page.
func (a *Admin) failed(p *page, formName string, err error, show func(status int, d *pageData) error) error {
	// Show the current state, beside what the user typed.
	if st, lerr := a.store.Load(p.r.Context()); lerr == nil {
		p.st = st
	}
	d := p.data("", "")
	d.Flash = ""
	status, ok := formFailed(d, p.r, formName, err)
	if !ok {
		return err
	}
	if errors.Is(err, errStale) {
		// Keep the version the form was filled from: saving again without a
		// reload fails again.
		fmt.Sscan(p.r.PostForm.Get("version"), &d.Version)
	}
	return show(status, d)
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

// formOn reads the switch form of the site page: each field that is in
// the form sets its option; the sites list's form has none of them, so a
// site that is on keeps its settings.
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

func formOn(f url.Values, now time.Time) (*onInput, error) {
	o := &onInput{reason: f.Get("reason")}
	str := func(name string) *string {
		if !f.Has(name) {
			return nil
		}
		v := f.Get(name)
		return &v
	}
	o.opts.Message = str("message")
	if s := str("messages"); s != nil {
		m, err := parseMessageLines(*s)
		if err != nil {
			return nil, err
		}
		o.opts.Messages = m
	}
	if m := str("mode"); m != nil {
		mode, err := maintenance.ParseMode(*m)
		if err != nil {
			return nil, inField("mode", err)
		}
		o.opts.Mode = &mode
	}
	if s := str("status"); s != nil {
		code := 0
		if strings.TrimSpace(*s) != "" {
			if _, err := fmt.Sscan(*s, &code); err != nil {
				return nil, invalidField("status", "status %q is not a number; accepted: 200 or 400-599 (default 503)", *s)
			}
		}
		o.opts.Status = &code
	}
	if s := str("retry_after"); s != nil {
		d, err := formDuration("retry_after", *s)
		if err != nil {
			return nil, err
		}
		o.opts.RetryAfter = &d
	}
	o.opts.Redirect = str("redirect")
	var win maintenance.WindowInput
	var err error
	if s := str("from"); s != nil {
		if win.From, err = formTime("from", *s); err != nil {
			return nil, err
		}
	}
	if s := str("until"); s != nil {
		if win.Until, err = formTime("until", *s); err != nil {
			return nil, err
		}
	}
	if win.For, err = formFor(f.Get("for")); err != nil {
		return nil, err
	}
	if o.opts.From, o.opts.Until, err = win.Resolve(now); err != nil {
		return nil, err
	}
	return o, o.opts.Validate(now)
}

// formFor reads the "for" field of a form: nil when empty.
func formFor(s string) (*time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	d, err := formDuration("for", s)
	return &d, err
}

// formDuration parses a duration typed in a form: "90m", "2h30m" or whole
// seconds; empty is 0.
func formDuration(field, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		if n < 0 || n > int64(maxDuration/time.Second) {
			return 0, invalidField(field, "%s %q is out of range", field, s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, invalidField(field, "%s %q is not a duration; accepted: 90m, 2h30m, or whole seconds", field, s)
	}
	return d, nil
}

// formTime parses a time typed in a form, in UTC unless it says otherwise
// (maintenance.ParseTime: RFC 3339, "2026-11-21 22:00", the form of
// datetime-local inputs, a time of day, +DURATION; an optional " UTC"
// suffix); empty is the zero time (no bound).
func formTime(field, s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	var t time.Time
	if s == "" {
		return &t, nil
	}
	v, err := maintenance.ParseTime(strings.TrimSuffix(s, " UTC"), time.Now(), time.UTC)
	if err != nil {
		return nil, invalidField(field, "%s %q is not a time (UTC); %s", field, s, strings.TrimPrefix(maintenance.TimeForms, "accepted: "))
	}
	t = v.UTC()
	return &t, nil
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

// ruleForm handles the add and remove forms of ignore patterns and allow
// entries.
func (a *Admin) ruleForm(p *page, kind string, remove bool) error {
	n, err := formSite(p)
	if err != nil {
		return err
	}
	f := p.r.PostForm
	field := "pattern"
	if kind == "allow" {
		field = "entry"
	}
	value, note := f.Get(field), f.Get("note")
	formName := kind + "-add"
	if f.Has("row") {
		formName = kind + "-row"
	}
	var ch maintenance.Change
	switch {
	case remove && kind == "ignore":
		ch = maintenance.RemoveIgnore(n, value)
	case remove:
		ch = maintenance.RemoveAllow(n, value)
	default:
		if err := checkRule(field, value, note, p.now); err != nil {
			return a.siteFailed(p, n, formName, err)
		}
		if kind == "ignore" {
			ch = maintenance.AddIgnore(n, value, note)
		} else {
			ch = maintenance.AddAllow(n, value, note)
		}
	}
	if _, err := a.pageUpdate(p, field, ch, f.Get("reason")); err != nil {
		return a.siteFailed(p, n, formName, err)
	}
	flash := kind + "-add"
	if remove {
		flash = kind + "-rm"
	}
	return p.done(sitePath(n)+"#"+kind, flash)
}

func (a *Admin) addIgnore(p *page) error    { return a.ruleForm(p, "ignore", false) }
func (a *Admin) removeIgnore(p *page) error { return a.ruleForm(p, "ignore", true) }
func (a *Admin) addAllow(p *page) error     { return a.ruleForm(p, "allow", false) }
func (a *Admin) removeAllow(p *page) error  { return a.ruleForm(p, "allow", true) }

func (a *Admin) addWindow(p *page) error {
	n, err := formSite(p)
	if err != nil {
		return err
	}
	f := p.r.PostForm
	w, err := formWindow(f, p.now)
	if err != nil {
		return a.siteFailed(p, n, "window-add", err)
	}
	if _, err := a.pageUpdate(p, "from", maintenance.AddWindow(n, w), f.Get("reason")); err != nil {
		return a.siteFailed(p, n, "window-add", err)
	}
	return p.done(sitePath(n)+"#schedule", "window-add")
}

// formWindow reads the form of a new scheduled window.
func formWindow(f url.Values, now time.Time) (maintenance.Window, error) {
	w := maintenance.Window{Mode: maintenance.Mode(f.Get("mode")), Message: f.Get("message")}
	var err error
	if w.Messages, err = parseMessageLines(f.Get("messages")); err != nil {
		return w, err
	}
	if len(w.Messages) == 0 {
		w.Messages = nil
	}
	var win maintenance.WindowInput
	if win.From, err = formTime("from", f.Get("from")); err != nil {
		return w, err
	}
	if win.Until, err = formTime("until", f.Get("until")); err != nil {
		return w, err
	}
	if win.For, err = formFor(f.Get("for")); err != nil {
		return w, err
	}
	if w.From, w.Until, err = win.Scheduled(now); err != nil {
		return w, err
	}
	return w, w.Validate()
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

func (a *Admin) bypassPage(p *page) error {
	return a.renderBypass(p, http.StatusOK, p.data("Bypass links", "bypass"))
}

func (a *Admin) renderBypass(p *page, status int, d *pageData) error {
	uses, err := a.store.Uses(p.r.Context())
	if err != nil {
		return fmt.Errorf("reading the use counts of bypass links: %w", err)
	}
	for _, l := range p.st.Links {
		d.Links = append(d.Links, linkRow{L: l, Uses: uses[l.ID], Expired: !l.Expires.After(p.now)})
	}
	slices.Reverse(d.Links) // newest first
	for i := range p.st.Sites {
		d.Sites = append(d.Sites, newSiteRow(&p.st.Sites[i], p.now))
	}
	a.render(p.w, p.r, status, "bypass", d)
	return nil
}

func (a *Admin) createLink(p *page) error {
	f := p.r.PostForm
	failed := func(err error) error {
		return a.failed(p, "bypass-create", err, func(status int, d *pageData) error {
			d.Title, d.Nav = "Bypass links", "bypass"
			return a.renderBypass(p, status, d)
		})
	}
	site, label := f.Get("site"), f.Get("label")
	ttl, err := formDuration("ttl", f.Get("ttl"))
	if err != nil {
		return failed(err)
	}
	if strings.TrimSpace(f.Get("ttl")) == "" {
		ttl = maintenance.DefaultBypassTTL
	}
	if err := checkLink(site, label, ttl, p.now); err != nil {
		return failed(err)
	}
	ch, secret := newLink(site, label, ttl)
	st, err := a.pageUpdate(p, "site", ch, f.Get("reason"))
	if err != nil {
		return failed(err)
	}
	l := findLink(st, maintenance.HashSecret(secret))
	if l == nil {
		return errors.New("the new bypass link is missing from the state")
	}
	// The secret is shown once, in this answer: never in a URL, never
	// stored.
	p.st = st
	d := p.data("Bypass links", "bypass")
	d.NewLink, d.NewID = linkURL(p.r, a.secure(p.r), l.Site, secret), l.ID
	return a.renderBypass(p, http.StatusCreated, d)
}

// linkURL is the full bypass link for a site, as well as the admin page
// can tell: the site's own host for a host name, else the host the admin
// page was reached by.
func linkURL(r *http.Request, secure bool, site, secret string) string {
	scheme := "http"
	if secure {
		scheme = "https"
	}
	host := r.Host
	hostname := host
	if h, _, ok := strings.Cut(host, ":"); ok && !strings.HasPrefix(host, "[") {
		hostname = h
	}
	if site != maintenance.DefaultSite && !strings.HasPrefix(site, "*.") && !strings.EqualFold(hostname, site) {
		host = site
		if strings.Contains(site, ":") {
			host = "[" + site + "]"
		}
	}
	return scheme + "://" + host + maintenance.BypassPath + secret
}

func (a *Admin) revokeLink(p *page) error {
	_, err := a.pageUpdate(p, "", maintenance.RevokeBypass(p.r.PathValue("id")), p.r.PostForm.Get("reason"))
	if err != nil {
		return a.failed(p, "bypass-revoke", err, func(status int, d *pageData) error {
			d.Title, d.Nav = "Bypass links", "bypass"
			return a.renderBypass(p, status, d)
		})
	}
	return p.done(PagePrefix+"bypass", "revoked")
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

// webhookRow is a webhook on the webhooks page. Host is the URL's host
// only: its path may be a credential (a Slack URL is).
type webhookRow struct {
	V    maintenance.WebhookView
	Host string
}

func (a *Admin) webhooksPage(p *page) error {
	return a.renderWebhooks(p, http.StatusOK, p.data("Webhooks", "webhooks"))
}

func (a *Admin) renderWebhooks(p *page, status int, d *pageData) error {
	cs, err := a.store.Cursors(p.r.Context())
	if err != nil {
		return fmt.Errorf("reading the delivery cursors: %w", err)
	}
	for i := range p.st.Webhooks {
		w := &p.st.Webhooks[i]
		c, ok := cs[w.ID]
		host := w.URL
		if u, err := url.Parse(w.URL); err == nil {
			host = u.Scheme + "://" + u.Host
		}
		d.Webhooks = append(d.Webhooks, webhookRow{V: w.View(c, ok), Host: host})
	}
	a.render(p.w, p.r, status, "webhooks", d)
	return nil
}

// formList splits a list typed in a form: comma- or space-separated,
// blanks dropped.
func formList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// addWebhook adds a webhook from the page's form, with the fields of
// 'maintenance webhook add', checked as the API checks them; its signing
// secret is shown once, in this answer.
func (a *Admin) addWebhook(p *page) error {
	f := p.r.PostForm
	failed := func(err error) error {
		return a.failed(p, "webhook-add", err, func(status int, d *pageData) error {
			d.Title, d.Nav = "Webhooks", "webhooks"
			return a.renderWebhooks(p, status, d)
		})
	}
	in := webhookInput{URL: strings.TrimSpace(f.Get("url")), Events: formList(f.Get("events")),
		Sites: formList(f.Get("sites")), Format: strings.TrimSpace(f.Get("format")), Remind: formList(f.Get("remind"))}
	if s := strings.TrimSpace(f.Get("max_duration")); s != "" {
		d, err := formDuration("max_duration", s)
		if err != nil {
			return failed(err)
		}
		in.MaxDuration = &d
	}
	w, secret, err := a.newWebhook(p.r.Context(), in)
	if err != nil {
		return failed(err)
	}
	// A site that is not declared is the user's input, marked beside the
	// field (the store refuses it too, should it go meanwhile).
	for _, n := range w.Sites {
		if p.st.Site(n) == nil {
			return failed(invalidField("sites", "site %q is not declared; accepted: declared sites (see the sites page), or none for every site", n))
		}
	}
	st, err := a.pageUpdate(p, "sites", maintenance.AddWebhook(w), f.Get("reason"))
	if err != nil {
		return failed(err)
	}
	if st.Webhook(w.ID) == nil {
		return errors.New("the new webhook is missing from the state")
	}
	// The secret is shown once, in this answer: never in a URL; stored
	// sealed.
	p.st = st
	d := p.data("Webhooks", "webhooks")
	d.NewSecret, d.NewID = secret, w.ID
	return a.renderWebhooks(p, http.StatusCreated, d)
}

func (a *Admin) removeWebhook(p *page) error {
	_, err := a.pageUpdate(p, "", maintenance.RemoveWebhook(p.r.PathValue("id")), p.r.PostForm.Get("reason"))
	if err != nil {
		return a.failed(p, "webhook-remove", err, func(status int, d *pageData) error {
			d.Title, d.Nav = "Webhooks", "webhooks"
			return a.renderWebhooks(p, status, d)
		})
	}
	return p.done(PagePrefix+"webhooks", "webhook-rm")
}

// testWebhook posts a webhook.test event now and shows how it went. It
// changes nothing, but it sends: a POST, like every action.
func (a *Admin) testWebhook(p *page) error {
	d := p.data("Webhooks", "webhooks")
	w := p.st.Webhook(p.r.PathValue("id"))
	if w == nil {
		return a.failed(p, "webhook-test", fmt.Errorf("%w: webhook %q does not exist", maintenance.ErrNotFound, p.r.PathValue("id")), func(status int, d *pageData) error {
			d.Title, d.Nav = "Webhooks", "webhooks"
			return a.renderWebhooks(p, status, d)
		})
	}
	key, err := a.store.Key(p.r.Context())
	if err != nil {
		return fmt.Errorf("reading the server key: %w", err)
	}
	d.TestResult = "Webhook " + w.ID + ": test delivered."
	if err := maintenance.SendTest(p.r.Context(), key, *w, "user "+p.user.Name); err != nil {
		d.TestResult = "Webhook " + w.ID + ": the test failed: " + err.Error()
	}
	return a.renderWebhooks(p, http.StatusOK, d)
}
