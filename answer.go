package maintenance

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

//go:embed page/default.html
var defaultPageSource string

// defaultPage is the built-in maintenance page, parsed once.
var defaultPage = template.Must(template.New("default").Parse(defaultPageSource))

// DefaultMessage is the English explanation of a site in mode full with no
// message of its own. A page template gets the explanation of its reason in
// the visitor's language as PageData.Message instead (see PageData.Text).
const DefaultMessage = "The site is unavailable while we work on it. Thank you for your patience."

// StatusPath answers the state of the request's site as JSON, on every gate.
const StatusPath = "/_maintenance/status"

// HealthPath answers, on every gate and whatever the maintenance state, that
// the gate is alive: 200 with {"status":"ok","version":N}, and
// "store_error" while the gate cannot reach its store (it still serves).
const HealthPath = "/_maintenance/health"

// ReservedPrefix belongs to the gate: its own endpoints live under it, and
// the paths an application serves itself there (Options.Reserved) are never
// blocked; every other path under it gets the gate's 404.
const ReservedPrefix = "/_maintenance/"

// The reasons a page is served, as PageData.Reason and the status
// endpoint's "reasons" name them.
const (
	// ReasonFull: the site is in maintenance in mode full.
	ReasonFull = "full"
	// ReasonReadOnly: the site is read-only, and the request was a write.
	ReasonReadOnly = "read-only"
	// ReasonHold: the site is in mode hold, and the request waited too long.
	ReasonHold = "hold"
	// ReasonErrors: the site is on in mode errors, and the application
	// failed; the page replaces its error.
	ReasonErrors = "errors"
	// ReasonRelease: the gate's release differs from the fleet's target
	// (a deploy), and the application failed; the page replaces its error.
	ReasonRelease = "release"
	// ReasonForced: a route wrapped with Gate.ForceOn, whatever the state.
	ReasonForced = "forced"
)

// reason is why an answer is served.
type reason uint8

const (
	reasonFull reason = iota
	reasonReadOnly
	reasonHold
	reasonErrors
	reasonRelease
	reasonForced
)

var reasonNames = [...]string{ReasonFull, ReasonReadOnly, ReasonHold, ReasonErrors, ReasonRelease, ReasonForced}

func (r reason) String() string { return reasonNames[r] }

// reasonOf returns the reason a site that is on in mode m blocks a request.
func reasonOf(m Mode) reason {
	switch m {
	case ModeReadOnly:
		return reasonReadOnly
	case ModeHold:
		return reasonHold
	case ModeErrors:
		return reasonErrors
	}
	return reasonFull
}

// over lists the reasons whose end makes a page served for r stale: the
// page's script reloads (or, after a write, offers a way back) once the
// status endpoint lists none of them. A forced page never goes stale.
func (r reason) over() []string {
	switch r {
	case reasonErrors, reasonRelease:
		return []string{ReasonErrors, ReasonRelease}
	case reasonForced:
		return nil
	}
	return []string{r.String()}
}

// PageTime is a time on a page, or nothing: a nil *PageTime prints as an
// empty string and is false in {{if}}, so a template writes
// {{with .EndsAt}}back by {{.Format "15:04 MST"}}{{end}}. Printed whole,
// it is RFC 3339 in UTC.
type PageTime struct{ time.Time }

// String returns t in RFC 3339, UTC; "" for nil.
func (t *PageTime) String() string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// PageData is what a maintenance page template is executed with. The texts
// (Title...When) are in the language Lang, picked from the visitor's
// Accept-Language among the built-in languages (Languages).
type PageData struct {
	// Site is the name of the request's site ("*" for the default site).
	Site string
	// Lang is the language of the page's texts: "en", "de"...
	Lang string
	// Reason says why the page is served: ReasonFull, ReasonReadOnly,
	// ReasonHold, ReasonErrors, ReasonRelease or ReasonForced.
	Reason string
	// Scheduled is true while the site is in a window that was planned
	// (a scheduled window, or one switched on with a start time).
	Scheduled bool
	// Unsafe is true when the request's method is not GET or HEAD: such a
	// request must not be repeated by the page (no reload, no refresh);
	// offer a way back instead.
	Unsafe bool
	// Title is a short title for Reason ("Read-only during maintenance").
	Title string
	// Heading is the page's heading for Reason.
	Heading string
	// Text explains Reason ("You can still browse the site, but...").
	Text string
	// Message is the operator's message in the visitor's language, else as
	// typed, else Text.
	Message string
	// MessageLang is the language of Message when the operator gave it
	// for a language other than Lang ("pt-BR"); "" otherwise.
	MessageLang string
	// Outcome says what became of an Unsafe request ("What you just sent
	// was not saved."); "" for GET and HEAD.
	Outcome string
	// When says when the site is expected back, "" when unknown.
	When string
	// Status is the answer's status code.
	Status int
	// EndsAt is when maintenance is expected to end; nil when unknown.
	EndsAt *PageTime
	// SecondsLeft counts down to EndsAt; 0 when unknown.
	SecondsLeft int
	// RetryAfter is the Retry-After in seconds; 0 when none is sent.
	RetryAfter int
	// Path is the request's path.
	Path string
	// StatusURL is the path that answers the site's state as JSON.
	StatusURL string
}

