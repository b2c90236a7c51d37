package admin_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/admin"
)

// site is the part of the API's site object the tests read.
type site struct {
	Site       string     `json:"site"`
	On         bool       `json:"on"`
	SwitchedOn bool       `json:"switched_on"`
	Mode       string     `json:"mode"`
	Message    string     `json:"message"`
	Reason     string     `json:"reason"`
	From       *time.Time `json:"from"`
	Until      *time.Time `json:"until"`
	RetryAfter int64      `json:"retry_after"`
	Status     int        `json:"status"`
	ErrorStat  int        `json:"error_status"`
	Redirect   string     `json:"redirect"`
	ChangedBy  string     `json:"changed_by"`
	Ignore     []struct {
		Pattern string `json:"pattern"`
		Note    string `json:"note"`
	} `json:"ignore"`
	Allow []struct {
		Entry string `json:"entry"`
		Note  string `json:"note"`
	} `json:"allow"`
	Schedule []struct {
		ID      int       `json:"id"`
		From    time.Time `json:"from"`
		Until   time.Time `json:"until"`
		Message string    `json:"message"`
	} `json:"schedule"`
	Version int64 `json:"version"`
}

func TestAPISites(t *testing.T) {
	f := newFixture(t, admin.Options{})
	r := f.api("GET", "sites", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET sites: %d %s", r.status, r.body)
	}
	var list struct {
		Version int64  `json:"version"`
		Sites   []site `json:"sites"`
	}
	r.json(t, &list)
	st := f.load()
	if list.Version != st.Version || r.header.Get("ETag") != strconv.Quote(fmt.Sprint(st.Version)) {
		t.Errorf("version %d, ETag %s; want %d", list.Version, r.header.Get("ETag"), st.Version)
	}
	if len(list.Sites) != 2 || list.Sites[0].Site != "*" || list.Sites[1].Site != "shop.example.com" {
		t.Errorf("sites %+v, want * and shop.example.com", list.Sites)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}

	// Declare, show, declare again, remove.
	r = f.api("POST", "sites", map[string]any{"site": "Blog.Example.com", "reason": "new blog"})
	if r.status != http.StatusCreated || r.header.Get("Location") != admin.APIPrefix+"sites/blog.example.com" {
		t.Fatalf("POST sites: %d, Location %q; %s", r.status, r.header.Get("Location"), r.body)
	}
	if r = f.api("POST", "sites", map[string]any{"site": "blog.example.com"}); r.status != http.StatusOK {
		t.Errorf("POST sites again: %d, want 200", r.status)
	}
	r = f.api("GET", "sites/blog.example.com", nil)
	var s site
	r.json(t, &s)
	if r.status != http.StatusOK || s.Site != "blog.example.com" || s.On || s.Status != 503 {
		t.Errorf("GET site: %d %+v", r.status, s)
	}
	evs := f.events()
	if e := evs[0]; e.Action != "sites add" || e.Actor != "token "+f.tokenID+" (deploy bot)" || e.Source != "api" || e.Reason != "new blog" {
		t.Errorf("event %+v: want sites add by the token, from api, with the reason", e)
	}
	if r = f.api("DELETE", "sites/blog.example.com?reason=gone", nil); r.status != http.StatusNoContent {
		t.Errorf("DELETE site: %d %s", r.status, r.body)
	}
	if r = f.api("GET", "sites/blog.example.com", nil); r.status != http.StatusNotFound {
		t.Errorf("GET removed site: %d, want 404", r.status)
	}
	if r = f.api("DELETE", "sites/*", nil); r.status != http.StatusUnprocessableEntity {
		t.Errorf("DELETE *: %d, want 422; %s", r.status, r.body)
	}
}

