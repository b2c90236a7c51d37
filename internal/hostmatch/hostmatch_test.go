package hostmatch

import (
	"net/netip"
	"strings"
	"testing"
)

// sites are the sites of the tests, each its own value.
var sites = []string{
	"*", "shop.example.com", "*.example.com", "*.deep.example.com", "example.net",
	"2001:db8::1", "192.0.2.1", "xn--bcher-kva.example", "*.xn--bcher-kva.example", "key.example.org",
}

func table() *Table[string] {
	var t Table[string]
	for _, s := range sites {
		if t.Add(s, s) {
			panic("duplicate site " + s)
		}
	}
	return &t
}

func TestLookup(t *testing.T) {
	tb := table()
	tests := []struct{ host, want string }{
		{"shop.example.com", "shop.example.com"},
		{"SHOP.Example.COM", "shop.example.com"},
		{"shop.example.com:443", "shop.example.com"},
		{"shop.example.com.", "shop.example.com"},
		{"Shop.Example.Com.:8443", "shop.example.com"},
		{"shop.example.com..", "*"}, // one trailing dot only: "shop.example.com." is no site
		{"shop.example.com:x:y", "shop.example.com"},
		{"a.example.com", "*.example.com"},
		{"a.b.c.example.com", "*.example.com"},
		{"x.deep.example.com", "*.deep.example.com"},
		{"X.DEEP.example.com:1", "*.deep.example.com"},
		{"deep.example.com", "*.example.com"},
		{".example.com", "*.example.com"},
		{"example.com", "*"},
		{"xexample.com", "*"},
		{"example.net", "example.net"},
		{"www.example.net", "*"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"[2001:DB8:0::1]:443", "2001:db8::1"},
		{"[2001:db8::1%eth0]:80", "2001:db8::1"},
		{"[::ffff:192.0.2.1]", "*"},
		{"[2001:db8::1", "*"},
		{"[nonsense]", "*"},
		{"2001:db8::1", "*"}, // unbracketed: the name ends at the first ':'
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.1:8080", "192.0.2.1"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example"},
		{"www.xn--bcher-kva.example", "*.xn--bcher-kva.example"},
		{"bücher.example", "*"},                // not punycode: no site of that name
		{"\u212aey.example.org", "*"},          // the Kelvin sign is not K
		{"\u212aEY.example.org", "*"},          // not even with an ASCII upper-case letter next to it
		{"key.example.org", "key.example.org"}, // the one above is not this
		{"", "*"},
		{":", "*"},
		{":443", "*"},
		{".", "*"},
		{"..", "*"},
		{"[]", "*"},
		{strings.Repeat("a", 250) + ".example.com", "*"},             // longer than MaxName
		{strings.Repeat("A", 250) + ".example.com", "*"},             // the same, upper case
		{strings.Repeat("a", 240) + ".example.com", "*.example.com"}, // within it
	}
	for _, tt := range tests {
		if got := tb.Lookup(tt.host); got != tt.want {
			t.Errorf("Lookup(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
}

func TestLookupWithoutDefault(t *testing.T) {
	var tb Table[*int]
	one := 1
	tb.Add("*.example.com", &one)
	if got := tb.Lookup("a.example.com"); got != &one {
		t.Errorf("Lookup(a.example.com) = %v, want the wildcard's", got)
	}
	for _, h := range []string{"example.com", "", "[::1]", "A.EXAMPLE.ORG"} {
		if got := tb.Lookup(h); got != nil {
			t.Errorf("Lookup(%q) = %v, want nil: there is no default", h, got)
		}
	}
	var empty Table[string]
	if got := empty.Lookup("Shop.Example.Com"); got != "" {
		t.Errorf("empty table: Lookup = %q", got)
	}
}

func TestAddSiteAll(t *testing.T) {
	tb := table()
	if !tb.Add("*.example.com", "again") || !tb.Add("*", "again") || !tb.Add("example.net", "again") {
		t.Error("Add of a site that has a value did not report it")
	}
	if v, ok := tb.Site("*.example.com"); !ok || v != "again" {
		t.Errorf("Site(*.example.com) = %q, %v", v, ok)
	}
	if v, ok := tb.Site("a.example.com"); ok {
		t.Errorf("Site(a.example.com) = %q: Site takes site names, not hosts", v)
	}
	if tb.Default() != "again" {
		t.Errorf("Default() = %q", tb.Default())
	}
	seen := map[string]bool{}
	tb.All(func(site, _ string) { seen[site] = true })
	if len(seen) != len(sites) {
		t.Errorf("All visited %d sites, want %d", len(seen), len(sites))
	}
	for _, s := range sites {
		if !seen[s] {
			t.Errorf("All did not visit %s", s)
		}
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	tb := table()
	for _, h := range []string{"shop.example.com:443", "A.B.Example.com", "example.com.", "bücher.example"} {
		if n := testing.AllocsPerRun(100, func() { tb.Lookup(h) }); n > 0 {
			t.Errorf("Lookup(%q) allocates %v times", h, n)
		}
	}
}

// reference is Lookup written plainly: the name by Name, folded, then the
// exact site, the wildcards from the longest, the default.
func reference(t *Table[string], host string) string {
	h, ok := Name(host)
	if !ok {
		return t.def
	}
	h = asciiLower(h)
	if v, ok := t.exact[h]; ok {
		return v
	}
	for i := 0; i < len(h); i++ {
		if h[i] == '.' {
			if v, ok := t.wild[h[i+1:]]; ok {
				return v
			}
		}
	}
	return t.def
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// FuzzLookup checks the fast path of Lookup against the plain reference, and
// the reference against what a site name means: a host that Lookup puts in a
// site other than "*" has that site's name, or is below its wildcard.
func FuzzLookup(f *testing.F) {
	for _, h := range []string{"shop.example.com", "SHOP.example.com.:1", "a.b.example.com", "[2001:db8::1]:80", "[::1%lo]", "\u212aey.example.org", "", ":", "..", "xn--bcher-kva.example", "bücher.example", "192.0.2.1:80"} {
		f.Add(h)
	}
	tb := table()
	f.Fuzz(func(t *testing.T, host string) {
		got := tb.Lookup(host)
		if want := reference(tb, host); got != want {
			t.Fatalf("Lookup(%q) = %q, reference says %q", host, got, want)
		}
		if got == Default {
			return
		}
		name, ok := Name(host)
		if !ok {
			t.Fatalf("Lookup(%q) = %q, but the host has no name", host, got)
		}
		name = asciiLower(name)
		if a, err := netip.ParseAddr(name); err == nil && a.String() != name {
			t.Fatalf("Lookup(%q) = %q for a name not in canonical form", host, got)
		}
		if suffix, wild := strings.CutPrefix(got, "*."); wild {
			if !strings.HasSuffix(name, "."+suffix) {
				t.Fatalf("Lookup(%q) = %q, but %q is not below it", host, got, name)
			}
		} else if name != got {
			t.Fatalf("Lookup(%q) = %q, but its name is %q", host, got, name)
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	tb := table()
	for _, h := range []string{"shop.example.com:443", "a.example.com", "Shop.Example.com", "other.example.org"} {
		b.Run(h, func(b *testing.B) {
			for b.Loop() {
				tb.Lookup(h)
			}
		})
	}
}
