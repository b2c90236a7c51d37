package admin

import (
	"bytes"
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

//go:embed openapi.json
var openAPI []byte

// apiRoute is one operation of the API; path is relative to APIPrefix.
type apiRoute struct {
	method, path string
	h            func(a *Admin, c *call) error
	// public routes need no token.
	public bool
}

// apiRoutes is every route of the API. openapi.json documents exactly
// these (TestOpenAPIMatchesRoutes).
var apiRoutes = []apiRoute{
	{method: "GET", path: "openapi.json", h: (*Admin).apiOpenAPI, public: true},
	{method: "GET", path: "sites", h: (*Admin).apiSites},
	{method: "POST", path: "sites", h: (*Admin).apiAddSite},
	{method: "POST", path: "on", h: (*Admin).apiOnAll},
	{method: "POST", path: "off", h: (*Admin).apiOffAll},
	{method: "GET", path: "sites/{site}", h: (*Admin).apiSite},
	{method: "DELETE", path: "sites/{site}", h: (*Admin).apiRemoveSite},
	{method: "POST", path: "sites/{site}/on", h: (*Admin).apiOn},
	{method: "POST", path: "sites/{site}/off", h: (*Admin).apiOff},
	{method: "PUT", path: "sites/{site}/error-status", h: (*Admin).apiErrorStatus},
	{method: "GET", path: "sites/{site}/ignore", h: (*Admin).apiIgnore},
	{method: "POST", path: "sites/{site}/ignore", h: (*Admin).apiAddIgnore},
	{method: "DELETE", path: "sites/{site}/ignore", h: (*Admin).apiRemoveIgnore},
	{method: "GET", path: "sites/{site}/allow", h: (*Admin).apiAllow},
	{method: "POST", path: "sites/{site}/allow", h: (*Admin).apiAddAllow},
	{method: "DELETE", path: "sites/{site}/allow", h: (*Admin).apiRemoveAllow},
	{method: "GET", path: "sites/{site}/schedule", h: (*Admin).apiSchedule},
	{method: "POST", path: "sites/{site}/schedule", h: (*Admin).apiAddWindow},
	{method: "DELETE", path: "sites/{site}/schedule/{id}", h: (*Admin).apiRemoveWindow},
	{method: "GET", path: "bypass", h: (*Admin).apiLinks},
	{method: "POST", path: "bypass", h: (*Admin).apiCreateLink},
	{method: "DELETE", path: "bypass/{id}", h: (*Admin).apiRevokeLink},
	{method: "GET", path: "webhooks", h: (*Admin).apiWebhooks},
	{method: "POST", path: "webhooks", h: (*Admin).apiAddWebhook},
	{method: "DELETE", path: "webhooks/{id}", h: (*Admin).apiRemoveWebhook},
	{method: "POST", path: "webhooks/{id}/test", h: (*Admin).apiTestWebhook},
	{method: "GET", path: "events", h: (*Admin).apiEvents},
	{method: "GET", path: "release", h: (*Admin).apiRelease},
	{method: "PUT", path: "release", h: (*Admin).apiSetRelease},
}

// Errors of API authentication; both are errUnauthorized.
var (
	errNoToken  = fmt.Errorf("%w: send an API token: Authorization: Bearer TOKEN (maintenance token create)", errUnauthorized)
	errBadToken = fmt.Errorf("%w: the API token is not valid: unknown, revoked or malformed", errUnauthorized)
)

// call is one authenticated API request.
type call struct {
	w   http.ResponseWriter
	r   *http.Request
	now time.Time
	// st is the state read when the request was authenticated.
	st *maintenance.State
	// actor names the token in the audit log: "token ID (label)".
	actor string
	// match, when not nil, is the If-Match of a write: the change applies
	// only while it accepts the store's current version.
	match func(version int64) bool
	// fleet is how the fleet followed the call's change, when it asked to
	// wait (?wait=DUR); reply adds it to the answer.
	fleet *maintenance.Fleet
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, APIPrefix) }

