package maintenance

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Webhook is an endpoint that receives an HTTP POST for every event it asks
// for (see Deliverer). Its signing secret is kept sealed with the store's
// server key (SealSecret): the state document alone does not reveal it.
type Webhook struct {
	// ID names the webhook (8 hex digits), in lists and in the audit log.
	ID string `json:"id"`
	// URL receives the POSTs: http or https, no user info, no fragment
	// (ParseWebhookURL).
	URL string `json:"url"`
	// Events are the event types or groups it receives (ParseEventTypes);
	// empty means every event.
	Events []string `json:"events,omitempty"`
	// Sites are the sites whose events it receives, in canonical form;
	// empty means every site. Events about no site (release, users,
	// tokens, webhooks) reach a webhook only when Sites is empty.
	Sites []string `json:"sites,omitempty"`
	// Format is the body: "json" (the default, WebhookPayload) or "slack"
	// ({"text": ...}).
	Format string `json:"format,omitempty"`
	// Remind lists how long before a scheduled start a reminder is sent.
	Remind []time.Duration `json:"remind,omitempty"`
	// MaxDuration, when set, sends a "maintenance.forgotten" event when a
	// site has been in maintenance with no end for that long.
	MaxDuration time.Duration `json:"max_duration,omitempty"`
	// Secret is the signing secret sealed with the server key (SealSecret).
	Secret string `json:"secret"`
	// Version is the state version that created the webhook: it receives
	// the events of later versions.
	Version   int64     `json:"version"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// Limits of webhooks.
const (
	MaxWebhooks = 100
	// MaxWebhookURL is the longest webhook URL, in bytes.
	MaxWebhookURL = 2000
	// MaxReminders is the most reminders a webhook may ask for.
	MaxReminders = 10
	// MaxRemind is the longest a reminder may come before a window.
	MaxRemind = 30 * 24 * time.Hour
	// MinWebhookSecret and MaxWebhookSecret bound a signing secret given
	// by the operator, in bytes.
	MinWebhookSecret = 16
	MaxWebhookSecret = 256
)

// The formats of webhook bodies.
const (
	WebhookJSON  = "json"
	WebhookSlack = "slack"
)

// Event types that no change commits: the Deliverer derives them from the
// state and the clock.
const (
	EventWindowStart = "window.start"
	EventWindowEnd   = "window.end"
	EventReminder    = "window.reminder"
	EventForgotten   = "maintenance.forgotten"
	// EventTest is sent by "maintenance webhook test".
	EventTest = "webhook.test"
)

// eventGroups are the accepted --events values: a group (every type that
// starts with it and a dot) or one of the types listed.
var eventGroups = map[string][]string{
	"on": nil, "off": nil, "restore": nil,
	"sites":       {"add", "rm", "set"},
	"ignore":      {"add", "rm"},
	"allow":       {"add", "rm"},
	"schedule":    {"add", "rm"},
	"release":     {"set"},
	"user":        {"add", "passwd", "rm"},
	"token":       {"create", "revoke"},
	"bypass":      {"create", "revoke"},
	"webhook":     {"add", "rm", "test"},
	"window":      {"start", "end", "reminder"},
	"maintenance": {"forgotten"},
}

// EventType returns the type of an audit event in webhook bodies: its
// action with dots for spaces ("on", "ignore.add", "user.add").
func EventType(action string) string { return strings.ReplaceAll(action, " ", ".") }

// ParseEventTypes validates a list of event types or groups, as given to
// --events: "on,off", "window", "schedule.add". It returns them sorted,
// without repeats.
func ParseEventTypes(list []string) ([]string, error) {
	var out []string
	for _, t := range list {
		t = strings.TrimSpace(t)
		group, sub, dotted := strings.Cut(t, ".")
		subs, ok := eventGroups[group]
		if ok && dotted {
			ok = slices.Contains(subs, sub)
		}
		if !ok {
			return nil, invalidf("event type %q: accepted: a type like on, off, ignore.add, window.start, window.reminder, maintenance.forgotten, or a group like window, user, schedule", t)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ParseWebhookFormat validates a webhook body format; "" means "json".
func ParseWebhookFormat(f string) (string, error) {
	switch f {
	case "", WebhookJSON:
		return WebhookJSON, nil
	case WebhookSlack:
		return WebhookSlack, nil
	}
	return "", invalidf("webhook format %q: accepted: json, slack", f)
}

// ParseWebhookURL validates a webhook URL: absolute http or https, a host,
// at most 2000 bytes, no user info (credentials go in the path or query,
// never in logs), no fragment, no control characters or spaces. Loopback
// and private addresses are accepted (an internal status page is a usual
// receiver); the Deliverer refuses to connect to link-local, multicast and
// unspecified addresses (cloud metadata endpoints), whatever the name
// resolves to.
func ParseWebhookURL(s string) (string, error) {
	bad := func(why string) error {
		return invalidf("webhook URL %q: %s; accepted: an http or https URL with a host and no user info, like https://hooks.example.com/maintenance", s, why)
	}
	if len(s) > MaxWebhookURL {
		return "", invalidf("webhook URL of %d bytes: accepted: at most %d", len(s), MaxWebhookURL)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == utf8.RuneError }) || !utf8.ValidString(s) {
		return "", bad("spaces and control characters are not accepted")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", bad("it does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", bad("the scheme is not http or https")
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return "", bad("it has no host")
	}
	if u.User != nil {
		return "", bad("user info (user:password@) is not accepted")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return "", bad("a fragment is not accepted")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", bad("the port is not 1 to 65535")
		}
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !webhookAddrAllowed(a) {
		return "", bad("link-local, cloud metadata, multicast and unspecified addresses are not accepted")
	}
	return u.String(), nil
}

// Cloud metadata endpoints outside the link-local ranges: AWS's IPv6 one
// (a unique local address) and Alibaba Cloud's (shared address space).
var metadataAddrs = []netip.Addr{netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.100.100.200")}

// Prefixes of IPv6 addresses that carry an IPv4 address the network may
// reach: NAT64's well-known prefix and IPv4-compatible addresses (the IPv4
// address in the last 32 bits), and 6to4 (in bits 16 to 47).
var (
	nat64Prefix     = netip.MustParsePrefix("64:ff9b::/96")
	v4CompatPrefix  = netip.MustParsePrefix("::/96")
	sixToFourPrefix = netip.MustParsePrefix("2002::/16")
)

// webhookAddrAllowed reports whether the Deliverer may connect to a: not a
// link-local, multicast or unspecified address, nor a cloud metadata
// endpoint, nor an IPv6 address carrying one of those IPv4 addresses.
func webhookAddrAllowed(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.Zone() != "" || slices.Contains(metadataAddrs, a) {
		return false
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64Prefix.Contains(a), v4CompatPrefix.Contains(a) && !a.IsLoopback():
			return webhookAddrAllowed(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFourPrefix.Contains(a):
			return webhookAddrAllowed(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	return true
}

// ParseReminders validates reminder offsets (--remind 1h,10m): each from
// 1 minute to 30 days, at most 10. It returns them longest first, without
// repeats.
func ParseReminders(ds []time.Duration) ([]time.Duration, error) {
	var out []time.Duration
	for _, d := range ds {
		if d < time.Minute || d > MaxRemind {
			return nil, invalidf("reminder %s: accepted: a duration from 1m to 720h, like 1h or 10m", d)
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	if len(out) > MaxReminders {
		return nil, invalidf("%d reminders: accepted: at most %d", len(out), MaxReminders)
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out, nil
}

// CheckWebhookSecret validates a signing secret given by the operator
// (--secret-stdin): 16 to 256 printable ASCII characters without spaces.
// The error never shows the secret.
func CheckWebhookSecret(s string) error {
	if len(s) < MinWebhookSecret || len(s) > MaxWebhookSecret {
		return invalidf("signing secret of %d bytes: accepted: %d to %d printable characters without spaces", len(s), MinWebhookSecret, MaxWebhookSecret)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return invalidf("signing secret: byte %d is a space, a control character or not ASCII; accepted: %d to %d printable characters without spaces", i+1, MinWebhookSecret, MaxWebhookSecret)
		}
	}
	return nil
}

// NewWebhookSecret returns a new signing secret: "whsec_" and 43
// characters (256 random bits, base64url).
func NewWebhookSecret() string {
	s, _ := NewSecret()
	return "whsec_" + s
}

// sealPrefix starts a sealed secret, naming the scheme.
const sealPrefix = "v1:"

// sealKey derives the key that seals webhook secrets from the server key,
// so that it is used for nothing else.
func sealKey(serverKey []byte) []byte {
	m := hmac.New(sha256.New, serverKey)
	m.Write([]byte("maintenance webhook secret v1"))
	return m.Sum(nil)
}

// SealSecret encrypts a webhook signing secret with AES-256-GCM under a key
// derived from the store's server key, bound to the webhook's ID, for
// Webhook.Secret. Only a holder of the server key can open it.
func SealSecret(serverKey []byte, id, secret string) (string, error) {
	if len(serverKey) != KeySize {
		return "", fmt.Errorf("sealing a webhook secret: the server key has %d bytes, want %d", len(serverKey), KeySize)
	}
	block, err := aes.NewCipher(sealKey(serverKey))
	if err != nil {
		return "", fmt.Errorf("sealing a webhook secret: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", fmt.Errorf("sealing a webhook secret: %w", err)
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("sealing a webhook secret: %w", err)
	}
	return sealPrefix + base64.RawURLEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(secret), []byte(id))), nil
}

// OpenSecret decrypts a secret sealed by SealSecret for the webhook id.
// The error never shows the secret.
func OpenSecret(serverKey []byte, id, sealed string) (string, error) {
	fail := func(why string) (string, error) {
		return "", fmt.Errorf("opening the signing secret of webhook %s: %s: %w", id, why, ErrInvalid)
	}
	b64, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return fail("not a sealed secret")
	}
	b, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || len(serverKey) != KeySize {
		return fail("not a sealed secret")
	}
	block, err := aes.NewCipher(sealKey(serverKey))
	if err != nil {
		return fail(err.Error())
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil || len(b) < gcm.NonceSize() {
		return fail("not a sealed secret")
	}
	p, err := gcm.Open(nil, b[:gcm.NonceSize()], b[gcm.NonceSize():], []byte(id))
	if err != nil {
		return fail("sealed with another server key, or altered")
	}
	return string(p), nil
}

// SignWebhook returns the Maintenance-Signature header of a body sent at t:
// "t=UNIX,v1=HEX", HEX being the hex HMAC-SHA256 of "UNIX.BODY" under the
// webhook's secret.
func SignWebhook(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Validate checks the fields of w that a person gives, as AddWebhook does:
// the URL, the event types, the site names, the format, the reminders and
// the maximum duration. The ID and the sealed secret are made by the
// program, and whether the sites are declared is the store's to say.
func (w *Webhook) Validate() error {
	if _, err := ParseWebhookURL(w.URL); err != nil {
		return err
	}
	if _, err := ParseEventTypes(w.Events); err != nil {
		return err
	}
	for _, s := range w.Sites {
		if _, err := ParseSite(s); err != nil {
			return err
		}
	}
	if _, err := ParseWebhookFormat(w.Format); err != nil {
		return err
	}
	if _, err := ParseReminders(w.Remind); err != nil {
		return err
	}
	return w.validateMaxDuration()
}

func (w *Webhook) validateMaxDuration() error {
	if w.MaxDuration < 0 || w.MaxDuration > 0 && w.MaxDuration < time.Minute {
		return invalidf("webhook %s: max duration %s: accepted: 1m or more, or 0 for none", w.ID, w.MaxDuration)
	}
	return nil
}

// AddWebhook returns a change that adds a webhook. Make w.ID with
// NewSecret, seal the secret with SealSecret; the change checks the rest,
// sorts the event types, sites and reminders, and stamps Created,
// CreatedBy and Version.
func AddWebhook(w Webhook) Change {
	at := new(time.Time)
	c := Change{Action: "webhook add", at: at}
	c.Apply = func(st *State, reason string) error {
		if slices.ContainsFunc(st.Webhooks, func(x Webhook) bool { return x.ID == w.ID }) {
			return invalidf("webhook ID %q exists", w.ID)
		}
		var err error
		if w.Events, err = ParseEventTypes(w.Events); err != nil {
			return err
		}
		if w.Remind, err = ParseReminders(w.Remind); err != nil {
			return err
		}
		var sites []string
		for _, s := range w.Sites {
			site, err := ruleSite(st, s)
			if err != nil {
				return err
			}
			if !slices.Contains(sites, site.Site) {
				sites = append(sites, site.Site)
			}
		}
		slices.Sort(sites)
		w.Sites = sites
		if err := w.Validate(); err != nil {
			return err
		}
		w.Created = at.UTC().Truncate(time.Millisecond)
		w.Version = st.Version + 1
		st.Webhooks = append(st.Webhooks, w)
		return nil
	}
	return c
}

// RemoveWebhook returns a change that removes a webhook: it receives
// nothing more.
func RemoveWebhook(id string) Change {
	return Change{Action: "webhook rm", Apply: func(st *State, reason string) error {
		i := slices.IndexFunc(st.Webhooks, func(w Webhook) bool { return w.ID == id })
		if i < 0 {
			return notFoundf("webhook %q does not exist; see the webhooks with: maintenance webhook ls", id)
		}
		st.Webhooks = slices.Delete(st.Webhooks, i, i+1)
		return nil
	}}
}

// Webhook returns the webhook id, or nil.
func (st *State) Webhook(id string) *Webhook {
	for i := range st.Webhooks {
		if st.Webhooks[i].ID == id {
			return &st.Webhooks[i]
		}
	}
	return nil
}

// validateWebhooks checks the webhooks of a state.
func (st *State) validateWebhooks() error {
	if len(st.Webhooks) > MaxWebhooks {
		return invalidf("%d webhooks; accepted: at most %d", len(st.Webhooks), MaxWebhooks)
	}
	ids := map[string]bool{}
	for _, w := range st.Webhooks {
		if !validID(w.ID) || ids[w.ID] {
			return invalidf("webhook ID %q: accepted: 4 to 32 hex digits, unique", w.ID)
		}
		ids[w.ID] = true
		if u, err := ParseWebhookURL(w.URL); err != nil {
			return err
		} else if u != w.URL {
			return invalidf("webhook %s: URL %q is not in canonical form %q", w.ID, w.URL, u)
		}
		if ev, err := ParseEventTypes(w.Events); err != nil {
			return err
		} else if !slices.Equal(ev, w.Events) {
			return invalidf("webhook %s: event types %q are not sorted without repeats", w.ID, w.Events)
		}
		for i, s := range w.Sites {
			if c, err := ParseSite(s); err != nil {
				return err
			} else if c != s || i > 0 && w.Sites[i-1] >= s {
				return invalidf("webhook %s: site %q is not in canonical form or not sorted without repeats", w.ID, s)
			}
		}
		if f, err := ParseWebhookFormat(w.Format); err != nil {
			return err
		} else if w.Format != "" && f != w.Format {
			return invalidf("webhook %s: format %q", w.ID, w.Format)
		}
		if r, err := ParseReminders(w.Remind); err != nil {
			return err
		} else if !slices.Equal(r, w.Remind) {
			return invalidf("webhook %s: reminders are not sorted longest first without repeats", w.ID)
		}
		if err := w.validateMaxDuration(); err != nil {
			return err
		}
		if !strings.HasPrefix(w.Secret, sealPrefix) || len(w.Secret) > 1024 {
			return invalidf("webhook %s: the signing secret is not sealed", w.ID)
		}
	}
	return nil
}

// webhookEvents returns one event per webhook that the change added or
// removed, and stamps the new ones' CreatedBy.
func webhookEvents(c Change, now time.Time, cur, next *State) []Event {
	var events []Event
	old := map[string]bool{}
	for _, w := range cur.Webhooks {
		old[w.ID] = true
	}
	for i := range next.Webhooks {
		w := &next.Webhooks[i]
		if !old[w.ID] {
			if w.CreatedBy == "" {
				w.CreatedBy = c.Actor
			}
			e := newEvent(c, now, next.Version, "", nil, nil)
			e.Target = "webhook " + w.ID
			events = append(events, e)
		}
		delete(old, w.ID)
	}
	for id := range old {
		e := newEvent(c, now, next.Version, "", nil, nil)
		e.Target = "webhook " + id
		events = append(events, e)
	}
	return events
}
