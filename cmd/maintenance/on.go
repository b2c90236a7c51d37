package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

const onUsage = `Usage: maintenance on [--site HOST]... [--message [LANG=]TEXT]... [--reason TEXT]
                      [--retry-after DUR] [--redirect URL] [--status CODE]
                      [--mode full|read-only|errors|hold]
                      [--from TIME] [--for DUR | --until TIME]

Switches maintenance on for the sites named with --site, declaring the ones
that are new, or for every declared site, * included, when none is named.
A site that is off starts from the defaults plus the given flags; a site that
is already on changes only the given flags. Ignore and allow rules are kept.

Flags:
  --site HOST        a site: shop.example.com, *.example.com or *; repeatable
  --message TEXT     shown to visitors on the maintenance page, as typed
  --message LANG=TEXT
                     the message in language LANG (de, pt-BR, zh-Hant...):
                     visitors whose browser prefers LANG get it instead;
                     repeatable, beside one --message TEXT. Setting the
                     message without languages removes the translations.
                     The page's own texts come in en, de, fr, es, it, pt,
                     nl, pl, ja and zh
  --reason TEXT      for operators: kept on the site and in the audit log
  --retry-after DUR  sent as Retry-After: whole seconds from 1s to 168h,
                     like 90s or 2h
  --redirect URL     send browsers a 302 to this http:// or https:// URL,
                     or to a /path on the same host
  --status CODE      status code of the maintenance answer: 200 or 400-599
                     (default 503)
  --mode MODE        full: block every request (the default); read-only:
                     let GET, HEAD and OPTIONS through; errors: let every
                     request through, but replace server errors with the
                     maintenance page, with the site's error status (see
                     "maintenance sites set"); hold: make requests wait
                     (for a cut-over of a few seconds) until the site is
                     off, then pass them on; after the gate's hold timeout
                     (serve --hold-timeout, default 30s) they get the page
  --from TIME        start later, at TIME (RFC 3339, like
                     2026-11-21T22:00:00Z or 2026-11-21T23:00:00+01:00): the
                     site stays up until then, and status and
                     /_maintenance/status announce it
  --for DUR          end DUR after the start (--from, else now), like 2h30m
  --until TIME       end at TIME; the window is half-open, [from, until):
                     at the end every gate puts the site back up by itself.
                     An end in the past is rejected. On a site that is
                     already on, --for and --until move its end.
  --json             print the outcome as JSON (below)

Every value is checked before anything is written: on bad input the command
exits with code 2 and nothing changes.

Output: the resulting state of each site, in the format of "maintenance
status"; the header line ends in ", unchanged" when the site already was as
asked (no change is recorded then). With --json: {"version", "gates":
{"live", "switched", "lagging": [{"id", "host", "version"}]} (null with
--wait 0), "elapsed_ms", "sites": [as in status --json], "unchanged":
[sites left as they were]}.
`

// runOn implements "maintenance on".
func runOn(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("on", onUsage)
	var sites stringsFlag
	var message messageFlag
	var reason, retryAfter, redirect, status, mode, from, forDur, until optString
	fs.Var(&sites, "site", "")
	fs.Var(&message, "message", "")
	fs.Var(&reason, "reason", "")
	fs.Var(&retryAfter, "retry-after", "")
	fs.Var(&redirect, "redirect", "")
	fs.Var(&status, "status", "")
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
	if err := noArgs("on", pos); err != nil {
		return err
	}

	names, err := parseSiteFlags(sites)
	if err != nil {
		return err
	}
	opts := maintenance.OnOptions{Redirect: redirect.ptr()}
	if opts.Message, opts.Messages, err = message.parse(); err != nil {
		return err
	}
	if status.set {
		code, err := strconv.Atoi(status.value)
		if err != nil {
			return usageErrorf("--status %q: not a number; accepted: 200 or 400-599 (default 503)", status.value)
		}
		opts.Status = &code
	}
	if retryAfter.set {
		d, err := parseRetryAfter(retryAfter.value)
		if err != nil {
			return err
		}
		opts.RetryAfter = &d
	}
	if opts.Mode, err = parseModeFlag(mode); err != nil {
		return err
	}
	now := time.Now()
	win, err := parseWindow(from, forDur, until, now)
	if err != nil {
		return err
	}
	if opts.From, opts.Until, err = win.Resolve(now); err != nil {
		return flagError(err)
	}
	if err := opts.Validate(now); err != nil {
		return flagError(err)
	}
	if err := checkReason(reason.value); err != nil {
		return err
	}
	c := maintenance.On(names, opts)

	return e.withStore(ctx, func(st maintenance.Store) error {
		before, after, err := e.change(ctx, st, c, reason.value)
		if err != nil {
			return err
		}
		if asJSON {
			return writeChangedJSON(e, before, after, names)
		}
		return writeChanged(e, before, after, names, "unchanged")
	})
}

// messageFlag collects --message: "TEXT", or "LANG=TEXT" when what comes
// before the first "=" has the shape of a language tag (2 or 3 letters,
// then subtags joined by "-" or "_": de, pt-BR, zh_Hant).
type messageFlag struct{ values []string }

func (m *messageFlag) String() string     { return strings.Join(m.values, ", ") }
func (m *messageFlag) Set(v string) error { m.values = append(m.values, v); return nil }

