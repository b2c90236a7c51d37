package maintenance

import (
	"net/http"
	"net/netip"
)

// ClientIP returns the client address of r as a gate with these trusted
// proxies sees it (SPEC §5): the TCP peer, unless the peer is inside one of
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

// TrustedPrefix checks a trusted proxy prefix and returns it in the form
// client addresses are compared with: without host bits or zone, and an
// IPv4-mapped prefix as IPv4 (::ffff:10.0.0.0/104 is 10.0.0.0/8), since
// peers are compared unmapped. The gate, serve and the proxy all take their
// trusted proxies through it, so they agree on who the client is.
func TrustedPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" {
		return p, invalidf("trusted proxy %q: accepted: a CIDR prefix without host bits, like 10.0.0.0/8", p)
	}
	// Masked, an IPv4-mapped address keeps its ::ffff: only with 96 bits
	// or more.
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}
