package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gomaint/maintenance"
)

const statusUsage = `Usage: maintenance status [--site HOST]... [--json]

Shows the state and rules of the sites named with --site, or of every
declared site. It exits with code 0 whether the sites are on or off (and 2
for a site that is not declared): read the state from the output, e.g. with
--json and jq '.sites[] | select(.on)'.

Flags:
  --site HOST  a declared site; repeatable
  --json       print JSON instead of text

Output: "store: URL (HOW)", the store read (password redacted, the
absolute path of a SQLite or file store) and how it was chosen: --store,
MAINTENANCE_STORE, "config file PATH" or default; then a line that says how
many running gates (see "maintenance gates")
serve the store's current version, "gates: 12/12 at version 42", or
"gates: none running"; then "release: v42", the fleet's target release
(see "maintenance release"), when one is set; then a "warning: ..." line
for each gate that cannot reach the store, for each webhook marked failed
(see "maintenance webhook ls"), and for a store that is behind a
gate (it lost changes: restarted without persistence, or restored from a
backup), and for each invalid value the store holds (a hand-edited file:
"site shop.example.com: mode "bogus": accepted: ..."); then, for each site, separated by blank lines:

  shop.example.com: on (read-only)
    message      Back at 14:00
    reason       database migration
    status       503
    retry-after  5m0s
    redirect     -
    error status 500
    since        2026-11-21T13:00:00Z by alice@build-1
    ignore       /health            load balancer
                 POST /webhooks/*
    allow        10.0.0.0/8
    version      7

A site that is off shows only since, ignore, allow and version; "error
status", the status of the page that replaces server errors (see "maintenance
sites set"), is shown, on or off, when it is not the default. During a
window planned with "maintenance schedule add", a site that is not switched
on reads "on (MODE, scheduled window ID)" and shows the window's message,
reason, from and until. "next" announces the next maintenance to start, a
scheduled window or the start of "on --from", when there is one:

    next         2026-11-21T22:00:00Z - 23:00:00Z: DB upgrade

"since" is when the site was last switched on or off (or declared); times
are followed by the local time in parentheses when the local zone is not
UTC; "-" means none.

With --json, one object (stable: fields may be added, never changed):

  {"store": {"url": "sqlite:/srv/app/maintenance.db", "chosen_by": "default"},
   "sites": [{"site": "shop.example.com", "on": true, "mode": "read-only",
    "message": "...", "reason": "...", "since": "RFC 3339 time" or null,
    "until": null, "retry_after": SECONDS (0: none), "status": 503,
    "error_status": 503, "redirect": "", "switched_on": true,
    "changed_by": "alice@build-1",
    "ignore": [{"pattern": "/health", "note": "..."}],
    "allow": [{"entry": "10.0.0.0/8", "note": ""}],
    "schedule": [{"id": 3, "from": "RFC 3339 time", "until": "RFC 3339 time",
      "mode": "full", "message": "...", "reason": "", "active": false}],
    "next": {"from": "RFC 3339 time", "until": "RFC 3339 time" or null,
      "message": "..."} or null,
    "version": 7}],
   "gates": {"total": 12, "current": 12, "version": 42},
   "release": "v42" or null, "webhooks": {"total": 2, "failed": 0}}

("webhooks" is there only when there are some.)

"mode" is "" when the site is off; "status" and "error_status" are the
effective status codes. During a scheduled window, "on" is true and "mode",
"message", "reason", "from" and "until" are the window's, "status" is the
default and "retry_after" and "redirect" are none. "switched_on" is true
while the site is switched on, also before its window starts; "changed_by"
is who last switched it. "schedule" lists
the planned windows as "maintenance schedule ls --json" does; "next" is the
next maintenance to start. "release" is the fleet's target release.
In "gates", "total" counts the running gates, "current" those that serve
"version", the store's current state version; "warnings", present only when
there are some, lists the warning lines.
`

