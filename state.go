package maintenance

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gomaint/maintenance/internal/safetext"
)

// Mode says what a site that is on lets through.
type Mode string

// The modes of a site that is on.
const (
	// ModeFull blocks every request that no rule lets through.
	ModeFull Mode = "full"
	// ModeReadOnly lets GET, HEAD and OPTIONS through and blocks the rest.
	ModeReadOnly Mode = "read-only"
	// ModeErrors lets every request through but replaces server errors
	// (5xx, panics, an upstream that is down) with the maintenance answer,
	// as during a deploy (deploy-error mode).
	ModeErrors Mode = "errors"
	// ModeHold holds the requests that would get the maintenance answer
	// until the site is off again, for cut-overs of a few seconds: they
	// wait (at most Options.HoldTimeout, and Options.HoldLimit of them
	// at once), then go on to the application, or get the maintenance
	// answer when the wait runs out.
	ModeHold Mode = "hold"
)

// ParseMode validates a mode name. The empty string means ModeFull.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeFull:
		return ModeFull, nil
	case ModeReadOnly, ModeErrors, ModeHold:
		return Mode(s), nil
	}
	return "", invalidf("mode %q: accepted: full, read-only, errors, hold", s)
}

// DefaultStatus is the status code of the maintenance answer.
const DefaultStatus = 503

// SiteState is the whole stored state of one site.
type SiteState struct {
	Site string `json:"site"`
	On   bool   `json:"on"`
	// Mode is set while the site is on; empty means ModeFull.
	Mode Mode `json:"mode,omitempty"`
	// Message is shown to visitors on the maintenance page.
	Message string `json:"message,omitempty"`
	// Messages are the message in other languages, by language tag (in
	// the form ParseLang returns: "de", "pt-BR"): a visitor whose
	// Accept-Language prefers one of them gets it instead of Message. At
	// most MaxMessages.
	Messages map[string]string `json:"messages,omitempty"`
	// Reason is for operators (audit log, status); never shown to visitors.
	Reason string `json:"reason,omitempty"`
	// Status is the maintenance answer's status code; 0 means DefaultStatus.
	Status int `json:"status,omitempty"`
	// RetryAfter is sent as Retry-After when no end time is known; 0 sends none.
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	// Redirect, when set, sends HTML clients a 302 to this URL.
	Redirect string `json:"redirect,omitempty"`
	// From and Until bound the activation, half-open: a site that is on is
	// in maintenance from From (zero: at once) until Until (zero: until
	// switched off). Every gate goes down and back up by itself at those
	// instants. Times are kept in UTC.
	From  time.Time `json:"from,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Schedule lists windows planned ahead (`maintenance schedule add`),
	// sorted by start, kept across on and off: during one, a site that is
	// off is in maintenance with the window's message and mode. Windows that
	// have ended are dropped by the next change of the site.
	Schedule []Window `json:"schedule,omitempty"`

	Ignore []Rule `json:"ignore,omitempty"`
	Allow  []Rule `json:"allow,omitempty"`
	// ErrorStatus is the status of the maintenance answer that replaces a
	// server error (deploy-error mode); 0 means DefaultStatus. Like
	// the rules, it is kept across on and off: some load balancers take a
	// 503 for a dead node.
	ErrorStatus int `json:"error_status,omitempty"`

	// ChangedBy and ChangedAt say who last switched the site on or off, and when.
	ChangedBy string    `json:"changed_by,omitempty"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
	// Version is the store version of the last change to this site.
	Version int64 `json:"version"`
}

// Rule is an ignore pattern or an allow entry, with an operator's note.
type Rule struct {
	Value string `json:"value"`
	Note  string `json:"note,omitempty"`
}

