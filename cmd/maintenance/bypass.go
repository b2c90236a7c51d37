package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

const bypassUsage = `Usage: maintenance bypass ls [--json]
       maintenance bypass create [--site HOST] [--ttl DUR] [--label TEXT]
                                 [--base-url URL] [--json]
       maintenance bypass revoke ID

Manages bypass links: secret links that let one person through a site in
maintenance, like a tester checking the site before it opens again.
Visiting the link on the site sets a signed cookie that lasts until the
link expires, and redirects to /; API clients send the secret in the
X-Maintenance-Bypass header instead. Only the secret's SHA-256 is kept, so
the link is printed once, by create, and never again.

  ls      list the links that have not expired, oldest first
  create  create a link and print it on standard output, alone on its
          line (a note on standard error gives its ID and expiry): the
          full link, https://HOST/_maintenance/bypass/SECRET, for a site
          that is a plain host, or --base-url followed by the path; else
          (site * or a wildcard, no --base-url) the path alone,
          /_maintenance/bypass/SECRET, and a note on standard error saying
          so. SECRET is 43 characters, base64url
  revoke  delete the link ID (see ls): its cookies and header stop working
          on every gate within a moment

Flags of create:
  --site HOST   the declared site the link opens (default *, which opens
                every site)
  --ttl DUR     how long the link and its cookies last: 1m to 2160h (90
                days); default 12h
  --label TEXT  who or what the link is for, like "QA team"
  --base-url URL
                where the site is reached, http:// or https:// and a
                host, like https://shop.example.com:8443 or
                http://127.0.0.1:8080; a path in it is kept, before the
                link's path
  --json        print {"link", "path", "id", "site", "label", "expires",
                "version", "gates"} instead: gates is the fleet's gates
                object as in "maintenance on --json"

Flags of ls:
  --json        print JSON instead of text

Output of ls, one line per link:

  ID        SITE              LABEL    CREATED               EXPIRES               CREATED BY    USES
  8d1e0f2c  shop.example.com  QA team  2026-11-21T13:00:00Z  2026-11-22T01:00:00Z  root@build-1  3

or "no bypass links". USES counts the requests that got through with the
link, as the gates last wrote it (every 10 seconds, and when they stop).
With --json (stable: fields may be added, never changed):

  {"links": [{"id": "8d1e0f2c", "site": "shop.example.com",
    "label": "QA team", "created": "2026-11-21T13:00:00Z",
    "expires": "2026-11-22T01:00:00Z", "created_by": "root@build-1",
    "uses": 3}]}

Output of revoke: "bypass link 8d1e0f2c revoked". An unknown ID: exit 2.

With --json, revoke prints {"revoked": ID, "had_expired", "version",
"gates", "elapsed_ms"}; gates and elapsed_ms are as in "maintenance on
--json" (null and 0 with --wait 0).
`

// runBypass implements "maintenance bypass".
func runBypass(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "bypass", bypassUsage, args, map[string]func(context.Context, *env, []string) error{
		"ls":     runBypassLs,
		"create": runBypassCreate,
		"revoke": runBypassRevoke,
	})
}

