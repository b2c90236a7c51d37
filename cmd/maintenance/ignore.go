package main

import (
	"context"

	"github.com/gomaint/maintenance"
)

const ignoreUsage = `Usage: maintenance ignore ls [--site HOST] [--json]
       maintenance ignore add [--site HOST] [--note TEXT] [--json] PATTERN
       maintenance ignore rm [--site HOST] [--json] PATTERN

Lists, adds and removes ignore patterns: request paths that are never
blocked, on a site or, with no --site, on * (where they apply to every
site). Rules are kept when a site is switched on and off.

PATTERN is one argument (quote it when it has a method):
  /exact/path       the request path equals it
  /prefix/*         the request path starts with /prefix/, or is /prefix
  ^regex            an RE2 expression matched from the start of the path
  METHOD pattern    any of the above for one method: "POST /webhooks/*"

A path that some server reads as another path (/static/..;/admin,
/static/%2e%2e/x, //, %2f, a backslash) is never ignored.

  ls      list the patterns of --site, or of every site when none is given
  add     add a pattern; adding one that is there already updates its note
  rm      remove a pattern

Flags:
  --site HOST  a declared site (default *)
  --note TEXT  why the pattern is there (add only)
  --json       print JSON

Output of ls: the columns SITE, PATTERN and NOTE, or "no ignore patterns".
With --json: {"ignore": [{"site": "*", "pattern": "/health", "note": ""}]}.
Output of add and rm: one line, "SITE: added ignore pattern PATTERN",
"SITE: updated the note of ...", "SITE: ... is there already, unchanged" or
"SITE: removed ignore pattern PATTERN". With --json, add and rm print one
object: {"site", "pattern", "note" (add), "result": "added", "updated",
"unchanged" or "removed", "version", "gates", "elapsed_ms"}; gates and
elapsed_ms as in "maintenance on --json" (null and 0 with --wait 0).
`

var ignoreKind = &ruleKind{
	name:   "ignore",
	what:   "ignore pattern",
	plural: "ignore patterns",
	arg:    "PATTERN",
	column: "PATTERN",
	usage:  ignoreUsage,
	parse: func(s string) (string, error) {
		p, err := maintenance.ParsePattern(s)
		if err != nil {
			return "", err
		}
		return p.String(), nil
	},
	add:   maintenance.AddIgnore,
	rm:    maintenance.RemoveIgnore,
	rules: func(s *maintenance.SiteState) []maintenance.Rule { return s.Ignore },
	json: func(site string, r maintenance.Rule) any {
		return maintenance.IgnoreView{Site: site, Pattern: r.Value, Note: r.Note}
	},
}

// runIgnore implements "maintenance ignore".
func runIgnore(ctx context.Context, e *env, args []string) error {
	return ignoreKind.run(ctx, e, args)
}
