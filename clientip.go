package maintenance

import (
	"net/http"
	"net/netip"
	"strings"
)

// The forwarding headers a gate can be told to walk.
//
// A gate walks exactly one of them: the one its trusted proxies write. Any
// other forwarding header on the request was written by the client, because a
// proxy passes on the headers it does not write untouched. Walking both, or
// falling back from one to the other when the first is absent, would therefore
// let a client choose its own address, for example one on an allow list.
const (
	headerXForwardedFor = "X-Forwarded-For"
	headerForwarded     = "Forwarded"
)

// maxHops bounds the work of one clientIP call: at most this many list
// elements (empty ones included) are examined before it gives up and fails
// closed. A real chain of proxies is a handful of hops long; a longer one
// is a client padding the header.
const maxHops = 64

// maxNodeLen is the longest address (with a port) accepted in a forwarding
// header: "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535" is 53 bytes.
const maxNodeLen = 64

// ClientIP returns the client address of r as a gate with these trusted
// proxies sees it: the TCP peer, unless the peer is inside one of
// trusted; then header ("X-Forwarded-For" or "Forwarded"; empty means
// X-Forwarded-For) is walked from the right, skipping trusted hops, and the
// first untrusted address is the client. ok is false when no address can be
// trusted (an unparsable peer or header value). It is meant for logs: an
// access log that names the same client the allow entries matched.
// trusted must hold prefixes in the form TrustedPrefix returns.
func ClientIP(r *http.Request, trusted []netip.Prefix, header string) (addr netip.Addr, ok bool) {
	if header == "" {
		header = headerXForwardedFor
	}
	return clientIP(r, trusted, header)
}

// clientIP returns the client address of r. header is the forwarding header to walk: "X-Forwarded-For" or "Forwarded".
// ok is false when no address can be trusted (unparsable values fail closed).
//
// The peer (r.RemoteAddr) is the client unless it is inside one of the
// trusted prefixes. Then the header is walked from the right (last line first,
// each line's elements right to left), trusted hops are skipped, and the first
// untrusted address is the client. When every address is trusted, the leftmost
// one is the client; when the header is absent or empty, the peer is. Every
// address is returned unmapped (::ffff:192.0.2.1 is 192.0.2.1), so trusted
// must hold IPv4 prefixes in their IPv4 form.
//
// An element that is not an address (garbage, "unknown", an obfuscated
// identifier, a zone) met before the client is found makes ok false, as does
// a header with more than maxHops elements to walk: a request whose client
// cannot be known must not match an allow entry. clientIP does not allocate.
func clientIP(r *http.Request, trusted []netip.Prefix, header string) (addr netip.Addr, ok bool) {
	peer, ok := parseNode(r.RemoteAddr, true, false)
	if !ok {
		return netip.Addr{}, false
	}
	if !inPrefixes(trusted, peer) {
		return peer, true
	}
	forwarded := strings.EqualFold(header, headerForwarded)
	lines := r.Header.Values(header)
	hops := 0
	var leftmost netip.Addr
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			j := strings.LastIndexByte(rest, ',')
			elem := trimOWS(rest[j+1:])
			if hops++; hops > maxHops {
				return netip.Addr{}, false
			}
			if elem != "" {
				var a netip.Addr
				if forwarded {
					a, ok = parseForwardedElement(elem)
				} else {
					a, ok = parseNode(elem, false, false)
				}
				if !ok {
					return netip.Addr{}, false
				}
				if !inPrefixes(trusted, a) {
					return a, true
				}
				leftmost = a
			}
			if j < 0 {
				break
			}
			rest = rest[:j]
		}
	}
	if leftmost.IsValid() {
		return leftmost, true
	}
	return peer, true
}

