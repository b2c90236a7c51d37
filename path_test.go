package maintenance

import (
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestUnambiguousPath(t *testing.T) {
	for _, tc := range []struct {
		target string // the request target as sent
		want   bool
	}{
		{"/", true},
		{"/static/app.css", true},
		{"/.well-known/acme-challenge/x", true},
		{"/a.b/c", true},
		{"/a.b/c.", false}, // "c" to IIS
		{"/a./c", false},
		{"/a%20/c", false},
		{"/..a/b", true},
		{"/a/b/", true},
		{"/caf%C3%A9", true},
		{"/caf\u00e9", true},
		{"/%7Euser", true},
		{"/a%20b", true},
		{"/_maintenance/..;/orders", false},
		{"/static/..;/checkout", false},
		{"/static;x/app.css", false},
		{"/static/%2e%2e/checkout", false},
		{"/static/%2E/checkout", false},
		{"/./", false},
		{"/a/..", false},
		{"/a/.", false},
		{"/a/...", false},
		{"/a/.. /b", false},
		{"/a/..%20/b", false},
		{"/a/..+/b", false},
		{`/a\..\b`, false},
		{"/a%5c..%5cb", false},
		{"/static%2f..%2fcheckout", false},
		{"/static%2Fapp.css", false},
		{"//evil/x", false},
		{"/static//x", false},
		{"/static/x%00.css", false},
		{"/static/x%09", false},
		{"/static/%252e%252e/x", false},
		{"/static/%25", false},
		{"/static/x%3F/../y", false},
		{"/static/x%23", false},
		{"/static/%c0%ae%c0%ae/x", false},
		{"/static/%ff", false},
		{"/static/%ef%bc%8e%ef%bc%8e/x", false}, // fullwidth full stops
		{"/static/%ef%bc%8fx", false},           // fullwidth solidus
		{"/static/%e2%88%95x", false},           // division slash (best fit)
		{"/static/%c2%a5x", false},              // yen sign: '\' in code page 932
		{"/static/e%cc%81", false},              // not NFC
		{"*", false},
		{"", false},
	} {
		u, err := url.ParseRequestURI(tc.target)
		if tc.target == "" {
			u, err = &url.URL{}, nil
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.target, err)
		}
		if got := unambiguousPath(u.Path, u.RawPath); got != tc.want {
			t.Errorf("unambiguousPath(%q) (decoded %q) = %v, want %v", tc.target, u.Path, got, tc.want)
		}
	}
}

func TestReservedOption(t *testing.T) {
	for _, v := range []string{"/admin/", "/_maintenance/", "/_maintenance/status", "/_maintenance/bypass/", "/_maintenance/bypass/x",
		"/_maintenance/", "/_maintenance//x", "/_maintenance/../x", "/_maintenance/a;b", "_maintenance/x"} {
		if _, _, err := newGate(nil, Options{Reserved: []string{v}}); err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("Reserved %q: err = %v, want one naming it", v, err)
		}
	}
	if _, _, err := newGate(nil, Options{Reserved: []string{"/_maintenance/admin/", "/_maintenance/api/v1/", "/_maintenance/x"}}); err != nil {
		t.Error(err)
	}
}

// TestReservedPrefixBelongsToGate: a path under the reserved prefix that is
// not the gate's own never reaches the application, whether the site is on
// or off; a path the application declared does, in either state.
func TestReservedPrefixBelongsToGate(t *testing.T) {
	for _, on := range []bool{false, true} {
		changes := []Change{AddSites("shop.example.com")}
		if on {
			changes = append(changes, On(nil, OnOptions{}))
		}
		g := testGate(t, stateOf(t, changes...), Options{Reserved: []string{"/_maintenance/admin/"}})
		h := g.Handler(upstream)
		for p, want := range map[string]int{
			"/_maintenance/x": 404, "/_maintenance/..;/orders": 404, "/_maintenance/admin/..;/x": 404,
			"/_maintenance/admin/%2e%2e/x": 404, "/_maintenance/admin/": 200, "/_maintenance/admin/users": 200,
			"/_maintenance/health": 200, "/_maintenance/bypass/nope": 404, "/_maintenance/status/..;/x": 404,
			"/%5fmaintenance/x": 404, "/_maintenance/admin/%2e%2e;/x": 404, "/_maintenance/admin//x": 404,
		} {
			method := "POST"
			if strings.HasPrefix(p, ReservedPrefix+"health") || strings.HasPrefix(p, BypassPath) {
				method = "GET"
			}
			w := do(h, req{method: method, path: p})
			if w.Code != want || want == 404 && w.Body.String() == "app" {
				t.Errorf("on=%v %s: %d %q, want %d", on, p, w.Code, w.Body.String(), want)
			}
		}
	}
}