func TestAPIOnOff(t *testing.T) {
	f := newFixture(t, admin.Options{})
	r := f.api("POST", "sites/shop.example.com/on", map[string]any{
		"message": "Back at 14:00", "reason": "db upgrade", "mode": "read-only", "status": 503,
		"retry_after": "30m", "redirect": "https://status.example.com/", "for": "2h",
	})
	if r.status != http.StatusOK {
		t.Fatalf("on: %d %s", r.status, r.body)
	}
	var s site
	r.json(t, &s)
	if !s.On || s.Mode != "read-only" || s.Message != "Back at 14:00" || s.Reason != "db upgrade" || s.RetryAfter != 1800 ||
		s.Redirect != "https://status.example.com/" || s.Until == nil || time.Until(*s.Until) < 110*time.Minute {
		t.Errorf("after on: %+v", s)
	}
	st := f.load()
	if got := st.Site("shop.example.com"); !got.On || got.ChangedBy != "token "+f.tokenID+" (deploy bot)" {
		t.Errorf("stored site %+v", got)
	}
	if r.header.Get("ETag") != strconv.Quote(fmt.Sprint(st.Version)) {
		t.Errorf("ETag %s, want the new version %d", r.header.Get("ETag"), st.Version)
	}
	// A site that is on changes only what is given.
	r = f.api("POST", "sites/shop.example.com/on", map[string]any{"message": "Back at 15:00"})
	r.json(t, &s)
	if s.Mode != "read-only" || s.Message != "Back at 15:00" || s.Until == nil {
		t.Errorf("second on changed more than the message: %+v", s)
	}
	// null clears a bound.
	r = f.api("POST", "sites/shop.example.com/on", map[string]any{"until": nil})
	r.json(t, &s)
	if s.Until != nil {
		t.Errorf("until null: %+v, want no end", s)
	}
	r = f.api("POST", "sites/shop.example.com/off", map[string]any{"reason": "done"})
	r.json(t, &s)
	if r.status != http.StatusOK || s.On || s.Message != "" {
		t.Errorf("off: %d %+v", r.status, s)
	}
	// On a new site declares it; everything at once.
	if r = f.api("POST", "sites/new.example.com/on", nil); r.status != http.StatusOK {
		t.Errorf("on a new site: %d %s", r.status, r.body)
	}
	r = f.api("POST", "on", map[string]any{"message": "all down"})
	var list struct{ Sites []site }
	r.json(t, &list)
	if r.status != http.StatusOK || len(list.Sites) != 3 {
		t.Fatalf("on all: %d %s", r.status, r.body)
	}
	for _, s := range list.Sites {
		if !s.On || s.Message != "all down" {
			t.Errorf("on all: %+v", s)
		}
	}
	r = f.api("POST", "off", map[string]any{"sites": []string{"new.example.com"}})
	r.json(t, &list)
	if r.status != http.StatusOK || len(list.Sites) != 1 || list.Sites[0].On {
		t.Errorf("off one of all: %d %s", r.status, r.body)
	}
	if !f.load().Site("*").On {
		t.Error("off of one site switched * off too")
	}
	if r = f.api("POST", "off", nil); r.status != http.StatusOK {
		t.Errorf("off all: %d", r.status)
	}
	for _, s := range f.load().Sites {
		if s.On {
			t.Errorf("site %s still on after off all", s.Site)
		}
	}
	if r = f.api("POST", "sites/none.example.com/off", nil); r.status != http.StatusNotFound {
		t.Errorf("off of an undeclared site: %d, want 404", r.status)
	}
}

