package admin

import (
	"bytes"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

//go:embed openapi.json
var openAPI []byte

// Errors of API authentication; both are errUnauthorized.
var (
	errNoToken  = fmt.Errorf("%w: send an API token: Authorization: Bearer TOKEN (maintenance token create)", errUnauthorized)
	errBadToken = fmt.Errorf("%w: the API token is not valid: unknown, revoked or malformed", errUnauthorized)
)

// call is one authenticated API request.
type call struct {
	w   http.ResponseWriter
	r   *http.Request
	now time.Time
	// st is the state read when the request was authenticated.
	st *maintenance.State
	// actor names the token in the audit log: "token ID (label)".
	actor string
	// match, when not nil, is the If-Match of a write: the change applies
	// only while it accepts the store's current version.
	match func(version int64) bool
	// fleet is how the fleet followed the call's change, when it asked to
	// wait (?wait=DUR); reply adds it to the answer.
	fleet *maintenance.Fleet
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, APIPrefix) }

// apiHandler authenticates a request and runs rt's handler, answering its
// error as problem+json.
func (a *Admin) apiHandler(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{w: w, r: r, now: a.now()}
		if err := a.authAPI(c, rt.public); err != nil {
			writeProblem(w, r, a.log, err)
			return
		}
		if err := rt.api(a, c); err != nil {
			writeProblem(w, r, a.log, err)
		}
	})
}

// authAPI reads the state and checks the request's bearer token against
// the tokens in it, in constant time.
func (a *Admin) authAPI(c *call, public bool) error {
	if public {
		return nil
	}
	// The header is checked before the store is read: requests with no
	// token cost no store read.
	h := c.r.Header.Get("Authorization")
	if h == "" {
		return errNoToken
	}
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return errBadToken
	}
	st, err := a.store.Load(c.r.Context())
	if err != nil {
		return fmt.Errorf("reading the state: %w", err)
	}
	c.st = st
	want := []byte(maintenance.HashSecret(tok))
	var found *maintenance.Token
	for i := range st.Tokens {
		if subtle.ConstantTimeCompare([]byte(st.Tokens[i].Hash), want) == 1 {
			found = &st.Tokens[i]
		}
	}
	if found == nil {
		return errBadToken
	}
	c.actor = "token " + found.ID
	if l := printable(found.Label); l != "" {
		c.actor += " (" + l + ")"
	}
	if v := c.r.Header.Values("If-Match"); len(v) > 0 {
		c.match = parseIfMatch(strings.Join(v, ","))
	}
	return nil
}

// printable drops control characters, which an actor may not hold.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// etag is the entity tag of a state version.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// parseIfMatch returns what an If-Match header accepts: "*" any version;
// a list of strong tags those versions. Anything else accepts none.
func parseIfMatch(h string) func(int64) bool {
	var ok []int64
	for t := range strings.SplitSeq(h, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return func(int64) bool { return true }
		}
		if u, found := strings.CutPrefix(t, `"`); found {
			if u, found = strings.CutSuffix(u, `"`); found {
				if v, err := strconv.ParseInt(u, 10, 64); err == nil {
					ok = append(ok, v)
				}
			}
		}
	}
	return func(v int64) bool { return slices.Contains(ok, v) }
}

// update applies ch as the call's token, with reason, under its If-Match.
// An error that is invalid input names field when it names none.
func (a *Admin) update(c *call, field string, ch maintenance.Change, reason string) (*maintenance.State, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	wait, waiting, err := parseWaitQuery(c.r)
	if err != nil {
		return nil, err
	}
	ch.Actor, ch.Source, ch.Reason = c.actor, SourceAPI, reason
	st, err := a.store.Update(c.r.Context(), guard(ch, c.match))
	if err != nil {
		return nil, inField(field, trimAction(ch.Action, err))
	}
	if waiting {
		f, err := maintenance.WaitFleet(c.r.Context(), a.store, st.Version, wait, nil)
		var lag *maintenance.LaggingError
		if err == nil || errors.As(err, &lag) {
			c.fleet = &f
		} else {
			// The change is made: say so, without the fleet.
			a.log.Error("maintenance: admin API: waiting for the gates", "err", err)
		}
	}
	return st, nil
}

