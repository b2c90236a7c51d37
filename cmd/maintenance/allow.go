package main

import (
	"context"

	"github.com/gomaint/maintenance"
)

const allowUsage = `Usage: maintenance allow ls [--site HOST] [--json]
       maintenance allow add [--site HOST] [--note TEXT] [--json] IP|CIDR
       maintenance allow rm [--site HOST] [--json] IP|CIDR

Lists, adds and removes allow entries: client addresses that are never
blocked, on a site or, with no --site, on * (where they apply to every
site). Rules are kept when a site is switched on and off.

An entry is an IPv4 or IPv6 address (203.0.113.7, 2001:db8::1) or a CIDR
prefix (10.0.0.0/8, 2001:db8::/32) without host bits set: 10.0.0.1/8 is
refused with the corrected form in the message.

  ls      list the entries of --site, or of every site when none is given
  add     add an entry; adding one that is there already updates its note
  rm      remove an entry

Flags:
  --site HOST  a declared site (default *)
  --note TEXT  why the entry is there (add only)
  --json       print JSON

Output of ls: the columns SITE, ENTRY and NOTE, or "no allow entries".
With --json: {"allow": [{"site": "*", "entry": "10.0.0.0/8", "note": ""}]}.
Output of add and rm: one line, "SITE: added allow entry ENTRY",
"SITE: updated the note of ...", "SITE: ... is there already, unchanged" or
"SITE: removed allow entry ENTRY". With --json, add and rm print one
object: {"site", "entry", "note" (add), "result": "added", "updated",
"unchanged" or "removed", "version", "gates", "elapsed_ms"}; gates and
elapsed_ms as in "maintenance on --json" (null and 0 with --wait 0).
`

var allowKind = &ruleKind{
	name:   "allow",
	what:   "allow entry",
	plural: "allow entries",
	arg:    "IP|CIDR",
	column: "ENTRY",
	usage:  allowUsage,
	parse: func(s string) (string, error) {
		p, err := maintenance.ParseAllow(s)
		if err != nil {
			return "", err
		}
		if p.IsSingleIP() {
			return p.Addr().String(), nil
		}
		return p.String(), nil
	},
	add:   maintenance.AddAllow,
	rm:    maintenance.RemoveAllow,
	rules: func(s *maintenance.SiteState) []maintenance.Rule { return s.Allow },
	json: func(site string, r maintenance.Rule) any {
		return maintenance.AllowView{Site: site, Entry: r.Value, Note: r.Note}
	},
}

// runAllow implements "maintenance allow".
func runAllow(ctx context.Context, e *env, args []string) error {
	return allowKind.run(ctx, e, args)
}