func TestAPIRules(t *testing.T) {
	f := newFixture(t, admin.Options{})
	r := f.api("POST", "sites/shop.example.com/ignore", map[string]any{"pattern": "POST /webhooks/*", "note": "stripe"})
	var s site
	r.json(t, &s)
	if r.status != http.StatusOK || len(s.Ignore) != 1 || s.Ignore[0].Pattern != "POST /webhooks/*" || s.Ignore[0].Note != "stripe" {
		t.Fatalf("add ignore: %d %s", r.status, r.body)
	}
	r = f.api("GET", "sites/shop.example.com/ignore", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"note": "stripe"`) {
		t.Errorf("list ignore: %d %s", r.status, r.body)
	}
	r = f.api("DELETE", "sites/shop.example.com/ignore?pattern="+url.QueryEscape("POST /webhooks/*"), nil)
	r.json(t, &s)
	if r.status != http.StatusOK || len(s.Ignore) != 0 {
		t.Errorf("remove ignore: %d %s", r.status, r.body)
	}
	if r = f.api("DELETE", "sites/shop.example.com/ignore?pattern=/nothing", nil); r.status != http.StatusNotFound {
		t.Errorf("remove a missing pattern: %d, want 404", r.status)
	}

	r = f.api("POST", "sites/*/allow", map[string]any{"entry": "10.0.0.0/8", "note": "office"})
	r.json(t, &s)
	if r.status != http.StatusOK || s.Site != "*" || len(s.Allow) != 1 || s.Allow[0].Entry != "10.0.0.0/8" {
		t.Fatalf("add allow: %d %s", r.status, r.body)
	}
	r = f.api("GET", "sites/*/allow", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"entry": "10.0.0.0/8"`) {
		t.Errorf("list allow: %d %s", r.status, r.body)
	}
	r = f.api("DELETE", "sites/*/allow?entry=10.0.0.0/8", nil)
	r.json(t, &s)
	if r.status != http.StatusOK || len(s.Allow) != 0 {
		t.Errorf("remove allow: %d %s", r.status, r.body)
	}

	r = f.api("PUT", "sites/shop.example.com/error-status", map[string]any{"error_status": 500})
	r.json(t, &s)
	if r.status != http.StatusOK || s.ErrorStat != 500 {
		t.Errorf("error status: %d %s", r.status, r.body)
	}
	r = f.api("PUT", "sites/shop.example.com/error-status", map[string]any{"error_status": nil})
	r.json(t, &s)
	if r.status != http.StatusOK || s.ErrorStat != 503 {
		t.Errorf("error status null: %d %s", r.status, r.body)
	}
}

func TestAPISchedule(t *testing.T) {
	f := newFixture(t, admin.Options{})
	from := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	r := f.api("POST", "sites/shop.example.com/schedule", map[string]any{
		"from": from.Format(time.RFC3339), "for": "1h", "message": "planned", "mode": "read-only"})
	if r.status != http.StatusCreated {
		t.Fatalf("add window: %d %s", r.status, r.body)
	}
	var w struct {
		ID    int       `json:"id"`
		From  time.Time `json:"from"`
		Until time.Time `json:"until"`
		Mode  string    `json:"mode"`
	}
	r.json(t, &w)
	if w.ID != 1 || !w.From.Equal(from) || !w.Until.Equal(from.Add(time.Hour)) || w.Mode != "read-only" ||
		r.header.Get("Location") != admin.APIPrefix+"sites/shop.example.com/schedule/1" {
		t.Errorf("window %+v, Location %q", w, r.header.Get("Location"))
	}
	// Overlapping: 422 naming from, nothing changed.
	before, n := f.load(), len(f.events())
	r = f.api("POST", "sites/shop.example.com/schedule", map[string]any{
		"from": from.Add(30 * time.Minute).Format(time.RFC3339), "until": from.Add(2 * time.Hour).Format(time.RFC3339)})
	if p := r.problem(t); r.status != http.StatusUnprocessableEntity || p["field"] != "from" {
		t.Errorf("overlap: %d %v", r.status, p)
	}
	f.unchanged(before, n)
	r = f.api("GET", "sites/shop.example.com/schedule", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"message": "planned"`) {
		t.Errorf("list windows: %d %s", r.status, r.body)
	}
	if r = f.api("DELETE", "sites/shop.example.com/schedule/1", nil); r.status != http.StatusOK {
		t.Errorf("remove window: %d %s", r.status, r.body)
	}
	if r = f.api("DELETE", "sites/shop.example.com/schedule/1", nil); r.status != http.StatusNotFound {
		t.Errorf("remove it again: %d, want 404", r.status)
	}
}

func TestAPIBypass(t *testing.T) {
	f := newFixture(t, admin.Options{})
	r := f.api("POST", "bypass", map[string]any{"site": "shop.example.com", "label": "QA", "ttl": "2h"})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var l struct {
		ID, Site, Label, Secret, Path string
		Expires                       time.Time
		Uses                          int64
	}
	r.json(t, &l)
	if l.Site != "shop.example.com" || l.Label != "QA" || l.Secret == "" || l.Path != maintenance.BypassPath+l.Secret ||
		time.Until(l.Expires) < 119*time.Minute {
		t.Errorf("new link %+v", l)
	}
	st := f.load()
	if len(st.Links) != 1 || st.Links[0].Hash != maintenance.HashSecret(l.Secret) || strings.Contains(jsonString(st), l.Secret) {
		t.Errorf("stored links %+v: want the hash of the secret, never the secret", st.Links)
	}
	if err := f.store.CountUses(t.Context(), map[string]int64{l.ID: 3}); err != nil {
		t.Fatal(err)
	}
	r = f.api("GET", "bypass", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"uses": 3`) || strings.Contains(string(r.body), l.Secret) {
		t.Errorf("list: %d %s; want the uses, not the secret", r.status, r.body)
	}
	// The default site and TTL.
	r = f.api("POST", "bypass", nil)
	var l2 struct {
		Site    string
		Expires time.Time
	}
	r.json(t, &l2)
	if r.status != http.StatusCreated || l2.Site != "*" || time.Until(l2.Expires) < 11*time.Hour {
		t.Errorf("default link: %d %s", r.status, r.body)
	}
	if r = f.api("DELETE", "bypass/"+l.ID, nil); r.status != http.StatusNoContent {
		t.Errorf("revoke: %d %s", r.status, r.body)
	}
	if r = f.api("DELETE", "bypass/"+l.ID, nil); r.status != http.StatusNotFound {
		t.Errorf("revoke again: %d, want 404", r.status)
	}
	if len(f.load().Links) != 1 {
		t.Errorf("links after revoke: %+v", f.load().Links)
	}
}

