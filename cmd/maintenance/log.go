package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gomaint/maintenance"
)

const logUsage = `Usage: maintenance log [--site HOST] [--actor NAME] [--action NAME]
                       [--before ID] [--limit N] [--json]

Shows the audit log, newest first: one event per site changed by each change
(on, off, sites add, ignore add...), one for a change of the fleet's target
release ("maintenance release set"), and one per admin user, API token and
bypass link added, changed or removed, with who made it, from where and why.

Flags:
  --site HOST    only the events of this site (it need not be declared any
                 more)
  --actor NAME   only the events of this actor, as shown in ACTOR (like
                 alice@build-1)
  --action NAME  only the events of this action, as shown in ACTION (like
                 on, "ignore add" or "token create")
  --before ID    only the events older than the event ID (see --json), to
                 page back: pass the ID of the last event shown
  --limit N      at most N events, N >= 1 (default 20)
  --json         print JSON instead of text

Output, one line per event:

  TIME                  SITE  ACTION  CHANGE                 ACTOR          SOURCE  REASON
  2026-11-21T13:00:00Z  *     on      off -> on (full)       alice@build-1  cli     deploy

  2026-11-21T13:05:00Z  (fleet)  release set  release v41 -> v42  alice@build-1  cli  deploy
  2026-11-21T13:06:00Z  -        user add     user bob            alice@build-1  cli  -

TIME is in UTC; CHANGE sums up what the event changed on the site, or names
the user, token or bypass link it is about. The SITE of a release event is
"(fleet)", of a user or token event "-", of a bypass link event the link's
site; --site leaves out the events of no site.
With --json: {"events": [{"id": 4, "version": 4, "time": "RFC 3339 time",
"actor": "alice@build-1", "source": "cli", "reason": "", "action": "on",
"site": "*", "before": SITE, "after": SITE}]}, where SITE is a site object as
in "maintenance status --json", null before a site was declared and after it
was removed. A release event has "site": "", null before and after, and
"release": {"before": "v41" or null, "after": "v42"}. An event about a user,
token or bypass link has "target": "user bob", "token 3f9c2a1b" or
"bypass 8d1e0f2c", null before and after; its "site" is "" except for a
bypass link. Secrets and hashes are never in the log.
`

// runLog implements "maintenance log".
func runLog(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("log", logUsage)
	var site, limit, before string
	var actor, action optString
	var asJSON bool
	fs.StringVar(&site, "site", "", "")
	fs.Var(&actor, "actor", "")
	fs.Var(&action, "action", "")
	fs.StringVar(&before, "before", "", "")
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
	if before != "" {
		n, err := strconv.ParseInt(before, 10, 64)
		if err != nil || n < 1 {
			return usageErrorf("--before %q: accepted: the ID of an event (a whole number, at least 1), as in log --json", before)
		}
		f.Before = n
	}
	if f.Actor, err = nameFlag("actor", actor, "an actor as shown in ACTOR, like alice@build-1"); err != nil {
		return err
	}
	if f.Action, err = nameFlag("action", action, "an action as shown in ACTION, like on, off, \"sites add\" or \"user add\""); err != nil {
		return err
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
			if f.Action != "" && !slices.Contains(cliActions, f.Action) {
				fmt.Fprintf(e.stderr, "maintenance: note: the CLI records no action %q; its actions are: %s\n", f.Action, strings.Join(cliActions, ", "))
			}
			return nil
		}
		t := newTable(e.stdout, "TIME", "SITE", "ACTION", "CHANGE", "ACTOR", "SOURCE", "REASON")
		for i := range events {
			ev := &events[i]
			site := ev.Site
			if ev.IsRelease() {
				site = "(fleet)"
			}
			t.row(ev.Time.UTC().Format(timeLayout), site, ev.Action, ev.Summary(), ev.Actor, ev.Source, ev.Reason)
		}
		return t.flush()
	})
}

// cliActions are the actions of the changes the CLI makes, for the note
// that an --action matched nothing ("restore" is "run"'s). Other programs
// may record others.
var cliActions = []string{
	"on", "off", "restore", "sites add", "sites rm", "sites set", "ignore add", "ignore rm",
	"allow add", "allow rm", "schedule add", "schedule rm", "release set",
	"user add", "user passwd", "user rm", "token create", "token revoke",
	"bypass create", "bypass revoke",
}

// maxNameFlag is the longest value --actor and --action accept.
const maxNameFlag = 256

// nameFlag checks the value of --actor or --action: when given, 1 to 256
// printable characters. accepted says what the flag expects.
func nameFlag(flag string, v optString, accepted string) (string, error) {
	if !v.set {
		return "", nil
	}
	if v.value == "" || len(v.value) > maxNameFlag || strings.ContainsFunc(v.value, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "", usageErrorf("--%s %q: accepted: %s (1 to %d printable characters)", flag, v.value, accepted, maxNameFlag)
	}
	return v.value, nil
}
