package maintenance

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// naiveMatch is the matcher's specification: any pattern matches.
func naiveMatch(ps []Pattern, method, path string) bool {
	for i := range ps {
		if ps[i].Match(method, path) {
			return true
		}
	}
	return false
}

func buildMatcher(t testing.TB, patterns []string) (*matcher, []Pattern) {
	var m matcher
	var ps []Pattern
	for _, v := range patterns {
		p, err := ParsePattern(v)
		if err != nil {
			continue
		}
		ps = append(ps, p)
		m.add(p)
	}
	m.build()
	return &m, ps
}

// TestMatcherAgreesWithPatterns: the indexed matcher answers as trying
// every pattern in turn does.
func TestMatcherAgreesWithPatterns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"", "/", "a", "ab", "abc", "b", "/a", "/ab", "/a/", "/b/", "x", "api", "/v1", "."}
	word := func() string {
		var b strings.Builder
		for range rng.IntN(4) {
			b.WriteString(words[rng.IntN(len(words))])
		}
		return b.String()
	}
	methods := []string{"", "GET ", "POST "}
	for round := 0; round < 300; round++ {
		var pats []string
		for range rng.IntN(12) {
			m := methods[rng.IntN(len(methods))]
			switch rng.IntN(4) {
			case 0:
				pats = append(pats, m+"/"+word())
			case 1:
				pats = append(pats, m+"/"+word()+"*")
			case 2:
				pats = append(pats, m+"^/"+word())
			default:
				pats = append(pats, m+"^(?:/"+word()+"|/"+word()+")[a-z]*$")
			}
		}
		m, ps := buildMatcher(t, pats)
		for range 50 {
			path := "/" + word()
			for _, method := range []string{"GET", "POST", "PUT"} {
				if got, want := m.match(method, path), naiveMatch(ps, method, path); got != want {
					t.Fatalf("patterns %q: match(%s, %q) = %v, want %v", pats, method, path, got, want)
				}
			}
		}
	}
}

func FuzzMatcher(f *testing.F) {
	f.Add("/a/*\n/a/b*\nPOST ^/x\n^(?i)/y", "GET", "/a")
	f.Add("/static/*\n/s*\n/st*", "GET", "/stat")
	f.Fuzz(func(t *testing.T, patterns, method, path string) {
		m, ps := buildMatcher(t, strings.Split(patterns, "\n"))
		if got, want := m.match(method, path), naiveMatch(ps, method, path); got != want {
			t.Fatalf("patterns %q: match(%q, %q) = %v, want %v", patterns, method, path, got, want)
		}
	})
}

func TestAllowSet(t *testing.T) {
	var a allowSet
	for _, v := range []string{"10.1.0.0/16", "203.0.113.7/32", "2001:db8::/32", "2001:db8:1::1/128", "0.0.0.0/0"} {
		a.add(netip.MustParsePrefix(v))
	}
	for ip, want := range map[string]bool{"10.1.2.3": true, "203.0.113.7": true, "2001:db8:5::1": true, "2001:db9::1": false, "198.51.100.1": true} {
		if got := a.contains(netip.MustParseAddr(ip)); got != want {
			t.Errorf("contains(%s) = %v", ip, got)
		}
	}
	var b allowSet
	b.add(netip.MustParsePrefix("10.1.0.0/16"))
	if b.contains(netip.MustParseAddr("10.2.0.1")) || b.contains(netip.MustParseAddr("::1")) {
		t.Error("outside entries")
	}
}

// benchRules returns n rules of one kind, like a site that grew them.
func benchRules(kind string, n int) []string {
	var out []string
	for i := range n {
		switch kind {
		case "exact":
			out = append(out, fmt.Sprintf("/page/%d/view", i))
		case "prefix":
			out = append(out, fmt.Sprintf("/assets/v%d/*", i))
		case "regexp":
			out = append(out, fmt.Sprintf("^/api/v%d/items/[0-9]+", i))
		case "regexp-fold":
			out = append(out, fmt.Sprintf("^(?i)/legacy%d/", i))
		case "regexp-broad":
			out = append(out, fmt.Sprintf("^/[a-z]+/old%d", i))
		}
	}
	return out
}

// BenchmarkRules: a request that matches no rule, and one that matches the
// last, against 1,000 rules of each kind; "naive" tries every pattern in
// turn, as the gate did before.
func BenchmarkRules(b *testing.B) {
	for _, kind := range []string{"exact", "prefix", "regexp", "regexp-fold", "regexp-broad"} {
		m, ps := buildMatcher(b, benchRules(kind, 1000))
		for _, tc := range []struct{ name, path string }{{"miss", "/checkout/cart/42"}, {"hit", map[string]string{
			"exact": "/page/999/view", "prefix": "/assets/v999/app.css", "regexp": "/api/v999/items/7", "regexp-fold": "/LEGACY999/x", "regexp-broad": "/x/old999"}[kind]}} {
			if !naiveMatch(ps, "GET", tc.path) == (tc.name == "hit") {
				b.Fatalf("%s %s: wrong test path", kind, tc.name)
			}
			b.Run(kind+"/"+tc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					m.match("GET", tc.path)
				}
			})
			b.Run(kind+"/"+tc.name+"/naive", func(b *testing.B) {
				for b.Loop() {
					naiveMatch(ps, "GET", tc.path)
				}
			})
		}
	}
	var a allowSet
	var naive []netip.Prefix
	for i := range 1000 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		a.add(p)
		naive = append(naive, p)
	}
	ip := netip.MustParseAddr("198.51.100.9")
	b.Run("allow/miss", func(b *testing.B) {
		for b.Loop() {
			a.contains(ip)
		}
	})
	b.Run("allow/miss/naive", func(b *testing.B) {
		for b.Loop() {
			for _, p := range naive {
				if p.Contains(ip) {
					break
				}
			}
		}
	})
}

