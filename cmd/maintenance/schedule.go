package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gomaint/maintenance"
)

const scheduleUsage = `Usage: maintenance schedule ls [--site HOST] [--json]
       maintenance schedule add [--site HOST] --from TIME (--for DUR | --until TIME)
                                [--message [LANG=]TEXT]... [--mode full|read-only|errors|hold]
                                [--reason TEXT] [--json]
       maintenance schedule rm [--site HOST] [--json] ID

Lists, plans and removes maintenance windows ahead of time: several per site,
each half-open, [from, until). During a window a site that is off is in
maintenance with the window's message and mode, on every gate, by itself;
before it, "maintenance status" and /_maintenance/status announce the next
one. Windows are kept when the site is switched on and off; a site that is
switched on follows its own settings. Windows that have ended are dropped by
the site's next change.

  ls      list the windows of --site, or of every site when none is given
  add     plan a window; it gets the next free ID of its site
  rm      remove the window ID (see ls) of --site

Flags:
  --site HOST     a declared site (default *)
  --from TIME     start of the window (add; required): RFC 3339, like
                  2026-11-21T22:00:00Z or 2026-11-21T23:00:00+01:00
  --for DUR       end DUR after --from, like 1h or 2h30m (add)
  --until TIME    end at TIME (add); one of --for and --until is required.
                  An end in the past, an end before the start and a window
                  that overlaps another of the site are rejected.
  --message TEXT  shown to visitors during the window and announced (add);
                  LANG=TEXT gives it in one language, as for "on";
                  repeatable
  --mode MODE     full (the default), read-only or errors, as for "on" (add)
  --reason TEXT   for operators: kept on the window and in the audit log (add)
  --json          print JSON (ls only)

Every value is checked before anything is written: on bad input the command
exits with code 2 and nothing changes.

Output of ls, one line per window, sorted by site and start:

  SITE              ID  STATE    FROM                  UNTIL                 MODE  MESSAGE
  shop.example.com  3   planned  2026-11-21T22:00:00Z  2026-11-21T23:00:00Z  full  DB upgrade

STATE is "now" for a window in progress, "planned" for one to come and
"ended" for one that ended since the site's last change. Times are in UTC,
with the local time in parentheses when the local zone is not UTC. With no
window: "no scheduled windows". With --json (stable: fields may be added,
never changed):

  {"windows": [{"site": "shop.example.com", "id": 3,
    "from": "2026-11-21T22:00:00Z", "until": "2026-11-21T23:00:00Z",
    "mode": "full", "message": "DB upgrade", "reason": "", "active": false}]}

where "active" is true for a window in progress.

Output of add: "SITE: window ID added: FROM - UNTIL (MODE)"; of rm:
"SITE: window ID removed: FROM - UNTIL (MODE)". With --json, add prints
{"site", "added": WINDOW (as in ls --json), "version", "gates",
"elapsed_ms"} and rm {"site", "removed": ID, "version", "gates",
"elapsed_ms"}; gates and elapsed_ms as in "maintenance on --json" (null
and 0 with --wait 0).
`

// runSchedule implements "maintenance schedule".
func runSchedule(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "schedule", scheduleUsage, args, map[string]func(context.Context, *env, []string) error{
		"ls":  runScheduleLs,
		"add": runScheduleAdd,
		"rm":  runScheduleRm,
	})
}

func runScheduleLs(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("schedule ls", scheduleUsage)
	var site string
	var asJSON bool
	fs.StringVar(&site, "site", "", "")
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("schedule ls", pos); err != nil {
		return err
	}
	var names []string
	if site != "" {
		n, err := siteFlag(site)
		if err != nil {
			return err
		}
		names = []string{n}
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		state, err := st.Load(ctx)
		if err != nil {
			return fmt.Errorf("reading the state: %w", err)
		}
		sites, err := selectSites(state, names)
		if err != nil {
			return err
		}
		now := time.Now()
		if asJSON {
			out := struct {
				Windows []maintenance.WindowView `json:"windows"`
			}{Windows: []maintenance.WindowView{}}
			for _, s := range sites {
				for _, w := range s.Schedule {
					j := w.View(now)
					j.Site = s.Site
					out.Windows = append(out.Windows, j)
				}
			}
			return writeJSON(e.stdout, out)
		}
		n := 0
		for _, s := range sites {
			n += len(s.Schedule)
		}
		if n == 0 {
			fmt.Fprintln(e.stdout, "no scheduled windows")
			return nil
		}
		t := newTable(e.stdout, "SITE", "ID", "STATE", "FROM", "UNTIL", "MODE", "MESSAGE")
		for _, s := range sites {
			for _, w := range s.Schedule {
				t.row(s.Site, strconv.Itoa(w.ID), windowState(&w, now), formatTime(w.From), formatTime(w.Until), string(windowMode(&w)), w.Message)
			}
		}
		return t.flush()
	})
}

