package maintenance

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"
)

// FuzzParsePattern checks that ParsePattern never panics, that its errors
// are ErrInvalid, that a parsed pattern's String parses again to an equal
// pattern that matches the same paths, and that a regex matches only from
// the start of the path.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{
		"/exact/path", "/prefix/*", "/*", "/", "^/api/v[0-9]+/health", "^/api|/x",
		"POST /webhooks/*", "GET ^/admin", "  /padded  ", "^/x)|(/admin", "^/a b",
		"POST", "post /x", "", "*", "/a*b", "/a?b", "/a#b", "/a b", "^(", "^", "^$",
		"PUT  /two-spaces", "GET POST /x", "^(?i)/ADMIN", "/é", "/\xff", "^\\x20",
	} {
		f.Add(s, "GET", "/api/v1/health")
	}
	f.Add("^/x)|(/admin", "GET", "/y/admin")
	f.Add("^/api|/x", "GET", "/y/x")
	f.Add("^(?i)/ADMIN", "GET", "/admin/x")
	f.Add("^/a b", "GET", "/a b")
	f.Fuzz(func(t *testing.T, s, method, path string) {
		p, err := ParsePattern(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParsePattern(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		q, err := ParsePattern(p.String())
		if err != nil {
			t.Fatalf("ParsePattern(%q) = %q, which does not parse again: %v", s, p.String(), err)
		}
		if !samePattern(p, q) {
			t.Fatalf("ParsePattern(%q) = %#v; its String %q parses to %#v", s, p, p.String(), q)
		}
		if q.String() != p.String() {
			t.Fatalf("String is not canonical: %q then %q", p.String(), q.String())
		}
		if p.Match(method, path) != q.Match(method, path) {
			t.Fatalf("%q and its reparse %q disagree on %s %q", s, p.String(), method, path)
		}
		if p.Kind == Regexp {
			if loc := p.re.FindStringIndex(path); loc != nil && loc[0] != 0 {
				t.Fatalf("regex pattern %q matches %q at %d, not at its start", s, path, loc[0])
			}
			if p.Method == "" || p.Method == method {
				if got, want := p.Match(method, path), p.re.MatchString(path); got != want {
					t.Fatalf("regex pattern %q: Match(%q) = %v, but the expression says %v", s, path, got, want)
				}
			}
		}
	})
}

// samePattern reports whether two parsed patterns are equal.
func samePattern(p, q Pattern) bool {
	if p.Method != q.Method || p.Kind != q.Kind || p.Path != q.Path || (p.re == nil) != (q.re == nil) {
		return false
	}
	return p.re == nil || p.re.String() == q.re.String()
}

// FuzzParseAllow checks that ParseAllow never panics, returns masked,
// unmapped, zone-free prefixes, and that the canonical form parses again to
// the same prefix.
func FuzzParseAllow(f *testing.F) {
	for _, s := range []string{
		"203.0.113.7", "10.0.0.0/8", "10.0.0.1/8", "2001:db8::/32", "2001:db8::1", "::ffff:10.0.0.1",
		"::ffff:10.0.0.0/104", "::ffff:0:0/80", "fe80::1%eth0", "fe80::%eth0/64", "0.0.0.0/0", "::/0",
		" 10.0.0.0/8 ", "10.0.0.0/33", "010.0.0.1", "", "/", "1.2.3.4/", "host.example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseAllow(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseAllow(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			t.Fatalf("ParseAllow(%q) = %v: not a valid masked, unmapped prefix without zone", s, p)
		}
		c := canonicalAllow(p)
		q, err := ParseAllow(c)
		if err != nil {
			t.Fatalf("ParseAllow(%q) = %v, whose canonical form %q does not parse: %v", s, p, c, err)
		}
		if q != p {
			t.Fatalf("ParseAllow(%q) = %v; its canonical form %q parses to %v", s, p, c, q)
		}
	})
}

// FuzzParseSite checks that ParseSite never panics, that its errors are
// ErrInvalid and that its result is canonical: lower case, no space, no
// trailing dot, and a fixed point.
func FuzzParseSite(f *testing.F) {
	for _, s := range []string{
		"shop.example.com", "Shop.Example.COM.", "*.example.com", "*", " * ", "example.com:80", "[::1]", "::1",
		"[::1]:80", "2001:DB8::1", "192.0.2.1", "*.192.0.2.1", "a..b", "-a.b", "a-.b", "a_b.c", "", ".", "*.",
		"*.*.example.com", "[::1", "::1]", "fe80::1%eth0", strings.Repeat("a", 64) + ".com", "\u212aelvin.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseSite(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseSite(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if c == "" || c != strings.ToLower(c) || strings.TrimSpace(c) != c || strings.HasSuffix(c, ".") {
			t.Fatalf("ParseSite(%q) = %q: not canonical", s, c)
		}
		for i := 0; i < len(c); i++ {
			if c[i] >= 0x80 {
				t.Fatalf("ParseSite(%q) = %q: not ASCII", s, c)
			}
		}
		again, err := ParseSite(c)
		if err != nil || again != c {
			t.Fatalf("ParseSite(%q) = %q, but ParseSite(%q) = %q, %v", s, c, c, again, err)
		}
	})
}

