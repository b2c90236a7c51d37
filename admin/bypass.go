package admin

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

// linkView is a bypass link, never with its secret.
type linkView struct {
	ID        string    `json:"id"`
	Site      string    `json:"site"`
	Label     string    `json:"label"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	CreatedBy string    `json:"created_by"`
	// Uses counts the requests the link let through, as the gates report
	// them (a few seconds late).
	Uses int64 `json:"uses"`
}

func toLinkView(l *maintenance.BypassLink, uses int64) linkView {
	return linkView{ID: l.ID, Site: l.Site, Label: l.Label, Created: l.Created.UTC(), Expires: l.Expires.UTC(),
		CreatedBy: l.CreatedBy, Uses: uses}
}

// newLinkView is a bypass link just created, with its secret: the only time
// it is shown.
type newLinkView struct {
	linkView
	Secret string `json:"secret"`
	// Path is the link to open: maintenance.BypassPath + Secret.
	Path string `json:"path"`
}

type linkRow struct {
	L       maintenance.BypassLink
	Uses    int64
	Expired bool
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
	if err := checkLink(site, label, ttl); err != nil {
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
func checkLink(site, label string, ttl time.Duration) error {
	if site != "" {
		if _, err := maintenance.ParseSite(site); err != nil {
			return inField("site", err)
		}
	}
	if _, err := maintenance.ParseBypassTTL(ttl); err != nil {
		return inField("ttl", err)
	}
	return inField("label", maintenance.ValidateLabel(label))
}

func (a *Admin) apiCreateLink(c *call) error {
	in, err := readInput(c.w, c.r)
	if err != nil {
		return err
	}
	site := in.text("site")
	label := in.text("label")
	ttl := in.duration("ttl")
	reason := in.text("reason")
	if err := in.finish(); err != nil {
		return err
	}
	d := maintenance.DefaultBypassTTL
	if ttl != nil {
		d = *ttl
	}
	if err := checkLink(site, label, d); err != nil {
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
