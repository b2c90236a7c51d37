package maintenance

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// authSnap is the part of a snapshot that lets people through: bypass links
// and the users whose admin sessions pass (steps 5 and 6 of the decision). It is nil
// when the state has neither.
type authSnap struct {
	// byHash finds a link from its secret (header form and link visits);
	// byID from a cookie.
	byHash map[string]*BypassLink
	byID   map[string]*BypassLink
	// epochs maps a user to the epoch its sessions must name.
	epochs map[string]string
	// state holds the users, for verifySession.
	state *State
}

func buildAuth(st *State) *authSnap {
	if len(st.Links) == 0 && len(st.Users) == 0 {
		return nil
	}
	a := &authSnap{byHash: make(map[string]*BypassLink, len(st.Links)), byID: make(map[string]*BypassLink, len(st.Links)),
		epochs: make(map[string]string, len(st.Users)), state: &State{Users: st.Users}}
	for i := range st.Links {
		l := &st.Links[i]
		a.byHash[l.Hash] = l
		a.byID[l.ID] = l
	}
	for _, u := range st.Users {
		a.epochs[u.Name] = userEpoch(u.Hash)
	}
	return a
}

// opens reports whether link l lets requests of site through at now.
func (l *BypassLink) opens(site string, now time.Time) bool {
	return (l.Site == site || l.Site == DefaultSite) && now.Before(l.Expires)
}

// bypassed runs step 5 of the decision: a valid bypass header or cookie.
func (g *Gate) bypassed(a *authSnap, ss *siteSnap, r *http.Request) bool {
	if len(a.byID) == 0 {
		return false
	}
	// The clock is read only for a request that names a link.
	if v := r.Header[BypassHeader]; len(v) > 0 && v[0] != "" {
		if l := a.byHash[HashSecret(v[0])]; l != nil && l.opens(ss.name, time.Now()) {
			g.countUse(l.ID)
			return true
		}
	}
	key := g.key.Load()
	if key == nil {
		return false
	}
	c := cookieValue(r.Header, BypassCookie)
	if c == "" {
		return false
	}
	id, rest, ok := strings.Cut(c, ".")
	if !ok {
		return false
	}
	l := a.byID[id]
	if l == nil || !l.opens(ss.name, time.Now()) {
		return false
	}
	exp, sig, ok := strings.Cut(rest, ".")
	if !ok || exp != strconv.FormatInt(l.Expires.Unix(), 10) || !signatureOK(*key, sig, "bypass", l.ID, l.Site, exp) {
		return false
	}
	g.countUse(l.ID)
	return true
}

// staff runs the admin-session half of step 6: a signed-in admin passes
// unless Options.BlockStaff.
func (g *Gate) staff(a *authSnap, r *http.Request) bool {
	if g.opts.BlockStaff || len(a.epochs) == 0 {
		return false
	}
	key := g.key.Load()
	c := cookieValue(r.Header, SessionCookie)
	if key == nil || c == "" {
		return false
	}
	_, ok := verifySession(*key, a.state, c, time.Now())
	return ok
}

// serveBypass answers a visit to a bypass link, BypassPath + SECRET: a link
// that opens the request's site sets the signed cookie, which lasts as long
// as the link, and sends the visitor to its ?next= path (see BypassNext),
// else to "/". Anything else is a 404 that says why, and sets nothing.
func (g *Gate) serveBypass(w http.ResponseWriter, r *http.Request, s *snapshot) {
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	h["Referrer-Policy"] = []string{"no-referrer"}
	h["X-Content-Type-Options"] = hdrNoSniff
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h["Allow"] = []string{"GET, HEAD"}
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	secret := strings.TrimPrefix(r.URL.Path, BypassPath)
	ss := s.site(r.Host)
	key := g.key.Load()
	var l *BypassLink
	if s.auth != nil && secret != "" {
		l = s.auth.byHash[HashSecret(secret)]
	}
	if l == nil || !l.opens(ss.name, time.Now()) || key == nil {
		msg := "This bypass link is not valid here: it has expired, was revoked, or is for another site."
		if l != nil && key == nil {
			msg = "This bypass link cannot be used yet: the gate has not read its key from the store. Try again in a moment."
		}
		h[hdrContentType] = []string{"text/plain; charset=utf-8"}
		w.WriteHeader(http.StatusNotFound)
		if r.Method != http.MethodHead {
			w.Write([]byte(msg + "\n"))
		}
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     BypassCookie,
		Value:    bypassCookieValue(*key, l),
		Path:     "/",
		Expires:  l.Expires,
		MaxAge:   int(time.Until(l.Expires) / time.Second),
		HttpOnly: true,
		Secure:   g.overTLS(r),
		SameSite: http.SameSiteLaxMode,
	})
	g.countUse(l.ID)
	h["Location"] = []string{BypassNext(r.URL.Query().Get("next"))}
	w.WriteHeader(http.StatusSeeOther)
}