// routeAPI registers the API on mux, with a 405 for the other methods of
// each path and a 404 for unknown paths, all as problem+json.
func (a *Admin) routeAPI(mux *http.ServeMux) {
	methods := map[string][]string{}
	var paths []string
	for _, rt := range apiRoutes {
		mux.Handle(rt.method+" "+APIPrefix+rt.path, a.apiHandler(rt))
		if methods[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		methods[rt.path] = append(methods[rt.path], rt.method)
		if rt.method == "GET" {
			methods[rt.path] = append(methods[rt.path], "HEAD")
		}
	}
	for _, p := range paths {
		allow := methods[p]
		mux.HandleFunc(APIPrefix+p, func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, r, a.log, &methodError{allow: allow})
		})
	}
	mux.HandleFunc(APIPrefix, func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, a.log, fmt.Errorf("%w: no API route %s; see %sopenapi.json", maintenance.ErrNotFound, r.URL.Path, APIPrefix))
	})
}

// apiHandler authenticates a request and runs rt's handler, answering its
// error as problem+json.
func (a *Admin) apiHandler(rt apiRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{w: w, r: r, now: a.now()}
		if err := a.authAPI(c, rt.public); err != nil {
			writeProblem(w, r, a.log, err)
			return
		}
		if err := rt.h(a, c); err != nil {
			writeProblem(w, r, a.log, err)
		}
	})
}

// authAPI reads the state and checks the request's bearer token against
// the tokens in it, in constant time.
func (a *Admin) authAPI(c *call, public bool) error {
	if public {
		return nil
	}
	// The header is checked before the store is read: requests with no
	// token cost no store read.
	h := c.r.Header.Get("Authorization")
	if h == "" {
		return errNoToken
	}
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return errBadToken
	}
	st, err := a.store.Load(c.r.Context())
	if err != nil {
		return fmt.Errorf("reading the state: %w", err)
	}
	c.st = st
	want := []byte(maintenance.HashSecret(tok))
	var found *maintenance.Token
	for i := range st.Tokens {
		if subtle.ConstantTimeCompare([]byte(st.Tokens[i].Hash), want) == 1 {
			found = &st.Tokens[i]
		}
	}
	if found == nil {
		return errBadToken
	}
	c.actor = "token " + found.ID
	if l := printable(found.Label); l != "" {
		c.actor += " (" + l + ")"
	}
	if v := c.r.Header.Values("If-Match"); len(v) > 0 {
		c.match = parseIfMatch(strings.Join(v, ","))
	}
	return nil
}

// printable drops control characters, which an actor may not hold.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// etag is the entity tag of a state version.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// parseIfMatch returns what an If-Match header accepts: "*" any version;
// a list of strong tags those versions. Anything else accepts none.
func parseIfMatch(h string) func(int64) bool {
	var ok []int64
	for t := range strings.SplitSeq(h, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return func(int64) bool { return true }
		}
		if u, found := strings.CutPrefix(t, `"`); found {
			if u, found = strings.CutSuffix(u, `"`); found {
				if v, err := strconv.ParseInt(u, 10, 64); err == nil {
					ok = append(ok, v)
				}
			}
		}
	}
	return func(v int64) bool { return slices.Contains(ok, v) }
}

// update applies ch as the call's token, with reason, under its If-Match.
// An error that is invalid input names field when it names none.
func (a *Admin) update(c *call, field string, ch maintenance.Change, reason string) (*maintenance.State, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	wait, waiting, err := parseWaitQuery(c.r)
	if err != nil {
		return nil, err
	}
	ch.Actor, ch.Source, ch.Reason = c.actor, SourceAPI, reason
	st, err := a.store.Update(c.r.Context(), guard(ch, c.match))
	if err != nil {
		return nil, inField(field, trimAction(ch.Action, err))
	}
	if waiting {
		f, err := maintenance.WaitFleet(c.r.Context(), a.store, st.Version, wait, nil)
		var lag *maintenance.LaggingError
		if err == nil || errors.As(err, &lag) {
			c.fleet = &f
		} else {
			// The change is made: say so, without the fleet.
			a.log.Error("maintenance: admin API: waiting for the gates", "err", err)
		}
	}
	return st, nil
}

// parseWaitQuery reads ?wait=DUR: how long a change waits for every live
// gate to serve it (maintenance.WaitFleet). Without it, a change does not
// wait and its answer has no "gates"; ?wait=0 reads the registry once.
func parseWaitQuery(r *http.Request) (time.Duration, bool, error) {
	q := r.URL.Query()
	if !q.Has("wait") {
		return 0, false, nil
	}
	d, err := maintenance.ParseWait(q.Get("wait"))
	if err != nil {
		return 0, false, inField("wait", err)
	}
	return d, true, nil
}