// The reference models below are what real servers do to a request path
// before they route it, written from their documentation and source. Each
// takes the request target as the gate passes it on (the escaped path) and
// returns the segments the server routes on, or ok false when the server
// refuses the request (then it reaches no resource at all).

// decodePath percent-decodes s; keepSlash leaves "%2f" encoded (inside its
// segment); ok is false on a bad escape.
func decodePath(s string, keepSlash bool) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
			return "", false
		}
		c := unhex(s[i+1])<<4 | unhex(s[i+2])
		if keepSlash && c == '/' {
			b.WriteString(s[i : i+3])
		} else {
			b.WriteByte(c)
		}
		i += 2
	}
	return b.String(), true
}

// removeDots is RFC 3986 5.2.4 over segments; ok is false when ".." climbs
// above the root (which Tomcat, nginx and Apache refuse).
func removeDots(segs []string) ([]string, bool) {
	var out []string
	for _, s := range segs {
		switch s {
		case ".":
		case "..":
			if len(out) == 0 {
				return nil, false
			}
			out = out[:len(out)-1]
		default:
			out = append(out, s)
		}
	}
	return out, true
}

// segments splits an absolute path into segments ("/a/b/" is a, b, "").
func segments(p string) []string { return strings.Split(strings.TrimPrefix(p, "/"), "/") }

func mergeSlashes(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return p
}

// stripParams removes ";params" from each segment, as Tomcat, Jetty and
// Spring do.
func stripParams(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		s, _, _ = strings.Cut(s, ";")
		segs[i] = s
	}
	return strings.Join(segs, "/")
}

var serverModels = map[string]func(raw string) ([]string, bool){
	// Tomcat (CoyoteAdapter): path parameters stripped first, then decoded
	// (an encoded '/' refused), then normalized: '\' refused, NUL
	// refused, slashes merged, dot segments resolved.
	"tomcat": func(raw string) ([]string, bool) {
		p, ok := decodePath(stripParams(raw), true)
		if !ok || strings.Contains(p, "%2f") || strings.Contains(p, "%2F") || strings.ContainsAny(p, "\\\x00") {
			return nil, false
		}
		return removeDots(segments(mergeSlashes(p)))
	},
	// Jetty and Spring's UrlPathHelper: decoded first, then ";params"
	// removed, "//" merged, dot segments resolved.
	"spring": func(raw string) ([]string, bool) {
		p, ok := decodePath(raw, false)
		if !ok {
			return nil, false
		}
		return removeDots(segments(mergeSlashes(stripParams(p))))
	},
	// nginx (merge_slashes on): decoded, slashes merged, dot segments
	// resolved; on Windows '\' is a separator too.
	"nginx": func(raw string) ([]string, bool) {
		p, ok := decodePath(raw, false)
		if !ok || strings.IndexByte(p, 0) >= 0 {
			return nil, false
		}
		return removeDots(segments(mergeSlashes(p)))
	},
	"nginx-windows": func(raw string) ([]string, bool) {
		p, ok := decodePath(raw, false)
		if !ok {
			return nil, false
		}
		return removeDots(segments(mergeSlashes(strings.ReplaceAll(p, "\\", "/"))))
	},
	// Apache httpd (AllowEncodedSlashes NoDecode, MergeSlashes on): "%2f"
	// stays inside its segment.
	"apache": func(raw string) ([]string, bool) {
		p, ok := decodePath(raw, true)
		if !ok || strings.IndexByte(p, 0) >= 0 {
			return nil, false
		}
		return removeDots(segments(mergeSlashes(p)))
	},
	// IIS and ASP.NET: '\' is '/', trailing dots and spaces of a segment
	// are dropped, then dot segments resolved.
	"iis": func(raw string) ([]string, bool) {
		p, ok := decodePath(raw, false)
		if !ok {
			return nil, false
		}
		segs := segments(mergeSlashes(strings.ReplaceAll(p, "\\", "/")))
		for i, s := range segs {
			switch t := strings.TrimRight(s, ". "); {
			case t != "":
				segs[i] = t
			case strings.Trim(s, " ") == ".":
				segs[i] = "."
			case s != "":
				segs[i] = ".." // "...", ".. "
			}
		}
		return removeDots(segs)
	},
	// A WSGI server (gunicorn: PATH_INFO decoded, "%2f" included) under an
	// application that cleans the path (os.path.normpath, Go's path.Clean,
	// static file handlers).
	"wsgi-clean": func(raw string) ([]string, bool) {
		p, ok := decodePath(raw, false)
		if !ok {
			return nil, false
		}
		c := path.Clean(p)
		if strings.HasSuffix(p, "/") && c != "/" {
			c += "/" // kept, as http.ServeMux's cleanPath does
		}
		return segments(c), true
	},
	// An application, or a second proxy, that decodes once more.
	"double-decode": func(raw string) ([]string, bool) {
		p, ok := decodePath(raw, false)
		if !ok {
			return nil, false
		}
		if p, ok = decodePath(p, false); !ok {
			return nil, false
		}
		return removeDots(segments(mergeSlashes(p)))
	},
	// A form decoder ('+' is a space) under a server that trims trailing
	// spaces: "..+" is "..". (Other segments: only the '+' changes, which
	// moves no path to another directory.)
	"form-decode": func(raw string) ([]string, bool) {
		p, ok := decodePath(raw, false)
		if !ok {
			return nil, false
		}
		segs := segments(p)
		for i, s := range segs {
			if f := strings.TrimRight(strings.ReplaceAll(s, "+", " "), " "); f == "." || f == ".." {
				segs[i] = f
			}
		}
		return removeDots(segs)
	},
	// A C server that ends the path at NUL.
	"nul": func(raw string) ([]string, bool) {
		p, ok := decodePath(raw, false)
		if !ok {
			return nil, false
		}
		p, _, _ = strings.Cut(p, "\x00")
		return removeDots(segments(p))
	},
	// Unicode normalization (NFKC), then dot segments resolved; invalid
	// UTF-8 read leniently (overlong forms of '.' and '/').
	"nfkc": func(raw string) ([]string, bool) {
		p, ok := decodePath(raw, false)
		if !ok {
			return nil, false
		}
		p = strings.NewReplacer("\xc0\xae", ".", "\xc0\xaf", "/", "\xe0\x80\xae", ".").Replace(p)
		if !utf8.ValidString(p) {
			p = strings.ToValidUTF8(p, "?")
		}
		p = norm.NFKC.String(p)
		return removeDots(segments(mergeSlashes(strings.ReplaceAll(p, "\\", "/"))))
	},
	// Windows' best-fit mapping of an ANSI application.
	"best-fit": func(raw string) ([]string, bool) {
		p, ok := decodePath(raw, false)
		if !ok {
			return nil, false
		}
		p = strings.NewReplacer("\u2215", "/", "\u2044", "/", "\u2216", "\\", "\u00a5", "\\", "\u20a9", "\\", "\u2236", ":").Replace(p)
		return removeDots(segments(mergeSlashes(strings.ReplaceAll(p, "\\", "/"))))
	},
	// A router that matches the escaped path segment by segment (Go's
	// ServeMux, Express): "%2f" is part of a segment.
	"raw-router": func(raw string) ([]string, bool) {
		segs := segments(raw)
		for i, s := range segs {
			d, ok := decodePath(s, false)
			if !ok {
				return nil, false
			}
			segs[i] = d
		}
		return segs, true
	},
}

