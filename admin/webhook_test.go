package admin_test

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/admin"
)

func TestAPIWebhooks(t *testing.T) {
	f := newFixture(t, admin.Options{})
	var got atomic.Int32
	var sig atomic.Value
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		sig.Store(r.Header.Get("Maintenance-Signature"))
		got.Add(1)
	}))
	defer rcv.Close()

	r := f.api("POST", "webhooks", map[string]any{"url": rcv.URL + "/hook", "events": []string{"off", "on"},
		"sites": []string{"shop.example.com"}, "remind": []string{"10m", "1h"}, "max_duration": "4h", "reason": "ops channel"})
	if r.status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	var w struct {
		ID, URL, Format, Secret string
		MaxDuration             string `json:"max_duration"`
		Remind                  []string
		Delivery                struct{ State string }
	}
	r.json(t, &w)
	if w.ID == "" || !strings.HasPrefix(w.Secret, "whsec_") || w.Format != "json" || w.Delivery.State != "new" || strings.Join(w.Remind, ",") != "1h,10m" || w.MaxDuration != "4h" {
		t.Errorf("new webhook %s", r.body)
	}
	st := f.load()
	if len(st.Webhooks) != 1 || strings.Contains(jsonString(st), w.Secret) {
		t.Fatalf("stored webhooks %+v: want one, its secret sealed", st.Webhooks)
	}
	if s, err := maintenance.OpenSecret(f.key(t), w.ID, st.Webhooks[0].Secret); err != nil || s != w.Secret {
		t.Errorf("the stored secret does not open to the one answered: %v", err)
	}
	r = f.api("GET", "webhooks", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"id": "`+w.ID+`"`) || strings.Contains(string(r.body), w.Secret) || strings.Contains(string(r.body), "v1:") {
		t.Errorf("list: %d %s; want the webhook, never its secret", r.status, r.body)
	}
	r = f.api("POST", "webhooks/"+w.ID+"/test", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"delivered": true`) || got.Load() != 1 {
		t.Errorf("test: %d %s, %d received", r.status, r.body, got.Load())
	}
	// Bad input: 422 naming the field; nothing changes.
	before, n := f.load(), len(f.events())
	for _, tc := range []struct {
		field string
		body  map[string]any
	}{
		{"url", map[string]any{"url": "ftp://example.com/"}},
		{"url", map[string]any{"url": "http://user:pw@example.com/"}},
		{"url", map[string]any{"url": "http://[fe80::1]/"}},
		{"url", map[string]any{"url": "http://example.com/\x00"}},
		{"events", map[string]any{"url": "https://example.com/", "events": []string{"nope"}}},
		{"format", map[string]any{"url": "https://example.com/", "format": "xml"}},
		{"remind", map[string]any{"url": "https://example.com/", "remind": []string{"5s"}}},
		{"max_duration", map[string]any{"url": "https://example.com/", "max_duration": "5s"}},
		{"secret", map[string]any{"url": "https://example.com/", "secret": "short"}},
		{"sites", map[string]any{"url": "https://example.com/", "sites": []string{"bad host!"}}},
		{"bogus", map[string]any{"url": "https://example.com/", "bogus": 1}},
	} {
		r := f.api("POST", "webhooks", tc.body)
		if r.status != http.StatusUnprocessableEntity || r.problem(t)["field"] != tc.field {
			t.Errorf("%v: %d %s; want 422 in field %s", tc.body, r.status, r.body, tc.field)
		}
		if strings.Contains(string(r.body), "short") && tc.field == "secret" {
			t.Errorf("the problem quotes the secret: %s", r.body)
		}
	}
	f.unchanged(before, n)
	if r = f.api("DELETE", "webhooks/"+w.ID, nil); r.status != http.StatusNoContent {
		t.Errorf("rm: %d %s", r.status, r.body)
	}
	if r = f.api("DELETE", "webhooks/"+w.ID, nil); r.status != http.StatusNotFound {
		t.Errorf("rm again: %d %s", r.status, r.body)
	}
	if r = f.api("POST", "webhooks/"+w.ID+"/test", nil); r.status != http.StatusNotFound {
		t.Errorf("test of a removed webhook: %d %s", r.status, r.body)
	}
	if r = f.api("GET", "webhooks/"+w.ID+"/test", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET test: %d; want 405: nothing is sent over GET", r.status)
	}
}