func TestAPIEvents(t *testing.T) {
	f := newFixture(t, admin.Options{})
	for i := range 5 {
		f.api("POST", "sites/shop.example.com/ignore", map[string]any{"pattern": fmt.Sprintf("/p%d", i)})
	}
	f.api("POST", "sites/*/on", nil)
	type events struct {
		Events []struct {
			ID     int64  `json:"id"`
			Action string `json:"action"`
			Site   string `json:"site"`
			Actor  string `json:"actor"`
			After  *site  `json:"after"`
		} `json:"events"`
		NextBefore *int64 `json:"next_before"`
	}
	var e events
	r := f.api("GET", "events?site=shop.example.com&action=ignore+add&limit=3", nil)
	r.json(t, &e)
	if r.status != http.StatusOK || len(e.Events) != 3 || e.NextBefore == nil {
		t.Fatalf("page 1: %d %s", r.status, r.body)
	}
	for _, ev := range e.Events {
		if ev.Action != "ignore add" || ev.Site != "shop.example.com" || ev.After == nil {
			t.Errorf("event %+v does not match the filter", ev)
		}
	}
	if e.Events[0].After.Ignore[len(e.Events[0].After.Ignore)-1].Pattern != "/p4" {
		t.Errorf("newest first: %+v", e.Events[0])
	}
	r = f.api("GET", fmt.Sprintf("events?site=shop.example.com&action=ignore+add&limit=3&before=%d", *e.NextBefore), nil)
	e = events{}
	r.json(t, &e)
	if len(e.Events) != 2 || e.NextBefore != nil {
		t.Errorf("page 2: %s", r.body)
	}
	r = f.api("GET", "events?actor="+url.QueryEscape("token "+f.tokenID+" (deploy bot)")+"&action=on", nil)
	e = events{}
	r.json(t, &e)
	if len(e.Events) != 1 || e.Events[0].Site != "*" {
		t.Errorf("by actor and action: %s", r.body)
	}
	r = f.api("GET", "events?actor=nobody", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"events": []`) {
		t.Errorf("no match: %d %s", r.status, r.body)
	}
}

func TestAPIRelease(t *testing.T) {
	f := newFixture(t, admin.Options{})
	r := f.api("GET", "release", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"release": null`) {
		t.Errorf("no release: %d %s", r.status, r.body)
	}
	r = f.api("PUT", "release", map[string]any{"release": "v42", "reason": "deploy"})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"release": "v42"`) || f.load().Release != "v42" {
		t.Errorf("set: %d %s", r.status, r.body)
	}
}

func TestAPIAuth(t *testing.T) {
	f := newFixture(t, admin.Options{})
	revoked, id := f.newToken("old")
	f.update(maintenance.RevokeToken(id))
	before, n := f.load(), len(f.events())
	for _, tc := range []struct {
		name, auth, wantChallenge string
	}{
		{"no token", "", `Bearer realm="maintenance"`},
		{"bad token", "Bearer nope", `Bearer realm="maintenance", error="invalid_token"`},
		{"revoked token", "Bearer " + revoked, `Bearer realm="maintenance", error="invalid_token"`},
		{"not bearer", "Basic " + f.token, `Bearer realm="maintenance", error="invalid_token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for route, needsToken := range admin.APIRoutes() {
				if !needsToken {
					continue
				}
				method, path, _ := strings.Cut(route, " ")
				path = strings.NewReplacer("{site}", testSite, "{id}", "1").Replace(strings.TrimPrefix(path, "/"))
				var body any
				if method == "POST" || method == "PUT" {
					body = map[string]any{}
				}
				r := f.api(method, path, body, "Authorization", tc.auth)
				if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != tc.wantChallenge {
					t.Errorf("%s %s: %d, WWW-Authenticate %q; want 401, %q", method, path, r.status, r.header.Get("WWW-Authenticate"), tc.wantChallenge)
				}
				if p := r.problem(t); p["status"] != float64(401) {
					t.Errorf("%s %s: problem %v", method, path, p)
				}
			}
		})
	}
	f.unchanged(before, n)
	// The document needs no token.
	if r := f.api("GET", "openapi.json", nil, "Authorization", ""); r.status != http.StatusOK {
		t.Errorf("openapi.json without a token: %d", r.status)
	}
}