// checkPathAgainstServers fails when the gate calls the request target
// unambiguous while a server model routes it on other segments than the
// gate's decoded path.
func checkPathAgainstServers(t *testing.T, target string) {
	u, err := url.ParseRequestURI(target)
	if err != nil || u.Opaque != "" || u.Host != "" {
		return // Go's server answers 400
	}
	if !unambiguousPath(u.Path, u.RawPath) {
		return
	}
	want := segments(u.Path)
	sent := u.EscapedPath() // what ReverseProxy sends
	for name, model := range serverModels {
		got, ok := model(sent)
		if ok && !slices.Equal(got, want) {
			t.Errorf("%q: the gate reads %q (exempt if a rule says so), %s reads %q", target, want, name, got)
		}
	}
}

func TestServerModels(t *testing.T) {
	// The models see the attacks: each path below reads as another path to
	// at least one of them.
	for _, target := range []string{"/_maintenance/..;/orders", "/static%2fx", "/a//b", "/a/.../b", "/a%00/../b",
		"/a/%252e%252e/b", "/a/%ef%bc%8e%ef%bc%8e/b", "/a%e2%88%95..%e2%88%95b", "/a/..+/b", `/a\..\b`} {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatal(err)
		}
		differs := false
		for _, model := range serverModels {
			if got, ok := model(u.EscapedPath()); ok && !slices.Equal(got, segments(u.Path)) {
				differs = true
			}
		}
		if !differs {
			t.Errorf("%q: no model reads it differently; the models are too weak", target)
		}
	}
	for _, target := range []string{"/", "/static/app.css", "/caf%C3%A9/x", "/a%20b/", "/~u/x.y"} {
		checkPathAgainstServers(t, target)
	}
}

// FuzzPathNormalization compares the gate's view of a path with what real
// servers make of it (serverModels): a path the gate would exempt reads the
// same to every one of them.
func FuzzPathNormalization(f *testing.F) {
	for _, s := range []string{"/static/app.css", "/_maintenance/..;/orders", "/static/%2e%2e/x", "/a%2fb", "/a\\b",
		"/a//b", "/a/%00", "/a/%252e", "/%c0%ae%c0%ae/", "/%ef%bc%8e%ef%bc%8e/", "/a/... /b", "/caf%C3%A9", "/a+/..+/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		checkPathAgainstServers(t, target)
	})
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
