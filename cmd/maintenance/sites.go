package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

const sitesUsage = `Usage: maintenance sites ls [--json]
       maintenance sites add [--json] HOST...
       maintenance sites rm [--json] HOST
       maintenance sites set HOST --error-status CODE

Lists, declares and removes sites. A site is a host name (shop.example.com),
a wildcard matching any subdomain (*.example.com) or the default site *,
which every host without a site of its own belongs to; * is always declared
and cannot be removed. Names are stored in lower case without a trailing dot.
"maintenance on --site HOST" also declares a new site.

  ls      list the declared sites
  add     declare sites; declaring one that exists already changes nothing
  rm      remove a site with its rules; its hosts then follow *
  set     change a site's settings; * is accepted as HOST

Flags of set:
  --error-status CODE  status of the maintenance page that replaces the
                       site's server errors (in mode errors, or on a gate
                       whose release is not the fleet's, see "maintenance
                       release"): 200 or 400-599; 0 restores the default,
                       503. Kept when maintenance is switched on and off.

Output of ls, one line per site:

  SITE              STATE           SINCE                 IGNORE  ALLOW
  *                 off             -                     1       0
  shop.example.com  on (full)       2026-11-21T13:00:00Z  0       2

With --json: {"sites": [{"site": "*", "on": false, "mode": "", "since": null,
"version": 3}]}, mode and since as in "maintenance status --json".

With --json, add prints {"declared": [HOST...], "already_declared":
[HOST...], "version", "gates", "elapsed_ms"} and rm {"removed": HOST,
"was_on": BOOL, "version", "gates", "elapsed_ms"}; gates and elapsed_ms as
in "maintenance on --json" (null and 0 with --wait 0).

Output of add and rm, one line per site: "HOST: declared", "HOST: already
declared" or "HOST: removed". Output of set: "HOST: error status 503 -> 500",
or "HOST: error status 500, unchanged" when it already was.
`

// runSites implements "maintenance sites".
func runSites(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "sites", sitesUsage, args, map[string]func(context.Context, *env, []string) error{
		"ls":  runSitesLs,
		"add": runSitesAdd,
		"rm":  runSitesRm,
		"set": runSitesSet,
	})
}

// subcommand dispatches a command with subcommands ("sites ls") on its
// first argument.
func subcommand(ctx context.Context, e *env, name, usage string, args []string, subs map[string]func(context.Context, *env, []string) error) error {
	// A flag set with no flags of its own, to handle -h and --store before
	// the subcommand's name.
	fs := e.newFlagSet(name, usage)
	if err := fs.Parse(args); err != nil {
		return fs.fail(err)
	}
	args = fs.Args()
	if e.probing && len(args) == 0 {
		e.probedSubs = slices.Sorted(maps.Keys(subs))
		return errProbe
	}
	if len(args) == 0 {
		return usageErrorf("%s: missing subcommand; accepted: %s; run 'maintenance help %s' for usage", name, subcommandNames(subs), name)
	}
	sub, ok := subs[args[0]]
	if !ok {
		return usageErrorf("%s: unknown subcommand %q%s; accepted: %s; run 'maintenance help %s' for usage", name, args[0], didYouMean(args[0], slices.Sorted(maps.Keys(subs))), subcommandNames(subs), name)
	}
	return sub(ctx, e, args[1:])
}

// subcommandOrder is the order in which error messages list subcommands;
// names not in it come after, sorted.
var subcommandOrder = []string{"show", "ls", "add", "rm", "set"}

// subcommandNames lists the names of subs, comma-separated.
func subcommandNames[F any](subs map[string]F) string {
	names := slices.Sorted(maps.Keys(subs))
	slices.SortStableFunc(names, func(a, b string) int {
		ia, ib := slices.Index(subcommandOrder, a), slices.Index(subcommandOrder, b)
		if ia < 0 {
			ia = len(subcommandOrder)
		}
		if ib < 0 {
			ib = len(subcommandOrder)
		}
		return ia - ib
	})
	return strings.Join(names, ", ")
}