// builtinData is what the built-in page is executed with.
type builtinData struct {
	PageData
	// OwnMessage: Message is the operator's, shown beside Text.
	OwnMessage bool
	// Over are the reasons whose end makes the page stale, space-separated.
	Over string
	// Refresh is the <noscript> refresh in seconds; 0 for none.
	Refresh int
	// The page's own words, in Lang.
	Reloads, Ready, GoBack, Home string
}

// maxRefresh and minRefresh bound the <noscript> refresh of the built-in
// page: a Retry-After of hours must not leave a visitor without JavaScript
// on a stale page for hours, and a short one must not make it hammer.
const (
	minRefresh     = 30
	maxRefresh     = 300
	defaultRefresh = 60
)

// format is the negotiated representation of an answer.
type format uint8

const (
	formatHTML format = iota
	formatJSON
	formatText
)

// negotiate picks the answer's format from the Accept and Sec-Fetch-Dest
// headers without allocating. JSON (application/json,
// application/problem+json, any +json) wins when it is preferred over HTML.
// HTML is for documents: when Accept names text/html (or
// application/xhtml+xml), or when it is missing or only wildcards (*/*,
// text/*) and names no other type; never for a request whose
// Sec-Fetch-Dest is a resource (image, script, style, font...), and for
// fetch()/XHR (Sec-Fetch-Dest: empty) only when text/html is named. Anything
// else gets text/plain: a short answer, not a 4 KB page for a favicon.
func negotiate(accept, dest string) format {
	document := true
	switch dest {
	case "", "document", "iframe", "frame", "embed", "object", "fencedframe":
	default:
		document = false
	}
	// Browsers put text/html first for documents: nothing can be
	// preferred over it.
	if document && (accept == "" || strings.HasPrefix(accept, "text/html,") || accept == "text/html") {
		return formatHTML
	}
	var qJSON, qHTML, qAny, qOther float64 = -1, -1, -1, -1
	for n := 0; accept != "" && n < 64; n++ {
		var item string
		item, accept, _ = strings.Cut(accept, ",")
		mt, params, _ := strings.Cut(item, ";")
		mt = strings.TrimSpace(mt)
		if mt == "" {
			continue
		}
		q := 1.0
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			k, v, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				q = parseQ(strings.TrimSpace(v))
			}
		}
		switch {
		case strings.EqualFold(mt, "application/json"), strings.EqualFold(mt, "application/problem+json"),
			len(mt) > 5 && strings.EqualFold(mt[len(mt)-5:], "+json"):
			qJSON = max(qJSON, q)
		case strings.EqualFold(mt, "text/html"), strings.EqualFold(mt, "application/xhtml+xml"):
			qHTML = max(qHTML, q)
		case mt == "*/*", strings.EqualFold(mt, "text/*"):
			qAny = max(qAny, q)
		default:
			qOther = max(qOther, q)
		}
	}
	switch {
	case qJSON > 0 && qJSON > qHTML:
		return formatJSON
	case !document:
		if qHTML > 0 && dest == "empty" {
			return formatHTML
		}
		return formatText
	case qHTML > 0, qHTML < 0 && qAny > 0 && qOther <= 0:
		return formatHTML
	}
	return formatText
}

