package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/password"
	"github.com/gomaint/maintenance/internal/state"
)

// secure reports whether cookies set on r are marked Secure.
func (a *Admin) secure(r *http.Request) bool { return a.opts.SecureCookies || r.TLS != nil }

// signedIn returns the user whose valid session r carries, or nil.
func (a *Admin) signedIn(r *http.Request, st *maintenance.State) (*maintenance.User, error) {
	c, err := r.Cookie(maintenance.SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	key, err := a.serverKey(r.Context())
	if err != nil {
		return nil, err
	}
	u, ok := state.VerifySession(key, st, c.Value, a.now())
	if !ok {
		return nil, nil
	}
	return u, nil
}

// setSession signs u in: a session cookie for the whole host (the gate
// reads it to let signed-in staff through, step 6 of the decision).
func (a *Admin) setSession(w http.ResponseWriter, r *http.Request, u *maintenance.User) error {
	key, err := a.serverKey(r.Context())
	if err != nil {
		return err
	}
	exp := a.now().Add(a.opts.SessionTTL)
	http.SetCookie(w, &http.Cookie{
		Name:     maintenance.SessionCookie,
		Value:    state.SessionValue(key, u, exp),
		Path:     "/",
		Expires:  exp,
		MaxAge:   int(a.opts.SessionTTL.Seconds()),
		HttpOnly: true,
		Secure:   a.secure(r),
		SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// clearSession expires the session cookie.
func (a *Admin) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name:     maintenance.SessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   a.secure(r),
		SameSite: http.SameSiteLaxMode,
	})
}

// localNext returns next when it is a path of the admin page, else the
// sites list: a sign-in never sends anyone elsewhere.
func localNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, PagePrefix) ||
		strings.Contains(next, "\\") || strings.HasPrefix(next, "//") || strings.Contains(u.Path, "/../") {
		return PagePrefix
	}
	return u.RequestURI()
}

// loginPath returns the sign-in page that comes back to r's page.
func loginPath(r *http.Request) string {
	next := PagePrefix
	if r.Method == http.MethodGet {
		next = r.URL.RequestURI()
	}
	if next == PagePrefix {
		return PagePrefix + "login"
	}
	return PagePrefix + "login?next=" + url.QueryEscape(next)
}

// throttleKeys are the keys a sign-in attempt is counted under.
func (a *Admin) throttleKeys(r *http.Request, name string) []string {
	if len(name) > 64 {
		name = name[:64]
	}
	return []string{"ip " + throttleNet(a.clientIP(r)), "user " + name}
}

// throttleNet is the network whose sign-in failures count together: an IPv4
// address (also written as IPv4-mapped IPv6), or the /64 of an IPv6 one,
// since one client usually holds a whole /64.
func throttleNet(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func (a *Admin) loginForm(w http.ResponseWriter, r *http.Request) {
	st, err := a.store.Load(r.Context())
	if err != nil {
		a.pageError(w, r, fmt.Errorf("reading the state: %w", err))
		return
	}
	u, err := a.signedIn(r, st)
	if err != nil {
		a.pageError(w, r, err)
		return
	}
	if u != nil {
		http.Redirect(w, r, localNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d := &pageData{Title: "Sign in", Next: localNext(r.URL.Query().Get("next")), NoUsers: len(st.Users) == 0}
	if r.URL.Query().Get("done") == "signed-out" {
		d.Flash = "Signed out."
	}
	a.render(w, r, http.StatusOK, "login", d)
}

func (a *Admin) login(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		a.pageError(w, r, err)
		return
	}
	name, pw := r.PostForm.Get("user"), r.PostForm.Get("password")
	next := localNext(r.PostForm.Get("next"))
	d := &pageData{Title: "Sign in", Next: next, Form: r.PostForm, FormName: "login"}
	keys := a.throttleKeys(r, name)
	wait, at := a.throttle.begin(keys...)
	if wait > 0 {
		err := &throttledError{wait: wait}
		a.log.Warn("admin: sign-in throttled", "user", name, "ip", a.clientIP(r))
		d.Error = err.Error()
		setErrorHeaders(w.Header(), err)
		a.render(w, r, http.StatusTooManyRequests, "login", d)
		return
	}
	st, err := a.store.Load(r.Context())
	if err != nil {
		a.throttle.takeBack(at, keys...)
		a.pageError(w, r, fmt.Errorf("reading the state: %w", err))
		return
	}
	var u *maintenance.User
	for i := range st.Users {
		if st.Users[i].Name == name {
			u = &st.Users[i]
		}
	}
	// begin counted the attempt as a failure already.
	if !password.CheckUser(u, pw) {
		a.log.Warn("admin: sign-in failed", "user", name, "ip", a.clientIP(r))
		d.Error = "Wrong user name or password."
		d.NoUsers = len(st.Users) == 0
		a.render(w, r, http.StatusUnauthorized, "login", d)
		return
	}
	a.throttle.forget(keys[1])
	a.throttle.takeBack(at, keys[0])
	if err := a.setSession(w, r, u); err != nil {
		a.pageError(w, r, err)
		return
	}
	a.log.Info("admin: signed in", "user", u.Name, "ip", a.clientIP(r))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (a *Admin) logout(w http.ResponseWriter, r *http.Request) {
	a.clearSession(w, r)
	http.Redirect(w, r, PagePrefix+"login?done=signed-out", http.StatusSeeOther)
}

// parseForm parses a POST form of at most maxBody bytes.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return fmt.Errorf("%w: %v", errBadForm, err)
	}
	return nil
}