// inPrefixes reports whether a is inside one of prefixes.
func inPrefixes(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// trimOWS removes the optional white space (spaces and tabs) of HTTP around s.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseForwardedElement returns the address of the for= parameter of one
// element of an RFC 7239 Forwarded header, such as
// `for="[2001:db8::17]:4711";proto=https;by=203.0.113.43`. The value may be
// quoted or not. An element without exactly one for= parameter, with a pair
// that is not name=value, or whose for= value is not an address ("unknown",
// "_hidden") is rejected. A quoted string cannot hold a comma or a semicolon
// here: the element would have been split inside it, and the pieces are
// rejected, which fails closed.
func parseForwardedElement(elem string) (netip.Addr, bool) {
	var addr netip.Addr
	found := false
	for elem != "" {
		pair := elem
		if i := strings.IndexByte(elem, ';'); i >= 0 {
			pair, elem = elem[:i], elem[i+1:]
		} else {
			elem = ""
		}
		pair = trimOWS(pair)
		if pair == "" {
			continue
		}
		eq := strings.IndexByte(pair, '=')
		if eq <= 0 {
			return netip.Addr{}, false
		}
		if !strings.EqualFold(trimOWS(pair[:eq]), "for") {
			continue
		}
		if found {
			return netip.Addr{}, false
		}
		v := trimOWS(pair[eq+1:])
		if strings.HasPrefix(v, `"`) {
			if len(v) < 2 || v[len(v)-1] != '"' {
				return netip.Addr{}, false
			}
			v = v[1 : len(v)-1]
			if strings.ContainsAny(v, "\"\\") {
				return netip.Addr{}, false
			}
		}
		a, ok := parseNode(v, false, true)
		if !ok {
			return netip.Addr{}, false
		}
		addr, found = a, true
	}
	return addr, found
}

// parseNode parses an address with an optional port, the forms found in
// RemoteAddr and in forwarding headers: 192.0.2.1, 192.0.2.1:80, 2001:db8::1,
// [2001:db8::1] and [2001:db8::1]:80. zone allows (and drops) an IPv6 zone,
// which only the peer address may carry; obfPort allows an RFC 7239
// obfuscated port ("_abc"). The address is returned unmapped.
func parseNode(s string, zone, obfPort bool) (netip.Addr, bool) {
	if len(s) > maxNodeLen && !zone {
		return netip.Addr{}, false
	}
	host, port := s, ""
	bracketed := false
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host, port, bracketed = s[1:end], s[end+1:], true
		if port != "" {
			if port[0] != ':' {
				return netip.Addr{}, false
			}
			port = port[1:]
			if port == "" {
				return netip.Addr{}, false
			}
		}
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		// One colon: IPv4 with a port. Two or more: a bare IPv6 address.
		host, port = s[:i], s[i+1:]
		if port == "" {
			return netip.Addr{}, false
		}
	}
	if port != "" && !validPort(port, obfPort) {
		return netip.Addr{}, false
	}
	zoned := false
	if i := strings.IndexByte(host, '%'); i >= 0 {
		if !zone || i == len(host)-1 {
			return netip.Addr{}, false
		}
		host, zoned = host[:i], true
	}
	a, ok := parseIP(host)
	// Brackets and zones belong to IPv6 only, a port after a bare address to IPv4 only.
	if !ok || (bracketed || zoned) && !a.Is6() || port != "" && !bracketed && !a.Is4() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// validPort reports whether s is a port number (0 to 65535) or, with obf, an
// RFC 7239 obfuscated port: "_" then letters, digits, '.', '_' or '-'.
func validPort(s string, obf bool) bool {
	if obf && len(s) > 1 && s[0] == '_' {
		for i := 1; i < len(s); i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return true
	}
	if s == "" || len(s) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n <= 65535
}

// parseIP parses an IPv4 or IPv6 address without a zone. It accepts exactly
// what netip.ParseAddr accepts (minus zones), but unlike it, it does not
// allocate an error when s is not an address: it runs on addresses chosen by
// clients, on the request path. FuzzParseIP checks it against netip.
func parseIP(s string) (netip.Addr, bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.':
			var ip [4]byte
			if !parseIPv4(s, ip[:]) {
				return netip.Addr{}, false
			}
			return netip.AddrFrom4(ip), true
		case ':':
			return parseIPv6(s)
		}
	}
	return netip.Addr{}, false
}

// parseIPv4 parses a dotted-quad IPv4 address into ip (4 bytes): four decimal
// fields from 0 to 255, without leading zeros.
func parseIPv4(s string, ip []byte) bool {
	field, val, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return false
			}
		case c == '.':
			if digits == 0 || field == 3 {
				return false
			}
			ip[field] = byte(val)
			field, val, digits = field+1, 0, 0
		default:
			return false
		}
	}
	if field != 3 || digits == 0 {
		return false
	}
	ip[3] = byte(val)
	return true
}

// parseIPv6 parses an IPv6 address without a zone ("2001:db8::1",
// "::ffff:192.0.2.1"), following the grammar of netip.ParseAddr.
func parseIPv6(s string) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1 // index in ip where "::" stands
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis, s = 0, s[2:]
		if s == "" {
			return netip.IPv6Unspecified(), true
		}
	}
	i := 0
	for i < 16 {
		off, acc := 0, uint32(0)
	digits:
		for ; off < len(s); off++ {
			c := s[off]
			switch {
			case c >= '0' && c <= '9':
				acc = acc<<4 + uint32(c-'0')
			case c >= 'a' && c <= 'f':
				acc = acc<<4 + uint32(c-'a'+10)
			case c >= 'A' && c <= 'F':
				acc = acc<<4 + uint32(c-'A'+10)
			default:
				break digits
			}
			if off > 3 {
				return netip.Addr{}, false // more than 4 digits
			}
		}
		if off == 0 {
			return netip.Addr{}, false
		}
		if off < len(s) && s[off] == '.' {
			// An embedded IPv4 address ends the string and fills the last 4 bytes.
			if ellipsis < 0 && i != 12 || i+4 > 16 {
				return netip.Addr{}, false
			}
			if !parseIPv4(s, ip[i:i+4]) {
				return netip.Addr{}, false
			}
			s, i = "", i+4
			break
		}
		ip[i], ip[i+1] = byte(acc>>8), byte(acc)
		i += 2
		s = s[off:]
		if s == "" {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return netip.Addr{}, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false // a second "::"
			}
			ellipsis, s = i, s[1:]
			if s == "" {
				break
			}
		}
	}
	if s != "" {
		return netip.Addr{}, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		n := 16 - i
		for j := i - 1; j >= ellipsis; j-- {
			ip[j+n] = ip[j]
		}
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return netip.Addr{}, false // "::" must stand for at least one group
	}
	return netip.AddrFrom16(ip), true
}