// webhooksSummaryJSON is "webhooks" in status --json.
type webhooksSummaryJSON struct {
	Total  int `json:"total"`
	Failed int `json:"failed"`
}

// runStatus implements "maintenance status".
func runStatus(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("status", statusUsage)
	var sites stringsFlag
	var asJSON bool
	fs.Var(&sites, "site", "")
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("status", pos); err != nil {
		return err
	}
	names, err := parseSiteFlags(sites)
	if err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		// The gates first: versions only grow, so a gate is behind the
		// state read next, or at it, never ahead.
		gates, err := st.Gates(ctx)
		if err != nil {
			return fmt.Errorf("listing the gates: %w", err)
		}
		state, err := st.Load(ctx)
		if err != nil {
			return fmt.Errorf("reading the state: %w", err)
		}
		selected, err := selectSites(state, names)
		if err != nil {
			return err
		}
		summary := summarizeGates(gates, state.Version)
		for _, p := range state.Problems() {
			summary.Warnings = append(summary.Warnings, "invalid value in the store (gates serve the site's last valid state): "+p.String())
		}
		hooks := webhooksSummaryJSON{Total: len(state.Webhooks)}
		if len(state.Webhooks) > 0 {
			cs, err := st.Cursors(ctx)
			if err != nil {
				return fmt.Errorf("reading the delivery cursors: %w", err)
			}
			for _, w := range state.Webhooks {
				if c := cs[w.ID]; c.Failed {
					hooks.Failed++
					summary.Warnings = append(summary.Warnings, fmt.Sprintf("webhook %s failed: an event undelivered since %s (%s); see: maintenance webhook ls", w.ID, utcTime(c.FailingSince), c.LastError))
				}
			}
		}
		if asJSON {
			out := struct {
				Store    storeJSON               `json:"store"`
				Sites    []*maintenance.SiteView `json:"sites"`
				Gates    gatesSummaryJSON        `json:"gates"`
				Release  *string                 `json:"release"`
				Webhooks *webhooksSummaryJSON    `json:"webhooks,omitempty"`
			}{Sites: []*maintenance.SiteView{}, Gates: summary, Release: nullable(state.Release), Store: storeJSON{e.storeName(), e.storeFrom}}
			if hooks.Total > 0 {
				out.Webhooks = &hooks
			}
			for _, s := range selected {
				out.Sites = append(out.Sites, (s).View(time.Now()))
			}
			return writeJSON(e.stdout, out)
		}
		fmt.Fprintf(e.stdout, "store: %s (%s)\n", e.storeName(), e.storeFrom)
		fmt.Fprintln(e.stdout, summary.line())
		if state.Release != "" {
			fmt.Fprintln(e.stdout, "release: "+state.Release)
		}
		for _, w := range summary.Warnings {
			fmt.Fprintln(e.stdout, "warning: "+w)
		}
		for i, s := range selected {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			writeSite(e.stdout, e.colour(), s, "")
		}
		return nil
	})
}

// storeJSON says which store status read, and how it was chosen.
type storeJSON struct {
	// URL is the store's URL, password redacted, with the absolute path of
	// a SQLite or file store.
	URL string `json:"url"`
	// ChosenBy is "--store", "MAINTENANCE_STORE", "config file PATH" or
	// "default".
	ChosenBy string `json:"chosen_by"`
}

// selectSites returns the named sites of state, or all of them when names
// is empty. A name that is not declared is an ErrNotFound.
func selectSites(state *maintenance.State, names []string) ([]*maintenance.SiteState, error) {
	var out []*maintenance.SiteState
	if len(names) == 0 {
		for i := range state.Sites {
			out = append(out, &state.Sites[i])
		}
		return out, nil
	}
	for _, n := range names {
		s := state.Site(n)
		if s == nil {
			return nil, notFoundf("site %q is not declared; see the declared sites with: maintenance sites ls", n)
		}
		out = append(out, s)
	}
	return out, nil
}
