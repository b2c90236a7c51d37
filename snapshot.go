package maintenance

import (
	"encoding/json"
	"html/template"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gomaint/maintenance/internal/hostmatch"
)

// snapshot is an immutable, compiled view of a State. Everything costly
// (pattern compilation, CIDR parsing, page rendering) happens when it is
// built; the hot path only reads it.
type snapshot struct {
	version int64
	// digest identifies the state's content, so that a store that lost its
	// history and reached the same version again with other content is
	// not mistaken for the state served.
	digest uint64
	// anyOn is false when no site is on: every request passes at once.
	anyOn bool
	// sites finds a request's site by its host; def is its "*".
	sites hostmatch.Table[*siteSnap]
	def   *siteSnap
	// on lists the sites that are on when they are few and "*" is off
	// (onFew): then a request whose host matches none of them is passed
	// without a lookup.
	on    []onEntry
	onFew bool
	// replaceErrors is true while the gate's release differs from the
	// fleet's target release: every site's server errors are replaced.
	replaceErrors bool
	// announce is true when some site that is off announces a coming
	// window: its requests then carry a Status for banners.
	announce bool
	// auth has the bypass links and admin users; nil when there are none.
	auth *authSnap
	// pages are the stored pages by site; local the gate's --templates.
	pages map[string]*pageSnap
	local *pages
	// next is the first window boundary after the snapshot was built (a
	// site going down or back up by itself); zero when there is none. The
	// gate builds a new snapshot then, so no request reads the clock.
	next time.Time
}

// maxOnFew is the most sites on for which onSite compares hosts one by one.
const maxOnFew = 8

// onEntry is a site that is on, for the onFew path.
type onEntry struct {
	// name is an exact site, or a wildcard's suffix with its dot
	// (".example.com" for "*.example.com").
	name string
	wild bool
	// head is the first 8 bytes of an exact name, or'ed with 0x20 (a
	// cheap necessary test before hostIs); 0 when the name is shorter.
	head uint64
	ss   *siteSnap
}

// head8 returns the first 8 bytes of s, each or'ed with 0x20 (which folds
// ASCII letters to lower case), or 0 when s is shorter than 8 bytes.
func head8(s string) uint64 {
	if len(s) < 8 {
		return 0
	}
	_ = s[7]
	return (uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56) | 0x2020202020202020
}

// siteSnap is one site, compiled.
type siteSnap struct {
	name   string
	state  SiteState
	on     bool
	mode   Mode
	exempt matcher
	allow  allowSet
	// redirectPath and redirectHost identify the redirect target, which
	// always passes so that a redirect never loops.
	redirectPath, redirectHost string
	ans                        *answer
	status                     *siteStatus
	statusJSON                 body
	// errAns replaces server errors (deploy-error mode); forcedAns answers
	// the routes of Gate.ForceOn while the site is not in mode full. Both
	// are built on first use.
	errAns, forcedAns atomic.Pointer[answer]
}

// Status is the state of a request's site as the gate saw it, for banners and
// status endpoints. Get it with StatusFrom.
type Status struct {
	Site string `json:"site"`
	// On is true while the site is in maintenance now.
	On      bool   `json:"on"`
	Mode    Mode   `json:"mode"`
	Message string `json:"message"`
	// RetryAfter is the configured Retry-After in seconds; 0 when none.
	RetryAfter int `json:"retry_after"`
	// Starts announces maintenance that is switched on for a later time
	// (banners: "maintenance tonight 22:00"); zero when none.
	Starts time.Time `json:"starts,omitzero"`
	// Until is when the maintenance ends by itself; zero when unknown.
	Until   time.Time `json:"until,omitzero"`
	Version int64     `json:"version"`
	// Reasons lists why this gate serves the maintenance page for the
	// site now (ReasonFull, ReasonReadOnly, ReasonHold: the site's mode
	// while it is on; ReasonErrors: on in mode errors; ReasonRelease: this
	// gate's release differs from the fleet's target), so that a page
	// served for one reason knows when that reason is over. Empty, never
	// nil, when there is none. It is shared: do not modify it.
	Reasons []string `json:"reasons"`
}

// Shared Reasons of Status.
var (
	noReasons      = []string{}
	releaseReasons = []string{ReasonRelease}
	modeReasons    = map[reason][]string{
		reasonFull: {ReasonFull}, reasonReadOnly: {ReasonReadOnly}, reasonHold: {ReasonHold}, reasonErrors: {ReasonErrors},
	}
)

// pages chooses the page template of a site.
type pages struct {
	def   *template.Template
	sites map[string]*template.Template
	// assets are DIR/assets/ of --templates, for every site.
	assets map[string]*assetBody
}

func (p *pages) forSite(name string) *template.Template {
	if t, ok := p.sites[name]; ok {
		return t
	}
	if p.def != nil {
		return p.def
	}
	return defaultPage
}

