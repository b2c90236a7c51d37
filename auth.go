package maintenance

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// User is a person who may sign in to the admin page. Only a hash of the
// password is kept (bcrypt or argon2id, in its usual encoded form); the
// hashing itself lives outside this package.
type User struct {
	Name string `json:"name"`
	// Hash is the encoded password hash, like "$2a$12$...".
	Hash      string    `json:"hash"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// Token is an API token. The token itself is shown once, when it is
// created; only its SHA-256 is kept.
type Token struct {
	// ID names the token in lists and in the audit log; it is not secret.
	ID    string `json:"id"`
	Label string `json:"label,omitempty"`
	// Hash is the hex SHA-256 of the token (HashSecret).
	Hash      string    `json:"hash"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// BypassLink is a secret link that lets one person through a site in
// maintenance until it expires or is revoked: visiting
// /_maintenance/bypass/SECRET sets a signed cookie, and API clients send
// the secret in the X-Maintenance-Bypass header. Only the secret's
// SHA-256 is kept.
type BypassLink struct {
	ID string `json:"id"`
	// Site is the site the link opens; "*" opens every site.
	Site  string `json:"site"`
	Label string `json:"label,omitempty"`
	// Hash is the hex SHA-256 of the secret (HashSecret).
	Hash      string    `json:"hash"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// Names of the cookies and header the gate reads.
const (
	// BypassCookie holds a signed bypass: "ID.EXPIRES.SIGNATURE".
	BypassCookie = "maintenance_bypass"
	// BypassHeader carries a bypass link's secret, for API clients.
	BypassHeader = "X-Maintenance-Bypass"
	// SessionCookie holds a signed admin session.
	SessionCookie = "maintenance_session"
	// BypassPath is the prefix of bypass links: BypassPath + SECRET.
	BypassPath = ReservedPrefix + "bypass/"
)

// Limits of the auth records.
const (
	MaxUsers       = 1000
	MaxTokens      = 1000
	MaxBypassLinks = 10000
	// DefaultBypassTTL is how long a bypass link lasts when no TTL is given.
	DefaultBypassTTL = 12 * time.Hour
	// MaxBypassTTL is the longest a bypass link may last.
	MaxBypassTTL = 90 * 24 * time.Hour
	// KeySize is the size of a store's server key, in bytes.
	KeySize = 32
)

// NewSecret returns a new random secret (32 bytes, base64url without
// padding) and a new random ID (8 hex digits) to name it.
func NewSecret() (secret, id string) {
	b := make([]byte, 36)
	if _, err := rand.Read(b); err != nil {
		panic("maintenance: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:32]), hex.EncodeToString(b[32:])
}

// newKey returns a new random server key.
func newKey() []byte {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		panic("maintenance: no randomness: " + err.Error())
	}
	return b
}

// HashSecret returns the hex SHA-256 of a token or bypass secret, the form
// in which it is stored. Secrets are 256-bit random values, so a fast hash
// is enough: there is nothing to guess.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// ParseUserName validates a user name: 1 to 64 letters, digits and . _ @ + -.
func ParseUserName(name string) (string, error) {
	ok := name != "" && len(name) <= 64
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._@+-", c) >= 0
	}
	if !ok {
		return "", invalidf("user name %q: accepted: 1 to 64 letters, digits and . _ @ + -, like alice or ops@example.com", name)
	}
	return name, nil
}

// ParseBypassTTL validates the lifetime of a bypass link: 1 minute to 90 days.
func ParseBypassTTL(d time.Duration) (time.Duration, error) {
	if d < time.Minute || d > MaxBypassTTL {
		return 0, invalidf("ttl %s: accepted: a duration from 1m to 2160h (90 days), like 12h", d)
	}
	return d, nil
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func validID(id string) bool {
	if len(id) < 4 || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// validateAuth checks the users, tokens and bypass links of st.
func (st *State) validateAuth() error {
	if len(st.Users) > MaxUsers {
		return invalidf("%d users; accepted: at most %d", len(st.Users), MaxUsers)
	}
	if len(st.Tokens) > MaxTokens {
		return invalidf("%d tokens; accepted: at most %d", len(st.Tokens), MaxTokens)
	}
	if len(st.Links) > MaxBypassLinks {
		return invalidf("%d bypass links; accepted: at most %d", len(st.Links), MaxBypassLinks)
	}
	for i, u := range st.Users {
		if _, err := ParseUserName(u.Name); err != nil {
			return err
		}
		if i > 0 && st.Users[i-1].Name >= u.Name {
			return invalidf("user %q exists", u.Name)
		}
		if u.Hash == "" || len(u.Hash) > 512 || strings.ContainsFunc(u.Hash, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return invalidf("user %q: the password hash is not an encoded hash", u.Name)
		}
		if err := validateTime("user created", u.Created); err != nil {
			return err
		}
		if err := validateLine("created by", u.CreatedBy); err != nil {
			return err
		}
	}
	ids := map[string]bool{}
	for _, t := range st.Tokens {
		if !validID(t.ID) || ids[t.ID] {
			return invalidf("token ID %q: accepted: 4 to 32 hex digits, unique", t.ID)
		}
		ids[t.ID] = true
		if !validHash(t.Hash) {
			return invalidf("token %s: the hash is not a hex SHA-256", t.ID)
		}
		if err := ValidateLabel(t.Label); err != nil {
			return err
		}
		if err := validateTime("token created", t.Created); err != nil {
			return err
		}
		if err := validateLine("created by", t.CreatedBy); err != nil {
			return err
		}
	}
	clear(ids)
	for _, l := range st.Links {
		if !validID(l.ID) || ids[l.ID] {
			return invalidf("bypass link ID %q: accepted: 4 to 32 hex digits, unique", l.ID)
		}
		ids[l.ID] = true
		if !validHash(l.Hash) {
			return invalidf("bypass link %s: the hash is not a hex SHA-256", l.ID)
		}
		if st.Site(l.Site) == nil {
			return notFoundf("site %q is not declared; declare it first: maintenance sites add %s", l.Site, l.Site)
		}
		if !l.Expires.After(l.Created) {
			return invalidf("bypass link %s: it expires (%s) before it is created", l.ID, l.Expires.UTC().Format(time.RFC3339))
		}
		if err := ValidateLabel(l.Label); err != nil {
			return err
		}
		if err := validateTime("bypass link created", l.Created); err != nil {
			return err
		}
		if err := validateTime("bypass link expires", l.Expires); err != nil {
			return err
		}
		if err := validateLine("created by", l.CreatedBy); err != nil {
			return err
		}
	}
	return nil
}

// sign returns the base64url HMAC-SHA256 of the parts under key, with a
// purpose first so that a signature of one kind is never valid as another.
func sign(key []byte, purpose string, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func signatureOK(key []byte, sig, purpose string, parts ...string) bool {
	return len(key) > 0 && hmac.Equal([]byte(sig), []byte(sign(key, purpose, parts...)))
}

// bypassCookieValue returns the value of the bypass cookie for link l,
// signed with key: "ID.EXPIRES.SIGNATURE", EXPIRES in Unix seconds.
func bypassCookieValue(key []byte, l *BypassLink) string {
	exp := strconv.FormatInt(l.Expires.Unix(), 10)
	return l.ID + "." + exp + "." + sign(key, "bypass", l.ID, l.Site, exp)
}

// sessionValue returns the value of an admin session cookie for u that
// expires at exp, signed with key. A session ends at exp, when the user is
// removed, or when the password changes (it names a digest of the hash).
func sessionValue(key []byte, u *User, exp time.Time) string {
	name := base64.RawURLEncoding.EncodeToString([]byte(u.Name))
	e := strconv.FormatInt(exp.Unix(), 10)
	ep := userEpoch(u.Hash)
	return name + "." + e + "." + ep + "." + sign(key, "session", u.Name, e, ep)
}

// userEpoch is a short digest of a password hash: sessions name it, so a new
// password ends them.
func userEpoch(hash string) string {
	h := sha256.Sum256([]byte("epoch\x00" + hash))
	return hex.EncodeToString(h[:8])
}

// verifySession checks an admin session cookie value against the key and
// the users of st at now, and returns the signed-in user.
func verifySession(key []byte, st *State, value string, now time.Time) (*User, bool) {
	name, epoch, ok := parseSession(key, value, now)
	if !ok {
		return nil, false
	}
	for i := range st.Users {
		if u := &st.Users[i]; u.Name == name {
			if epoch != userEpoch(u.Hash) {
				return nil, false
			}
			return u, true
		}
	}
	return nil, false
}

// parseSession checks a session value's signature and expiry.
func parseSession(key []byte, value string, now time.Time) (name, epoch string, ok bool) {
	p := strings.Split(value, ".")
	if len(p) != 4 {
		return "", "", false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(p[0])
	if err != nil {
		return "", "", false
	}
	name = string(b)
	if !signatureOK(key, p[3], "session", name, p[1], p[2]) {
		return "", "", false
	}
	exp, err := strconv.ParseInt(p[1], 10, 64)
	if err != nil || now.Unix() >= exp {
		return "", "", false
	}
	return name, p[2], true
}

// cookieValue returns the value of the named cookie of r without
// allocating, or "".
func cookieValue(h http.Header, name string) string {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
				v := part[len(name)+1:]
				if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				return v
			}
		}
	}
	return ""
}
