package main

import (
	"context"
	"fmt"

	"github.com/gomaint/maintenance"
)

// ruleKind describes one kind of rule, ignore patterns or allow entries, for
// the commands that list, add and remove them.
type ruleKind struct {
	name   string // command name: "ignore"
	what   string // "ignore pattern"
	plural string // "ignore patterns"
	arg    string // "PATTERN"
	column string // column header of the value in ls: "PATTERN"
	usage  string
	// parse validates a value and returns its canonical (stored) form.
	parse func(string) (string, error)
	add   func(site, value, note string) maintenance.Change
	rm    func(site, value string) maintenance.Change
	rules func(*maintenance.SiteState) []maintenance.Rule
	// json returns the JSON form of a rule of site, for ls --json.
	json func(site string, r maintenance.Rule) any
}

func (k *ruleKind) run(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, k.name, k.usage, args, map[string]func(context.Context, *env, []string) error{
		"ls":  k.ls,
		"add": k.addCmd,
		"rm":  k.rmCmd,
	})
}

// siteFlag returns the canonical name of the --site value, * when empty.
func siteFlag(v string) (string, error) {
	if v == "" {
		return maintenance.DefaultSite, nil
	}
	n, err := maintenance.ParseSite(v)
	if err != nil {
		return "", fmt.Errorf("--site: %w", err)
	}
	return n, nil
}

func (k *ruleKind) ls(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet(k.name+" ls", k.usage)
	var site string
	var asJSON bool
	fs.StringVar(&site, "site", "", "")
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs(k.name+" ls", pos); err != nil {
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
		if asJSON {
			list := []any{}
			for _, s := range sites {
				for _, r := range k.rules(s) {
					list = append(list, k.json(s.Site, r))
				}
			}
			return writeJSON(e.stdout, map[string]any{k.name: list})
		}
		n := 0
		for _, s := range sites {
			n += len(k.rules(s))
		}
		if n == 0 {
			fmt.Fprintf(e.stdout, "no %s\n", k.plural)
			return nil
		}
		t := newTable(e.stdout, "SITE", k.column, "NOTE")
		for _, s := range sites {
			for _, r := range k.rules(s) {
				t.row(s.Site, r.Value, r.Note)
			}
		}
		return t.flush()
	})
}

func (k *ruleKind) addCmd(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet(k.name+" add", k.usage)
	var site, note string
	fs.StringVar(&site, "site", "", "")
	fs.StringVar(&note, "note", "", "")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("%s add takes one %s, got %q; run 'maintenance help %s' for usage", k.name, k.arg, pos, k.name)
	}
	name, err := siteFlag(site)
	if err != nil {
		return err
	}
	value, err := k.parse(pos[0])
	if err != nil {
		return err
	}
	// The site is checked against the store; the rest here, before it is opened.
	if err := maintenance.ValidateNote(note); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		before, after, err := e.change(ctx, st, k.add(name, value, note), "")
		if err != nil {
			return err
		}
		var old *maintenance.Rule
		if s := before.Site(name); s != nil {
			old = findRule(k.rules(s), value)
		}
		if asJSON {
			result := "added"
			switch {
			case !changed(before, after, name):
				result = "unchanged"
			case old != nil:
				result = "updated"
			}
			return e.writeOutcome(after.Version, map[string]any{"site": name, k.arg2json(): value, "note": note, "result": result})
		}
		switch {
		case !changed(before, after, name):
			fmt.Fprintf(e.stdout, "%s: %s %s is there already, unchanged\n", name, k.what, value)
		case old != nil:
			fmt.Fprintf(e.stdout, "%s: updated the note of %s %s\n", name, k.what, value)
		default:
			fmt.Fprintf(e.stdout, "%s: added %s %s\n", name, k.what, value)
		}
		return nil
	})
}

func (k *ruleKind) rmCmd(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet(k.name+" rm", k.usage)
	var site string
	fs.StringVar(&site, "site", "", "")
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("%s rm takes one %s, got %q; run 'maintenance help %s' for usage", k.name, k.arg, pos, k.name)
	}
	name, err := siteFlag(site)
	if err != nil {
		return err
	}
	value, err := k.parse(pos[0])
	if err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		_, after, err := e.change(ctx, st, k.rm(name, value), "")
		if err != nil {
			return err
		}
		if asJSON {
			return e.writeOutcome(after.Version, map[string]any{"site": name, k.arg2json(): value, "result": "removed"})
		}
		fmt.Fprintf(e.stdout, "%s: removed %s %s\n", name, k.what, value)
		return nil
	})
}

// findRule returns the rule with this value, or nil.
func findRule(rules []maintenance.Rule, value string) *maintenance.Rule {
	for i := range rules {
		if rules[i].Value == value {
			return &rules[i]
		}
	}
	return nil
}

// arg2json is the key of the rule's value in the JSON of add and rm:
// "entry" for allow, "pattern" for ignore.
func (k *ruleKind) arg2json() string {
	if k.name == "allow" {
		return "entry"
	}
	return "pattern"
}
