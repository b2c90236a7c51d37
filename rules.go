package maintenance

import (
	"net/netip"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/gomaint/maintenance/internal/hostmatch"
)

// PatternKind says how a Pattern matches a path.
type PatternKind int

// The kinds of ignore patterns.
const (
	// Exact matches a path equal to the pattern.
	Exact PatternKind = iota + 1
	// Prefix matches a path that starts with the pattern (written with a trailing "*").
	Prefix
	// Regexp matches a path that an RE2 expression matches from its start.
	Regexp
)

// MaxPatternLen is the longest ignore pattern accepted, in bytes.
const MaxPatternLen = 1024

// Bounds on the rules of a site, so that the gate's work per request and
// per snapshot stays small (see matcher.go): at most MaxRules ignore
// patterns and MaxRules allow entries per site; a ^regex pattern compiles
// to at most MaxRegexpSize RE2 instructions, and the ^regex patterns of a
// site to at most MaxSiteRegexpSize in all. A ^regex is run only for paths
// that start with its literal prefix; at most MaxBroadRegexps per site may
// have none beyond "/" (like ^/[a-z]+/old), since those run on every
// request that no other rule lets through.
const (
	MaxRules          = 1000
	MaxRegexpSize     = 1000
	MaxSiteRegexpSize = 50000
	MaxBroadRegexps   = 10
)

// Pattern is a parsed ignore pattern. The zero value matches nothing.
type Pattern struct {
	// Method, when not empty, restricts the pattern to requests with this method.
	Method string
	Kind   PatternKind
	// Path is the exact path or the prefix (without the "*").
	Path string
	re   *regexp.Regexp
	// lit is a literal prefix every path matched by re starts with: a cheap
	// test before running the expression.
	lit string
	// folded is a lower-case prefix of every lower-cased path re matches
	// (see foldedPrefix), by which the matcher indexes it.
	folded string
	// size is the number of instructions re compiles to.
	size int
}

var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

const patternHelp = "accepted: /exact/path, /prefix/*, ^regex, each optionally after a method (POST /webhooks/*)"

// ParsePattern parses an ignore pattern:
//
//	/exact/path        the request path equals it
//	/prefix/*          the request path starts with "/prefix/", or is "/prefix"
//	^regex             an RE2 expression matched from the start of the path
//	METHOD pattern     any of the above, for one method only ("POST /webhooks/*")
func ParsePattern(s string) (Pattern, error) {
	var p Pattern
	if len(s) > MaxPatternLen {
		return p, invalidf("pattern of %d bytes: accepted: at most %d", len(s), MaxPatternLen)
	}
	body := strings.TrimSpace(s)
	// A method comes first when the pattern does not start with its path or
	// regex; a regex may hold a space ("^/a b") and a path is told off below.
	if m, rest, ok := strings.Cut(body, " "); ok && !strings.HasPrefix(body, "/") && !strings.HasPrefix(body, "^") {
		if !isMethod(m) {
			return p, invalidf("pattern %q: %q is not a method (accepted: %s); %s", s, m, strings.Join(methods, ", "), patternHelp)
		}
		p.Method = m
		body = strings.TrimSpace(rest)
	}
	switch {
	case strings.HasPrefix(body, "^"):
		// Sized before it is compiled: nested repeats ("((a{999}){999})")
		// would compile to millions of instructions first.
		if tree, err := syntax.Parse(body[1:], syntax.Perl); err == nil {
			if n := sizeEstimate(tree, 4*MaxRegexpSize); n > 4*MaxRegexpSize {
				return Pattern{}, invalidf("pattern %q: compiles to more than %d instructions; accepted: at most %d (use /prefix/* or a simpler expression)", s, 4*MaxRegexpSize, MaxRegexpSize)
			}
		}
		// The expression must compile on its own: once wrapped, "/x)|(/admin"
		// would compile too, and match "/admin" anywhere in the path.
		un, err := regexp.Compile(body[1:])
		var re *regexp.Regexp
		if err == nil {
			re, err = regexp.Compile("^(?:" + body[1:] + ")")
		}
		if err != nil {
			return Pattern{}, invalidf("pattern %q: not a valid RE2 expression: %v", s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		p.Kind, p.Path, p.re = Regexp, body, re
		p.lit, _ = un.LiteralPrefix()
		p.folded = foldedPrefix(body[1:])
		if p.size = regexpSize(body[1:]); p.size > MaxRegexpSize {
			return Pattern{}, invalidf("pattern %q: compiles to %d instructions; accepted: at most %d (use /prefix/* or a simpler expression)", s, p.size, MaxRegexpSize)
		}
	case strings.HasPrefix(body, "/"):
		if !utf8.ValidString(body) {
			return Pattern{}, invalidf("pattern %q: not valid UTF-8", s)
		}
		if strings.ContainsFunc(body, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return Pattern{}, invalidf("pattern %q: spaces and control characters are not accepted in a path; %s", s, patternHelp)
		}
		if i := strings.IndexByte(body, '*'); i >= 0 && i != len(body)-1 {
			return Pattern{}, invalidf("pattern %q: '*' is accepted only at the end (/prefix/*); for more, use ^regex", s)
		}
		if strings.ContainsAny(body, "?#") {
			return Pattern{}, invalidf("pattern %q: patterns match the path only, without ?query or #fragment", s)
		}
		if pre, ok := strings.CutSuffix(body, "*"); ok {
			p.Kind, p.Path = Prefix, pre
		} else {
			p.Kind, p.Path = Exact, body
		}
	default:
		return Pattern{}, invalidf("pattern %q: %s", s, patternHelp)
	}
	return p, nil
}

// sizeEstimate returns about the number of instructions re compiles to,
// counting repeats in full, or a number over limit as soon as it passes it.
func sizeEstimate(re *syntax.Regexp, limit int) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) + 1
	case syntax.OpRepeat:
		n := re.Max
		if n < re.Min {
			n = re.Min + 1
		}
		sub := sizeEstimate(re.Sub[0], limit)
		if sub > limit || n > 0 && sub > limit/n {
			return limit + 1
		}
		return sub*max(n, 1) + n + 1
	}
	total := 1
	for _, sub := range re.Sub {
		if total += sizeEstimate(sub, limit) + 1; total > limit {
			return limit + 1
		}
	}
	return total
}

