// Package hostmatch finds the site a Host header value belongs to. The gate
// (which decides whether a request is in maintenance) and the proxy of
// `maintenance serve` (which sends it to an upstream) both look hosts up
// here, so a request is always gated as the site whose upstream serves it.
//
// Sites are named as maintenance.ParseSite returns them: an exact host in
// lower case (shop.example.com, 2001:db8::1), a wildcard (*.example.com: any
// name below example.com, at any depth, not example.com itself) or "*" (the
// default: every host no other site names). A Host header value is matched
// by its name: ASCII letters folded to lower case, without the port or one
// trailing dot, an IPv6 literal without brackets or zone and in canonical
// form. The exact site comes first, then the longest wildcard, then "*".
// A value with no name (empty, a bare port, an unclosed or invalid IPv6
// literal) or a name longer than MaxName bytes belongs to "*".
package hostmatch

import (
	"net/netip"
	"strings"
)

// Default is the name of the default site.
const Default = "*"

// MaxName is the longest host name looked up (the longest DNS name); a
// longer one belongs to the default site.
const MaxName = 253

// Table maps the sites to values of type T. The zero Table is empty and
// ready to use. A Table is not safe for concurrent Add; Lookup may be called
// concurrently once it is built.
type Table[T any] struct {
	exact map[string]T
	// wild holds the wildcards by suffix: "example.com" for *.example.com.
	wild   map[string]T
	def    T
	hasDef bool
}

// Add sets the value of site, a name in the form described in the package
// documentation. It reports whether site already had a value (which it
// replaces).
func (t *Table[T]) Add(site string, v T) (replaced bool) {
	switch suffix, wild := strings.CutPrefix(site, "*."); {
	case site == Default:
		replaced, t.def, t.hasDef = t.hasDef, v, true
	case wild:
		if t.wild == nil {
			t.wild = make(map[string]T)
		}
		_, replaced = t.wild[suffix]
		t.wild[suffix] = v
	default:
		if t.exact == nil {
			t.exact = make(map[string]T)
		}
		_, replaced = t.exact[site]
		t.exact[site] = v
	}
	return replaced
}

// Site returns the value of a site by its name (not a Host header value:
// "*.example.com" is the wildcard itself), and false when it has none.
func (t *Table[T]) Site(site string) (T, bool) {
	switch suffix, wild := strings.CutPrefix(site, "*."); {
	case site == Default:
		return t.def, t.hasDef
	case wild:
		v, ok := t.wild[suffix]
		return v, ok
	default:
		v, ok := t.exact[site]
		return v, ok
	}
}

// Default returns the value of the default site ("*"): the zero T when it
// has none.
func (t *Table[T]) Default() T { return t.def }

// All calls f with each site that has a value (the default one first, when
// it has one) and its value, in no particular order otherwise.
func (t *Table[T]) All(f func(site string, v T)) {
	if t.hasDef {
		f(Default, t.def)
	}
	for s, v := range t.exact {
		f(s, v)
	}
	for s, v := range t.wild {
		f("*."+s, v)
	}
}

// Lookup returns the value of the site a Host header value belongs to: the
// exact site, then the longest matching wildcard, then the default site
// (the zero T when there is none). It does not allocate. The common case (a
// lower-case name, maybe with a port) is one pass and one map lookup.
func (t *Table[T]) Lookup(host string) T {
	h := host
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c == ':' {
			h = host[:i]
			break
		}
		if c >= 'A' && c <= 'Z' || c == '[' {
			return t.lookupSlow(host)
		}
	}
	if len(h) == 0 || len(h) > MaxName || h[len(h)-1] == '.' {
		return t.lookupSlow(host)
	}
	if v, ok := t.exact[h]; ok {
		return v
	}
	if len(t.wild) > 0 {
		for i := 0; i < len(h); i++ {
			if h[i] == '.' {
				if v, ok := t.wild[h[i+1:]]; ok {
					return v
				}
			}
		}
	}
	return t.def
}

// lookupSlow is Lookup for the rare Host values: upper case, IPv6
// literals, trailing dots, no name. It folds a copy on the stack.
func (t *Table[T]) lookupSlow(host string) T {
	h, ok := Name(host)
	if !ok {
		return t.def
	}
	var buf [MaxName]byte
	n := copy(buf[:], h)
	for i := 0; i < n; i++ {
		if c := buf[i]; c >= 'A' && c <= 'Z' {
			buf[i] = c + ('a' - 'A')
		}
	}
	b := buf[:n]
	if v, ok := t.exact[string(b)]; ok {
		return v
	}
	for i, c := range b {
		if c == '.' {
			if v, ok := t.wild[string(b[i+1:])]; ok {
				return v
			}
		}
	}
	return t.def
}

// Name returns the name of a Host header value, as Lookup matches it but
// not folded: without port or one trailing dot, an IPv6 literal without
// brackets or zone and in canonical form. ok is false when there is no
// name, or it is longer than MaxName bytes.
func Name(host string) (name string, ok bool) {
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", false
		}
		// Sites name addresses canonically: [2001:DB8:0::1] is
		// 2001:db8::1.
		a, err := netip.ParseAddr(host[1:end])
		if err != nil {
			return "", false
		}
		return a.WithZone("").String(), true
	} else if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	return host, host != "" && len(host) <= MaxName
}