// fleetJSON is the answer's part about the fleet: the same fields as
// "maintenance on --json".
type fleetJSON struct {
	Gates     maintenance.FleetGates `json:"gates"`
	ElapsedMS int64                  `json:"elapsed_ms"`
}

// guard makes ch apply only while match accepts the current version. It
// is checked by Apply, inside the store's transaction, so that a write
// from a stale read never lands.
func guard(ch maintenance.Change, match func(int64) bool) maintenance.Change {
	if match == nil {
		return ch
	}
	apply := ch.Apply
	ch.Apply = func(st *maintenance.State, reason string) error {
		if !match(st.Version) {
			return errStale
		}
		return apply(st, reason)
	}
	return ch
}

// trimAction drops the "action: " stores put before a change's error: the
// client knows what it asked for.
func trimAction(action string, err error) error {
	if err == nil {
		return nil
	}
	if msg, ok := strings.CutPrefix(err.Error(), action+": "); ok {
		return &msgError{msg: msg, err: err}
	}
	return err
}

// msgError is err with a shorter message.
type msgError struct {
	msg string
	err error
}

func (e *msgError) Error() string { return e.msg }
func (e *msgError) Unwrap() error { return e.err }

// reply writes v as JSON with the ETag of version.
func (c *call) reply(status int, version int64, v any) error {
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if version > 0 {
		h.Set("ETag", etag(version))
	}
	if c.fleet != nil && status == http.StatusNoContent {
		status, v = http.StatusOK, struct {
			Version int64 `json:"version"`
		}{version}
	}
	c.w.WriteHeader(status)
	if status == http.StatusNoContent || c.r.Method == http.MethodHead {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if c.fleet != nil && len(b) >= 2 && b[len(b)-1] == '}' {
		// The fleet's fields go last in the answer's object.
		f, err := json.MarshalIndent(fleetJSON{Gates: c.fleet.Gates, ElapsedMS: c.fleet.Elapsed.Milliseconds()}, "", "  ")
		if err != nil {
			return err
		}
		sep := ",\n"
		if string(b) == "{}" {
			b, sep = []byte("{\n}"), "\n"
		}
		inner := bytes.TrimSuffix(bytes.TrimPrefix(f, []byte("{\n")), []byte("\n}"))
		out := append(b[:len(b)-2:len(b)-2], sep...)
		out = append(out, inner...)
		b = append(out, "\n}"...)
	}
	_, err = c.w.Write(append(b, '\n'))
	return err
}

// pathSite returns the canonical name of the site in the path.
func pathSite(r *http.Request) (string, error) {
	n, err := maintenance.ParseSite(r.PathValue("site"))
	return n, inField("site", err)
}

// declaredSite returns the site of the path in st, or ErrNotFound.
func declaredSite(r *http.Request, st *maintenance.State) (*maintenance.SiteState, error) {
	n, err := pathSite(r)
	if err != nil {
		return nil, err
	}
	s := st.Site(n)
	if s == nil {
		return nil, fmt.Errorf("%w: site %q is not declared", maintenance.ErrNotFound, n)
	}
	return s, nil
}

func (a *Admin) apiOpenAPI(c *call) error {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("Cache-Control", "no-cache")
	c.w.Write(openAPI)
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
	site, err := in.text("site")
	if err != nil {
		return err
	}
	reason, err := in.text("reason")
	if err != nil {
		return err
	}
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
		if o.sites, err = in.strings("sites"); err != nil {
			return nil, err
		}
	}
	if o.reason, err = in.text("reason"); err != nil {
		return nil, err
	}
	if o.opts.Message, err = in.str("message"); err != nil {
		return nil, err
	}
	if o.opts.Messages, err = in.messages("messages"); err != nil {
		return nil, err
	}
	mode, err := in.str("mode")
	if err != nil {
		return nil, err
	}
	if mode != nil {
		m, err := maintenance.ParseMode(*mode)
		if err != nil {
			return nil, inField("mode", err)
		}
		o.opts.Mode = &m
	}
	if o.opts.Status, err = in.integer("status"); err != nil {
		return nil, err
	}
	if o.opts.RetryAfter, err = in.duration("retry_after"); err != nil {
		return nil, err
	}
	if o.opts.Redirect, err = in.str("redirect"); err != nil {
		return nil, err
	}
	from, err := in.time("from")
	if err != nil {
		return nil, err
	}
	until, err := in.time("until")
	if err != nil {
		return nil, err
	}
	forDur, err := in.duration("for")
	if err != nil {
		return nil, err
	}
	if err := in.finish(); err != nil {
		return nil, err
	}
	for _, s := range o.sites {
		if _, err := maintenance.ParseSite(s); err != nil {
			return nil, inField("sites", err)
		}
	}
	if o.opts.From, o.opts.Until, err = (maintenance.WindowInput{From: from, Until: until, For: forDur}).Resolve(now); err != nil {
		return nil, err
	}
	if err := o.opts.Validate(now); err != nil {
		return nil, err
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
		if sites, err = in.strings("sites"); err != nil {
			return "", nil, err
		}
		for _, s := range sites {
			if _, err := maintenance.ParseSite(s); err != nil {
				return "", nil, inField("sites", err)
			}
		}
	}
	if reason, err = in.text("reason"); err != nil {
		return "", nil, err
	}
	return reason, sites, in.finish()
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
	code, err := in.integer("error_status")
	if err != nil {
		return err
	}
	reason, err := in.text("reason")
	if err != nil {
		return err
	}
	if err := in.finish(); err != nil {
		return err
	}
	if code == nil {
		return invalidField("error_status", "error_status is missing; accepted: 200 or 400-599, or null for the default (503)")
	}
	if err := precheck("error_status", maintenance.SetErrorStatus("", *code), c.now); err != nil {
		return err
	}
	st, err := a.update(c, "reason", maintenance.SetErrorStatus(n, *code), reason)
	if err != nil {
		return err
	}
	return c.siteReply(http.StatusOK, st, n)
}

