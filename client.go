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
// trusted must hold IPv4 prefixes in their IPv4 form, as Options checks.
func ClientIP(r *http.Request, trusted []netip.Prefix, header string) (addr netip.Addr, ok bool) {
	if header == "" {
		header = headerXForwardedFor
	}
	return clientIP(r, trusted, header)
}