func TestAPICrossOrigin(t *testing.T) {
	f := newFixture(t, admin.Options{TrustedOrigins: []string{"https://ops.example.com"}})
	before, n := f.load(), len(f.events())
	for _, tc := range []struct {
		name string
		hdr  []string
	}{
		{"Sec-Fetch-Site cross-site", []string{"Sec-Fetch-Site", "cross-site"}},
		{"foreign Origin", []string{"Origin", "https://evil.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.api("POST", "sites/*/on", map[string]any{"message": "x"}, tc.hdr...)
			if p := r.problem(t); r.status != http.StatusForbidden || p["status"] != float64(403) {
				t.Errorf("%d %v, want 403", r.status, p)
			}
		})
	}
	f.unchanged(before, n)
	// Reads, same-origin writes and trusted origins pass.
	if r := f.api("GET", "sites", nil, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusOK {
		t.Errorf("cross-site GET: %d", r.status)
	}
	if r := f.api("POST", "sites/*/on", nil, "Sec-Fetch-Site", "same-origin"); r.status != http.StatusOK {
		t.Errorf("same-origin POST: %d %s", r.status, r.body)
	}
	if r := f.api("POST", "sites/*/off", nil, "Origin", "https://ops.example.com"); r.status != http.StatusOK {
		t.Errorf("trusted origin POST: %d %s", r.status, r.body)
	}
}

func TestAPIIfMatch(t *testing.T) {
	f := newFixture(t, admin.Options{})
	r := f.api("GET", "sites/shop.example.com", nil)
	tag := r.header.Get("ETag")
	// Someone else changes something.
	f.update(maintenance.AddIgnore("", "/health", ""))
	before, n := f.load(), len(f.events())
	for _, rq := range []struct {
		method, path string
		body         any
	}{
		{"POST", "sites/shop.example.com/on", map[string]any{"message": "mine"}},
		{"POST", "sites/shop.example.com/ignore", map[string]any{"pattern": "/x"}},
		{"DELETE", "sites/shop.example.com", nil},
		{"POST", "bypass", nil},
		{"PUT", "release", map[string]any{"release": "v1"}},
	} {
		r := f.api(rq.method, rq.path, rq.body, "If-Match", tag)
		if p := r.problem(t); r.status != http.StatusPreconditionFailed || p["status"] != float64(412) {
			t.Errorf("%s %s with a stale If-Match: %d %v, want 412", rq.method, rq.path, r.status, p)
		}
	}
	if r := f.api("POST", "sites/shop.example.com/on", nil, "If-Match", `"garbage"`); r.status != http.StatusPreconditionFailed {
		t.Errorf("unparsable If-Match: %d, want 412", r.status)
	}
	f.unchanged(before, n)
	// The current tag, a list holding it, and * apply.
	cur := strconv.Quote(fmt.Sprint(before.Version))
	r = f.api("POST", "sites/shop.example.com/on", map[string]any{"message": "mine"}, "If-Match", cur)
	if r.status != http.StatusOK {
		t.Fatalf("current If-Match: %d %s", r.status, r.body)
	}
	next := r.header.Get("ETag")
	if r = f.api("POST", "sites/shop.example.com/on", map[string]any{"message": "again"}, "If-Match", `"1", `+next); r.status != http.StatusOK {
		t.Errorf("If-Match list: %d %s", r.status, r.body)
	}
	if r = f.api("POST", "sites/shop.example.com/on", map[string]any{"mode": "hold"}, "If-Match", "*"); r.status != http.StatusOK || f.load().Site(testSite).Mode != maintenance.ModeHold {
		t.Errorf("mode hold with If-Match *: %d %s", r.status, r.body)
	}
	if r = f.api("POST", "sites/shop.example.com/off", nil, "If-Match", "*"); r.status != http.StatusOK {
		t.Errorf("If-Match *: %d %s", r.status, r.body)
	}
}

// TestAPIValidation sends each kind of invalid input: 422 naming the field
// (or 400, 413, 415 for a body that is not JSON), and nothing changes.
func TestAPIValidation(t *testing.T) {
	f := newFixture(t, admin.Options{})
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	long := strings.Repeat("x", maintenance.MaxText+1)
	tests := []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"mode", "POST", "sites/shop.example.com/on", map[string]any{"mode": "sideways"}, 422, "mode"},
		{"status", "POST", "sites/shop.example.com/on", map[string]any{"status": 302}, 422, "status"},
		{"status type", "POST", "sites/shop.example.com/on", map[string]any{"status": "503"}, 422, "status"},
		{"retry_after range", "POST", "sites/shop.example.com/on", map[string]any{"retry_after": "200h"}, 422, "retry_after"},
		{"retry_after syntax", "POST", "sites/shop.example.com/on", map[string]any{"retry_after": "soon"}, 422, "retry_after"},
		{"retry_after fraction", "POST", "sites/shop.example.com/on", map[string]any{"retry_after": "1.5s"}, 422, "retry_after"},
		{"redirect", "POST", "sites/shop.example.com/on", map[string]any{"redirect": "javascript:alert(1)"}, 422, "redirect"},
		{"redirect to another host", "POST", "sites/shop.example.com/on", map[string]any{"redirect": `/\evil.example/phish`}, 422, "redirect"},
		{"message length", "POST", "sites/shop.example.com/on", map[string]any{"message": long}, 422, "message"},
		{"reason length", "POST", "sites/shop.example.com/on", map[string]any{"reason": long}, 422, "reason"},
		{"until in the past", "POST", "sites/shop.example.com/on", map[string]any{"until": past}, 422, "until"},
		{"until syntax", "POST", "sites/shop.example.com/on", map[string]any{"until": "tomorrow"}, 422, "until"},
		{"until before from", "POST", "sites/shop.example.com/on", map[string]any{"from": future, "until": time.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339)}, 422, "until"},
		{"for and until", "POST", "sites/shop.example.com/on", map[string]any{"for": "1h", "until": future}, 422, "for"},
		{"for too short", "POST", "sites/shop.example.com/on", map[string]any{"for": "1ms"}, 422, "for"},
		{"unknown field", "POST", "sites/shop.example.com/on", map[string]any{"mesage": "typo"}, 422, "mesage"},
		{"site in path", "POST", "sites/bad_site!/on", nil, 422, "site"},
		{"sites list", "POST", "on", map[string]any{"sites": []string{"ok.example.com", "bad site"}}, 422, "sites"},
		{"site to declare", "POST", "sites", map[string]any{"site": "http://x.example.com/"}, 422, "site"},
		{"ignore pattern", "POST", "sites/shop.example.com/ignore", map[string]any{"pattern": "health"}, 422, "pattern"},
		{"ignore regexp", "POST", "sites/shop.example.com/ignore", map[string]any{"pattern": "^/(a"}, 422, "pattern"},
		{"ignore note", "POST", "sites/shop.example.com/ignore", map[string]any{"pattern": "/ok", "note": long}, 422, "note"},
		{"allow entry", "POST", "sites/shop.example.com/allow", map[string]any{"entry": "10.0.0.1/8"}, 422, "entry"},
		{"allow missing", "DELETE", "sites/shop.example.com/allow", nil, 422, "entry"},
		{"error status", "PUT", "sites/shop.example.com/error-status", map[string]any{"error_status": 302}, 422, "error_status"},
		{"window from", "POST", "sites/shop.example.com/schedule", map[string]any{"until": future}, 422, "from"},
		{"window end", "POST", "sites/shop.example.com/schedule", map[string]any{"from": future}, 422, "until"},
		{"window mode", "POST", "sites/shop.example.com/schedule", map[string]any{"from": future, "for": "1h", "mode": "x"}, 422, "mode"},
		{"window past", "POST", "sites/shop.example.com/schedule", map[string]any{"from": past, "for": "30m"}, 422, "for"},
		{"window id", "DELETE", "sites/shop.example.com/schedule/x", nil, 422, "id"},
		{"bypass ttl", "POST", "bypass", map[string]any{"ttl": "1s"}, 422, "ttl"},
		{"bypass site", "POST", "bypass", map[string]any{"site": "nope.example.com"}, 404, ""},
		{"bypass label", "POST", "bypass", map[string]any{"label": long}, 422, "label"},
		{"release", "PUT", "release", map[string]any{"release": "v 1"}, 422, "release"},
		{"events limit", "GET", "events?limit=0", nil, 422, "limit"},
		{"events before", "GET", "events?before=x", nil, 422, "before"},
		{"events site", "GET", "events?site=a_b", nil, 422, "site"},
		// What one store took and another failed on: bad input everywhere.
		{"NUL in message", "POST", "sites/shop.example.com/on", map[string]any{"message": "a\u0000b"}, 422, "message"},
		{"escape in reason", "POST", "sites/shop.example.com/on", map[string]any{"reason": "\u001b[2K\u001b[1G(nothing to see)"}, 422, "reason"},
		{"OSC in message", "POST", "sites/shop.example.com/on", map[string]any{"message": "\u001b]0;owned\u0007"}, 422, "message"},
		{"bidi in note", "POST", "sites/shop.example.com/ignore", map[string]any{"pattern": "/ok", "note": "\u202eevil"}, 422, "note"},
		{"window after 9999", "POST", "sites/shop.example.com/schedule", map[string]any{"from": "9999-12-31T23:00:00Z", "for": "2h"}, 422, "for"},
		{"until after 9999", "POST", "sites/shop.example.com/on", map[string]any{"from": "9999-12-31T23:00:00Z", "for": "2h"}, 422, "for"},
		{"events actor NUL", "GET", "events?actor=a%00b", nil, 422, ""},
		{"bad JSON", "POST", "sites/shop.example.com/on", `{"message":`, 400, ""},
		{"not an object", "POST", "sites/shop.example.com/on", `["message"]`, 400, ""},
		{"trailing data", "POST", "sites/shop.example.com/on", `{} {}`, 400, ""},
		{"too large", "POST", "sites/shop.example.com/on", `{"message":"` + strings.Repeat("x", 70<<10) + `"}`, 413, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, n := f.load(), len(f.events())
			r := f.api(tc.method, tc.path, tc.body)
			p := r.problem(t)
			if r.status != tc.status || p["status"] != float64(tc.status) {
				t.Errorf("%d %v, want %d", r.status, p, tc.status)
			}
			if got, _ := p["field"].(string); got != tc.field {
				t.Errorf("field %q, want %q; %v", got, tc.field, p)
			}
			if d, _ := p["detail"].(string); d == "" || p["type"] == "" || p["title"] == "" {
				t.Errorf("problem without detail, type or title: %v", p)
			}
			f.unchanged(before, n)
		})
	}
	t.Run("content type", func(t *testing.T) {
		r := f.api("POST", "sites/shop.example.com/on", `{}`, "Content-Type", "text/plain")
		if r.problem(t); r.status != http.StatusUnsupportedMediaType {
			t.Errorf("%d, want 415", r.status)
		}
	})
}

