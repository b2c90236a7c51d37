package maintenance

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed page/default.html
var defaultPageSource string

// defaultPage is the built-in maintenance page, parsed once.
var defaultPage = template.Must(template.New("default").Parse(defaultPageSource))

// DefaultMessage is shown when a site is on without a message of its own.
const DefaultMessage = "This site is down for scheduled maintenance. Thank you for your patience."

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

// PageData is what a maintenance page template is executed with.
type PageData struct {
	// Site is the name of the request's site ("*" for the default site).
	Site string
	// Message is the site's message, or DefaultMessage.
	Message string
	// Status is the answer's status code.
	Status int
	// EndsAt is when maintenance is expected to end; zero when unknown.
	EndsAt time.Time
	// SecondsLeft counts down to EndsAt; 0 when unknown.
	SecondsLeft int
	// RetryAfter is the Retry-After in seconds; 0 when none is sent.
	RetryAfter int
	// Path is the request's path.
	Path string
	// StatusURL is the path that answers the site's state as JSON.
	StatusURL string
}

// format is the negotiated representation of an answer.
type format uint8

const (
	formatHTML format = iota
	formatJSON
	formatText
)

// negotiate picks the answer's format from an Accept header without
// allocating. JSON (application/json, application/problem+json, any +json)
// wins when it is preferred over HTML; HTML when it is acceptable (text/html,
// application/xhtml+xml, text/*, */*) or when Accept is missing; text/plain
// otherwise.
func negotiate(accept string) format {
	// Browsers put text/html first: nothing can be preferred over it.
	if accept == "" || strings.HasPrefix(accept, "text/html,") || accept == "text/html" {
		return formatHTML
	}
	var qJSON, qHTML, qAny float64 = -1, -1, -1
	for accept != "" {
		var item string
		item, accept, _ = strings.Cut(accept, ",")
		mt, params, _ := strings.Cut(item, ";")
		mt = strings.TrimSpace(mt)
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
		}
	}
	switch {
	case qJSON > 0 && qJSON > qHTML:
		return formatJSON
	case qHTML > 0, qHTML < 0 && qAny > 0:
		return formatHTML
	}
	return formatText
}

// parseQ parses a quality value ("1", "0.8", "0.125"); anything else is 0.
func parseQ(v string) float64 {
	if v == "" || len(v) > 5 || (v[0] != '0' && v[0] != '1') || len(v) > 1 && v[1] != '.' {
		return 0
	}
	q, scale := float64(v[0]-'0'), 0.1
	for i := 2; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
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
	hdrHTML        = []string{"text/html; charset=utf-8"}
	hdrJSON        = []string{"application/problem+json"}
	hdrStatusJSON  = []string{"application/json"}
	hdrText        = []string{"text/plain; charset=utf-8"}
	hdrNoStore     = []string{"no-store"}
	hdrVaryAccept  = []string{"Accept"}
	hdrNoSniff     = []string{"nosniff"}
	hdrRobots      = []string{"noindex"}
	hdrContentType = "Content-Type"
)

// body is a prebuilt representation with its Content-Length value.
type body struct {
	b   []byte
	len []string
}

func newBody(b []byte) body { return body{b: b, len: []string{strconv.Itoa(len(b))}} }

// answer is the maintenance answer of one site, rendered when the snapshot is
// built so that writing it costs no rendering.
type answer struct {
	status     int
	retryAfter []string // nil: no Retry-After
	location   []string // nil: no redirect
	html       body     // empty when page is per-request
	json, text body
	// page, when not nil, is executed per request because its output depends
	// on the request (a custom template that uses .Path, for instance).
	page *template.Template
	data PageData
	// until, when set, is the end of the window: Retry-After and the JSON's
	// retry_after count down to it, after jsonHead.
	until    time.Time
	jsonHead []byte
}