// regexpSize returns the number of instructions an RE2 expression that
// compiled compiles to.
func regexpSize(expr string) int {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return 0
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0
	}
	return len(prog.Inst)
}

// foldedPrefix returns a literal prefix, in ASCII lower case, that the
// lower-cased start of every path an RE2 expression matches begins with:
// its leading literals, case-folded ones included ("(?i)/Admin" gives
// "/admin"). It stops before a folded 'k' or 's', which also match the
// Kelvin sign and the long s, and at the first non-ASCII rune.
func foldedPrefix(expr string) string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return ""
	}
	var b strings.Builder
	var walk func(re *syntax.Regexp) bool // false: stop
	walk = func(re *syntax.Regexp) bool {
		switch re.Op {
		case syntax.OpLiteral:
			for _, r := range re.Rune {
				if r >= utf8.RuneSelf {
					return false
				}
				c := byte(r)
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				if re.Flags&syntax.FoldCase != 0 && (c == 'k' || c == 's') {
					return false
				}
				b.WriteByte(c)
			}
			return true
		case syntax.OpCapture:
			return walk(re.Sub[0])
		case syntax.OpConcat:
			for _, sub := range re.Sub {
				if !walk(sub) {
					return false
				}
			}
			return true
		case syntax.OpBeginText, syntax.OpBeginLine, syntax.OpEmptyMatch:
			return true
		}
		return false
	}
	walk(re.Simplify())
	return b.String()
}

// String returns the canonical form of the pattern.
func (p Pattern) String() string {
	var b strings.Builder
	if p.Method != "" {
		b.WriteString(p.Method)
		b.WriteByte(' ')
	}
	b.WriteString(p.Path)
	if p.Kind == Prefix {
		b.WriteByte('*')
	}
	return b.String()
}

// Match reports whether the pattern matches a request with this method and path.
func (p *Pattern) Match(method, path string) bool {
	if p.Method != "" && p.Method != method {
		return false
	}
	switch p.Kind {
	case Exact:
		return path == p.Path
	case Prefix:
		return prefixMatch(p.Path, path)
	case Regexp:
		return strings.HasPrefix(path, p.lit) && p.re.MatchString(path)
	}
	return false
}

// prefixMatch reports whether path is under prefix: it starts with it, or,
// for a prefix ending in "/", it is the prefix without that slash ("/admin/*"
// matches "/admin" too: the page a visitor types).
func prefixMatch(prefix, path string) bool {
	if strings.HasPrefix(path, prefix) {
		return true
	}
	n := len(prefix) - 1
	return n > 0 && prefix[n] == '/' && len(path) == n && path == prefix[:n]
}

func isMethod(m string) bool {
	for _, x := range methods {
		if m == x {
			return true
		}
	}
	return false
}

// parseRedirect validates a redirect target: an absolute http(s) URL or a
// path on the same host. It returns the parsed URL.
//
// It refuses what a browser resolves to another host than Go reads: a
// backslash anywhere (browsers take "/\evil.example/x" for
// "//evil.example/x"), a path starting with "//", white space and control
// characters (browsers strip tabs and newlines before parsing: "/\t/evil"
// is "//evil"), user information, and a host that is not a plain name, an
// IPv4 address or a bracketed IPv6 address.
func parseRedirect(s string) (*url.URL, error) {
	bad := func(why string) error {
		return invalidf("redirect %q: %s; accepted: an absolute http:// or https:// URL, or a path starting with a single /", s, why)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }); i >= 0 {
		if s[i] == '\\' {
			return nil, bad("a backslash is a slash to browsers")
		}
		return nil, bad("spaces and control characters are not accepted (browsers drop tabs and newlines)")
	}
	if !utf8.ValidString(s) {
		return nil, bad("not valid UTF-8")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, bad("not a URL")
	}
	switch {
	case strings.HasPrefix(s, "//"):
		return nil, bad("a path starting with // names another host")
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(s, "/"):
	case (u.Scheme == "http" || u.Scheme == "https") && strings.HasPrefix(s[len(u.Scheme)+1:], "//") && u.Host != "" && u.User == nil && strings.IndexByte(s, '@') < 0:
		if !plainHost(u.Host) {
			return nil, bad("the host must be a name, an IPv4 address or a bracketed IPv6 address, with an optional port")
		}
	default:
		return nil, bad("not a path or an http(s) URL with a host")
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

// plainHost reports whether a URL's host (with an optional port) is a DNS
// name of letters, digits, '-' and '.', an IPv4 address, or an IPv6
// address in brackets: what every browser reads as Go does.
func plainHost(h string) bool {
	name, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		if a, err := netip.ParseAddr(h[1:end]); err != nil || !a.Is6() || a.Zone() != "" {
			return false
		}
		name, port = "", h[end+1:]
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		name, port = h[:i], h[i:]
	}
	if port != "" {
		if port[0] != ':' || !validPort(port[1:], false) {
			return false
		}
	}
	if strings.HasPrefix(h, "[") {
		return true
	}
	if name == "" || len(name) > hostmatch.MaxName || name[0] == '.' || strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
