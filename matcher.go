package maintenance

import (
	"net/netip"
	"slices"
	"strings"
	"unsafe"
)

// The matchers of a site's rules are built once per snapshot so that a
// request costs about the same with a thousand rules as with one:
//
//   - exact paths (and the roots of "/prefix/*") in a map;
//   - prefixes in a sorted list in which each entry knows the longest other
//     entry that is a prefix of it: a binary search finds the greatest
//     entry not after the path, and the entries that are prefixes of the
//     path are that one's chain of parents (prefixChain);
//   - regular expressions by their literal prefix, in lower case
//     (foldedPrefix), in the same kind of list, looked up with the path in
//     lower case: only those whose prefix starts the path are run;
//   - allow entries in a set of prefixes, looked up once per prefix length
//     in use.

// matcher matches a request against ignore patterns.
type matcher struct {
	// exact maps a path to the methods it is exempt for ("" = any method).
	exact map[string][]string
	// prefix are the "/prefix/*" patterns.
	prefix prefixChain[[]string]
	// lits are the regexps, by their folded literal prefix.
	lits prefixChain[[]*Pattern]
	// litMax is the length of the longest key of lits.
	litMax int

	// pending collects patterns until build.
	pending []Pattern
}

// add adds a pattern; build must be called before match.
func (m *matcher) add(p Pattern) { m.pending = append(m.pending, p) }

// build compiles the patterns added.
func (m *matcher) build() {
	var prefixes []chainEntry[[]string]
	var lits []chainEntry[[]*Pattern]
	for i := range m.pending {
		p := &m.pending[i]
		switch p.Kind {
		case Exact:
			m.addExact(p.Path, p.Method)
		case Prefix:
			prefixes = append(prefixes, chainEntry[[]string]{key: p.Path, val: []string{p.Method}})
			if n := len(p.Path) - 1; n > 0 && p.Path[n] == '/' {
				m.addExact(p.Path[:n], p.Method) // "/admin/*" matches "/admin"
			}
		case Regexp:
			lits = append(lits, chainEntry[[]*Pattern]{key: p.folded, val: []*Pattern{p}})
			m.litMax = max(m.litMax, len(p.folded))
		}
	}
	m.prefix = newPrefixChain(prefixes, func(a, b []string) []string { return append(a, b...) })
	m.lits = newPrefixChain(lits, func(a, b []*Pattern) []*Pattern { return append(a, b...) })
	m.pending = nil
}

func (m *matcher) addExact(path, method string) {
	if m.exact == nil {
		m.exact = make(map[string][]string)
	}
	m.exact[path] = append(m.exact[path], method)
}

func methodIn(ms []string, method string) bool {
	for _, x := range ms {
		if x == "" || x == method {
			return true
		}
	}
	return false
}

func (m *matcher) match(method, path string) bool {
	if ms, ok := m.exact[path]; ok && methodIn(ms, method) {
		return true
	}
	for i := m.prefix.first(path); i >= 0; i = m.prefix.entries[i].parent {
		if methodIn(m.prefix.entries[i].val, method) {
			return true
		}
	}
	if len(m.lits.entries) > 0 {
		return m.matchRegexp(method, path)
	}
	return false
}

// matchRegexp runs the regexps whose folded literal prefix starts the path
// in lower case.
func (m *matcher) matchRegexp(method, path string) bool {
	var buf [MaxPatternLen]byte
	n := copy(buf[:min(m.litMax, len(path))], path)
	for i, c := range buf[:n] {
		if 'A' <= c && c <= 'Z' {
			buf[i] = c + ('a' - 'A')
		}
	}
	// buf is not written again while folded is in use.
	folded := ""
	if n > 0 {
		folded = unsafe.String(&buf[0], n)
	}
	for i := m.lits.first(folded); i >= 0; i = m.lits.entries[i].parent {
		for _, p := range m.lits.entries[i].val {
			if (p.Method == "" || p.Method == method) && p.re.MatchString(path) {
				return true
			}
		}
	}
	return false
}

// chainEntry is a key of a prefixChain with its value.
type chainEntry[V any] struct {
	key string
	val V
	// parent is the index of the longest other key that is a prefix of
	// this one, or -1.
	parent int
}

// prefixChain finds the keys that are prefixes of a string: sorted keys,
// each with its parent (the longest other key that is a prefix of it).
type prefixChain[V any] struct {
	entries []chainEntry[V]
}

// newPrefixChain sorts entries, merges equal keys with merge, and links
// each entry to its parent.
func newPrefixChain[V any](entries []chainEntry[V], merge func(a, b V) V) prefixChain[V] {
	slices.SortStableFunc(entries, func(a, b chainEntry[V]) int { return strings.Compare(a.key, b.key) })
	out := entries[:0]
	for _, e := range entries {
		if n := len(out); n > 0 && out[n-1].key == e.key {
			out[n-1].val = merge(out[n-1].val, e.val)
			continue
		}
		out = append(out, e)
	}
	// In sorted order, the keys that are prefixes of a key come before it
	// and are prefixes of each other: a stack of the current chain.
	var stack []int
	for i := range out {
		for len(stack) > 0 && !strings.HasPrefix(out[i].key, out[stack[len(stack)-1]].key) {
			stack = stack[:len(stack)-1]
		}
		out[i].parent = -1
		if len(stack) > 0 {
			out[i].parent = stack[len(stack)-1]
		}
		stack = append(stack, i)
	}
	return prefixChain[V]{entries: out}
}

// first returns the index of the longest key that is a prefix of s, or -1;
// the others are its chain of parents. Any key that is a prefix of s sorts
// between itself and s, and so is a prefix of the greatest key not after s:
// that key's chain holds them all.
func (c *prefixChain[V]) first(s string) int {
	if len(c.entries) == 0 {
		return -1
	}
	// The greatest key <= s.
	lo, hi := 0, len(c.entries)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if c.entries[mid].key <= s {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	i := lo - 1
	if i < 0 {
		return -1
	}
	// The keys on its chain are prefixes of it; those no longer than the
	// common prefix of it and s are prefixes of s.
	k := c.entries[i].key
	n := 0
	for n < len(k) && n < len(s) && k[n] == s[n] {
		n++
	}
	for i >= 0 && len(c.entries[i].key) > n {
		i = c.entries[i].parent
	}
	return i
}

// allowSet holds a site's allow entries: the prefixes, and the prefix
// lengths in use per family, so that a lookup masks the address once per
// length.
type allowSet struct {
	set          map[netip.Prefix]struct{}
	bits4, bits6 []int
}

func (a *allowSet) add(p netip.Prefix) {
	if a.set == nil {
		a.set = map[netip.Prefix]struct{}{}
	}
	a.set[p] = struct{}{}
	bits := &a.bits6
	if p.Addr().Is4() {
		bits = &a.bits4
	}
	if !slices.Contains(*bits, p.Bits()) {
		*bits = append(*bits, p.Bits())
		slices.Sort(*bits)
	}
}

func (a *allowSet) empty() bool { return len(a.set) == 0 }

// contains reports whether ip (unmapped) is inside one of the entries.
func (a *allowSet) contains(ip netip.Addr) bool {
	bits := a.bits6
	if ip.Is4() {
		bits = a.bits4
	}
	for _, b := range bits {
		if p, err := ip.Prefix(b); err == nil {
			if _, ok := a.set[p]; ok {
				return true
			}
		}
	}
	return false
}