// parseQ parses a quality value (RFC 9110 §12.4.2: "1", "0.8", "0.125",
// "1.000"); anything else, "1.5" included, is 0.
func parseQ(v string) float64 {
	if v == "" || len(v) > 5 || (v[0] != '0' && v[0] != '1') || len(v) > 1 && v[1] != '.' {
		return 0
	}
	q, scale := float64(v[0]-'0'), 0.1
	for i := 2; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' || q >= 1 && c != '0' {
			return 0
		}
		q += float64(c-'0') * scale
		scale /= 10
	}
	return min(q, 1)
}

// Header values shared by every answer: assigning a prebuilt slice to a
// header key does not allocate.
var (
	hdrHTML           = []string{"text/html; charset=utf-8"}
	hdrJSON           = []string{"application/problem+json"}
	hdrStatusJSON     = []string{"application/json"}
	hdrText           = []string{"text/plain; charset=utf-8"}
	hdrNoStore        = []string{"no-store"}
	hdrVaryAnswer     = []string{"Accept, Accept-Language, Sec-Fetch-Dest"}
	hdrVaryAcceptDest = []string{"Accept, Sec-Fetch-Dest"}
	hdrNoSniff        = []string{"nosniff"}
	hdrRobots         = []string{"noindex"}
	hdrContentType    = "Content-Type"
)

// body is a prebuilt representation with its Content-Length value.
type body struct {
	b   []byte
	len []string
}

func newBody(b []byte) body { return body{b: b, len: []string{strconv.Itoa(len(b))}} }

// langMessage is an operator's message for one language.
type langMessage struct{ tag, text string }

// answer is the maintenance answer of one site for one reason. It is built
// with the snapshot; its representations (one per language, message and
// kind of request) are rendered on first use and kept, so that writing it
// costs no rendering.
type answer struct {
	status     int
	retryAfter []string // nil: no Retry-After
	location   []string // nil: no redirect
	why        reason
	scheduled  bool
	site       string
	message    string        // the message as typed; "" for none
	messages   []langMessage // the operator's translations, sorted by tag
	msgTags    []string
	retry      int
	// until, when set, is the end of the window: Retry-After and the JSON's
	// retry_after count down to it.
	until time.Time
	// page is a custom template; nil for the built-in page. perRequest:
	// its output depends on the request (it uses .Path, for instance).
	page       *template.Template
	perRequest bool
	variants   []atomic.Pointer[variant]
}

// variant is one rendering of an answer: for one language of the page's
// texts, one of the operator's messages, and a safe or unsafe method.
type variant struct {
	html, json, text body
	// jsonHead is the problem+json without its end, for a countdown.
	jsonHead []byte
	lang     []string // Content-Language
	data     PageData // for a page executed per request
}

