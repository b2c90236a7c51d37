package admin

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gomaint/maintenance"
)

// A route is one route of the admin: a page of the HTML admin, under
// PagePrefix, or an operation of the JSON API, under APIPrefix. The page
// and the API of a resource sit side by side; the handlers live in the
// resource's file (sites.go, rules.go, schedule.go, bypass.go, log.go,
// release.go, webhooks.go; session.go for signing in).
type route struct {
	method string
	// path is relative to PagePrefix for HTML, to APIPrefix for JSON.
	path string
	kind kind
	// Exactly one handler is set: page, for a page that needs a signed-in
	// user; html, for one that does not; api, for the JSON API.
	page func(a *Admin, p *page) error
	html func(a *Admin, w http.ResponseWriter, r *http.Request)
	api  func(a *Admin, c *call) error
	// public API routes need no token.
	public bool
}

// kind is what a route answers: an HTML page (forms post to it and are
// sent back with a 303) or JSON.
type kind int

const (
	kindHTML kind = iota
	kindJSON
)

// routes is every route of the admin. openapi.json documents exactly the
// JSON ones (TestOpenAPIMatchesRoutes).
var routes = []route{
	// Signing in (session.go) and the page's files.
	{method: "GET", path: "login", kind: kindHTML, html: (*Admin).loginForm},
	{method: "POST", path: "login", kind: kindHTML, html: (*Admin).login},
	{method: "POST", path: "logout", kind: kindHTML, html: (*Admin).logout},
	{method: "GET", path: "static/{file}", kind: kindHTML, html: (*Admin).serveStatic},
	{method: "GET", path: "openapi.json", kind: kindJSON, api: (*Admin).apiOpenAPI, public: true},

	// Sites: the list, one site, switching on and off (sites.go).
	{method: "GET", path: "{$}", kind: kindHTML, page: (*Admin).sitesPage},
	{method: "GET", path: "sites", kind: kindJSON, api: (*Admin).apiSites},
	{method: "POST", path: "sites", kind: kindHTML, page: (*Admin).addSite},
	{method: "POST", path: "sites", kind: kindJSON, api: (*Admin).apiAddSite},
	{method: "POST", path: "switch", kind: kindHTML, page: (*Admin).switchAll},
	{method: "POST", path: "on", kind: kindJSON, api: (*Admin).apiOnAll},
	{method: "POST", path: "off", kind: kindJSON, api: (*Admin).apiOffAll},
	{method: "GET", path: "sites/{site}", kind: kindHTML, page: (*Admin).sitePage},
	{method: "GET", path: "sites/{site}", kind: kindJSON, api: (*Admin).apiSite},
	{method: "POST", path: "sites/{site}/remove", kind: kindHTML, page: (*Admin).removeSite},
	{method: "DELETE", path: "sites/{site}", kind: kindJSON, api: (*Admin).apiRemoveSite},
	{method: "POST", path: "sites/{site}/switch", kind: kindHTML, page: (*Admin).switchSite},
	{method: "POST", path: "sites/{site}/on", kind: kindJSON, api: (*Admin).apiOn},
	{method: "POST", path: "sites/{site}/off", kind: kindJSON, api: (*Admin).apiOff},
	{method: "PUT", path: "sites/{site}/error-status", kind: kindJSON, api: (*Admin).apiErrorStatus},
	{method: "GET", path: "sites/{site}/preview", kind: kindHTML, page: (*Admin).preview},

	// Ignore patterns and allow entries (rules.go).
	{method: "POST", path: "sites/{site}/ignore", kind: kindHTML, page: (*Admin).addIgnore},
	{method: "POST", path: "sites/{site}/ignore/remove", kind: kindHTML, page: (*Admin).removeIgnore},
	{method: "GET", path: "sites/{site}/ignore", kind: kindJSON, api: (*Admin).apiIgnore},
	{method: "POST", path: "sites/{site}/ignore", kind: kindJSON, api: (*Admin).apiAddIgnore},
	{method: "DELETE", path: "sites/{site}/ignore", kind: kindJSON, api: (*Admin).apiRemoveIgnore},
	{method: "POST", path: "sites/{site}/allow", kind: kindHTML, page: (*Admin).addAllow},
	{method: "POST", path: "sites/{site}/allow/remove", kind: kindHTML, page: (*Admin).removeAllow},
	{method: "GET", path: "sites/{site}/allow", kind: kindJSON, api: (*Admin).apiAllow},
	{method: "POST", path: "sites/{site}/allow", kind: kindJSON, api: (*Admin).apiAddAllow},
	{method: "DELETE", path: "sites/{site}/allow", kind: kindJSON, api: (*Admin).apiRemoveAllow},

	// Scheduled windows (schedule.go).
	{method: "POST", path: "sites/{site}/schedule", kind: kindHTML, page: (*Admin).addWindow},
	{method: "POST", path: "sites/{site}/schedule/{id}/remove", kind: kindHTML, page: (*Admin).removeWindow},
	{method: "GET", path: "sites/{site}/schedule", kind: kindJSON, api: (*Admin).apiSchedule},
	{method: "POST", path: "sites/{site}/schedule", kind: kindJSON, api: (*Admin).apiAddWindow},
	{method: "DELETE", path: "sites/{site}/schedule/{id}", kind: kindJSON, api: (*Admin).apiRemoveWindow},

	// Bypass links (bypass.go).
	{method: "GET", path: "bypass", kind: kindHTML, page: (*Admin).bypassPage},
	{method: "GET", path: "bypass", kind: kindJSON, api: (*Admin).apiLinks},
	{method: "POST", path: "bypass", kind: kindHTML, page: (*Admin).createLink},
	{method: "POST", path: "bypass", kind: kindJSON, api: (*Admin).apiCreateLink},
	{method: "POST", path: "bypass/{id}/revoke", kind: kindHTML, page: (*Admin).revokeLink},
	{method: "DELETE", path: "bypass/{id}", kind: kindJSON, api: (*Admin).apiRevokeLink},

	// Webhooks (webhooks.go).
	{method: "GET", path: "webhooks", kind: kindHTML, page: (*Admin).webhooksPage},
	{method: "GET", path: "webhooks", kind: kindJSON, api: (*Admin).apiWebhooks},
	{method: "POST", path: "webhooks", kind: kindHTML, page: (*Admin).addWebhook},
	{method: "POST", path: "webhooks", kind: kindJSON, api: (*Admin).apiAddWebhook},
	{method: "POST", path: "webhooks/{id}/remove", kind: kindHTML, page: (*Admin).removeWebhook},
	{method: "DELETE", path: "webhooks/{id}", kind: kindJSON, api: (*Admin).apiRemoveWebhook},
	{method: "POST", path: "webhooks/{id}/test", kind: kindHTML, page: (*Admin).testWebhook},
	{method: "POST", path: "webhooks/{id}/test", kind: kindJSON, api: (*Admin).apiTestWebhook},

	// The audit log (log.go) and the fleet's target release (release.go).
	{method: "GET", path: "log", kind: kindHTML, page: (*Admin).logPage},
	{method: "GET", path: "events", kind: kindJSON, api: (*Admin).apiEvents},
	{method: "GET", path: "release", kind: kindJSON, api: (*Admin).apiRelease},
	{method: "PUT", path: "release", kind: kindJSON, api: (*Admin).apiSetRelease},
}

