package maintenance

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Outcome says why the gate passed or blocked a request.
type Outcome uint8

// The outcomes of the decision, in the order the decision tries them (see Gate.Handler).
const (
	// Passed: the site is off (or not blocking this method).
	Passed Outcome = iota
	// Exempt: the path is reserved, exempt or ignored, or the route is ForceOff.
	Exempt
	// AllowedIP: the client IP is in an allow entry.
	AllowedIP
	// Bypassed: the Bypass hook let the request through.
	Bypassed
	// Held: the site was on in mode hold; the request waited and then
	// went on to the application.
	Held
	// Blocked: the request got the maintenance answer (after a wait, in
	// mode hold).
	Blocked
)

var outcomeNames = [...]string{"passed", "exempt", "allowed-ip", "bypass", "held", "blocked"}

// String returns the outcome's name, as used in logs and metrics.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Observer is told the outcome of every request the gate decides.
type Observer interface {
	// Observe is called once per request, before the request goes on to
	// the application or gets the maintenance answer, with the name of
	// the declared site the request belongs to (an exact name, a
	// wildcard or "*"). It is not called for the gate's own status and
	// health endpoints. It must be safe for concurrent use and fast: it
	// runs on every request.
	Observe(r *http.Request, site string, o Outcome)
}

// decide runs steps 1-6 of the decision for a request of site ss, which is on.
func (g *Gate) decide(s *snapshot, ss *siteSnap, r *http.Request) Outcome {
	// 2. read-only mode lets safe methods through; errors mode everything.
	switch ss.mode {
	case ModeReadOnly:
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			// An upgrade (a WebSocket starts as a GET) turns the request
			// into a two-way channel that can carry writes: not safe.
			if !isUpgrade(r) {
				return Passed
			}
		}
	case ModeErrors:
		return Passed
	}
	// 3. exempt paths. A path that a server could read as another one is
	// never exempt: "/static/..;/admin" matches "/static/*" here, and an
	// upstream that strips ";params" and resolves ".." would serve /admin.
	path := r.URL.Path
	if unambiguousPath(path, r.URL.RawPath) {
		if g.reservedForApp(path) || ss.exempt.match(r.Method, path) {
			return Exempt
		}
		if ss.redirectPath != "" && path == ss.redirectPath && (ss.redirectHost == "" || sameHost(ss.redirectHost, r.Host)) {
			return Exempt
		}
	}
	// 4. allowed client IPs.
	if !ss.allow.empty() {
		if ip, ok := clientIP(r, g.opts.TrustedProxies, g.header); ok && ss.allow.contains(ip) {
			return AllowedIP
		}
	}
	// 5. bypass links: the signed cookie or the header.
	if s.auth != nil && g.bypassed(s.auth, ss, r) {
		return Bypassed
	}
	// 6. the application's own bypass (staff), or a signed-in admin.
	if g.opts.Bypass != nil && g.opts.Bypass(r) {
		return Bypassed
	}
	if s.auth != nil && g.staff(s.auth, r) {
		return Bypassed
	}
	return Blocked
}

// isUpgrade reports whether r asks to switch protocols: an HTTP/1.1
// Upgrade header, or a Connection header naming the upgrade option (in any
// case, among other options). An HTTP/2 extended CONNECT (RFC 8441, the
// WebSocket of HTTP/2) is a CONNECT, which is not a safe method anyway.
func isUpgrade(r *http.Request) bool {
	h := r.Header
	if len(h["Upgrade"]) > 0 {
		return true
	}
	for _, v := range h["Connection"] {
		for len(v) > 0 {
			var opt string
			opt, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.Trim(opt, " \t"), "upgrade") {
				return true
			}
		}
	}
	return false
}

// hasDotSegment reports whether a path has a "." or ".." segment, with "/"
// or "\\" (which some servers take for "/") as separators. "/.well-known/"
// has none.
func hasDotSegment(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '.' || (i > 0 && p[i-1] != '/' && p[i-1] != '\\') {
			continue
		}
		j := i + 1
		if j < len(p) && p[j] == '.' {
			j++
		}
		if j == len(p) || p[j] == '/' || p[j] == '\\' {
			return true
		}
	}
	return false
}

// reservedForApp reports whether path is under ReservedPrefix and served by
// the application (Options.Reserved).
func (g *Gate) reservedForApp(path string) bool {
	if len(g.reserved) == 0 || !strings.HasPrefix(path, ReservedPrefix) {
		return false
	}
	for _, p := range g.reserved {
		if p.match(path) {
			return true
		}
	}
	return false
}

