package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gomaint/maintenance"
)

func windowMode(w *maintenance.Window) maintenance.Mode {
	if w.Mode == "" {
		return maintenance.ModeFull
	}
	return w.Mode
}

// windowState is "now" for a window in progress at now, "planned" for one to
// come and "ended" for one that ended (the site's next change drops it).
func windowState(w *maintenance.Window, now time.Time) string {
	switch {
	case now.Before(w.From):
		return "planned"
	case now.Before(w.Until):
		return "now"
	}
	return "ended"
}

// formatSpan is "FROM - UNTIL" in UTC, RFC 3339, UNTIL as a time of day
// when it is the same day; UNTIL is "(no end)" when zero. The local times
// follow in parentheses when the local zone is not UTC.
func formatSpan(from, until time.Time) string {
	from = from.UTC()
	s := from.Format(timeLayout) + " - "
	switch u := until.UTC(); {
	case until.IsZero():
		s += "(no end)"
	case u.Format(time.DateOnly) == from.Format(time.DateOnly):
		s += u.Format("15:04:05Z07:00")
	default:
		s += u.Format(timeLayout)
	}
	if lf := from.Local(); lf.Format("-0700") != "+0000" || !until.IsZero() && until.Local().Format("-0700") != "+0000" {
		s += " (" + lf.Format("2006-01-02 15:04:05 MST")
		if !until.IsZero() {
			s += " - " + until.Local().Format("2006-01-02 15:04:05 MST")
		}
		s += ")"
	}
	return s
}

