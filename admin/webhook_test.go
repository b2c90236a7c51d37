package admin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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
