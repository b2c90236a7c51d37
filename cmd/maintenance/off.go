package main

import (
	"context"

	"github.com/gomaint/maintenance"
)

const offUsage = `Usage: maintenance off [--site HOST]... [--reason TEXT]

Switches maintenance off for the sites named with --site, or for every
declared site, * included, when none is named, and clears what was set when
they were switched on: message, reason, mode, status, retry-after, redirect,
window. A scheduled window in progress ends (it is removed); later windows,
and ignore and allow rules, are kept. A site must be declared (see "maintenance
sites ls"); an unknown one is an error (exit code 2) and nothing changes.

Flags:
  --site HOST    a declared site; repeatable
  --reason TEXT  why, for the audit log
  --json         print the outcome as JSON

Output: the resulting state of each site, in the format of "maintenance
status"; the header line ends in ", already off" when the site was off
already (no change is recorded then). --json prints the outcome as JSON, as
"maintenance on --json" does.
`

// runOff implements "maintenance off".
func runOff(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("off", offUsage)
	var sites stringsFlag
	var reason string
	fs.Var(&sites, "site", "")
	fs.StringVar(&reason, "reason", "", "")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("off", pos); err != nil {
		return err
	}
	names, err := parseSiteFlags(sites)
	if err != nil {
		return err
	}
	c := maintenance.Off(names)
	if err := checkReason(reason); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		before, after, err := e.change(ctx, st, c, reason)
		if err != nil {
			return err
		}
		if asJSON {
			return writeChangedJSON(e, before, after, names)
		}
		return writeChanged(e, before, after, names, "already off")
	})
}
