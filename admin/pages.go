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
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

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