func runScheduleAdd(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("schedule add", scheduleUsage)
	var site, reason string
	var message messageFlag
	var mode, from, forDur, until optString
	fs.StringVar(&site, "site", "", "")
	fs.Var(&message, "message", "")
	fs.StringVar(&reason, "reason", "", "")
	fs.Var(&mode, "mode", "")
	fs.Var(&from, "from", "")
	fs.Var(&forDur, "for", "")
	fs.Var(&until, "until", "")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("schedule add", pos); err != nil {
		return err
	}
	name, err := siteFlag(site)
	if err != nil {
		return err
	}
	now := time.Now()
	win, err := parseWindow(from, forDur, until, now)
	if err != nil {
		return err
	}
	w := maintenance.Window{Reason: reason}
	if w.From, w.Until, err = win.Scheduled(now); err != nil {
		return flagError(err)
	}
	msg, msgs, err := message.parse()
	if err != nil {
		return err
	}
	w.Messages = msgs
	if msg != nil {
		w.Message = *msg
	}
	m, err := parseModeFlag(mode)
	if err != nil {
		return err
	}
	if m != nil {
		w.Mode = *m
	}
	if err := w.Validate(); err != nil {
		return flagError(err)
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		before, after, err := e.change(ctx, st, maintenance.AddWindow(name, w), reason)
		if err != nil {
			return err
		}
		var old []maintenance.Window
		if s := before.Site(name); s != nil {
			old = s.Schedule
		}
		s := after.Site(name)
		if s == nil {
			return fmt.Errorf("site %q is missing from the state after the change", name)
		}
		for _, x := range s.Schedule {
			if !slices.ContainsFunc(old, func(y maintenance.Window) bool { return y.ID == x.ID }) {
				if asJSON {
					return e.writeOutcome(after.Version, map[string]any{"site": name, "added": x.View(time.Now())})
				}
				fmt.Fprintf(e.stdout, "%s: window %d added: %s\n", name, x.ID, describeWindow(&x))
				return nil
			}
		}
		return fmt.Errorf("schedule add: the new window of site %q is missing from the state after the change", name)
	})
}

func runScheduleRm(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("schedule rm", scheduleUsage)
	var site string
	fs.StringVar(&site, "site", "", "")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("schedule rm takes one window ID, got %q; run 'maintenance help schedule' for usage", pos)
	}
	id, err := strconv.Atoi(pos[0])
	if err != nil || id < 1 {
		return usageErrorf("schedule rm: window ID %q: accepted: a whole number from 1, as shown by maintenance schedule ls", pos[0])
	}
	name, err := siteFlag(site)
	if err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		before, after, err := e.change(ctx, st, maintenance.RemoveWindow(name, id), "")
		if err != nil {
			return err
		}
		if asJSON {
			return e.writeOutcome(after.Version, map[string]any{"site": name, "removed": id})
		}
		desc := ""
		if s := before.Site(name); s != nil {
			if i := slices.IndexFunc(s.Schedule, func(w maintenance.Window) bool { return w.ID == id }); i >= 0 {
				desc = ": " + describeWindow(&s.Schedule[i])
			}
		}
		fmt.Fprintf(e.stdout, "%s: window %d removed%s\n", name, id, desc)
		return nil
	})
}

// describeWindow is "FROM - UNTIL (MODE)", in UTC.
func describeWindow(w *maintenance.Window) string {
	return w.From.UTC().Format(timeLayout) + " - " + w.Until.UTC().Format(timeLayout) + " (" + string(windowMode(w)) + ")"
}
