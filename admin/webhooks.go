package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/gomaint/maintenance"
)

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
	rawURL := in.text("url")
	events := in.strings("events")
	sites := in.strings("sites")
	format := in.text("format")
	remind := in.strings("remind")
	maxDur := in.duration("max_duration")
	secret := in.text("secret")
	reason := in.text("reason")
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