// TestRuleLimits: a site holds at most MaxRules ignore patterns and allow
// entries, and bounded regexps; past a bound a change is refused with the
// site, the value and the bound, and nothing changes.
func TestRuleLimits(t *testing.T) {
	var changes []Change
	changes = append(changes, AddSites("shop.example.com"))
	for i := range MaxRules {
		changes = append(changes, AddIgnore("shop.example.com", fmt.Sprintf("/p/%d", i), ""))
		changes = append(changes, AddAllow("shop.example.com", fmt.Sprintf("10.%d.%d.0/24", i>>8, i&255), ""))
	}
	st := stateOf(t, changes...)
	for _, tc := range []struct {
		c    Change
		want string
	}{
		{AddIgnore("shop.example.com", "/one/more", ""), `site "shop.example.com" has 1001 ignore patterns; accepted: at most 1000 per site`},
		{AddAllow("shop.example.com", "192.0.2.1", ""), `site "shop.example.com" has 1001 allow entries; accepted: at most 1000 per site`},
		{AddIgnore("*", "/one/more", ""), ""}, // another site has room
	} {
		_, _, err := commitChange(st, tc.c, time.Now())
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.c.Action, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalid with %q", tc.c.Action, err, tc.want)
		}
	}

	if _, err := ParsePattern("^/[a-z]{1000}"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "instructions; accepted: at most 1000") {
		t.Errorf("a huge regexp: %v", err)
	}
	changes = []Change{AddSites("shop.example.com")}
	for i := range MaxBroadRegexps {
		changes = append(changes, AddIgnore("shop.example.com", fmt.Sprintf("^/[a-z]+/old%d", i), ""))
	}
	st = stateOf(t, changes...)
	if _, _, err := commitChange(st, AddIgnore("shop.example.com", "^/[a-z]+/older", ""), time.Now()); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `pattern "^/[a-z]+/older" has no literal prefix`) {
		t.Errorf("one broad regexp too many: %v", err)
	}
	if _, _, err := commitChange(st, AddIgnore("shop.example.com", "^/api/[a-z]+/older", ""), time.Now()); err != nil {
		t.Errorf("a regexp with a literal prefix: %v", err)
	}
	changes = []Change{AddSites("shop.example.com")}
	for i := range 60 {
		changes = append(changes, AddIgnore("shop.example.com", fmt.Sprintf("^/x%d/[a-z]{900}", i), ""))
	}
	if _, _, err := commitChange(stateOf(t, changes[:56]...), changes[56], time.Now()); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "compile to more than 50000 instructions") {
		t.Errorf("regexps too big in all: %v", err)
	}
}

func TestFoldedPrefix(t *testing.T) {
	for expr, want := range map[string]string{
		"/api/v[0-9]+": "/api/v", "(?i)/Admin": "/admin", "(?i)/desk": "/de", "/a|/b": "/", "(/x)y": "/xy",
		"[a-z]": "", "/caf\u00e9": "/caf", "/A": "/a", "(?i)/k": "/", "": "",
	} {
		if got := foldedPrefix(expr); got != want {
			t.Errorf("foldedPrefix(%q) = %q, want %q", expr, got, want)
		}
	}
}

// BenchmarkGateManyRules: the maintenance answer of a site with no rules,
// and of one with 1,000 rules of one kind (exact, prefix, ^regex with a
// literal prefix, case-folded ^regex, MaxBroadRegexps broad ^regex, allow
// entries): what every blocked request pays.
func BenchmarkGateManyRules(b *testing.B) {
	r := benchRequest("shop.example.com", "/checkout/cart/42", "198.51.100.9:1")
	for _, kind := range []string{"none", "exact", "prefix", "regexp", "regexp-fold", "regexp-broad", "allow"} {
		changes := []Change{AddSites("shop.example.com"), On(nil, OnOptions{})}
		switch kind {
		case "none":
		case "allow":
			for i := range 1000 {
				changes = append(changes, AddAllow("shop.example.com", fmt.Sprintf("10.%d.%d.0/24", i>>8, i&255), ""))
			}
		default:
			n := 1000
			if kind == "regexp-broad" {
				n = MaxBroadRegexps
			}
			for _, v := range benchRules(kind, n) {
				changes = append(changes, AddIgnore("shop.example.com", v, ""))
			}
		}
		g := testGate(b, stateOf(b, changes...), Options{})
		b.Run(kind, func(b *testing.B) { runBench(b, g.Handler(bare), r, 503) })
	}
}