// FuzzParseIP checks parseIP against netip.ParseAddr: they accept the same
// zone-free addresses and agree on their value.
func FuzzParseIP(f *testing.F) {
	for _, s := range []string{
		"192.0.2.1", "0.0.0.0", "255.255.255.255", "256.0.0.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1..2.3",
		"::", "::1", "1::", "2001:db8::1", "2001:DB8:0:0:0:0:0:1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
		"1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "::ffff:192.0.2.1", "1:2:3:4:5:6:1.2.3.4", "1::2::3", ":1", "1:",
		"12345::", "::1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "", ".", ":", "abc",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "%") {
			return // parseIP rejects zones on purpose
		}
		got, ok := parseIP(s)
		want, err := netip.ParseAddr(s)
		if ok != (err == nil) || ok && got != want {
			t.Fatalf("parseIP(%q) = %v, %v; netip.ParseAddr = %v, %v", s, got, ok, want, err)
		}
	})
}

// fuzzPeers are the peers of FuzzClientIP and FuzzForwarded: trusted and
// untrusted, IPv4 and IPv6.
var fuzzPeers = []struct{ remote, addr string }{
	{"10.0.0.1:1234", "10.0.0.1"},
	{"198.51.100.1:1234", "198.51.100.1"},
	{"[2001:db8:ffff::1]:443", "2001:db8:ffff::1"},
	{"[2001:db8::99]:443", "2001:db8::99"},
	{"[::ffff:10.0.0.1]:80", "10.0.0.1"},
	{"[fe80::1%eth0]:80", "fe80::1"},
}

func FuzzClientIP(f *testing.F) {
	for _, s := range []string{
		"203.0.113.9", "203.0.113.9, 10.1.1.1", "10.0.0.1, 203.0.113.9", "garbage, 203.0.113.9",
		"203.0.113.9, garbage", "", " , ,", "2001:db8::42", "[2001:db8::1]:80", "203.0.113.9:5678",
		"198.51.100.7\n203.0.113.9, 10.1.1.1", "::ffff:10.1.1.1", "10.5.5.5, 10.1.1.1", "unknown",
	} {
		f.Add(uint8(0), s, "10.0.0.1")
	}
	f.Fuzz(func(t *testing.T, peer uint8, value, junk string) {
		checkClientIP(t, headerXForwardedFor, peer, value, junk)
	})
}

func FuzzForwarded(f *testing.F) {
	for _, s := range []string{
		"for=203.0.113.9", "for=203.0.113.9;proto=https;by=10.0.0.1", `for="[2001:db8:cafe::17]:4711"`,
		`for="203.0.113.9:_p"`, "for=unknown", "for=_hidden", "For=10.0.0.1, for=203.0.113.9",
		"for=203.0.113.9;for=10.1.1.1", `for="203.0.113.9`, `for="1.2.3.4,5.6.7.8"`, "proto=https", ";;",
		"for=198.51.100.7\nfor=203.0.113.9, for=10.1.1.1", "",
	} {
		f.Add(uint8(0), s, "for=10.0.0.1")
	}
	f.Fuzz(func(t *testing.T, peer uint8, value, junk string) {
		checkClientIP(t, headerForwarded, peer, value, junk)
	})
}

// checkClientIP checks the properties of clientIP on a header built from
// value (one line per "\n"):
//   - with no trusted proxies, the client is the peer;
//   - the client is the peer or an address written in the header;
//   - a result decided by the right of the header (an untrusted client, or
//     failing closed) does not change when the client adds a line on the left.
func checkClientIP(t *testing.T, header string, peer uint8, value, junk string) {
	p := fuzzPeers[int(peer)%len(fuzzPeers)]
	want := netip.MustParseAddr(p.addr)
	lines := strings.Split(value, "\n")
	r := newIPRequest(p.remote, header, lines...)

	if got, ok := clientIP(r, nil, header); !ok || got != want {
		t.Fatalf("no trusted proxies: clientIP(%q, %q) = %v, %v; want the peer %v", p.remote, value, got, ok, want)
	}

	got, ok := clientIP(r, testTrusted, header)
	if ok && got != want && !inHeader(got, value) {
		t.Fatalf("clientIP(%q, %q) = %v: neither the peer nor in the header", p.remote, value, got)
	}

	if !ok || !inPrefixes(testTrusted, got) {
		r2 := newIPRequest(p.remote, header, append([]string{junk}, lines...)...)
		if got2, ok2 := clientIP(r2, testTrusted, header); got2 != got || ok2 != ok {
			t.Fatalf("clientIP(%q, %q) = %v, %v, but %v, %v after the client adds the line %q", p.remote, value, got, ok, got2, ok2, junk)
		}
	}
}