// answerFor renders the answer of a site from its state and page template.
func answerFor(s *SiteState, page *template.Template) *answer {
	a := &answer{status: s.Status}
	if a.status == 0 {
		a.status = DefaultStatus
	}
	msg := s.Message
	if msg == "" {
		msg = DefaultMessage
	}
	retry := int((s.RetryAfter + time.Second - 1) / time.Second)
	if retry > 0 {
		a.retryAfter = []string{strconv.Itoa(retry)}
	}
	if s.Redirect != "" {
		a.location = []string{s.Redirect}
	}
	a.data = PageData{Site: s.Site, Message: msg, Status: a.status, RetryAfter: retry, StatusURL: StatusPath}
	if !s.Until.IsZero() {
		a.until = s.Until
		a.data.EndsAt = s.Until
	}

	var b1 bytes.Buffer
	d1 := a.data
	d1.Path = "/"
	switch {
	case page == defaultPage:
		// The built-in page does not depend on the request.
		if err := defaultPage.Execute(&b1, d1); err != nil {
			panic("maintenance: built-in page: " + err.Error())
		}
		a.html = newBody(b1.Bytes())
	case pageIsStatic(page, d1, &b1):
		a.html = newBody(b1.Bytes())
	default:
		a.page = page
	}

	problem := struct {
		Type       string `json:"type"`
		Title      string `json:"title"`
		Status     int    `json:"status"`
		Detail     string `json:"detail"`
		Site       string `json:"site"`
		EndsAt     string `json:"ends_at,omitempty"`
		RetryAfter int    `json:"retry_after,omitempty"`
	}{"urn:gomaint:maintenance", "Down for maintenance", a.status, msg, s.Site, "", retry}
	text := "Down for maintenance: " + msg + "\n"
	if !a.until.IsZero() {
		// retry_after counts down: it is written last, per request, after
		// the prebuilt head.
		problem.EndsAt, problem.RetryAfter = a.until.UTC().Format(time.RFC3339), 0
		text += "Expected back by " + a.until.UTC().Format(time.RFC3339) + ".\n"
	}
	j, _ := json.Marshal(problem)
	if !a.until.IsZero() {
		a.jsonHead = append(j[:len(j)-1:len(j)-1], []byte(`,"retry_after":`)...)
	}
	a.json = newBody(append(j, '\n'))
	a.text = newBody([]byte(text))
	return a
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

// pageIsStatic renders a custom page for two different requests: when the
// output is the same, it is rendered once, into b. A page that fails is
// replaced by the built-in one (templates are checked when the gate starts,
// so this means a template that fails on some data).
func pageIsStatic(page *template.Template, d PageData, b *bytes.Buffer) bool {
	var b2 bytes.Buffer
	d2 := d
	d2.Path, d2.SecondsLeft = "/_maintenance/probe/path", d.SecondsLeft+1
	e1, e2 := page.Execute(b, d), page.Execute(&b2, d2)
	if e1 != nil || e2 != nil {
		b.Reset()
		if err := defaultPage.Execute(b, d); err != nil {
			panic("maintenance: built-in page: " + err.Error())
		}
		return true
	}
	return bytes.Equal(b.Bytes(), b2.Bytes())
}

var pagePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// write sends the answer. It allocates nothing for a static page.
func (a *answer) write(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	h["Vary"] = hdrVaryAccept
	h["X-Content-Type-Options"] = hdrNoSniff
	h["X-Robots-Tag"] = hdrRobots
	left := 0
	if !a.until.IsZero() {
		left = secondsUntil(a.until)
		h["Retry-After"] = []string{retryString(left)}
	} else if a.retryAfter != nil {
		h["Retry-After"] = a.retryAfter
	}
	f := negotiate(headerValue(r.Header, "Accept"))
	if f == formatHTML && a.location != nil {
		h["Location"] = a.location
		w.WriteHeader(http.StatusFound)
		return
	}
	var b body
	switch f {
	case formatJSON:
		if left > 0 {
			a.writeCountdownJSON(w, r, left)
			return
		}
		h[hdrContentType], b = hdrJSON, a.json
	case formatText:
		h[hdrContentType], b = hdrText, a.text
	default:
		h[hdrContentType] = hdrHTML
		if a.page != nil {
			a.writePage(w, r)
			return
		}
		b = a.html
	}
	h["Content-Length"] = b.len
	w.WriteHeader(a.status)
	if r.Method != http.MethodHead {
		w.Write(b.b)
	}
}

// writeCountdownJSON writes the problem+json of a window with its
// retry_after counting down.
func (a *answer) writeCountdownJSON(w http.ResponseWriter, r *http.Request, left int) {
	buf := pagePool.Get().(*bytes.Buffer)
	defer pagePool.Put(buf)
	buf.Reset()
	buf.Write(a.jsonHead)
	buf.WriteString(retryString(left))
	buf.WriteString("}\n")
	w.Header()[hdrContentType] = hdrJSON
	w.WriteHeader(a.status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// writePage executes a request-dependent page.
func (a *answer) writePage(w http.ResponseWriter, r *http.Request) {
	buf := pagePool.Get().(*bytes.Buffer)
	defer pagePool.Put(buf)
	buf.Reset()
	d := a.data
	d.Path = r.URL.Path
	if !a.until.IsZero() {
		d.SecondsLeft = secondsUntil(a.until)
	}
	if err := a.page.Execute(buf, d); err != nil {
		buf.Reset()
		defaultPage.Execute(buf, d)
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