// router is a mux that tells which handler serves a request, for ForceOff.
type router interface {
	Handler(*http.Request) (http.Handler, string)
}

// Handler wraps next: requests of sites in maintenance get the maintenance
// answer unless a rule lets them through. Routes wrapped with ForceOff are
// recognized when next is an *http.ServeMux (or any router with the same
// Handler(*http.Request) (http.Handler, string) method).
func (g *Gate) Handler(next http.Handler) http.Handler {
	rt, _ := next.(router)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := g.snap.Load()
		if strings.HasPrefix(r.URL.Path, ReservedPrefix) {
			if e := endpointFor(r.URL.Path); e != nil {
				e.serve(g, w, r, s)
				return
			}
			// The rest of the prefix is the gate's too, unless the
			// application serves it (Options.Reserved), in a form every
			// server reads the same.
			if !g.reservedForApp(r.URL.Path) || !unambiguousPath(r.URL.Path, r.URL.RawPath) {
				serveReservedNotFound(w, r)
				return
			}
		}
		ss := s.onSite(r.Host)
		if ss == nil {
			if g.opts.Observer != nil {
				g.opts.Observer.Observe(r, s.site(r.Host).name, Passed)
			}
			if s.announce {
				if a := s.site(r.Host); !a.status.Starts.IsZero() {
					r = r.WithContext(context.WithValue(r.Context(), statusKey{}, a.status))
				}
			}
			if s.replaceErrors {
				g.serveReplacingErrors(w, r, next, s.site(r.Host))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		o := g.decideRoute(s, ss, r, rt)
		if o == Blocked && ss.mode == ModeHold {
			g.hold(w, r, next, rt, ss)
			return
		}
		g.observe(r, ss.name, o)
		if o == Blocked {
			ss.ans.write(w, r)
			return
		}
		g.passOn(w, r, next, s, ss)
	})
}

// decideRoute is decide, with a route wrapped in ForceOff exempt.
func (g *Gate) decideRoute(s *snapshot, ss *siteSnap, r *http.Request, rt router) Outcome {
	o := g.decide(s, ss, r)
	if o == Blocked && rt != nil {
		if h, _ := rt.Handler(r); isForceOff(h) {
			o = Exempt
		}
	}
	return o
}

// observe tells the observer, if any, the outcome of r.
func (g *Gate) observe(r *http.Request, site string, o Outcome) {
	if g.opts.Observer != nil {
		g.opts.Observer.Observe(r, site, o)
	}
}

// passOff serves a request whose site is off in snapshot s.
func (g *Gate) passOff(w http.ResponseWriter, r *http.Request, next http.Handler, s *snapshot) {
	ss := s.site(r.Host)
	if !ss.status.Starts.IsZero() {
		r = r.WithContext(context.WithValue(r.Context(), statusKey{}, ss.status))
	}
	if s.replaceErrors {
		g.serveReplacingErrors(w, r, next, ss)
		return
	}
	next.ServeHTTP(w, r)
}

// passOn serves a request that a rule lets through while its site ss is on.
func (g *Gate) passOn(w http.ResponseWriter, r *http.Request, next http.Handler, s *snapshot, ss *siteSnap) {
	r = r.WithContext(context.WithValue(r.Context(), statusKey{}, ss.status))
	if s.replaceErrors || ss.mode == ModeErrors {
		g.serveReplacingErrors(w, r, next, ss)
		return
	}
	next.ServeHTTP(w, r)
}

