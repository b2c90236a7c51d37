package maintenance

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"sync"
)

//go:embed page/error.html
var errorPageSource string

// errorPage is the built-in page of an upstream error, parsed once.
var errorPage = template.Must(template.New("error").Parse(errorPageSource))

// The statuses of the upstream errors that WriteUpstreamError describes in
// words of their own; any other 5xx gets the words of a generic failure.
var upstreamErrorText = map[int]struct{ heading, detail string }{
	http.StatusBadGateway: {"The site is not answering",
		"The application behind this site did not answer. Please try again in a moment."},
	http.StatusGatewayTimeout: {"The site is taking too long",
		"The application behind this site took too long to answer. Please try again in a moment."},
}

// upstreamErrorAnswers caches the answers with the default detail, by status.
var upstreamErrorAnswers sync.Map // int -> *upstreamErrorAnswer

// upstreamErrorAnswer is an upstream error rendered in the three formats.
type upstreamErrorAnswer struct {
	status           int
	html, json, text body
}

// WriteUpstreamError answers a request that a reverse proxy could not pass
// to its application (refused, timed out, no application for the host), in
// the style of the maintenance answer: the same Accept negotiation gives an
// HTML page, an RFC 9457 application/problem+json (type "about:blank",
// title, status, detail) or text/plain; Cache-Control is no-store; a HEAD
// request gets the headers only. status is the answer's status: 502 Bad
// Gateway or 504 Gateway Timeout usually; a status outside 500-599 is
// taken as 502. detail is the sentence shown to the visitor; empty means a
// default for the status ("The application behind this site did not
// answer..."). The page does not reload itself and makes no external
// requests.
//
// Behind a Gate in deploy-error mode the status is replaced by the
// maintenance answer, as every server error is.
func WriteUpstreamError(w http.ResponseWriter, r *http.Request, status int, detail string) {
	if status < 500 || status > 599 {
		status = http.StatusBadGateway
	}
	var a *upstreamErrorAnswer
	if detail == "" {
		if v, ok := upstreamErrorAnswers.Load(status); ok {
			a = v.(*upstreamErrorAnswer)
		} else {
			a = renderUpstreamError(status, "")
			upstreamErrorAnswers.Store(status, a)
		}
	} else {
		a = renderUpstreamError(status, detail)
	}
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	h["Vary"] = hdrVaryAcceptDest
	h["X-Content-Type-Options"] = hdrNoSniff
	h["X-Robots-Tag"] = hdrRobots
	var b body
	switch negotiate(headerValue(r.Header, "Accept"), headerValue(r.Header, "Sec-Fetch-Dest")) {
	case formatJSON:
		h[hdrContentType], b = hdrJSON, a.json
	case formatText:
		h[hdrContentType], b = hdrText, a.text
	default:
		h[hdrContentType], b = hdrHTML, a.html
	}
	h["Content-Length"] = b.len
	w.WriteHeader(a.status)
	if r.Method != http.MethodHead {
		w.Write(b.b)
	}
}

// renderUpstreamError renders the three representations of an upstream
// error.
func renderUpstreamError(status int, detail string) *upstreamErrorAnswer {
	title := http.StatusText(status)
	if title == "" {
		title = "Error " + strconv.Itoa(status)
	}
	text, ok := upstreamErrorText[status]
	if !ok {
		text.heading, text.detail = "Something went wrong", "The application behind this site failed to answer. Please try again in a moment."
	}
	if detail == "" {
		detail = text.detail
	}
	a := &upstreamErrorAnswer{status: status}
	var b bytes.Buffer
	data := struct {
		Status                 int
		Title, Heading, Detail string
	}{status, title, text.heading, detail}
	if err := errorPage.Execute(&b, data); err != nil {
		panic("maintenance: built-in error page: " + err.Error())
	}
	a.html = newBody(b.Bytes())
	j, _ := json.Marshal(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{"about:blank", title, status, detail})
	a.json = newBody(append(j, '\n'))
	a.text = newBody([]byte(strconv.Itoa(status) + " " + title + ": " + detail + "\n"))
	return a
}