// buildConfig is what the gate adds to the store's state, and what one
// build hands to the next so that unchanged parts are not compiled or
// rendered again. Builds run one at a time.
type buildConfig struct {
	exempt []Pattern
	pages  *pages
	logger *slog.Logger
	// release is the gate's own release.
	release string

	patterns map[string]Pattern
	answers  map[answerKey]*answer
	// compiled are the stored pages of the last build, by digest.
	compiled map[string]*pageSnap
}

// answerKey is what a site's maintenance answer depends on.
type answerKey struct {
	site, message, redirect string
	// messages are the translations, encoded (messagesKey).
	messages    string
	mode        Mode
	status      int
	retryAfter  time.Duration
	from, until time.Time
	tmpl        *template.Template
}

// messagesKey encodes translations for an answerKey.
func messagesKey(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	var b strings.Builder
	for _, tag := range sortedKeys(m) {
		b.WriteString(tag)
		b.WriteByte(0)
		b.WriteString(m[tag])
		b.WriteByte(0)
	}
	return b.String()
}

// build carries the caches of one build.
type build struct {
	cfg      *buildConfig
	now      time.Time
	next     time.Time // the first window boundary after now
	announce bool      // some site that is off announces a window
	release  bool      // the gate's release differs from the target
	patterns map[string]Pattern
	answers  map[answerKey]*answer
	compiled map[string]*pageSnap
	snap     *snapshot
}

func (b *build) pattern(v string) (Pattern, error) {
	if p, ok := b.patterns[v]; ok {
		return p, nil
	}
	p, ok := b.cfg.patterns[v]
	if !ok {
		var err error
		if p, err = ParsePattern(v); err != nil {
			return p, err
		}
	}
	b.patterns[v] = p
	return p, nil
}

func (b *build) answer(st *SiteState) *answer {
	t := b.snap.template(st.Site)
	k := answerKey{st.Site, st.Message, st.Redirect, messagesKey(st.Messages), st.Mode, st.Status, st.RetryAfter, st.From, st.Until, t}
	if a, ok := b.answers[k]; ok {
		return a
	}
	a, ok := b.cfg.answers[k]
	if !ok {
		a = answerFor(st, t, reasonOf(st.Mode))
	}
	b.answers[k] = a
	return a
}

// buildSnapshot compiles st as it stands at now (windows decided). It never
// fails: a rule that does not compile (the store validated it, so this means
// a newer writer) is logged and skipped.
func buildSnapshot(st *State, cfg *buildConfig, now time.Time) *snapshot {
	s := &snapshot{
		version:       st.Version,
		digest:        st.digest(),
		replaceErrors: cfg.release != "" && st.Release != "" && cfg.release != st.Release,
	}
	b := &build{cfg: cfg, now: now, release: s.replaceErrors, patterns: make(map[string]Pattern), answers: make(map[answerKey]*answer),
		compiled: make(map[string]*pageSnap), snap: s}
	defer func() { cfg.patterns, cfg.answers, cfg.compiled = b.patterns, b.answers, b.compiled }()
	s.local = cfg.pages
	if s.local == nil {
		s.local = &pages{}
	}
	if len(st.Pages) > 0 {
		s.pages = make(map[string]*pageSnap, len(st.Pages))
		for i := range st.Pages {
			if ps := b.compilePage(&st.Pages[i]); ps != nil {
				s.pages[st.Pages[i].Site] = ps
			}
		}
	}
	var def *SiteState
	if d := st.Site(DefaultSite); d != nil {
		def = d
	} else {
		def = &SiteState{Site: DefaultSite}
	}
	for i := range st.Sites {
		ss := b.site(&st.Sites[i], def)
		s.sites.Add(ss.name, ss)
		if ss.on {
			s.anyOn = true
			if e := (onEntry{name: ss.name, head: head8(ss.name), ss: ss}); strings.HasPrefix(ss.name, "*.") {
				e.name, e.wild = ss.name[1:], true
				s.on = append(s.on, e)
			} else if ss.name != DefaultSite {
				s.on = append(s.on, e)
			}
		}
	}
	if s.def = s.sites.Default(); s.def == nil {
		s.def = b.site(def, def)
		s.sites.Add(DefaultSite, s.def)
	}
	s.next, s.announce = b.next, b.announce
	s.auth = buildAuth(st)
	// hostIs relies on names without ':'; an IPv6 site takes the full lookup.
	s.onFew = !s.def.on && len(s.on) <= maxOnFew && !slices.ContainsFunc(s.on, func(e onEntry) bool { return strings.Contains(e.name, ":") })
	if !s.onFew {
		s.on = nil
	}
	return s
}