// State is everything a store holds apart from the audit log. It is small and
// always read and written whole.
type State struct {
	// Version grows with every change.
	Version int64 `json:"version"`
	// Sites are the declared sites, sorted by name. The default site "*" is
	// always present in a state returned by a store.
	Sites []SiteState `json:"sites"`
	// Release is the fleet's target release: a gate whose own release
	// differs replaces server errors with the maintenance answer (deploy-error mode).
	// Empty: no target.
	Release string `json:"release,omitempty"`

	// Users may sign in to the admin page, sorted by name.
	Users []User `json:"users,omitempty"`
	// Tokens are the API tokens, in the order they were created.
	Tokens []Token `json:"tokens,omitempty"`
	// Links are the bypass links, in the order they were created. Links
	// that have expired go with the next change of the state.
	Links []BypassLink `json:"bypass_links,omitempty"`
	// Pages are the maintenance pages kept in the store (`maintenance page
	// set`), at most one per site, sorted by site.
	Pages []Page `json:"pages,omitempty"`
	// Webhooks receive events (Deliverer), in the order they were added.
	Webhooks []Webhook `json:"webhooks,omitempty"`
}

// Window is a planned maintenance window of a site, half-open: [From, Until).
type Window struct {
	// ID names the window within its site, for `schedule rm`.
	ID      int       `json:"id"`
	From    time.Time `json:"from"`
	Until   time.Time `json:"until"`
	Message string    `json:"message,omitempty"`
	// Messages are the message in other languages, as SiteState.Messages.
	Messages map[string]string `json:"messages,omitempty"`
	// Mode is the mode during the window; empty means ModeFull.
	Mode   Mode   `json:"mode,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Active reports whether the site is in maintenance at t: switched on and
// inside its window, or inside a scheduled window.
func (s *SiteState) Active(t time.Time) bool {
	return s.switchedOn(t) || s.window(t) != nil
}

func (s *SiteState) switchedOn(t time.Time) bool {
	return s.On && (s.From.IsZero() || !t.Before(s.From)) && (s.Until.IsZero() || t.Before(s.Until))
}

// window returns the scheduled window that covers t, or nil.
func (s *SiteState) window(t time.Time) *Window {
	for i := range s.Schedule {
		w := &s.Schedule[i]
		if !t.Before(w.From) && t.Before(w.Until) {
			return w
		}
	}
	return nil
}

// Effective returns the site's state as it applies at t: as stored while it
// is switched on; during a scheduled window, on with the window's message,
// mode, reason and bounds; otherwise off.
func (s *SiteState) Effective(t time.Time) SiteState {
	e := *s
	if s.switchedOn(t) {
		return e
	}
	if w := s.window(t); w != nil {
		e.On, e.Mode, e.Message, e.Messages, e.Reason, e.From, e.Until = true, w.Mode, w.Message, w.Messages, w.Reason, w.From, w.Until
		e.Status, e.RetryAfter, e.Redirect = 0, 0, ""
		return e
	}
	e.On, e.From, e.Until = false, time.Time{}, time.Time{}
	return e
}

// Next returns the next maintenance that starts after t, to announce it:
// the start of the switched-on window, or the first scheduled window.
func (s *SiteState) Next(t time.Time) (from, until time.Time, message string, ok bool) {
	if s.On && s.From.After(t) {
		from, until, message, ok = s.From, s.Until, s.Message, true
	}
	for _, w := range s.Schedule {
		if w.From.After(t) && (!ok || w.From.Before(from)) {
			from, until, message, ok = w.From, w.Until, w.Message, true
		}
	}
	return from, until, message, ok
}

// Site returns the site named name, or nil.
func (st *State) Site(name string) *SiteState {
	i, ok := slices.BinarySearchFunc(st.Sites, name, func(s SiteState, n string) int { return strings.Compare(s.Site, n) })
	if !ok {
		return nil
	}
	return &st.Sites[i]
}

// Clone returns a deep copy of st.
func (st *State) Clone() *State {
	c := &State{Version: st.Version, Sites: make([]SiteState, len(st.Sites)), Release: st.Release,
		Users: slices.Clone(st.Users), Tokens: slices.Clone(st.Tokens), Links: slices.Clone(st.Links),
		Pages:    slices.Clone(st.Pages), // a page's assets are never modified in place
		Webhooks: slices.Clone(st.Webhooks)}
	for i, s := range st.Sites {
		s.Ignore = slices.Clone(s.Ignore)
		s.Allow = slices.Clone(s.Allow)
		s.Schedule = slices.Clone(s.Schedule)
		for j := range s.Schedule {
			s.Schedule[j].Messages = maps.Clone(s.Schedule[j].Messages)
		}
		s.Messages = maps.Clone(s.Messages)
		c.Sites[i] = s
	}
	return c
}

// addSite declares name if it is new and returns it.
func (st *State) addSite(name string) *SiteState {
	i, ok := slices.BinarySearchFunc(st.Sites, name, func(s SiteState, n string) int { return strings.Compare(s.Site, n) })
	if !ok {
		st.Sites = slices.Insert(st.Sites, i, SiteState{Site: name})
	}
	return &st.Sites[i]
}

// normalize makes a state read from a store complete: "*" is always declared.
func (st *State) normalize() {
	st.addSite(DefaultSite)
}

// decodeState decodes a state document (the JSON encoding of a State) as
// stores keep it, with its version kept beside it; an empty document is the
// empty state. The result is normalized.
func decodeState(doc []byte, version int64) (*State, error) {
	st := new(State)
	if len(doc) > 0 {
		if err := json.Unmarshal(doc, st); err != nil {
			return nil, fmt.Errorf("decoding the state document: %w", err)
		}
	}
	st.Version = version
	st.Normalize()
	return st, nil
}

// Normalize completes a state read from a store: sites sorted and the default
// site present. Stores call it on what they read.
func (st *State) Normalize() {
	slices.SortFunc(st.Sites, func(a, b SiteState) int { return strings.Compare(a.Site, b.Site) })
	slices.SortFunc(st.Users, func(a, b User) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(st.Pages, func(a, b Page) int { return strings.Compare(a.Site, b.Site) })
	st.normalize()
}

// normalized reports whether Normalize would leave st as it is.
func (st *State) normalized() bool {
	return st.Site(DefaultSite) != nil && slices.IsSortedFunc(st.Sites, func(a, b SiteState) int { return strings.Compare(a.Site, b.Site) }) &&
		slices.IsSortedFunc(st.Users, func(a, b User) int { return strings.Compare(a.Name, b.Name) }) &&
		slices.IsSortedFunc(st.Pages, func(a, b Page) int { return strings.Compare(a.Site, b.Site) })
}

// digestSeed keys state digests; digests are compared within one process.
var digestSeed = maphash.MakeSeed()

// digest returns a hash of the state's content.
func (st *State) digest() uint64 {
	b, err := json.Marshal(st)
	if err != nil {
		return 0
	}
	return maphash.Bytes(digestSeed, b)
}

// Validate checks the whole state. Store.Update checks the sites that
// the change touches this way before anything is written.
func (st *State) Validate() error { return st.validate(nil) }

// validate checks st. With cur, the state st was made from, only what
// changed is checked: a site as it is in cur is not checked again, and in a
// site that changed, a problem that cur's site already had is let be, so
// that an invalid value in a store (a hand-edited file) blocks no change to
// the other sites, nor the changes that repair it one field at a time.
func (st *State) validate(cur *State) error {
	if st.Release != "" {
		if _, err := ParseRelease(st.Release); err != nil {
			return err
		}
	}
	for i := range st.Sites {
		s := &st.Sites[i]
		if i > 0 && st.Sites[i-1].Site >= s.Site {
			return invalidf("site %q is declared twice", s.Site)
		}
		var old *SiteState
		if cur != nil {
			old = cur.Site(s.Site)
		}
		if old == nil {
			if err := s.Validate(); err != nil {
				return err
			}
			continue
		}
		if reflect.DeepEqual(old, s) {
			continue
		}
		errs := s.check(true)
		if len(errs) == 0 {
			continue
		}
		had := map[string]bool{}
		for _, e := range old.check(true) {
			had[e.Error()] = true
		}
		for _, e := range errs {
			if !had[e.Error()] {
				return e
			}
		}
	}
	for i := range st.Pages {
		p := &st.Pages[i]
		if err := p.validate(); err != nil {
			return err
		}
		if st.Site(p.Site) == nil {
			return invalidf("page of site %q: the site is not declared", p.Site)
		}
		if i > 0 && st.Pages[i-1].Site == p.Site {
			return invalidf("site %q has two pages", p.Site)
		}
	}
	if err := st.validateWebhooks(); err != nil {
		return err
	}
	return st.validateAuth()
}

// Validate checks one site's state: its name, every field and every rule.
// The error wraps ErrInvalid and names the field and its value.
func (s *SiteState) Validate() error {
	if errs := s.check(false); len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// check returns the site's first problem, or every one when all is set.
func (s *SiteState) check(all bool) (errs []error) {
	// add records err; it reports whether to stop.
	add := func(err error) bool {
		errs = append(errs, err)
		return !all
	}
	if c, err := ParseSite(s.Site); err != nil {
		if add(err) {
			return errs
		}
	} else if c != s.Site {
		if add(invalidf("site %q is not in canonical form %q", s.Site, c)) {
			return errs
		}
	}
	if _, err := ParseMode(string(s.Mode)); err != nil {
		if add(err) {
			return errs
		}
	}
	if err := validateStatus(s.Status); err != nil {
		if add(err) {
			return errs
		}
	}
	if err := ValidateErrorStatus(s.ErrorStatus); err != nil {
		if add(err) {
			return errs
		}
	}
	if err := validateRetryAfter(s.RetryAfter); err != nil {
		if add(err) {
			return errs
		}
	}
	if err := validateMessage("message", s.Message); err != nil {
		if add(err) {
			return errs
		}
	}
	if err := validateMessages(s.Messages); err != nil {
		if add(err) {
			return errs
		}
	}
	if err := ValidateReason(s.Reason); err != nil {
		if add(err) {
			return errs
		}
	}
	if err := validateLine("changed by", s.ChangedBy); err != nil {
		if add(err) {
			return errs
		}
	}
	if s.Redirect != "" {
		if _, err := parseRedirect(s.Redirect); err != nil {
			if add(err) {
				return errs
			}
		}
	}
	for _, t := range []struct {
		what string
		t    time.Time
	}{{"from", s.From}, {"until", s.Until}, {"changed at", s.ChangedAt}} {
		if err := validateTime(t.what, t.t); err != nil {
			if add(err) {
				return errs
			}
		}
	}
	if !s.From.IsZero() && !s.Until.IsZero() && !s.Until.After(s.From) {
		if add(invalidf("site %q: the end %s is not after the start %s", s.Site, s.Until.UTC().Format(time.RFC3339), s.From.UTC().Format(time.RFC3339))) {
			return errs
		}
	}
	if s.Version < 0 {
		if add(invalidf("site %q: version %d: accepted: 0 or more", s.Site, s.Version)) {
			return errs
		}
	}
	if len(s.Schedule) > MaxWindows {
		if add(invalidf("site %q has %d scheduled windows; accepted: at most %d", s.Site, len(s.Schedule), MaxWindows)) {
			return errs
		}
	}
	for j, w := range s.Schedule {
		if err := validateTime("window from", w.From); err != nil {
			if add(err) {
				return errs
			}
		}
		if err := validateTime("window until", w.Until); err != nil {
			if add(err) {
				return errs
			}
		}
		if w.From.IsZero() || w.Until.IsZero() || !w.Until.After(w.From) {
			if add(invalidf("window %d of site %q: the end %s is not after the start %s", w.ID, s.Site, w.Until.UTC().Format(time.RFC3339), w.From.UTC().Format(time.RFC3339))) {
				return errs
			}
		}
		if j > 0 && w.From.Before(s.Schedule[j-1].Until) {
			p := s.Schedule[j-1]
			if add(invalidf("window %s - %s of site %q overlaps window %d (%s - %s)", w.From.UTC().Format(time.RFC3339), w.Until.UTC().Format(time.RFC3339), s.Site, p.ID, p.From.UTC().Format(time.RFC3339), p.Until.UTC().Format(time.RFC3339))) {
				return errs
			}
		}
		if _, err := ParseMode(string(w.Mode)); err != nil {
			if add(err) {
				return errs
			}
		}
		if err := validateMessage("message", w.Message); err != nil {
			if add(err) {
				return errs
			}
		}
		if err := validateMessages(w.Messages); err != nil {
			if add(err) {
				return errs
			}
		}
		if err := ValidateReason(w.Reason); err != nil {
			if add(err) {
				return errs
			}
		}
	}
	if len(s.Ignore) > MaxRules {
		if add(invalidf("site %q has %d ignore patterns; accepted: at most %d per site (one /prefix/* or ^regex covers many paths)", s.Site, len(s.Ignore), MaxRules)) {
			return errs
		}
	}
	if len(s.Allow) > MaxRules {
		if add(invalidf("site %q has %d allow entries; accepted: at most %d per site (one CIDR prefix covers many addresses)", s.Site, len(s.Allow), MaxRules)) {
			return errs
		}
	}
	size, broad := 0, 0
	for _, r := range s.Ignore {
		p, err := ParsePattern(r.Value)
		if err != nil {
			if add(err) {
				return errs
			}
		} else {
			if p.Kind == Regexp && len(p.folded) <= 1 {
				if broad++; broad > MaxBroadRegexps {
					if add(invalidf("site %q: pattern %q has no literal prefix beyond \"/\", and the site has %d such already; accepted: at most %d per site, since they run on every blocked request (start it with a literal path, like ^/api/v[0-9]+, or combine them into one)", s.Site, r.Value, MaxBroadRegexps, MaxBroadRegexps)) {
						return errs
					}
				}
			}
			if size += p.size; size > MaxSiteRegexpSize {
				if add(invalidf("site %q: its ^regex ignore patterns compile to more than %d instructions with %q; accepted: at most %d per site (use /prefix/* or fewer, simpler expressions)", s.Site, MaxSiteRegexpSize, r.Value, MaxSiteRegexpSize)) {
					return errs
				}
			}
		}
		if err := ValidateNote(r.Note); err != nil {
			if add(err) {
				return errs
			}
		}
	}
	for _, r := range s.Allow {
		if _, err := ParseAllow(r.Value); err != nil {
			if add(err) {
				return errs
			}
		}
		if err := ValidateNote(r.Note); err != nil {
			if add(err) {
				return errs
			}
		}
	}
	return errs
}

// Times a state may hold: from the Unix epoch to the end of year 9999, the
// range that every store and RFC 3339 (JSON) can represent.
var (
	earliestTime = time.Unix(0, 0).UTC()
	latestTime   = time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)
)

// validateTime checks a time of the state; the zero time means unset.
func validateTime(what string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if t.Before(earliestTime) || t.After(latestTime) {
		return invalidf("%s %s: accepted: a time from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z", what, t.UTC().Format(time.RFC3339))
	}
	return nil
}

// MaxWindows is the most scheduled windows a site may have.
const MaxWindows = 100

// MaxRelease is the longest release ID, in bytes.
const MaxRelease = 128

// ParseRelease validates a release ID: 1 to 128 printable ASCII characters
// without spaces (a version, a git commit, a build number).
func ParseRelease(id string) (string, error) {
	if id == "" || len(id) > MaxRelease {
		return "", invalidf("release %q: accepted: 1 to %d printable characters without spaces, like v1.4.2 or 3f9c2ab", id, MaxRelease)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f {
			return "", invalidf("release %q: accepted: 1 to %d printable characters without spaces, like v1.4.2 or 3f9c2ab", id, MaxRelease)
		}
	}
	return id, nil
}

func validateStatus(code int) error {
	if code == 0 || code == 200 || code >= 400 && code <= 599 {
		return nil
	}
	return invalidf("status %d: accepted: 200 or 400-599 (default 503)", code)
}

// MaxRetryAfter is the longest Retry-After a site may announce.
const MaxRetryAfter = 7 * 24 * time.Hour

func validateRetryAfter(d time.Duration) error {
	if d == 0 {
		return nil
	}
	if d < time.Second || d > MaxRetryAfter {
		return invalidf("retry-after %s: accepted: a duration from 1s to 168h, like 90s or 2h", d)
	}
	return nil
}

// MaxText is the longest message, reason, note or label, in bytes.
const MaxText = 2000

// validateMessage checks a visitor's message: at most MaxText bytes of
// UTF-8 without control or format characters, newlines and tabs apart.
func validateMessage(what, s string) error { return checkText(what, s, true) }

// validateLine checks a one-line text field (a reason, a note, a label, an
// actor): at most MaxText bytes of UTF-8 without control or format
// characters, newlines and tabs included, since they could fake or hide a
// row of the audit log on an operator's terminal.
func validateLine(what, s string) error { return checkText(what, s, false) }

func checkText(what, s string, multiline bool) error {
	if len(s) > MaxText {
		return invalidf("%s is %d bytes long; accepted: at most %d", what, len(s), MaxText)
	}
	if bad := safetext.Check(s, multiline); bad != "" {
		accepted := "text without control or format characters"
		if multiline {
			accepted += " (newlines and tabs apart)"
		}
		return invalidf("%s %q: %s; accepted: %s", what, s, bad, accepted)
	}
	return nil
}

// MaxMessages is the most languages a site's message may be given in
// (SiteState.Messages).
const MaxMessages = 32

// validateMessages checks a site's translated messages: tags in the form
// ParseLang returns, texts like a message, at most MaxMessages.
func validateMessages(m map[string]string) error {
	if len(m) > MaxMessages {
		return invalidf("messages in %d languages; accepted: at most %d", len(m), MaxMessages)
	}
	for tag, text := range m {
		c, err := ParseLang(tag)
		if err != nil {
			return err
		}
		if c != tag {
			return invalidf("language %q is not in canonical form %q", tag, c)
		}
		if err := validateMessage("message "+tag, text); err != nil {
			return err
		}
		if text == "" {
			return invalidf("message %s is empty; accepted: a text (to remove it, leave the language out)", tag)
		}
	}
	return nil
}

// ParseAllow parses an allow entry: an IPv4 or IPv6 address or a CIDR prefix.
// The canonical form is the address or the masked prefix.
func ParseAllow(s string) (netip.Prefix, error) {
	t := strings.TrimSpace(s)
	if strings.Contains(t, "/") {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return netip.Prefix{}, invalidf("allow entry %q: not an IP address or CIDR prefix; accepted: 203.0.113.7, 10.0.0.0/8, 2001:db8::/32", s)
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, invalidf("allow entry %q: zones are not accepted", s)
		}
		if m := p.Masked(); m != p {
			return netip.Prefix{}, invalidf("allow entry %q: host bits are set; did you mean %s?", s, m)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			if p.Bits() < 0 {
				return netip.Prefix{}, invalidf("allow entry %q: an IPv4-mapped prefix needs at least /96", s)
			}
		}
		return p, nil
	}
	a, err := netip.ParseAddr(t)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, invalidf("allow entry %q: not an IP address or CIDR prefix; accepted: 203.0.113.7, 10.0.0.0/8, 2001:db8::/32", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// canonicalAllow returns the stored form of an allow entry.
func canonicalAllow(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}