func (a *Admin) apiIgnore(c *call) error {
	s, err := declaredSite(c.r, c.st)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, c.st.Version, s.View(c.now).Ignore)
}

func (a *Admin) apiAllow(c *call) error {
	s, err := declaredSite(c.r, c.st)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, c.st.Version, s.View(c.now).Allow)
}

// readRule reads the body of a rule: its value under field, a note and a
// reason.
func readRule(w http.ResponseWriter, r *http.Request, field string, now time.Time) (value, note, reason string, err error) {
	in, err := readInput(w, r)
	if err != nil {
		return "", "", "", err
	}
	if value, err = in.text(field); err != nil {
		return "", "", "", err
	}
	if note, err = in.text("note"); err != nil {
		return "", "", "", err
	}
	if reason, err = in.text("reason"); err != nil {
		return "", "", "", err
	}
	if err := in.finish(); err != nil {
		return "", "", "", err
	}
	return value, note, reason, checkRule(field, value, note, now)
}

// checkRule validates a rule's value and note, each in its field.
func checkRule(field, value, note string, now time.Time) error {
	add := maintenance.AddIgnore
	if field == "entry" {
		add = maintenance.AddAllow
	}
	if err := precheck(field, add("", value, ""), now); err != nil {
		return err
	}
	sample := "/"
	if field == "entry" {
		sample = "127.0.0.1"
	}
	return precheck("note", add("", sample, note), now)
}

// ruleKind is what the ignore and allow routes differ in.
type ruleKind struct {
	route, field, example string
	add                   func(site, value, note string) maintenance.Change
	remove                func(site, value string) maintenance.Change
}

var (
	ignoreRules = ruleKind{"ignore", "pattern", "/health", maintenance.AddIgnore, maintenance.RemoveIgnore}
	allowRules  = ruleKind{"allow", "entry", "10.0.0.0/8", maintenance.AddAllow, maintenance.RemoveAllow}
)

func (a *Admin) apiAddIgnore(c *call) error    { return a.addRule(c, ignoreRules) }
func (a *Admin) apiRemoveIgnore(c *call) error { return a.removeRule(c, ignoreRules) }
func (a *Admin) apiAddAllow(c *call) error     { return a.addRule(c, allowRules) }
func (a *Admin) apiRemoveAllow(c *call) error  { return a.removeRule(c, allowRules) }