func (f *fixture) key(t *testing.T) []byte {
	t.Helper()
	k, err := f.store.Key(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPageWebhooks(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	if p := b.get(admin.PagePrefix + "webhooks"); p.status != http.StatusOK || !strings.Contains(p.body, `id="no-webhooks"`) {
		t.Fatalf("empty page: %d\n%s", p.status, p.body)
	}
	w := maintenance.Webhook{ID: "0a1b2c3d", URL: "https://hooks.slack.com/services/T000/B000/SECRETPATH", Format: "slack"}
	var err error
	if w.Secret, err = maintenance.SealSecret(f.key(t), w.ID, "whsec_page_test_secret"); err != nil {
		t.Fatal(err)
	}
	f.update(maintenance.AddWebhook(w))
	now := time.Now()
	if ok, err := f.store.TakeLease(t.Context(), maintenance.WebhookLease, "test", now, now.Add(time.Minute)); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := f.store.SetCursor(t.Context(), maintenance.WebhookLease, "test", w.ID, maintenance.Cursor{Pending: "evt_3", Attempts: 30,
		FailingSince: now.Add(-25 * time.Hour), Failed: true, LastError: "hooks.slack.com answered 500 Internal Server Error"}); err != nil {
		t.Fatal(err)
	}
	p := b.get(admin.PagePrefix + "webhooks")
	if p.status != http.StatusOK || !strings.Contains(p.body, "<strong class=\"danger\">Failed</strong>: 30 attempts") ||
		!strings.Contains(p.body, "https://hooks.slack.com") || strings.Contains(p.body, "SECRETPATH") || strings.Contains(p.body, "v1:") {
		t.Errorf("page: %d; want the failed webhook, its host only, never its secret:\n%s", p.status, p.body)
	}
	// Removing it is a change: audited.
	p = b.post(admin.PagePrefix+"webhooks/"+w.ID+"/remove", url.Values{"version": {f.version()}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "Webhook removed.") || len(f.load().Webhooks) != 0 {
		t.Errorf("remove: %d\n%s", p.status, p.body)
	}
	if e := f.events()[0]; e.Action != "webhook rm" || e.Target != "webhook "+w.ID {
		t.Errorf("last event %+v, want webhook rm", e)
	}
}

var newSecretRE = regexp.MustCompile(`id="new-secret" class="mono grow" readonly value="([^"]+)"`)

func TestPageWebhookAdd(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	p := b.get(admin.PagePrefix + "webhooks")
	p.has(t, `id="webhook-add"`, `name="url"`, `name="events"`, `name="sites"`, `name="format"`, `name="remind"`, `name="max_duration"`)
	p.lacks(t, `id="new-secret"`)

	// Bad input: 422, the error beside the field named, the input kept,
	// nothing stored.
	good := url.Values{"url": {"https://hooks.example.com/maintenance?key=SECRETQUERY"}, "events": {"on, off"},
		"sites": {testSite}, "format": {"slack"}, "remind": {"1h,10m"}, "max_duration": {"4h"}, "reason": {"ops channel"}}
	for _, tc := range []struct{ field, value, want string }{
		{"url", "ftp://example.com/", "the scheme is not http or https"},
		{"url", "http://user:pw@example.com/", "user info"},
		{"url", "http://[fe80::1]/", "link-local"},
		{"url", "", "webhook URL &#34;&#34;"},
		{"events", "on,nope", "event type &#34;nope&#34;"},
		{"sites", "bad_host!", "bad_host!"},
		{"sites", "other.example.com", "site &#34;other.example.com&#34; is not declared"},
		{"format", "xml", "webhook format &#34;xml&#34;"},
		{"remind", "5s", "reminder 5s"},
		{"remind", "soon", "reminder &#34;soon&#34;"},
		{"max_duration", "30s", "max_duration 30s"},
		{"max_duration", "forever", "is not a duration"},
		{"reason", "a\x00b", "reason"},
	} {
		t.Run(tc.field+" "+tc.value, func(t *testing.T) {
			before, n := f.load(), len(f.events())
			bad := url.Values{}
			for k, v := range good {
				bad[k] = v
			}
			bad.Set("version", f.version())
			bad.Set(tc.field, tc.value)
			p := b.post(admin.PagePrefix+"webhooks", bad)
			if p.status != http.StatusUnprocessableEntity {
				t.Errorf("%d, want 422\n%s", p.status, p.body)
			}
			kept := `value="` + html.EscapeString(good.Get("url")) + `"`
			if tc.field == "url" {
				kept = `value="ops channel"`
			}
			p.has(t, "Nothing was saved", tc.want, kept)
			p.lacks(t, `id="new-secret"`)
			if tc.field != "format" && tc.field != "reason" {
				p.has(t, `name="`+tc.field+`"`, `value="`+html.EscapeString(tc.value)+`" aria-invalid="true"`)
			}
			f.unchanged(before, n)
		})
	}

	// A form filled from an older state is refused; a cross-origin post too.
	before, n := f.load(), len(f.events())
	stale := f.version()
	f.update(maintenance.AddIgnore("", "/other", "someone else"))
	form := url.Values{}
	for k, v := range good {
		form[k] = v
	}
	form.Set("version", stale)
	if p := b.post(admin.PagePrefix+"webhooks", form); p.status != http.StatusPreconditionFailed || !strings.Contains(p.body, "changed by someone else meanwhile") {
		t.Errorf("stale form: %d, want 412", p.status)
	}
	b.header = http.Header{"Origin": {"https://evil.example"}}
	if p := b.post(admin.PagePrefix+"webhooks", good); p.status != http.StatusForbidden {
		t.Errorf("cross-origin: %d, want 403", p.status)
	}
	b.header = nil
	if st := f.load(); len(st.Webhooks) != len(before.Webhooks) || len(f.events()) != n+1 {
		t.Errorf("webhooks %+v after refused forms", st.Webhooks)
	}
	if p := b.get(admin.PagePrefix + "webhooks?url=x"); len(f.load().Webhooks) != 0 || strings.Contains(p.body, `id="new-secret"`) {
		t.Error("a GET added a webhook")
	}

	// Added: 201, the secret shown once, stored sealed, audited.
	form.Set("version", f.version())
	p = b.post(admin.PagePrefix+"webhooks", form)
	if p.status != http.StatusCreated {
		t.Fatalf("add: %d\n%s", p.status, p.body)
	}
	m := newSecretRE.FindStringSubmatch(p.body)
	if m == nil || !strings.HasPrefix(m[1], "whsec_") {
		t.Fatalf("no signing secret on the page:\n%s", p.body)
	}
	secret := m[1]
	st := f.load()
	if len(st.Webhooks) != 1 {
		t.Fatalf("webhooks %+v", st.Webhooks)
	}
	w := st.Webhooks[0]
	if w.URL != good.Get("url") || strings.Join(w.Events, ",") != "off,on" || strings.Join(w.Sites, ",") != testSite || w.Format != "slack" ||
		len(w.Remind) != 2 || w.Remind[0] != time.Hour || w.Remind[1] != 10*time.Minute || w.MaxDuration != 4*time.Hour {
		t.Errorf("stored webhook %+v", w)
	}
	if strings.Contains(jsonString(st), secret) {
		t.Error("the secret is stored in clear")
	}
	if s, err := maintenance.OpenSecret(f.key(t), w.ID, w.Secret); err != nil || s != secret {
		t.Errorf("the stored secret does not open to the one shown: %v", err)
	}
	p.has(t, `id="webhook-`+w.ID+`"`, "New webhook "+w.ID, `data-copy="new-secret"`, "https://hooks.example.com")
	p.lacks(t, "SECRETQUERY")
	if e := f.events()[0]; e.Action != "webhook add" || e.Actor != testUser || e.Reason != "ops channel" || strings.Contains(jsonString(e), secret) {
		t.Errorf("last event %+v, want webhook add by %s, without the secret", e, testUser)
	}
	// Shown once: never again.
	p = b.get(admin.PagePrefix + "webhooks")
	p.has(t, `id="webhook-`+w.ID+`"`)
	p.lacks(t, secret, `id="new-secret"`)
	// The defaults: every event, every site, json, no reminders.
	p = b.post(admin.PagePrefix+"webhooks", url.Values{"url": {"http://127.0.0.1:9/hook"}, "version": {f.version()}})
	if p.status != http.StatusCreated || len(f.load().Webhooks) != 2 {
		t.Fatalf("add with defaults: %d", p.status)
	}
	if w := f.load().Webhooks[1]; w.Events != nil || w.Sites != nil || w.Format != "json" || w.Remind != nil || w.MaxDuration != 0 {
		t.Errorf("defaults %+v", w)
	}
}
