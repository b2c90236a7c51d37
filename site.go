package maintenance

import (
	"net/netip"
	"strings"
	"unicode/utf8"
)

// DefaultSite is the site that every host without a site of its own belongs to.
const DefaultSite = "*"

// ParseSite validates a site name and returns its canonical form (lower case,
// no trailing dot). A site is a host name ("shop.example.com"), a wildcard that
// matches any subdomain ("*.example.com", not "example.com" itself), an IP
// address, or the default site "*".
func ParseSite(s string) (string, error) {
	in := s
	s = strings.TrimSpace(s)
	// Lower-case ASCII only: Unicode lower-casing would turn the Kelvin sign
	// into "k" and accept a name no Host header carries.
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			r, _ := utf8.DecodeRuneInString(s[i:])
			return "", invalidf("site %q: character %q is not allowed; accepted: letters, digits, '-' and '.' (write internationalized names in punycode, xn--...)", in, string(r))
		}
	}
	s = strings.ToLower(s)
	if s == DefaultSite {
		return s, nil
	}
	if s == "" {
		return "", invalidf("site %q: empty; accepted: a host name (shop.example.com), a wildcard (*.example.com) or *", in)
	}
	if strings.HasPrefix(s, "[") || strings.Contains(s, ":") {
		// An IPv6 literal is accepted in brackets or bare; a port is not.
		lit, ok := s, true
		if rest, found := strings.CutPrefix(s, "["); found {
			lit, ok = strings.CutSuffix(rest, "]")
		}
		a, err := netip.ParseAddr(lit)
		if !ok || err != nil || a.Zone() != "" {
			return "", invalidf("site %q: a site is a host name without a port or scheme; accepted: shop.example.com, *.example.com or *", in)
		}
		return a.String(), nil
	}
	s = strings.TrimSuffix(s, ".")
	host := s
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		host = rest
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if host != s {
			return "", invalidf("site %q: a wildcard needs a domain name, not an IP address", in)
		}
		return a.String(), nil
	}
	if len(host) > 253 {
		return "", invalidf("site %q: longer than 253 characters", in)
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 {
			return "", invalidf("site %q: each dot-separated label must be 1 to 63 characters; accepted: shop.example.com, *.example.com or *", in)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", invalidf("site %q: a label cannot start or end with '-'", in)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				r, _ := utf8.DecodeRuneInString(label[i:])
				return "", invalidf("site %q: character %q is not allowed; accepted: letters, digits, '-' and '.', with an optional leading '*.'", in, string(r))
			}
		}
	}
	return s, nil
}