func runSitesLs(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("sites ls", sitesUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("sites ls", pos); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		state, err := st.Load(ctx)
		if err != nil {
			return fmt.Errorf("reading the state: %w", err)
		}
		if asJSON {
			type siteLine struct {
				Site    string `json:"site"`
				On      bool   `json:"on"`
				Mode    string `json:"mode"`
				Since   any    `json:"since"`
				Version int64  `json:"version"`
			}
			out := struct {
				Sites []siteLine `json:"sites"`
			}{Sites: []siteLine{}}
			for i := range state.Sites {
				j := (&state.Sites[i]).View(time.Now())
				out.Sites = append(out.Sites, siteLine{j.Site, j.On, j.Mode, j.Since, j.Version})
			}
			return writeJSON(e.stdout, out)
		}
		t := newTable(e.stdout, "SITE", "STATE", "SINCE", "IGNORE", "ALLOW")
		for _, s := range state.Sites {
			since := "-"
			if !s.ChangedAt.IsZero() {
				since = s.ChangedAt.UTC().Format(timeLayout)
			}
			t.row(s.Site, s.Describe(time.Now()), since, strconv.Itoa(len(s.Ignore)), strconv.Itoa(len(s.Allow)))
		}
		return t.flush()
	})
}

func runSitesAdd(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("sites add", sitesUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErrorf("sites add: missing HOST; run 'maintenance help sites' for usage")
	}
	var names []string
	for _, h := range pos {
		n, err := maintenance.ParseSite(h)
		if err != nil {
			return err
		}
		names = append(names, n)
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		before, after, err := e.change(ctx, st, maintenance.AddSites(names...), "")
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		if asJSON {
			declared, already := []string{}, []string{}
			for _, n := range names {
				if seen[n] {
					continue
				}
				seen[n] = true
				if before.Site(n) == nil && after.Site(n) != nil {
					declared = append(declared, n)
				} else {
					already = append(already, n)
				}
			}
			return e.writeOutcome(after.Version, map[string]any{"declared": declared, "already_declared": already})
		}
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			if before.Site(n) == nil && after.Site(n) != nil {
				fmt.Fprintf(e.stdout, "%s: declared\n", n)
			} else {
				fmt.Fprintf(e.stdout, "%s: already declared\n", n)
			}
		}
		return nil
	})
}

func runSitesRm(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("sites rm", sitesUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("sites rm takes one HOST, got %q; run 'maintenance help sites' for usage", pos)
	}
	name, err := maintenance.ParseSite(pos[0])
	if err != nil {
		return err
	}
	c := maintenance.RemoveSite(name)
	if err := maintenance.ValidateRemoveSite(name); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		before, after, err := e.change(ctx, st, c, "")
		if err != nil {
			return err
		}
		if asJSON {
			s := before.Site(name)
			return e.writeOutcome(after.Version, map[string]any{"removed": name, "was_on": s != nil && s.On})
		}
		fmt.Fprintf(e.stdout, "%s: removed\n", name)
		if s := before.Site(name); s != nil && s.On {
			fmt.Fprintf(e.stderr, "maintenance: note: %s was on; its hosts now follow the state of *\n", name)
		}
		return nil
	})
}

// errorStatusAccepted says which values --error-status accepts.
const errorStatusAccepted = "accepted: 200 or 400-599, or 0 for the default (503)"

func runSitesSet(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("sites set", sitesUsage)
	var errorStatus optString
	fs.Var(&errorStatus, "error-status", "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("sites set takes one HOST, got %q; run 'maintenance help sites' for usage", pos)
	}
	name, err := maintenance.ParseSite(pos[0])
	if err != nil {
		return err
	}
	if !errorStatus.set {
		return usageErrorf("sites set: nothing to set; accepted: --error-status CODE; run 'maintenance help sites' for usage")
	}
	code, err := strconv.Atoi(errorStatus.value)
	if err == nil {
		err = maintenance.ValidateErrorStatus(code)
	}
	if err != nil {
		return usageErrorf("--error-status %q: %s", errorStatus.value, errorStatusAccepted)
	}
	if code == maintenance.DefaultStatus {
		// The default, stored as such: setting it where it is the
		// effective value already records nothing.
		code = 0
	}
	c := maintenance.SetErrorStatus(name, code)
	return e.withStore(ctx, func(st maintenance.Store) error {
		before, after, err := e.change(ctx, st, c, "")
		if err != nil {
			return err
		}
		old, s := before.Site(name), after.Site(name)
		if s == nil {
			return fmt.Errorf("site %q is missing from the state after the change", name)
		}
		if old == nil || !changed(before, after, name) {
			fmt.Fprintf(e.stdout, "%s: error status %d, unchanged\n", name, s.EffectiveErrorStatus())
			return nil
		}
		fmt.Fprintf(e.stdout, "%s: error status %d -> %d\n", name, old.EffectiveErrorStatus(), s.EffectiveErrorStatus())
		return nil
	})
}
