package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/gomaint/maintenance"
)

const logUsage = `Usage: maintenance log [--site HOST] [--limit N] [--json]

Shows the audit log, newest first: one event per site changed by each change
(on, off, sites add, ignore add...), and one for a change of the fleet's
target release ("maintenance release set"), with who made it, from where and
why.

Flags:
  --site HOST  only the events of this site (it need not be declared any more)
  --limit N    at most N events, N >= 1 (default 20)
  --json       print JSON instead of text

Output, one line per event:

  TIME                  SITE  ACTION  CHANGE                 ACTOR          SOURCE  REASON
  2026-11-21T13:00:00Z  *     on      off -> on (full)       alice@build-1  cli     deploy

  2026-11-21T13:05:00Z  (fleet)  release set  release v41 -> v42  alice@build-1  cli  deploy

TIME is in UTC; CHANGE sums up what the event changed on the site. The
SITE of a release event is "(fleet)"; --site leaves them out.
With --json: {"events": [{"id": 4, "version": 4, "time": "RFC 3339 time",
"actor": "alice@build-1", "source": "cli", "reason": "", "action": "on",
"site": "*", "before": SITE, "after": SITE}]}, where SITE is a site object as
in "maintenance status --json", null before a site was declared and after it
was removed. A release event has "site": "", null before and after, and
"release": {"before": "v41" or null, "after": "v42"}.
`

// runLog implements "maintenance log".
func runLog(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("log", logUsage)
	var site, limit string
	var asJSON bool
	fs.StringVar(&site, "site", "", "")
	fs.StringVar(&limit, "limit", "", "")
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("log", pos); err != nil {
		return err
	}
	f := maintenance.EventFilter{Limit: maintenance.DefaultEventLimit}
	if site != "" {
		if f.Site, err = siteFlag(site); err != nil {
			return err
		}
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 {
			return usageErrorf("--limit %q: accepted: a whole number of events, at least 1", limit)
		}
		f.Limit = n
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		events, err := st.Events(ctx, f)
		if err != nil {
			return fmt.Errorf("reading the audit log: %w", err)
		}
		if asJSON {
			out := struct {
				Events []eventJSON `json:"events"`
			}{Events: []eventJSON{}}
			for i := range events {
				out.Events = append(out.Events, toEventJSON(&events[i]))
			}
			return writeJSON(e.stdout, out)
		}
		if len(events) == 0 {
			fmt.Fprintln(e.stdout, "no events")
			return nil
		}
		t := newTable(e.stdout, "TIME", "SITE", "ACTION", "CHANGE", "ACTOR", "SOURCE", "REASON")
		for i := range events {
			ev := &events[i]
			site := ev.Site
			if isReleaseEvent(ev) {
				site = "(fleet)"
			}
			t.row(ev.Time.UTC().Format(timeLayout), site, ev.Action, summarize(ev), ev.Actor, ev.Source, ev.Reason)
		}
		return t.flush()
	})
}