// addRule adds (or re-notes) an ignore pattern or allow entry of the
// path's site, from the body.
func (a *Admin) addRule(c *call, k ruleKind) error {
	n, err := pathSite(c.r)
	if err != nil {
		return err
	}
	v, note, reason, err := readRule(c.w, c.r, k.field, c.now)
	if err != nil {
		return err
	}
	st, err := a.update(c, k.field, k.add(n, v, note), reason)
	if err != nil {
		return err
	}
	return c.siteReply(http.StatusOK, st, n)
}

// removeRule removes the rule named by the query parameter k.field.
func (a *Admin) removeRule(c *call, k ruleKind) error {
	n, err := pathSite(c.r)
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	if !q.Has(k.field) {
		return invalidField(k.field, "the query parameter "+k.field+" is missing: DELETE .../"+k.route+"?"+k.field+"="+k.example)
	}
	st, err := a.update(c, k.field, k.remove(n, q.Get(k.field)), q.Get("reason"))
	if err != nil {
		return err
	}
	return c.siteReply(http.StatusOK, st, n)
}

func (a *Admin) apiSchedule(c *call) error {
	s, err := declaredSite(c.r, c.st)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, c.st.Version, s.View(c.now).Schedule)
}

// readWindow reads the body of a new scheduled window.
func readWindow(w http.ResponseWriter, r *http.Request, now time.Time) (maintenance.Window, string, error) {
	var win maintenance.Window
	in, err := readInput(w, r)
	if err != nil {
		return win, "", err
	}
	from, err := in.time("from")
	if err != nil {
		return win, "", err
	}
	until, err := in.time("until")
	if err != nil {
		return win, "", err
	}
	forDur, err := in.duration("for")
	if err != nil {
		return win, "", err
	}
	msg, err := in.text("message")
	if err != nil {
		return win, "", err
	}
	msgs, err := in.messages("messages")
	if err != nil {
		return win, "", err
	}
	mode, err := in.text("mode")
	if err != nil {
		return win, "", err
	}
	reason, err := in.text("reason")
	if err != nil {
		return win, "", err
	}
	if err := in.finish(); err != nil {
		return win, "", err
	}
	win = maintenance.Window{Mode: maintenance.Mode(mode), Message: msg, Messages: msgs, Reason: reason}
	if win.From, win.Until, err = (maintenance.WindowInput{From: from, Until: until, For: forDur}).Scheduled(now); err != nil {
		return win, "", err
	}
	return win, reason, win.Validate()
}

