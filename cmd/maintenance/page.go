package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gomaint/maintenance"
)

const pageUsage = `Usage: maintenance page set [--site HOST] [--reason TEXT] DIR
       maintenance page show [--site HOST] [--json]
       maintenance page rm [--site HOST] [--reason TEXT]

A page kept in the store is served by every gate within the propagation
time: no templates directory to copy to every host.

  set   check DIR/503.html (an html/template, executed once with sample
        data) and the files under DIR/assets/, and store them for the site
        (default *: every site without a page of its own)
  show  the pages in the store: site, size, assets, digest, who set them
  rm    remove the site's page; the site is served --templates, else the
        built-in page

The assets are served under /_maintenance/assets/NAME (never blocked): the
page refers to them as /_maintenance/assets/style.css. Accepted: 100 files at
most, 1 MiB with 503.html; names of letters, digits, . _ - and / (no part
starting with .), ending in .css, .png, .jpg, .jpeg, .gif, .webp, .avif,
.svg, .ico, .woff, .woff2, .ttf or .otf. Symbolic links are refused.

A site's page is, in order: its page in the store, its --templates
HOST/503.html, the page of * in the store, --templates 503.html, the
built-in page.

Flags:
  --site HOST    a declared site (default *)
  --reason TEXT  (set, rm) for operators: kept in the audit log
  --json         (show) print JSON instead of text

Output of set: "page of shop.example.com: set (12345 bytes, 3 assets,
digest 3f9c2ab1)" or "..., unchanged". Output of show, one line per page:

  *  12345 bytes  3 assets  3f9c2ab1  set by alice@web-1 at 2026-12-07T18:00:00Z

With --json (stable): [{"site", "size", "assets": [{"name", "size"}],
"digest", "set_by", "set_at"}].

With --json, set prints {"site", "result": "set" or "unchanged", "size",
"assets" (a count), "digest", "version", "gates", "elapsed_ms"} and rm
{"site", "removed": true, "version", "gates", "elapsed_ms"}; gates and
elapsed_ms are as in "maintenance on --json" (null and 0 with --wait 0).
`

func runPage(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "page", pageUsage, args, map[string]func(context.Context, *env, []string) error{
		"set":  runPageSet,
		"show": runPageShow,
		"rm":   runPageRm,
	})
}

func runPageSet(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("page set", pageUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	var site, reason string
	fs.StringVar(&site, "site", maintenance.DefaultSite, "")
	fs.StringVar(&reason, "reason", "", "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("page set takes one directory, got %q; run 'maintenance help page' for usage", pos)
	}
	p, err := maintenance.ReadPageDir(pos[0], site)
	if err != nil {
		return err
	}
	c := maintenance.SetPage(p)
	return e.withStore(ctx, func(st maintenance.Store) error {
		before, after, err := e.change(ctx, st, c, reason)
		if err != nil {
			return err
		}
		word := "set"
		if after.Version == before.Version {
			word = "unchanged"
		}
		if asJSON {
			return e.writeOutcome(after.Version, map[string]any{"site": p.Site, "result": word, "size": p.Size(), "assets": len(p.Assets), "digest": p.Digest})
		}
		fmt.Fprintf(e.stdout, "page of %s: %s (%d bytes, %s, digest %s)\n", p.Site, word, p.Size(), plural(len(p.Assets), "asset"), p.Digest[:8])
		return nil
	})
}

func runPageRm(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("page rm", pageUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	var site, reason string
	fs.StringVar(&site, "site", maintenance.DefaultSite, "")
	fs.StringVar(&reason, "reason", "", "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("page rm", pos); err != nil {
		return err
	}
	s, err := maintenance.ParseSite(site)
	if err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		_, after, err := e.change(ctx, st, maintenance.RemovePage(s), reason)
		if err != nil {
			return err
		}
		if asJSON {
			return e.writeOutcome(after.Version, map[string]any{"site": s, "removed": true})
		}
		fmt.Fprintf(e.stdout, "page of %s: removed\n", s)
		return nil
	})
}

type pageAssetJSON struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

type pageJSON struct {
	Site   string          `json:"site"`
	Size   int             `json:"size"`
	Assets []pageAssetJSON `json:"assets"`
	Digest string          `json:"digest"`
	SetBy  string          `json:"set_by"`
	SetAt  time.Time       `json:"set_at"`
}

func runPageShow(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("page show", pageUsage)
	var site string
	var asJSON bool
	fs.StringVar(&site, "site", "", "")
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("page show", pos); err != nil {
		return err
	}
	if site != "" {
		if site, err = maintenance.ParseSite(site); err != nil {
			return err
		}
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		state, err := st.Load(ctx)
		if err != nil {
			return fmt.Errorf("reading the state: %w", err)
		}
		out := []pageJSON{}
		for _, p := range state.Pages {
			if site != "" && p.Site != site {
				continue
			}
			j := pageJSON{Site: p.Site, Size: p.Size(), Assets: []pageAssetJSON{}, Digest: p.Digest, SetBy: p.SetBy, SetAt: p.SetAt}
			for _, a := range p.Assets {
				j.Assets = append(j.Assets, pageAssetJSON{a.Name, len(a.Data)})
			}
			out = append(out, j)
		}
		if asJSON {
			return writeJSON(e.stdout, out)
		}
		if len(out) == 0 {
			fmt.Fprintln(e.stdout, "no page in the store: gates serve --templates, else the built-in page")
			return nil
		}
		for _, p := range out {
			fmt.Fprintf(e.stdout, "%s  %d bytes  %s  %s  set by %s at %s\n", p.Site, p.Size, plural(len(p.Assets), "asset"), p.Digest[:8], p.SetBy, p.SetAt.UTC().Format(time.RFC3339))
			for _, a := range p.Assets {
				fmt.Fprintf(e.stdout, "  /_maintenance/assets/%s  %d bytes\n", a.Name, a.Size)
			}
		}
		return nil
	})
}