// MaxNext is the longest ?next= path a bypass link accepts, in bytes.
const MaxNext = 2048

// BypassNext returns where a bypass link sends its visitor: next when it is
// a path of the same site, else "/". Accepted: "/" followed by printable
// ASCII (percent-encode the rest), with an optional query, at most MaxNext
// bytes. Refused, because a browser may resolve them to another host or
// scheme: anything not starting with a single "/" ("//evil", "https:",
// "javascript:"), any backslash ("/\evil" is "//evil" to a browser), and
// spaces and control characters (browsers drop a tab or newline, so
// "/\t/evil" would become "//evil"); a fragment, and a "%" not followed by
// two hex digits, are refused too.
func BypassNext(next string) string {
	if len(next) < 1 || len(next) > MaxNext || next[0] != '/' || (len(next) > 1 && next[1] == '/') {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		switch c := next[i]; {
		case c <= ' ' || c >= 0x7f || c == '\\' || c == '#':
			return "/"
		case c == '%' && (i+2 >= len(next) || !isHex(next[i+1]) || !isHex(next[i+2])):
			return "/"
		}
	}
	return next
}

// overTLS reports whether the visitor's connection is TLS: this one, or,
// from a trusted proxy that terminates TLS, X-Forwarded-Proto: https.
func (g *Gate) overTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if len(g.opts.TrustedProxies) == 0 || !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && inPrefixes(g.opts.TrustedProxies, ap.Addr().Unmap())
}

// uses counts the uses of bypass links until the next flush to the store.
type uses struct {
	mu sync.Mutex
	n  map[string]*atomic.Int64
}

func (g *Gate) countUse(id string) {
	g.uses.mu.Lock()
	c := g.uses.n[id]
	if c == nil {
		if g.uses.n == nil {
			g.uses.n = map[string]*atomic.Int64{}
		}
		c = new(atomic.Int64)
		g.uses.n[id] = c
	}
	g.uses.mu.Unlock()
	c.Add(1)
}

// flushUses adds the uses counted since the last flush to the store's
// counts. Counts that cannot be written are kept for the next flush.
func (g *Gate) flushUses(ctx context.Context) {
	if g.store == nil {
		return
	}
	g.uses.mu.Lock()
	n := make(map[string]int64, len(g.uses.n))
	for id, c := range g.uses.n {
		if v := c.Swap(0); v != 0 {
			n[id] = v
		}
	}
	g.uses.mu.Unlock()
	if len(n) == 0 {
		return
	}
	if err := g.store.CountUses(ctx, n); err != nil {
		g.cfg.logger.Debug("maintenance: counting bypass link uses failed; kept for the next try", "err", err)
		for id, v := range n {
			g.uses.mu.Lock()
			c := g.uses.n[id]
			g.uses.mu.Unlock()
			c.Add(v)
		}
	}
}

// loadKey reads the store's server key, which checks bypass cookies and
// admin sessions, when the gate does not have it yet.
func (g *Gate) loadKey(ctx context.Context) {
	if g.key.Load() != nil {
		return
	}
	if g.store == nil {
		return
	}
	k, err := g.store.Key(ctx)
	if err != nil {
		g.cfg.logger.Warn("maintenance: cannot read the server key from the store; bypass cookies and admin sessions do not pass until it is read", "err", err)
		return
	}
	g.key.Store(&k)
}

// Preview writes the maintenance answer of the named site as visitors get
// it while the site is on, with its current message and the gate's page
// templates, for the admin page. An unknown site gets the default site's.
func (g *Gate) Preview(w http.ResponseWriter, r *http.Request, site string) {
	s := g.snap.Load()
	ss, ok := s.sites.Site(site)
	if !ok {
		ss = s.def
	}
	st := ss.state
	st.On = true
	answerFor(&st, s.template(st.Site), reasonOf(st.Mode)).write(w, r)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