func (a *Admin) apiAddWindow(c *call) error {
	n, err := pathSite(c.r)
	if err != nil {
		return err
	}
	win, reason, err := readWindow(c.w, c.r, c.now)
	if err != nil {
		return err
	}
	// An overlap with another window is the only error left that depends
	// on the stored state.
	st, err := a.update(c, "from", maintenance.AddWindow(n, win), reason)
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

func (a *Admin) apiLinks(c *call) error {
	uses, err := a.store.Uses(c.r.Context())
	if err != nil {
		return fmt.Errorf("reading the use counts of bypass links: %w", err)
	}
	v := []linkView{}
	for i := range c.st.Links {
		if l := &c.st.Links[i]; l.Expires.After(c.now) {
			v = append(v, toLinkView(l, uses[l.ID]))
		}
	}
	return c.reply(http.StatusOK, c.st.Version, map[string]any{"links": v})
}

// newLink makes a bypass link change and its secret.
func newLink(site, label string, ttl time.Duration) (maintenance.Change, string) {
	secret, id := maintenance.NewSecret()
	l := maintenance.BypassLink{ID: id, Site: site, Label: label, Hash: maintenance.HashSecret(secret)}
	return maintenance.CreateBypass(l, ttl), secret
}

// checkLink validates the fields of a new bypass link, each in its field.
func checkLink(site, label string, ttl time.Duration, now time.Time) error {
	if site != "" {
		if _, err := maintenance.ParseSite(site); err != nil {
			return inField("site", err)
		}
	}
	if _, err := maintenance.ParseBypassTTL(ttl); err != nil {
		return inField("ttl", err)
	}
	ch, _ := newLink("", label, ttl)
	return precheck("label", ch, now)
}

func (a *Admin) apiCreateLink(c *call) error {
	in, err := readInput(c.w, c.r)
	if err != nil {
		return err
	}
	site, err := in.text("site")
	if err != nil {
		return err
	}
	label, err := in.text("label")
	if err != nil {
		return err
	}
	ttl, err := in.duration("ttl")
	if err != nil {
		return err
	}
	reason, err := in.text("reason")
	if err != nil {
		return err
	}
	if err := in.finish(); err != nil {
		return err
	}
	d := maintenance.DefaultBypassTTL
	if ttl != nil {
		d = *ttl
	}
	if err := checkLink(site, label, d, c.now); err != nil {
		return err
	}
	ch, secret := newLink(site, label, d)
	st, err := a.update(c, "site", ch, reason)
	if err != nil {
		return err
	}
	l := findLink(st, maintenance.HashSecret(secret))
	if l == nil {
		return errors.New("the new bypass link is missing from the state")
	}
	c.w.Header().Set("Location", APIPrefix+"bypass/"+l.ID)
	return c.reply(http.StatusCreated, st.Version, newLinkView{linkView: toLinkView(l, 0), Secret: secret,
		Path: maintenance.BypassPath + secret})
}

func findLink(st *maintenance.State, hash string) *maintenance.BypassLink {
	for i := range st.Links {
		if st.Links[i].Hash == hash {
			return &st.Links[i]
		}
	}
	return nil
}

func (a *Admin) apiRevokeLink(c *call) error {
	st, err := a.update(c, "id", maintenance.RevokeBypass(c.r.PathValue("id")), c.r.URL.Query().Get("reason"))
	if err != nil {
		return err
	}
	return c.reply(http.StatusNoContent, st.Version, nil)
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

func (a *Admin) apiRelease(c *call) error {
	return c.reply(http.StatusOK, c.st.Version, releaseView{Release: nullable(c.st.Release), Version: c.st.Version})
}

func (a *Admin) apiSetRelease(c *call) error {
	in, err := readInput(c.w, c.r)
	if err != nil {
		return err
	}
	rel, err := in.text("release")
	if err != nil {
		return err
	}
	reason, err := in.text("reason")
	if err != nil {
		return err
	}
	if err := in.finish(); err != nil {
		return err
	}
	if _, err := maintenance.ParseRelease(rel); err != nil {
		return inField("release", err)
	}
	st, err := a.update(c, "reason", maintenance.SetRelease(rel), reason)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, st.Version, releaseView{Release: nullable(st.Release), Version: st.Version})
}

func (a *Admin) apiWebhooks(c *call) error {
	cs, err := a.store.Cursors(c.r.Context())
	if err != nil {
		return fmt.Errorf("reading the delivery cursors: %w", err)
	}
	v := []maintenance.WebhookView{}
	for i := range c.st.Webhooks {
		w := &c.st.Webhooks[i]
		cur, ok := cs[w.ID]
		v = append(v, w.View(cur, ok))
	}
	return c.reply(http.StatusOK, c.st.Version, map[string]any{"webhooks": v})
}

// newWebhookView is the answer to a new webhook: its signing secret, once.
type newWebhookView struct {
	maintenance.WebhookView
	Secret string `json:"secret"`
}

func (a *Admin) apiAddWebhook(c *call) error {
	in, err := readInput(c.w, c.r)
	if err != nil {
		return err
	}
	rawURL, err := in.text("url")
	if err != nil {
		return err
	}
	events, err := in.strings("events")
	if err != nil {
		return err
	}
	sites, err := in.strings("sites")
	if err != nil {
		return err
	}
	format, err := in.text("format")
	if err != nil {
		return err
	}
	remind, err := in.strings("remind")
	if err != nil {
		return err
	}
	maxDur, err := in.duration("max_duration")
	if err != nil {
		return err
	}
	secret, err := in.text("secret")
	if err != nil {
		return err
	}
	reason, err := in.text("reason")
	if err != nil {
		return err
	}
	if err := in.finish(); err != nil {
		return err
	}
	w, secret, err := a.newWebhook(c.r.Context(), webhookInput{URL: rawURL, Events: events, Sites: sites,
		Format: format, Remind: remind, MaxDuration: maxDur, Secret: secret})
	if err != nil {
		return err
	}
	st, err := a.update(c, "sites", maintenance.AddWebhook(w), reason)
	if err != nil {
		return err
	}
	nw := st.Webhook(w.ID)
	if nw == nil {
		return errors.New("the new webhook is missing from the state")
	}
	c.w.Header().Set("Location", APIPrefix+"webhooks/"+w.ID)
	return c.reply(http.StatusCreated, st.Version, newWebhookView{WebhookView: nw.View(maintenance.Cursor{}, false), Secret: secret})
}

// webhookInput is a new webhook as the API and the page take it: the
// fields of 'maintenance webhook add'.
type webhookInput struct {
	URL                   string
	Events, Sites, Remind []string
	Format                string
	// MaxDuration is nil when not given, 0 for none.
	MaxDuration *time.Duration
	// Secret is the signing secret the user chose; empty for a new one.
	Secret string
}

// newWebhook validates in with the root package's parsers and returns the
// webhook to add, its secret sealed under the server key, and the secret
// in clear (to be shown once). Errors name the field.
func (a *Admin) newWebhook(ctx context.Context, in webhookInput) (maintenance.Webhook, string, error) {
	var w maintenance.Webhook
	var err error
	if w.URL, err = maintenance.ParseWebhookURL(in.URL); err != nil {
		return w, "", inField("url", err)
	}
	if w.Events, err = maintenance.ParseEventTypes(in.Events); err != nil {
		return w, "", inField("events", err)
	}
	for _, s := range in.Sites {
		n, err := maintenance.ParseSite(s)
		if err != nil {
			return w, "", inField("sites", err)
		}
		if !slices.Contains(w.Sites, n) {
			w.Sites = append(w.Sites, n)
		}
	}
	slices.Sort(w.Sites)
	if w.Format, err = maintenance.ParseWebhookFormat(in.Format); err != nil {
		return w, "", inField("format", err)
	}
	var ds []time.Duration
	for _, r := range in.Remind {
		d, err := time.ParseDuration(r)
		if err != nil {
			return w, "", invalidField("remind", "reminder %q is not a duration; accepted: durations like \"1h\" and \"10m\"", r)
		}
		ds = append(ds, d)
	}
	if w.Remind, err = maintenance.ParseReminders(ds); err != nil {
		return w, "", inField("remind", err)
	}
	if in.MaxDuration != nil {
		if d := *in.MaxDuration; d != 0 && d < time.Minute {
			return w, "", invalidField("max_duration", "max_duration %s: accepted: 1m or more, or 0 for none", d)
		}
		w.MaxDuration = *in.MaxDuration
	}
	secret := in.Secret
	if secret == "" {
		secret = maintenance.NewWebhookSecret()
	} else if err := maintenance.CheckWebhookSecret(secret); err != nil {
		return w, "", inField("secret", err)
	}
	_, w.ID = maintenance.NewSecret()
	key, err := a.store.Key(ctx)
	if err != nil {
		return w, "", fmt.Errorf("reading the server key: %w", err)
	}
	if w.Secret, err = maintenance.SealSecret(key, w.ID, secret); err != nil {
		return w, "", err
	}
	return w, secret, nil
}

func (a *Admin) apiRemoveWebhook(c *call) error {
	st, err := a.update(c, "id", maintenance.RemoveWebhook(c.r.PathValue("id")), c.r.URL.Query().Get("reason"))
	if err != nil {
		return err
	}
	return c.reply(http.StatusNoContent, st.Version, nil)
}

// apiTestWebhook posts a webhook.test event to the webhook now and says
// how it went: 200 with {"delivered": true}, or {"delivered": false,
// "error": "..."} (the receiver's fault, not the request's).
func (a *Admin) apiTestWebhook(c *call) error {
	w := c.st.Webhook(c.r.PathValue("id"))
	if w == nil {
		return fmt.Errorf("%w: webhook %q does not exist", maintenance.ErrNotFound, c.r.PathValue("id"))
	}
	key, err := a.store.Key(c.r.Context())
	if err != nil {
		return fmt.Errorf("reading the server key: %w", err)
	}
	out := map[string]any{"delivered": true}
	if err := maintenance.SendTest(c.r.Context(), key, *w, c.actor); err != nil {
		out = map[string]any{"delivered": false, "error": err.Error()}
	}
	return c.reply(http.StatusOK, c.st.Version, out)
}
