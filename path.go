package maintenance

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// The reserved prefix belongs to the gate. A path under ReservedPrefix is
// one of the gate's own endpoints (endpoints below), or one the
// application serves itself and declared in Options.Reserved (the admin
// page, say); any other gets the gate's 404 and never reaches the
// application, so that "/_maintenance/..;/orders" cannot be exempt on the
// way in and read as "/orders" by an application that strips ";params".

// endpoint is one of the gate's own endpoints under ReservedPrefix.
type endpoint struct {
	// path is the endpoint's path, or with subtree, the prefix of its paths.
	path    string
	subtree bool
	serve   func(g *Gate, w http.ResponseWriter, r *http.Request, s *snapshot)
}

// endpoints are the gate's own endpoints: the one list to extend with a new
// one. They are answered before any maintenance decision, whatever the
// state, and never passed on.
var endpoints = []endpoint{
	{path: StatusPath, serve: func(g *Gate, w http.ResponseWriter, r *http.Request, s *snapshot) {
		g.serveStatus(w, r, s.site(r.Host))
	}},
	{path: HealthPath, serve: func(g *Gate, w http.ResponseWriter, r *http.Request, s *snapshot) {
		g.serveHealth(w, r, s)
	}},
	{path: BypassPath, subtree: true, serve: func(g *Gate, w http.ResponseWriter, r *http.Request, s *snapshot) {
		g.serveBypass(w, r, s)
	}},
	{path: AssetsPath, subtree: true, serve: func(g *Gate, w http.ResponseWriter, r *http.Request, s *snapshot) {
		g.serveAsset(w, r, s)
	}},
}

// endpointFor returns the gate's own endpoint that serves path, or nil.
func endpointFor(path string) *endpoint {
	for i := range endpoints {
		e := &endpoints[i]
		if path == e.path || e.subtree && strings.HasPrefix(path, e.path) {
			return e
		}
	}
	return nil
}

// reservedPath is a path under ReservedPrefix that the application serves
// itself (Options.Reserved).
type reservedPath struct {
	// path is the exact path, or with subtree the prefix ("/x/"), which
	// covers its root without the slash ("/x") too, as http.ServeMux does.
	path    string
	subtree bool
}

func (p reservedPath) match(path string) bool {
	if !p.subtree {
		return path == p.path
	}
	return strings.HasPrefix(path, p.path) || path == p.path[:len(p.path)-1]
}

// parseReserved checks an entry of Options.Reserved.
func parseReserved(s string) (reservedPath, error) {
	const accepted = "accepted: a path under " + ReservedPrefix + " that is not the gate's own, exact (" + ReservedPrefix + "x) or ending in / for a subtree (" + ReservedPrefix + "admin/)"
	if !strings.HasPrefix(s, ReservedPrefix) || len(s) == len(ReservedPrefix) || !unambiguousPath(s, "") {
		return reservedPath{}, invalidf("reserved path %q: %s", s, accepted)
	}
	p := reservedPath{path: s, subtree: strings.HasSuffix(s, "/")}
	for _, e := range endpoints {
		if p.match(e.path) || endpointFor(s) != nil || e.subtree && strings.HasPrefix(e.path, s) {
			return reservedPath{}, invalidf("reserved path %q: %s is the gate's own; %s", s, e.path, accepted)
		}
	}
	return p, nil
}

// serveReservedNotFound is the gate's answer to a path under ReservedPrefix
// that neither the gate nor the application (Options.Reserved) serves.
func serveReservedNotFound(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNoSniff
	h[hdrContentType] = []string{"text/plain; charset=utf-8"}
	w.WriteHeader(http.StatusNotFound)
	if r.Method != http.MethodHead {
		w.Write([]byte("404 page not found\n"))
	}
}

// unambiguousPath reports whether a request path reads the same to every
// common server, so that a rule can exempt it: path is the decoded path
// (url.URL.Path) and raw the path as sent, when it differs (url.URL.RawPath).
// A path that some server could normalize into another one is never exempt,
// whatever the patterns say: the gate would match one path and the
// application serve another. It rejects:
//
//   - "." and ".." segments, segments of dots and spaces only ("...",
//     "..+"), and segments that end in a dot or a space, which Windows
//     servers trim ("/admin./" is "/admin/" to IIS); after decoding, so
//     "%2e%2e" too;
//   - ";" anywhere: Tomcat, Jetty and Spring strip ";params" from each
//     segment, so "/static/..;/admin" is "/admin" to them;
//   - "\" (IIS and ASP.NET read it as "/"), "//" (nginx, Apache and Tomcat
//     merge slashes), "%2f" (an encoded slash: decoded by some, kept inside
//     a segment by others, refused by the rest);
//   - "%" after decoding ("%252e" is "." to a server that decodes twice),
//     "?" and "#" after decoding;
//   - control characters, NUL included (C servers cut the path there);
//   - invalid UTF-8 (overlong forms such as "%c0%ae" were read as "."), and
//     text that Unicode normalization (NFKC) or Windows' best-fit mapping
//     changes ("．．" for "..", "∕" for "/").
//
// It does not allocate.
func unambiguousPath(path, raw string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	ascii := true
	seg := 1 // start of the current segment
	for i := 1; i <= len(path); i++ {
		var c byte = '/' // a last one, to end the last segment
		if i < len(path) {
			c = path[i]
		}
		switch {
		case c == '/':
			if i == seg && i < len(path) {
				return false // "//"
			}
			if onlyDots(path[seg:i]) || i > seg && (path[i-1] == '.' || path[i-1] == ' ') {
				return false
			}
			seg = i + 1
		case c < 0x20 || c == 0x7f || c == '\\' || c == ';' || c == '%' || c == '?' || c == '#':
			return false
		case c >= 0x80:
			ascii = false
		}
	}
	if !ascii && !unambiguousText(path) {
		return false
	}
	if raw != "" && (strings.Contains(raw, "%2f") || strings.Contains(raw, "%2F")) {
		return false
	}
	return true
}

// onlyDots reports whether a segment holds a dot and nothing but dots,
// spaces and '+' (a space to form decoders).
func onlyDots(seg string) bool {
	dot := false
	for i := 0; i < len(seg); i++ {
		switch seg[i] {
		case '.':
			dot = true
		case ' ', '+':
		default:
			return false
		}
	}
	return dot
}

// unambiguousText reports whether non-ASCII text is valid UTF-8 that
// neither NFKC nor Windows' best-fit mapping changes.
func unambiguousText(s string) bool {
	if !utf8.ValidString(s) || !norm.NFKC.IsNormalString(s) {
		return false
	}
	for _, r := range s {
		if bestFit(r) {
			return false
		}
	}
	return true
}

// bestFit reports whether r is NFKC-normal but mapped by Windows' best-fit
// tables (an application using the ANSI file APIs) to a character that
// changes a path: '/', '\\' or ':'.
func bestFit(r rune) bool {
	switch r {
	case 0x2215, // DIVISION SLASH -> '/'
		0x2044, // FRACTION SLASH -> '/'
		0x2216, // SET MINUS -> '\\'
		0x00a5, // YEN SIGN -> '\\' (code page 932)
		0x20a9, // WON SIGN -> '\\' (code page 949)
		0x2236: // RATIO -> ':'
		return true
	}
	return false
}