// bypassJSON is a bypass link in "bypass ls --json": never its hash.
type bypassJSON struct {
	ID        string    `json:"id"`
	Site      string    `json:"site"`
	Label     string    `json:"label"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	CreatedBy string    `json:"created_by"`
	// Uses is the number of requests the link let through, as the gates
	// last wrote it to the store.
	Uses int64 `json:"uses"`
}

func runBypassLs(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("bypass ls", bypassUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("bypass ls", pos); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		state, err := st.Load(ctx)
		if err != nil {
			return fmt.Errorf("reading the state: %w", err)
		}
		// Links that have expired stay in the state until its next change,
		// but no longer let anyone through.
		now := time.Now()
		links := slices.DeleteFunc(state.Links, func(l maintenance.BypassLink) bool { return !l.Expires.After(now) })
		uses, err := st.Uses(ctx)
		if err != nil {
			return fmt.Errorf("reading the use counts of bypass links: %w", err)
		}
		if asJSON {
			out := struct {
				Links []bypassJSON `json:"links"`
			}{Links: []bypassJSON{}}
			for _, l := range links {
				out.Links = append(out.Links, bypassJSON{
					ID: l.ID, Site: l.Site, Label: l.Label, Created: l.Created.UTC(), Expires: l.Expires.UTC(),
					CreatedBy: l.CreatedBy, Uses: uses[l.ID],
				})
			}
			return writeJSON(e.stdout, out)
		}
		if len(links) == 0 {
			fmt.Fprintln(e.stdout, "no bypass links")
			return nil
		}
		t := newTable(e.stdout, "ID", "SITE", "LABEL", "CREATED", "EXPIRES", "CREATED BY", "USES")
		for _, l := range links {
			t.row(l.ID, l.Site, l.Label, utcTime(l.Created), utcTime(l.Expires), l.CreatedBy, strconv.FormatInt(uses[l.ID], 10))
		}
		return t.flush()
	})
}

// ttlAccepted says which values --ttl accepts.
const ttlAccepted = "accepted: a duration from 1m to 2160h (90 days), like 30m or 12h"

func runBypassCreate(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("bypass create", bypassUsage)
	var site, label string
	var ttlFlag optString
	fs.StringVar(&site, "site", "", "")
	fs.StringVar(&label, "label", "", "")
	fs.Var(&ttlFlag, "ttl", "")
	var baseURL string
	var asJSON bool
	fs.StringVar(&baseURL, "base-url", "", "")
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("bypass create", pos); err != nil {
		return err
	}
	name, err := siteFlag(site)
	if err != nil {
		return err
	}
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return err
	}
	ttl := maintenance.DefaultBypassTTL
	if ttlFlag.set {
		d, err := time.ParseDuration(ttlFlag.value)
		if err == nil {
			d, err = maintenance.ParseBypassTTL(d)
		}
		if err != nil {
			return usageErrorf("--ttl %q: %s", ttlFlag.value, ttlAccepted)
		}
		ttl = d
	}
	secret, id := maintenance.NewSecret()
	c := maintenance.CreateBypass(maintenance.BypassLink{ID: id, Site: name, Label: label, Hash: maintenance.HashSecret(secret)}, ttl)
	// An undeclared site is the store's to report.
	if err := maintenance.ValidateLabel(label); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		_, after, err := e.change(ctx, st, c, "")
		if err != nil {
			return err
		}
		i := slices.IndexFunc(after.Links, func(l maintenance.BypassLink) bool { return l.ID == id })
		if i < 0 {
			return fmt.Errorf("bypass create: the new link %s is missing from the state after the change", id)
		}
		l := after.Links[i]
		path := maintenance.BypassPath + secret
		link := bypassLink(base, l.Site, path)
		if asJSON {
			out := struct {
				Link    string    `json:"link"`
				Path    string    `json:"path"`
				ID      string    `json:"id"`
				Site    string    `json:"site"`
				Label   string    `json:"label"`
				Expires time.Time `json:"expires"`
				outcomeJSON
			}{Link: link, Path: path, ID: id, Site: l.Site, Label: l.Label, Expires: l.Expires.UTC(), outcomeJSON: e.outcome(after.Version)}
			return writeJSON(e.stdout, out)
		}
		e.fleet.toStderr = true // stdout is the link alone
		fmt.Fprintln(e.stdout, link)
		if link == path {
			fmt.Fprintf(e.stderr, "maintenance: site %s has no single address: this is the link's path; open it on the site's address, or pass --base-url URL for the full link\n", l.Site)
		}
		fmt.Fprintf(e.stderr, "maintenance: bypass link %s for %s created, valid until %s; it is shown only this once (only its hash is kept). Open it on the site, or send its last part in the %s header. Revoke it with: maintenance bypass revoke %s\n",
			id, l.Site, utcTime(l.Expires), maintenance.BypassHeader, id)
		return nil
	})
}

func runBypassRevoke(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("bypass revoke", bypassUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("bypass revoke takes one ID, got %d arguments; run 'maintenance help bypass' for usage", len(pos))
	}
	id, err := parseSecretID("bypass", pos[0])
	if err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		before, after, err := e.change(ctx, st, maintenance.RevokeBypass(id), "")
		if err != nil {
			return err
		}
		if asJSON {
			i := slices.IndexFunc(before.Links, func(l maintenance.BypassLink) bool { return l.ID == id })
			return e.writeOutcome(after.Version, map[string]any{"revoked": id, "had_expired": i >= 0 && !before.Links[i].Expires.After(time.Now())})
		}
		if i := slices.IndexFunc(before.Links, func(l maintenance.BypassLink) bool { return l.ID == id }); i >= 0 && !before.Links[i].Expires.After(time.Now()) {
			fmt.Fprintf(e.stdout, "bypass link %s had expired already\n", id)
			return nil
		}
		fmt.Fprintf(e.stdout, "bypass link %s revoked\n", id)
		return nil
	})
}

// parseBaseURL checks --base-url of bypass create: http or https, a host, no
// user, query or fragment. It returns the URL without a trailing slash, or
// "" for "".
func parseBaseURL(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(v, " \t\r\n") {
		return "", usageErrorf("--base-url %q: accepted: http:// or https://, a host and an optional port and path, like https://shop.example.com", v)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// bypassLink returns the link to print: base and path when base is set,
// https://SITE and path for a site that is a plain host, else the path.
func bypassLink(base, site, path string) string {
	switch {
	case base != "":
		return base + path
	case site != maintenance.DefaultSite && !strings.HasPrefix(site, "*."):
		return "https://" + site + path
	}
	return path
}