// register registers every route on mux, and for each prefix a 405 with Allow
// for the other methods of a known path and a 404 for unknown paths: HTML
// pages under PagePrefix, problem+json under APIPrefix.
func (a *Admin) register(mux *http.ServeMux) {
	allowed := map[kind]map[string][]string{kindHTML: {}, kindJSON: {}}
	var paths [2][]string
	for _, rt := range routes {
		prefix, h := PagePrefix, http.Handler(nil)
		switch {
		case rt.api != nil:
			prefix, h = APIPrefix, a.apiHandler(rt)
		case rt.page != nil:
			h = a.signedInHandler(func(p *page) error { return rt.page(a, p) })
		default:
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rt.html(a, w, r) })
		}
		mux.Handle(rt.method+" "+prefix+rt.path, h)
		p := strings.TrimSuffix(rt.path, "{$}")
		m := allowed[rt.kind]
		if m[p] == nil {
			paths[rt.kind] = append(paths[rt.kind], p)
		}
		m[p] = append(m[p], rt.method)
		if rt.method == "GET" {
			m[p] = append(m[p], "HEAD")
		}
	}
	for _, p := range paths[kindJSON] {
		allow := allowed[kindJSON][p]
		mux.HandleFunc(APIPrefix+p, func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, r, a.log, &methodError{allow: allow})
		})
	}
	mux.HandleFunc(APIPrefix, func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, a.log, fmt.Errorf("%w: no API route %s; see %sopenapi.json", maintenance.ErrNotFound, r.URL.Path, APIPrefix))
	})
	for _, p := range paths[kindHTML] {
		allow := allowed[kindHTML][p]
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