// parseWaitQuery reads ?wait=DUR: how long a change waits for every live
// gate to serve it (maintenance.WaitFleet). Without it, a change does not
// wait and its answer has no "gates"; ?wait=0 reads the registry once.
func parseWaitQuery(r *http.Request) (time.Duration, bool, error) {
	q := r.URL.Query()
	if !q.Has("wait") {
		return 0, false, nil
	}
	d, err := maintenance.ParseWait(q.Get("wait"))
	if err != nil {
		return 0, false, inField("wait", err)
	}
	return d, true, nil
}

// fleetJSON is the answer's part about the fleet: the same fields as
// "maintenance on --json".
type fleetJSON struct {
	Gates     maintenance.FleetGates `json:"gates"`
	ElapsedMS int64                  `json:"elapsed_ms"`
}

// guard makes ch apply only while match accepts the current version. It
// is checked by Apply, inside the store's transaction, so that a write
// from a stale read never lands.
func guard(ch maintenance.Change, match func(int64) bool) maintenance.Change {
	if match == nil {
		return ch
	}
	apply := ch.Apply
	ch.Apply = func(st *maintenance.State, reason string) error {
		if !match(st.Version) {
			return errStale
		}
		return apply(st, reason)
	}
	return ch
}

// trimAction drops the "action: " stores put before a change's error: the
// client knows what it asked for.
func trimAction(action string, err error) error {
	if err == nil {
		return nil
	}
	if msg, ok := strings.CutPrefix(err.Error(), action+": "); ok {
		return &msgError{msg: msg, err: err}
	}
	return err
}

// msgError is err with a shorter message.
type msgError struct {
	msg string
	err error
}

func (e *msgError) Error() string { return e.msg }
func (e *msgError) Unwrap() error { return e.err }

// reply writes v as JSON with the ETag of version.
func (c *call) reply(status int, version int64, v any) error {
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if version > 0 {
		h.Set("ETag", etag(version))
	}
	if c.fleet != nil && status == http.StatusNoContent {
		status, v = http.StatusOK, struct {
			Version int64 `json:"version"`
		}{version}
	}
	c.w.WriteHeader(status)
	if status == http.StatusNoContent || c.r.Method == http.MethodHead {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if c.fleet != nil && len(b) >= 2 && b[len(b)-1] == '}' {
		// The fleet's fields go last in the answer's object.
		f, err := json.MarshalIndent(fleetJSON{Gates: c.fleet.Gates, ElapsedMS: c.fleet.Elapsed.Milliseconds()}, "", "  ")
		if err != nil {
			return err
		}
		sep := ",\n"
		if string(b) == "{}" {
			b, sep = []byte("{\n}"), "\n"
		}
		inner := bytes.TrimSuffix(bytes.TrimPrefix(f, []byte("{\n")), []byte("\n}"))
		out := append(b[:len(b)-2:len(b)-2], sep...)
		out = append(out, inner...)
		b = append(out, "\n}"...)
	}
	_, err = c.w.Write(append(b, '\n'))
	return err
}

// pathSite returns the canonical name of the site in the path.
func pathSite(r *http.Request) (string, error) {
	n, err := maintenance.ParseSite(r.PathValue("site"))
	return n, inField("site", err)
}

// declaredSite returns the site of the path in st, or ErrNotFound.
func declaredSite(r *http.Request, st *maintenance.State) (*maintenance.SiteState, error) {
	n, err := pathSite(r)
	if err != nil {
		return nil, err
	}
	s := st.Site(n)
	if s == nil {
		return nil, fmt.Errorf("%w: site %q is not declared", maintenance.ErrNotFound, n)
	}
	return s, nil
}

func (a *Admin) apiOpenAPI(c *call) error {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("Cache-Control", "no-cache")
	c.w.Write(openAPI)
	return nil
}
