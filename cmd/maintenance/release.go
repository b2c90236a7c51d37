package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gomaint/maintenance"
)

const releaseUsage = `Usage: maintenance release show [--json]
       maintenance release set [--reason TEXT] ID

The fleet's target release is the release every gate should run. Each gate
knows its own release (maintenance serve --release, or the library's
Options.Release); a gate whose release differs from the target, during a
deploy or a rollback, replaces server errors (5xx answers, a panic, an
upstream that is down) with the maintenance page and lets every successful
answer through. A gate with no release of its own is not compared.

  show  print the target release and which running gates run which release
  set   set the target release: the last set wins, an older ID included (a
        rollback); ID is 1 to 128 printable characters without spaces, like
        v1.4.2 or 3f9c2ab

Flags:
  --json         (show) print JSON instead of text
  --reason TEXT  (set) for operators: kept in the audit log

Output of show: "release: v42" (or "release: none set"), then one line per
release that running gates run, the target first, "(no release)" last:

  release: v42
  v42: 2 gates (web-1-4242-9f3c, web-2-4242-9f3c)
  v41: 1 gate (web-3-4242-9f3c): not the target release; these gates replace server errors with the maintenance page
  (no release): 1 gate (worker-1-77-aa01)

or "gates: none running". With --json (stable: fields may be added, never
changed):

  {"release": "v42" or null, "gates": [{"id": "web-1-4242-9f3c",
    "host": "web-1", "release": "v42", "version": 42}]}

where a gate's "release" is "" when it has none.

Output of set: "release: v41 -> v42" ("none -> v42" the first time), or
"release: v42, unchanged" when it already was the target (no change is
recorded then).

With --json, set prints {"release", "previous", "changed", "version",
"gates", "elapsed_ms"}; gates and elapsed_ms are as in "maintenance on
--json" (null and 0 with --wait 0).
`

// runRelease implements "maintenance release".
func runRelease(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "release", releaseUsage, args, map[string]func(context.Context, *env, []string) error{
		"show": runReleaseShow,
		"set":  runReleaseSet,
	})
}

// releaseGateJSON is a running gate in "release show --json".
type releaseGateJSON struct {
	ID      string `json:"id"`
	Host    string `json:"host"`
	Release string `json:"release"` // "" when the gate has none
	Version int64  `json:"version"`
}

// maxGateNames is the number of gate IDs "release show" lists per release.
const maxGateNames = 5

func runReleaseShow(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("release show", releaseUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("release show", pos); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		gates, err := st.Gates(ctx)
		if err != nil {
			return fmt.Errorf("listing the gates: %w", err)
		}
		state, err := st.Load(ctx)
		if err != nil {
			return fmt.Errorf("reading the state: %w", err)
		}
		if asJSON {
			out := struct {
				Release *string           `json:"release"`
				Gates   []releaseGateJSON `json:"gates"`
			}{Release: nullable(state.Release), Gates: []releaseGateJSON{}}
			for _, g := range gates {
				out.Gates = append(out.Gates, releaseGateJSON{g.ID, g.Host, g.Release, g.Version})
			}
			return writeJSON(e.stdout, out)
		}
		target := state.Release
		if target == "" {
			fmt.Fprintln(e.stdout, "release: none set")
		} else {
			fmt.Fprintln(e.stdout, "release: "+target)
		}
		if len(gates) == 0 {
			fmt.Fprintln(e.stdout, "gates: none running")
			return nil
		}
		byRelease := map[string][]string{}
		for _, g := range gates {
			byRelease[g.Release] = append(byRelease[g.Release], g.ID)
		}
		for _, r := range releaseOrder(byRelease, target) {
			ids := byRelease[r]
			name := r
			if r == "" {
				name = "(no release)"
			}
			line := fmt.Sprintf("%s: %s (%s)", name, plural(len(ids), "gate"), listNames(ids, maxGateNames))
			if target != "" && r != "" && r != target {
				line += ": not the target release; these gates replace server errors with the maintenance page"
			}
			fmt.Fprintln(e.stdout, line)
		}
		return nil
	})
}

// releaseOrder returns the releases of byRelease in the order "release
// show" prints them: target first, the others sorted, "" (no release) last.
func releaseOrder(byRelease map[string][]string, target string) []string {
	var out []string
	for r := range byRelease {
		out = append(out, r)
	}
	rank := func(r string) int {
		switch r {
		case target:
			return 0
		case "":
			return 2
		}
		return 1
	}
	slices.SortFunc(out, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return out
}

// plural returns "1 gate" or "N gates".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// listNames joins the first n names with commas, and says how many more
// there are.
func listNames(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

func runReleaseSet(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("release set", releaseUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	var reason string
	fs.StringVar(&reason, "reason", "", "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("release set takes one ID, got %q; run 'maintenance help release' for usage", pos)
	}
	c := maintenance.SetRelease(pos[0])
	if err := checkReason(reason); err != nil {
		return err
	}
	if _, err := maintenance.ParseRelease(pos[0]); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		before, after, err := e.change(ctx, st, c, reason)
		if err != nil {
			return err
		}
		if asJSON {
			return e.writeOutcome(after.Version, map[string]any{"release": after.Release, "previous": before.Release, "changed": before.Release != after.Release})
		}
		if before.Release == after.Release {
			fmt.Fprintf(e.stdout, "release: %s, unchanged\n", after.Release)
			return nil
		}
		fmt.Fprintf(e.stdout, "release: %s -> %s\n", releaseWord(before.Release), after.Release)
		return nil
	})
}