// langPrefix matches what a "LANG=" of --message looks like; ParseLang
// checks it further.
var langPrefix = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*=`)

// parse returns the message as typed (nil when not given) and the
// translations (nil when none were given).
func (m *messageFlag) parse() (*string, map[string]string, error) {
	var def *string
	var langs map[string]string
	for _, v := range m.values {
		if loc := langPrefix.FindStringIndex(v); loc != nil {
			tag, err := maintenance.ParseLang(v[:loc[1]-1])
			if err != nil {
				return nil, nil, fmt.Errorf("--message %q: %w", v, err)
			}
			if langs == nil {
				langs = map[string]string{}
			}
			if _, dup := langs[tag]; dup {
				return nil, nil, usageErrorf("--message %s=...: given twice; accepted: one message per language", tag)
			}
			if langs[tag] = v[loc[1]:]; langs[tag] == "" {
				return nil, nil, usageErrorf("--message %s=: empty; accepted: a text after %s=", tag, tag)
			}
			continue
		}
		if def != nil {
			return nil, nil, usageErrorf("--message %q: a message without a language is given twice; accepted: one --message TEXT, and --message LANG=TEXT per language", v)
		}
		def = &v
	}
	return def, langs, nil
}

// parseModeFlag parses --mode: nil when it was not given; an empty value is
// a usage error, not the default.
func parseModeFlag(mode optString) (*maintenance.Mode, error) {
	if !mode.set {
		return nil, nil
	}
	m, err := maintenance.ParseMode(mode.value)
	if err == nil && mode.value == "" {
		err = usageErrorf("mode \"\": accepted: full, read-only, errors, hold")
	}
	if err != nil {
		return nil, fmt.Errorf("--mode: %w", err)
	}
	return &m, nil
}

// parseWindow reads --from, --for and --until: times as people type them
// (maintenance.ParseTime, in the local zone) and a Go duration. The rules
// of a window are maintenance.WindowInput's.
func parseWindow(from, forDur, until optString, now time.Time) (maintenance.WindowInput, error) {
	var in maintenance.WindowInput
	if from.set {
		t, err := maintenance.ParseTime(from.value, now, time.Local)
		if err != nil {
			return in, usageErrorf("--from %v", err)
		}
		in.From = &t
	}
	if until.set {
		t, err := maintenance.ParseTime(until.value, now, time.Local)
		if err != nil {
			return in, usageErrorf("--until %v", err)
		}
		in.Until = &t
	}
	if forDur.set {
		d, err := time.ParseDuration(forDur.value)
		if err != nil {
			return in, usageErrorf("--for %q: not a duration; accepted: a duration of at least %s, like 90m or 2h30m", forDur.value, maintenance.MinWindowLength)
		}
		in.For = &d
	}
	return in, nil
}

// flagError names the flag of a field error of the root package
// (maintenance.FieldError) when its message does not start with the
// field's name already: "--until: the end ... is in the past".
func flagError(err error) error {
	var fe *maintenance.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	name := strings.ReplaceAll(fe.Field, "_", "-")
	if name == "messages" {
		name = "message" // --message LANG=TEXT
	}
	if strings.HasPrefix(err.Error(), name+" ") {
		return err
	}
	return fmt.Errorf("--%s: %w", name, err)
}

// parseRetryAfter parses the value of --retry-after.
func parseRetryAfter(v string) (time.Duration, error) {
	const accepted = "accepted: whole seconds from 1s to 168h, like 90s or 2h"
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, usageErrorf("--retry-after %q: not a duration; %s", v, accepted)
	case d < time.Second || d > maintenance.MaxRetryAfter:
		return 0, usageErrorf("--retry-after %q: out of range; %s", v, accepted)
	case d%time.Second != 0:
		return 0, usageErrorf("--retry-after %q: not a whole number of seconds; %s", v, accepted)
	}
	return d, nil
}

// changeJSON is the stable JSON form of the outcome of on and off.
type changeJSON struct {
	// Version is the state's version after the change.
	Version int64 `json:"version"`
	// Gates is how the fleet followed; null when nothing was waited for
	// (--wait 0).
	Gates     *maintenance.FleetGates `json:"gates"`
	ElapsedMS int64                   `json:"elapsed_ms"`
	Sites     []*maintenance.SiteView `json:"sites"`
	// Unchanged names the sites the command left as they were.
	Unchanged []string `json:"unchanged"`
}

// writeChangedJSON prints the outcome of a change as JSON, with how the
// fleet followed it.
func writeChangedJSON(e *env, before, after *maintenance.State, names []string) error {
	if len(names) == 0 {
		for _, s := range after.Sites {
			names = append(names, s.Site)
		}
	}
	out := changeJSON{Version: after.Version, Sites: []*maintenance.SiteView{}, Unchanged: []string{}}
	if f := e.fleet.json(); f != nil {
		out.Gates, out.ElapsedMS = &f.Gates, f.ElapsedMS
		e.fleet.printed = true
	}
	for _, n := range names {
		s := after.Site(n)
		if s == nil {
			return fmt.Errorf("site %q is missing from the state after the change", n)
		}
		out.Sites = append(out.Sites, (s).View(time.Now()))
		if !changed(before, after, n) {
			out.Unchanged = append(out.Unchanged, n)
		}
	}
	return writeJSON(e.stdout, out)
}

// writeChanged prints the state of the named sites after a change, or of
// every site when names is empty; unchanged is added to the header of the
// sites that the change left as they were.
func writeChanged(e *env, before, after *maintenance.State, names []string, unchanged string) error {
	if len(names) == 0 {
		for _, s := range after.Sites {
			names = append(names, s.Site)
		}
	}
	for i, n := range names {
		s := after.Site(n)
		if s == nil {
			return fmt.Errorf("site %q is missing from the state after the change", n)
		}
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		note := ""
		if !changed(before, after, n) {
			note = unchanged
		}
		writeSite(e.stdout, e.colour(), s, note)
	}
	return nil
}