// TestAPIReadsChangeNothing sends every GET of the API.
func TestAPIReadsChangeNothing(t *testing.T) {
	f := newFixture(t, admin.Options{})
	before, n := f.load(), len(f.events())
	for route := range admin.APIRoutes() {
		method, path, _ := strings.Cut(route, " ")
		if method != "GET" {
			continue
		}
		path = strings.NewReplacer("{site}", testSite, "{id}", "1").Replace(strings.TrimPrefix(path, "/"))
		if r := f.api(method, path, nil); r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	f.unchanged(before, n)
}

func TestAPIRouting(t *testing.T) {
	f := newFixture(t, admin.Options{})
	r := f.api("PATCH", "sites/shop.example.com", nil)
	if p := r.problem(t); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD, DELETE" || p["status"] != float64(405) {
		t.Errorf("PATCH: %d Allow %q %v", r.status, r.header.Get("Allow"), p)
	}
	r = f.api("GET", "nothing/here", nil)
	if r.problem(t); r.status != http.StatusNotFound {
		t.Errorf("unknown path: %d", r.status)
	}
	r = f.api("HEAD", "sites", nil)
	if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("ETag") == "" {
		t.Errorf("HEAD: %d %q", r.status, r.body)
	}
}

// TestAPIMessages: the message in several languages, set, shown, replaced,
// removed, and refused when bad (422 naming the field, nothing changed).
func TestAPIMessages(t *testing.T) {
	f := newFixture(t, admin.Options{})
	r := f.api("POST", "sites/shop.example.com/on", map[string]any{
		"message": "Back at 14:00", "messages": map[string]string{"de": "Zurück um 14 Uhr", "pt-br": "De volta às 14h"},
	})
	var s struct {
		Message  string
		Messages map[string]string
	}
	r.json(t, &s)
	if r.status != http.StatusOK || s.Message != "Back at 14:00" || len(s.Messages) != 2 || s.Messages["pt-BR"] != "De volta às 14h" {
		t.Fatalf("on with messages: %d %s", r.status, r.body)
	}
	version := f.load().Version
	for _, bad := range []any{map[string]string{"deutsch": "x"}, map[string]string{"de": ""}, "de: x", []string{"x"}} {
		r = f.api("POST", "sites/shop.example.com/on", map[string]any{"messages": bad})
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"field":"messages"`) {
			t.Errorf("messages %v: %d %s, want 422 naming the field", bad, r.status, r.body)
		}
	}
	if v := f.load().Version; v != version {
		t.Errorf("bad messages changed the state: version %d, was %d", v, version)
	}
	// A window takes them too.
	r = f.api("POST", "sites/shop.example.com/schedule", map[string]any{"from": "2099-01-01T00:00:00Z", "for": "1h",
		"message": "DB upgrade", "messages": map[string]string{"fr": "Mise à jour"}})
	if r.status != http.StatusCreated && r.status != http.StatusOK || !strings.Contains(string(r.body), `"fr": "Mise à jour"`) && !strings.Contains(string(r.body), `"fr":"Mise à jour"`) {
		t.Errorf("window with messages: %d %s", r.status, r.body)
	}
	if r = f.api("POST", "sites/shop.example.com/schedule", map[string]any{"from": "2099-02-01T00:00:00Z", "for": "1h",
		"messages": map[string]string{"français": "x"}}); r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"field":"messages"`) {
		t.Errorf("window with a bad language: %d %s", r.status, r.body)
	}
	// null removes them.
	r = f.api("POST", "sites/shop.example.com/on", map[string]any{"messages": nil})
	s.Messages = nil
	r.json(t, &s)
	if s.Messages != nil || s.Message != "Back at 14:00" {
		t.Errorf("messages null: %s", r.body)
	}
}