// onSite returns the site of host when that site is on, else nil. With few
// sites on and "*" off, a host that matches none of them is off without a
// map lookup; only a host under an on wildcard needs the full lookup, since a
// declared site or a longer wildcard below it may be off.
func (s *snapshot) onSite(host string) *siteSnap {
	if !s.anyOn {
		return nil
	}
	if s.onFew && host != "" && host[0] != '[' {
		under := false
		head := head8(host)
		for i := range s.on {
			e := &s.on[i]
			if !e.wild {
				// The first 8 bytes, folded, rule out most hosts at once.
				if (e.head == 0 || e.head == head) && hostIs(host, e.name) {
					return e.ss
				}
				continue
			}
			// A host shorter than the suffix cannot be under it: no need
			// to look for its port. (A host equal to the suffix, with an
			// empty first label, is left to site(), which puts it under.)
			if !under && len(host) >= len(e.name) {
				h := hostName(host)
				under = len(h) >= len(e.name) && asciiEqualFold(h[len(h)-len(e.name):], e.name)
			}
		}
		if !under {
			return nil
		}
	}
	if ss := s.site(host); ss.on {
		return ss
	}
	return nil
}

// hostIs reports whether a Host header value names site: the site's name,
// folded, then the end, a port, or a trailing dot. It agrees with site():
// a name never holds ':', so the first ':' is where the name ends.
func hostIs(host, site string) bool {
	n := len(site)
	if len(host) < n || !asciiEqualFold(host[:n], site) {
		return false
	}
	rest := host[n:]
	if rest != "" && rest[0] == '.' {
		rest = rest[1:]
	}
	return rest == "" || rest[0] == ':'
}

// hostName returns a Host header value up to its first ':', without a
// trailing dot, as site() sees it.
func hostName(host string) string {
	if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	return host
}

// asciiEqualFold compares two strings of the same length, folding ASCII
// letters only (a Host header is ASCII; Unicode folding would match the
// Kelvin sign with "k").
func asciiEqualFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func (b *build) site(stored, def *SiteState) *siteSnap {
	cfg := b.cfg
	edge := func(t time.Time) {
		if t.After(b.now) && (b.next.IsZero() || t.Before(b.next)) {
			b.next = t
		}
	}
	if stored.On {
		edge(stored.From)
		edge(stored.Until)
	}
	for _, w := range stored.Schedule {
		edge(w.From)
		edge(w.Until)
	}
	eff := stored.Effective(b.now)
	st := &eff
	ss := &siteSnap{name: st.Site, state: eff, on: st.On, mode: st.Mode}
	if ss.mode == "" {
		ss.mode = ModeFull
	}
	status := Status{Site: st.Site, On: ss.on, Version: st.Version, Reasons: noReasons}
	switch {
	case ss.on && b.release:
		status.Reasons = []string{reasonOf(ss.mode).String(), ReasonRelease}
	case ss.on:
		status.Reasons = modeReasons[reasonOf(ss.mode)]
	case b.release:
		status.Reasons = releaseReasons
	}
	if ss.on {
		status.Mode, status.Message, status.Until = ss.mode, st.Message, st.Until
		status.RetryAfter = int((st.RetryAfter + time.Second - 1) / time.Second)
	} else if from, until, msg, ok := stored.Next(b.now); ok {
		status.Starts, status.Until, status.Message = from, until, msg
		b.announce = true
	}
	ss.status = newSiteStatus(status)
	j, _ := json.Marshal(status)
	ss.statusJSON = newBody(append(j, '\n'))
	if !ss.on {
		return ss
	}
	for _, p := range cfg.exempt {
		ss.exempt.add(p)
	}
	rules := [][]Rule{st.Ignore}
	allows := [][]Rule{st.Allow}
	if st.Site != def.Site {
		rules, allows = append(rules, def.Ignore), append(allows, def.Allow)
	}
	for _, rs := range rules {
		for _, r := range rs {
			p, err := b.pattern(r.Value)
			if err != nil {
				cfg.logger.Error("maintenance: skipping an ignore pattern that does not parse", "site", st.Site, "pattern", r.Value, "err", err)
				continue
			}
			ss.exempt.add(p)
		}
	}
	for _, rs := range allows {
		for _, r := range rs {
			p, err := ParseAllow(r.Value)
			if err != nil {
				cfg.logger.Error("maintenance: skipping an allow entry that does not parse", "site", st.Site, "entry", r.Value, "err", err)
				continue
			}
			ss.allow.add(p)
		}
	}
	ss.exempt.build()
	if st.Redirect != "" {
		if u, err := parseRedirect(st.Redirect); err == nil {
			ss.redirectPath, ss.redirectHost = u.Path, strings.ToLower(u.Hostname())
		}
	}
	ss.ans = b.answer(st)
	return ss
}

// site returns the site of a Host header value: the exact host, then the
// longest matching wildcard, then "*" (see hostmatch). It does not allocate.
func (s *snapshot) site(host string) *siteSnap { return s.sites.Lookup(host) }

// sameHost compares a lower-case host name with a Host header value.
func sameHost(host, header string) bool {
	h, ok := hostmatch.Name(header)
	return ok && strings.EqualFold(h, host)
}