// hold makes a request that site ss (on, in mode hold) would block wait
// for the next snapshot, and decides it again on each one: it goes on to
// next once a rule lets it through (the site is off, say), and gets the
// maintenance answer when the site is on in another mode, when
// Options.HoldTimeout runs out, when the client goes away, or at once when
// Options.HoldLimit requests are held already. Close releases held requests:
// they are decided on the last snapshot, with no more waiting.
func (g *Gate) hold(w http.ResponseWriter, r *http.Request, next http.Handler, rt router, ss *siteSnap) {
	if g.closed.Load() {
		g.observe(r, ss.name, Blocked)
		ss.ans.write(w, r)
		return
	}
	if g.held.Add(1) > int64(g.opts.HoldLimit) {
		g.held.Add(-1)
		g.observe(r, ss.name, Blocked)
		ss.ans.write(w, r)
		return
	}
	// The place is given back by a panic too (a Bypass hook's, recovered
	// by net/http), else the limit would shrink for good.
	holding := true
	free := func() {
		if holding {
			holding = false
			g.held.Add(-1)
		}
	}
	defer free()
	timeout := time.NewTimer(g.opts.HoldTimeout)
	defer timeout.Stop()
	var (
		s   *snapshot
		cur *siteSnap
		o   Outcome
	)
	for {
		// Changed before Load: a swap in between closes ch.
		ch := g.Changed()
		s = g.snap.Load()
		if cur = s.onSite(r.Host); cur == nil {
			break
		}
		if o = g.decideRoute(s, cur, r, rt); o != Blocked || cur.mode != ModeHold || g.closed.Load() {
			break
		}
		select {
		case <-ch:
			continue
		case <-g.closing:
			continue // decided once more, on the last snapshot
		case <-timeout.C:
		case <-r.Context().Done():
		}
		break
	}
	timeout.Stop()
	// The place is free before the application runs: the limit counts
	// waiting requests only.
	free()
	switch {
	case cur == nil:
		g.observe(r, s.site(r.Host).name, Held)
		g.passOff(w, r, next, s)
	case o != Blocked:
		g.observe(r, cur.name, Held)
		g.passOn(w, r, next, s, cur)
	default:
		g.observe(r, cur.name, Blocked)
		cur.ans.write(w, r)
	}
}

// serveStatus answers GET/HEAD /_maintenance/status with the site's state.
func (g *Gate) serveStatus(w http.ResponseWriter, r *http.Request, ss *siteSnap) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h["Allow"] = []string{"GET, HEAD"}
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h[hdrContentType] = hdrStatusJSON
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNoSniff
	h["Content-Length"] = ss.statusJSON.len
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(ss.statusJSON.b)
	}
}

// health is the body of HealthPath's answer.
type health struct {
	Status  string `json:"status"`
	Version int64  `json:"version"`
	// Store is "ok", or "unreachable" while the gate serves its last
	// state. The error itself (host names, ports) is for operators: the
	// log, the metrics and `maintenance gates`, not a public endpoint.
	Store string `json:"store"`
	// State is "invalid" while the store holds invalid values (a
	// hand-edited file), which the gate does not serve; absent otherwise.
	// Which ones is in the log, the metrics and `maintenance status`.
	State string `json:"state,omitempty"`
}

// serveHealth answers GET/HEAD /_maintenance/health: 200 while the gate
// runs, whatever the maintenance state, and also while it cannot reach its
// store (it then serves its last state, and says "store":"unreachable"): a load
// balancer must keep the node, which still serves the page.
func (g *Gate) serveHealth(w http.ResponseWriter, r *http.Request, s *snapshot) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h["Allow"] = []string{"GET, HEAD"}
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	v := health{Status: "ok", Version: s.version, Store: "ok"}
	if g.StoreError() != nil {
		v.Store = "unreachable"
	}
	if len(*g.problems.Load()) > 0 {
		v.State = "invalid"
	}
	b, _ := json.Marshal(v)
	b = append(b, '\n')
	h[hdrContentType] = hdrStatusJSON
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNoSniff
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

type statusKey struct{}

// StatusFrom returns the maintenance status of the request's site as the
// gate saw it: On while it is in maintenance (for staff and exempt paths),
// Starts and Until when a window is coming (for banners: "maintenance
// tonight 22:00-23:00 UTC", see Status.Banner). It is the zero Status when
// the site is off with nothing announced, or the request did not go through
// a gate.
func StatusFrom(ctx context.Context) Status {
	if s, ok := ctx.Value(statusKey{}).(*siteStatus); ok {
		return s.Status
	}
	return Status{}
}

type forceOff struct{ http.Handler }

// ForceOff marks a route that is never blocked, like Django's
// force_maintenance_mode_off decorator. Register the returned handler on the
// *http.ServeMux that the gate wraps.
func ForceOff(h http.Handler) http.Handler { return forceOff{h} }

func isForceOff(h http.Handler) bool {
	_, ok := h.(forceOff)
	return ok
}

// ForceOn returns a handler that always answers with the maintenance answer
// of the request's site, whether the site is on or off, like Django's
// force_maintenance_mode_on decorator. h is kept for documentation only: it
// is never called.
func (g *Gate) ForceOn(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := g.snap.Load()
		ss := s.site(r.Host)
		if ss.ans != nil && ss.ans.why == reasonFull {
			ss.ans.write(w, r)
			return
		}
		a := ss.forcedAns.Load()
		if a == nil {
			st := ss.state
			a = answerFor(&st, s.template(st.Site), reasonForced)
			ss.forcedAns.Store(a)
		}
		a.write(w, r)
	})
}