// inHeader reports whether a is written in value, in any form netip parses
// (a port may follow it).
func inHeader(a netip.Addr, value string) bool {
	isAddrByte := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':'
	}
	for i := 0; i < len(value); {
		if !isAddrByte(value[i]) {
			i++
			continue
		}
		j := i
		for j < len(value) && isAddrByte(value[j]) {
			j++
		}
		run := value[i:j]
		for k := len(run); k > 0; k = strings.LastIndexByte(run[:k], ':') {
			if b, err := netip.ParseAddr(run[:k]); err == nil && b.Unmap() == a {
				return true
			}
		}
		i = j
	}
	return false
}

// FuzzOnSite checks that the few-sites-on shortcut always agrees with the
// full lookup: a disagreement would let a request through a site that is on.
func FuzzOnSite(f *testing.F) {
	for _, h := range []string{"shop.example.com", "SHOP.example.com.:1", "a.example.net:x", "off.example.net", "x.deep.example.net", "[::1]"} {
		f.Add(h)
	}
	s := testGate(f, onSiteState(f), Options{}).snap.Load()
	f.Fuzz(func(t *testing.T, host string) {
		want := s.site(host)
		if !want.on {
			want = nil
		}
		if got := s.onSite(host); got != want {
			t.Fatalf("onSite(%q) = %v, want %v", host, name(got), name(want))
		}
	})
}

// FuzzCredentials checks that the cookie and session parsers never panic,
// that only values signed with the key pass, and that a header value with
// several cookies finds the right one.
func FuzzCredentials(f *testing.F) {
	key := newKey()
	u := &User{Name: "alice", Hash: "$2a$04$aaaaaaaaaaaaaaaaaaaaaa"}
	exp := time.Unix(4102444800, 0)
	good := sessionValue(key, u, exp)
	f.Add(good, "a=b; "+SessionCookie+"="+good)
	f.Add("YWxpY2U.4102444800.0011.sig", SessionCookie+`="x"`)
	f.Add("", ";;=;")
	st := &State{Users: []User{*u}}
	now := time.Unix(4102444000, 0)
	f.Fuzz(func(t *testing.T, value, header string) {
		if got, ok := verifySession(key, st, value, now); ok && value != good {
			t.Fatalf("verifySession(%q) = %v, true for a value never signed", value, got)
		}
		v := cookieValue(http.Header{"Cookie": {header}}, SessionCookie)
		if v != "" && !strings.Contains(header, v) {
			t.Fatalf("cookieValue(%q) = %q, not in the header", header, v)
		}
	})
}

// FuzzBypassNext checks that every path BypassNext lets through stays on
// the site it was given on: resolved as a URL, and as a browser would after
// dropping tabs and newlines and reading "\\" as "/".
func FuzzBypassNext(f *testing.F) {
	for _, s := range []string{"/", "/cart?x=1", "//evil", "/\\evil", "/\t/evil", "https://evil/", "javascript:x", "/%2F%2Fevil", "/a/../../evil", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := BypassNext(next)
		if got != "/" && got != next {
			t.Fatalf("BypassNext(%q) = %q: neither the path nor /", next, got)
		}
		base, _ := url.Parse("https://shop.example.com/_maintenance/bypass/x")
		browser := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(got)
		for _, s := range []string{got, browser} {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatalf("BypassNext(%q) = %q, which does not parse: %v", next, got, err)
			}
			if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme {
				t.Fatalf("BypassNext(%q) = %q leads to %s", next, got, r)
			}
		}
	})
}

// FuzzParseAssetName checks that an accepted asset name is a clean relative
// path that stays under AssetsPath, with a known content type.
func FuzzParseAssetName(f *testing.F) {
	for _, s := range []string{"a.css", "a..b.css", "img/logo.png", "../x.css", "a/./b.css", ".x.css", "a\\b.css", "a//b.css", "/a.css", "fonts/x.woff2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := ParseAssetName(name)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseAssetName(%q): %v does not wrap ErrInvalid", name, err)
			}
			return
		}
		if n != name || path.Clean(name) != name || strings.HasPrefix(name, "/") || hasDotSegment("/"+name) || strings.ContainsAny(name, "\\%?#") {
			t.Fatalf("ParseAssetName accepted %q", name)
		}
		if _, ok := AssetType(name); !ok {
			t.Fatalf("ParseAssetName accepted %q with no content type", name)
		}
	})
}