// eventJSON is the stable JSON form of an audit event ("log --json").
type eventJSON struct {
	ID      int64     `json:"id"`
	Version int64     `json:"version"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Source  string    `json:"source"`
	Reason  string    `json:"reason"`
	Action  string    `json:"action"`
	Site    string    `json:"site"`
	// Before is null for a site the change declared, After for one it removed.
	Before *maintenance.SiteView `json:"before"`
	After  *maintenance.SiteView `json:"after"`
	// Release is set only in the events of a change of the fleet's target
	// release, whose site is "".
	Release *releaseChangeJSON `json:"release,omitempty"`
	// Target is set only in the events about an admin user, API token or
	// bypass link: "user alice", "token 3f9c2a1b", "bypass 8d1e0f2c".
	Target string `json:"target,omitempty"`
}

// releaseChangeJSON is the fleet's target release around a change of it;
// null stands for none.
type releaseChangeJSON struct {
	Before *string `json:"before"`
	After  *string `json:"after"`
}

// nullable returns nil for "", else a pointer to s.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// gateJSON is the stable JSON form of a running gate ("gates --json").
type gateJSON struct {
	ID      string `json:"id"`
	Host    string `json:"host"`
	Release string `json:"release"` // "" when the gate has none
	Version int64  `json:"version"`
	// Started is null when the gate did not say.
	Started  *time.Time `json:"started"`
	LastSeen time.Time  `json:"last_seen"`
	// StoreError is the gate's last error reading the store, "" when in sync.
	StoreError string `json:"store_error"`
}

// gatesSummaryJSON sums up the running gates in "status --json".
type gatesSummaryJSON struct {
	// Total is the number of running gates.
	Total int `json:"total"`
	// Current is the number of them that serve Version.
	Current int `json:"current"`
	// Version is the state version of the store.
	Version int64 `json:"version"`
	// Warnings are the gates' store errors, and a store that is behind a
	// gate (it lost changes); absent when there are none.
	Warnings []string `json:"warnings,omitempty"`
}

func toGateJSON(g *maintenance.GateInfo) gateJSON {
	j := gateJSON{
		ID: g.ID, Host: g.Host, Release: g.Release, Version: g.Version,
		LastSeen: g.LastSeen.UTC(), StoreError: g.StoreError,
	}
	if !g.Started.IsZero() {
		t := g.Started.UTC()
		j.Started = &t
	}
	return j
}

// summarizeGates counts the gates that serve version, the store's.
func summarizeGates(gates []maintenance.GateInfo, version int64) gatesSummaryJSON {
	s := gatesSummaryJSON{Total: len(gates), Version: version}
	for _, g := range gates {
		if g.Version == version {
			s.Current++
		}
		if g.Version > version {
			s.Warnings = append(s.Warnings, fmt.Sprintf("the store is at version %d but gate %s serves version %d: the store lost changes (restarted without persistence, or restored from a backup?); gates follow the store, so check the sites and switch again if needed", version, g.ID, g.Version))
		}
		if g.StoreError != "" {
			s.Warnings = append(s.Warnings, fmt.Sprintf("gate %s: %s", g.ID, g.StoreError))
		}
		for _, w := range g.Warnings {
			s.Warnings = append(s.Warnings, fmt.Sprintf("gate %s: %s", g.ID, w))
		}
	}
	return s
}

// line is the summary's line in the human output of "status", without the
// warnings.
func (s gatesSummaryJSON) line() string {
	if s.Total == 0 {
		return "gates: none running"
	}
	return fmt.Sprintf("gates: %d/%d at version %d", s.Current, s.Total, s.Version)
}

func toEventJSON(ev *maintenance.Event) eventJSON {
	j := eventJSON{
		ID: ev.ID, Version: ev.Version, Time: ev.Time.UTC(), Actor: ev.Actor, Source: ev.Source,
		Reason: ev.Reason, Action: ev.Action, Site: ev.Site, Target: ev.Target,
	}
	if ev.Before != nil {
		j.Before = ev.Before.View(ev.Time)
	}
	if ev.After != nil {
		j.After = ev.After.View(ev.Time)
	}
	if ev.IsRelease() {
		j.Release = &releaseChangeJSON{Before: nullable(ev.ReleaseBefore), After: nullable(ev.ReleaseAfter)}
	}
	return j
}

// releaseWord is a target release for a human: the ID, or "none".
func releaseWord(id string) string {
	if id == "" {
		return "none"
	}
	return id
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// timeLayout is the layout of times in human output: RFC 3339, in UTC.
const timeLayout = time.RFC3339

// formatTime formats t in UTC, RFC 3339, followed by the local time when the
// local zone is not UTC at that instant; "-" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	s := t.UTC().Format(timeLayout)
	if lt := t.Local(); lt.Format("-0700") != "+0000" {
		s += " (" + lt.Format("2006-01-02 15:04:05 MST") + ")"
	}
	return s
}

// dash returns s, or "-" when s is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeSite prints the human form of a site's state: a header line
// "SITE: on (MODE)" or "SITE: off", followed by note when not empty, then
// one indented "key  value" line per field. When colour is not nil (see
// env.colour), the state word is written to it in colour: it is the raw
// terminal, and the word is made only of fixed ASCII text.
func writeSite(w io.Writer, colour io.Writer, s *maintenance.SiteState, note string) {
	word := s.Describe(time.Now())
	if colour != nil {
		fmt.Fprint(w, s.Site+": ")
		fmt.Fprint(colour, paint(word))
		word = ""
	} else {
		word = s.Site + ": " + word
	}
	if note != "" {
		word += ", " + note
	}
	fmt.Fprintln(w, word)
	// A message may hold newlines: show them as \n, so that each field
	// stays on its line.
	line := func(key, value string) { fmt.Fprintf(w, "  %-12s %s\n", key, strings.ReplaceAll(value, "\n", `\n`)) }
	now := time.Now()
	stored := s
	if e := s.Effective(now); e.On {
		// Show the site as it applies: during a scheduled window, as the
		// window makes it (the header names the window).
		s = &e
	}
	if s.On {
		line("message", dash(s.Message))
		for _, tag := range slices.Sorted(maps.Keys(s.Messages)) {
			line("message "+tag, s.Messages[tag])
		}
		line("reason", dash(s.Reason))
		line("status", strconv.Itoa(s.EffectiveStatus()))
		retry := "-"
		if s.RetryAfter > 0 {
			retry = s.RetryAfter.String()
		}
		line("retry-after", retry)
		line("redirect", dash(s.Redirect))
		if !s.From.IsZero() {
			from := formatTime(s.From)
			if s.From.After(now) {
				from += " (scheduled: the site is up until then)"
			}
			line("from", from)
		}
		if !s.Until.IsZero() {
			line("until", formatTime(s.Until)+" (back up by itself then)")
		}
	}
	if from, until, message, ok := stored.Next(now); ok {
		next := formatSpan(from, until)
		if message != "" {
			next += ": " + message
		}
		line("next", next)
	}
	if s.ErrorStatus != 0 {
		line("error status", strconv.Itoa(s.ErrorStatus))
	}
	since := formatTime(s.ChangedAt)
	if since != "-" && s.ChangedBy != "" {
		since += " by " + s.ChangedBy
	}
	line("since", since)
	rules := func(key string, rs []maintenance.Rule) {
		if len(rs) == 0 {
			line(key, "-")
			return
		}
		width := 0
		for _, r := range rs {
			width = max(width, len(r.Value))
		}
		for i, r := range rs {
			v := r.Value
			if r.Note != "" {
				v = fmt.Sprintf("%-*s  %s", width, r.Value, r.Note)
			}
			if i > 0 {
				key = ""
			}
			line(key, v)
		}
	}
	rules("ignore", s.Ignore)
	rules("allow", s.Allow)
	line("version", strconv.FormatInt(s.Version, 10))
}

// table writes aligned columns: rows of cells separated by two spaces.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, dash(c))
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// ANSI colours of the state word: red for a site in maintenance, yellow
// for one that will be, green for one that is off.
const (
	ansiRed    = "\x1b[1;31m"
	ansiYellow = "\x1b[33m"
	ansiGreen  = "\x1b[32m"
	ansiReset  = "\x1b[0m"
)

// paint returns the state word word in its colour.
func paint(word string) string {
	c := ansiGreen
	switch {
	case strings.HasPrefix(word, "on"):
		c = ansiRed
	case strings.HasPrefix(word, "scheduled"):
		c = ansiYellow
	}
	return c + word + ansiReset
}

// colour returns the raw standard output when the state may be shown in
// colour: stdout is a terminal, NO_COLOR is unset or empty
// (https://no-color.org), and TERM is not "dumb"; else nil.
func (e *env) colour() io.Writer {
	if e.getenv("NO_COLOR") != "" || e.getenv("TERM") == "dumb" || !isTerminal(e.rawStdout) {
		return nil
	}
	return e.rawStdout
}
