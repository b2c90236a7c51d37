package maintenance

import "net/netip"

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

// The widest trusted proxy prefixes accepted without Options.TrustAllProxies:
// a prefix shorter than these (0.0.0.0/0, 10.0.0.0/7, 2000::/3) holds
// addresses of ordinary clients, which could then choose their own address
// in a forwarding header and pass allow entries.
const (
	MinTrustedBits4 = 8
	MinTrustedBits6 = 32
)

// WideTrustedPrefix reports whether p, in the form TrustedPrefix returns, is
// wider than MinTrustedBits4 (IPv4) or MinTrustedBits6 (IPv6) bits.
func WideTrustedPrefix(p netip.Prefix) bool {
	if p.Addr().Is4() {
		return p.Bits() < MinTrustedBits4
	}
	return p.Bits() < MinTrustedBits6
}

// checkTrustedProxies returns trusted in the form of TrustedPrefix, and an
// error for a prefix wider than WideTrustedPrefix allows unless all is set;
// wide lists the wide ones that all let through.
func checkTrustedProxies(trusted []netip.Prefix, all bool) (out, wide []netip.Prefix, err error) {
	out = make([]netip.Prefix, 0, len(trusted))
	for _, p := range trusted {
		p, err := TrustedPrefix(p)
		if err != nil {
			return nil, nil, err
		}
		if WideTrustedPrefix(p) {
			if !all {
				return nil, nil, invalidf("trusted proxy %s: wider than /%d (IPv4) or /%d (IPv6), it trusts ordinary clients, who could then choose their own address and pass allow entries; accepted: a narrower prefix, or this one with TrustAllProxies (serve --trust-all-proxies)", p, MinTrustedBits4, MinTrustedBits6)
			}
			wide = append(wide, p)
		}
		out = append(out, p)
	}
	return out, wide, nil
}