// answerFor builds the answer of a site, for reason why, from its state and
// page template.
func answerFor(s *SiteState, page *template.Template, why reason) *answer {
	a := &answer{status: s.EffectiveStatus(), why: why, site: s.Site, message: s.Message}
	a.retry = int((s.RetryAfter + time.Second - 1) / time.Second)
	if a.retry > 0 {
		a.retryAfter = []string{strconv.Itoa(a.retry)}
	}
	if s.Redirect != "" {
		a.location = []string{s.Redirect}
	}
	a.until = s.Until
	a.scheduled = !s.From.IsZero() && !s.Until.IsZero()
	for _, tag := range sortedKeys(s.Messages) {
		a.messages = append(a.messages, langMessage{tag, s.Messages[tag]})
		a.msgTags = append(a.msgTags, tag)
	}
	a.variants = make([]atomic.Pointer[variant], len(catalogs)*(len(a.messages)+1)*2)
	if page != nil && page != defaultPage {
		a.page = page
		a.perRequest = !a.pageIsStatic()
	}
	return a
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// pageIsStatic renders a custom page for two different requests and
// reports whether the output is the same.
func (a *answer) pageIsStatic() bool {
	d := a.pageData(catalogs[0], -1, false)
	d.Path = "/"
	var b1, b2 bytes.Buffer
	d2 := d
	d2.Path, d2.SecondsLeft = "/_maintenance/probe/path", d.SecondsLeft+1
	e1, e2 := a.page.Execute(&b1, d), a.page.Execute(&b2, d2)
	// A page that fails is replaced by the built-in one, which is static.
	return e1 != nil || e2 != nil || bytes.Equal(b1.Bytes(), b2.Bytes())
}

// pageData returns the data of the variant for language c, the operator's
// message m (-1: the message as typed) and a safe or unsafe method.
func (a *answer) pageData(c *catalog, m int, unsafe bool) PageData {
	d := PageData{Site: a.site, Lang: c.tag, Reason: a.why.String(), Unsafe: unsafe,
		Status: a.status, RetryAfter: a.retry, StatusURL: StatusPath, Path: "/"}
	d.Scheduled = a.scheduled && a.why == reasonFull
	switch a.why {
	case reasonReadOnly:
		d.Title, d.Heading, d.Text = c.titleReadOnly, c.headReadOnly, c.textReadOnly
	case reasonHold:
		d.Title, d.Heading, d.Text = c.titleHold, c.headHold, c.textHold
	case reasonErrors, reasonRelease:
		d.Title, d.Heading, d.Text = c.titleUpdate, c.headUpdate, c.textUpdate
	default:
		d.Title, d.Heading, d.Text = c.titleFull, c.headFull, c.textFull
		if d.Scheduled {
			d.Title, d.Heading = c.titleScheduled, c.headScheduled
		}
	}
	switch {
	case m >= 0:
		d.Message = a.messages[m].text
		if !strings.EqualFold(a.messages[m].tag, c.tag) {
			d.MessageLang = a.messages[m].tag
		}
	case a.message != "":
		d.Message = a.message
	default:
		d.Message = d.Text
	}
	if unsafe {
		d.Outcome = c.notSaved
		if a.why == reasonErrors || a.why == reasonRelease {
			d.Outcome = c.maybeSaved
		}
	}
	by, in := c.backBy, c.backIn
	if a.why == reasonReadOnly {
		by, in = c.writesBy, c.writesIn
	}
	switch {
	case !a.until.IsZero():
		d.EndsAt = &PageTime{a.until.UTC()}
		d.SecondsLeft = max(int(time.Until(a.until)/time.Second), 0)
		d.When = fmt.Sprintf(by, a.until.UTC().Format("2006-01-02 15:04 UTC"))
	case a.retry > 0:
		d.When = fmt.Sprintf(in, c.about(a.retry))
	}
	return d
}

// variantFor returns the rendering for a request, rendering it on first use.
func (a *answer) variantFor(r *http.Request) *variant {
	al := headerValue(r.Header, "Accept-Language")
	ui := max(pickLang(al, catalogTags), 0)
	m := -1
	if len(a.messages) > 0 {
		m = pickLang(al, a.msgTags)
		if m < 0 && a.message == "" {
			m = 0 // no message as typed: the first translation
		}
	}
	unsafe := r.Method != http.MethodGet && r.Method != http.MethodHead
	i := (ui*(len(a.messages)+1) + m + 1) * 2
	if unsafe {
		i++
	}
	if v := a.variants[i].Load(); v != nil {
		return v
	}
	v := a.render(catalogs[ui], m, unsafe)
	a.variants[i].Store(v)
	return v
}

// render builds one variant.
func (a *answer) render(c *catalog, m int, unsafe bool) *variant {
	d := a.pageData(c, m, unsafe)
	v := &variant{lang: contentLanguage[slices.Index(catalogTags, c.tag)], data: d}
	if a.page == nil || !a.perRequest {
		var b bytes.Buffer
		if a.page == nil || a.page.Execute(&b, d) != nil {
			b.Reset()
			a.builtin(&b, c, d)
		}
		v.html = newBody(b.Bytes())
	}

	problem := struct {
		Type       string `json:"type"`
		Title      string `json:"title"`
		Status     int    `json:"status"`
		Detail     string `json:"detail"`
		Site       string `json:"site"`
		Reason     string `json:"reason"`
		EndsAt     string `json:"ends_at,omitempty"`
		RetryAfter int    `json:"retry_after,omitempty"`
	}{"urn:gomaint:maintenance", d.Title, a.status, d.Message, a.site, d.Reason, "", a.retry}
	var text strings.Builder
	text.WriteString(d.Title + "\n" + d.Message + "\n")
	if d.Outcome != "" {
		problem.Detail += " " + d.Outcome
		text.WriteString(d.Outcome + "\n")
	}
	if d.When != "" {
		text.WriteString(d.When + "\n")
	}
	if !a.until.IsZero() {
		// retry_after counts down: it is written last, per request, after
		// the prebuilt head.
		problem.EndsAt, problem.RetryAfter = a.until.UTC().Format(time.RFC3339), 0
	}
	j, _ := json.Marshal(problem)
	if !a.until.IsZero() {
		v.jsonHead = append(j[:len(j)-1:len(j)-1], []byte(`,"retry_after":`)...)
	}
	v.json = newBody(append(j, '\n'))
	v.text = newBody([]byte(text.String()))
	return v
}

// builtin executes the built-in page.
func (a *answer) builtin(b *bytes.Buffer, c *catalog, d PageData) {
	bd := builtinData{PageData: d, OwnMessage: d.Message != d.Text, Over: strings.Join(a.why.over(), " "),
		Reloads: c.reloads, Ready: c.ready, GoBack: c.goBack, Home: c.home}
	if !d.Unsafe && a.why != reasonForced {
		bd.Refresh = defaultRefresh
		if a.retry > 0 {
			bd.Refresh = min(max(a.retry, minRefresh), maxRefresh)
		}
	}
	if err := defaultPage.Execute(b, bd); err != nil {
		panic("maintenance: built-in page: " + err.Error())
	}
}

// retryStrings caches the Retry-After values of the last hour of a
// countdown, so that a countdown answer allocates nothing for them.
var retryStrings = func() []string {
	s := make([]string, 3601)
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

// secondsUntil returns the whole seconds from now to t, at least 1.
func secondsUntil(t time.Time) int {
	return max(int((time.Until(t)+time.Second-1)/time.Second), 1)
}

func retryString(n int) string {
	if n < len(retryStrings) {
		return retryStrings[n]
	}
	return strconv.Itoa(n)
}

var pagePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// write sends the answer. Once its variant is rendered, it allocates
// nothing for a static page.
func (a *answer) write(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	h["Vary"] = hdrVaryAnswer
	h["X-Content-Type-Options"] = hdrNoSniff
	h["X-Robots-Tag"] = hdrRobots
	left := 0
	if !a.until.IsZero() {
		left = secondsUntil(a.until)
		h["Retry-After"] = []string{retryString(left)}
	} else if a.retryAfter != nil {
		h["Retry-After"] = a.retryAfter
	}
	f := negotiate(headerValue(r.Header, "Accept"), headerValue(r.Header, "Sec-Fetch-Dest"))
	if f == formatHTML && a.location != nil {
		h["Location"] = a.location
		w.WriteHeader(http.StatusFound)
		return
	}
	v := a.variantFor(r)
	h["Content-Language"] = v.lang
	var b body
	switch f {
	case formatJSON:
		if left > 0 {
			a.writeCountdownJSON(w, r, v, left)
			return
		}
		h[hdrContentType], b = hdrJSON, v.json
	case formatText:
		h[hdrContentType], b = hdrText, v.text
	default:
		h[hdrContentType] = hdrHTML
		if a.perRequest {
			a.writePage(w, r, v)
			return
		}
		b = v.html
	}
	h["Content-Length"] = b.len
	w.WriteHeader(a.status)
	if r.Method != http.MethodHead {
		w.Write(b.b)
	}
}

// writeCountdownJSON writes the problem+json of a window with its
// retry_after counting down.
func (a *answer) writeCountdownJSON(w http.ResponseWriter, r *http.Request, v *variant, left int) {
	buf := pagePool.Get().(*bytes.Buffer)
	defer pagePool.Put(buf)
	buf.Reset()
	buf.Write(v.jsonHead)
	buf.WriteString(retryString(left))
	buf.WriteString("}\n")
	w.Header()[hdrContentType] = hdrJSON
	w.WriteHeader(a.status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// writePage executes a request-dependent custom page.
func (a *answer) writePage(w http.ResponseWriter, r *http.Request, v *variant) {
	buf := pagePool.Get().(*bytes.Buffer)
	defer pagePool.Put(buf)
	buf.Reset()
	d := v.data
	d.Path = r.URL.Path
	if !a.until.IsZero() {
		d.SecondsLeft = secondsUntil(a.until)
	}
	if err := a.page.Execute(buf, d); err != nil {
		buf.Reset()
		a.builtin(buf, catalogs[max(slices.Index(catalogTags, d.Lang), 0)], d)
	}
	w.Header()["Content-Length"] = []string{strconv.Itoa(buf.Len())}
	w.WriteHeader(a.status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// headerValue returns the first value of a header whose key is already in
// canonical form, skipping Header.Get's canonicalization.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
