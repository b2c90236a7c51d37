package maintenance

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// testTrusted are the trusted proxies of the tests: a private IPv4 network,
// an IPv6 one and link-local IPv6.
var testTrusted = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("2001:db8:ffff::/48"),
	netip.MustParsePrefix("fe80::/10"),
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote, xff string
		want              string
		ok                bool
	}{
		{name: "peer", remote: "192.0.2.1:1234", xff: "203.0.113.9", want: "192.0.2.1", ok: true},
		{name: "through a trusted proxy", remote: "10.0.0.1:1234", xff: "203.0.113.9, 10.0.0.2", want: "203.0.113.9", ok: true},
		{name: "garbage fails closed", remote: "10.0.0.1:1234", xff: "nonsense", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			r.Header.Set("X-Forwarded-For", tt.xff)
			got, ok := ClientIP(r, trusted, "")
			if ok != tt.ok || (ok && got.String() != tt.want) {
				t.Errorf("ClientIP = %v, %v; want %s, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// newIPRequest returns a request from remote that carries lines as the values
// of header (one line each).
func newIPRequest(remote, header string, lines ...string) *http.Request {
	r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
	if len(lines) > 0 {
		r.Header[header] = lines
	}
	return r
}

// clientIPCase is one test of clientIP. want is the expected client, or ""
// when clientIP must fail closed.
type clientIPCase struct {
	name    string
	trusted []netip.Prefix
	remote  string
	header  string // the header the request carries; the configured one when empty
	lines   []string
	want    string
}

func (tc clientIPCase) run(t *testing.T, configured string) {
	t.Helper()
	h := tc.header
	if h == "" {
		h = configured
	}
	got, ok := clientIP(newIPRequest(tc.remote, h, tc.lines...), tc.trusted, configured)
	switch {
	case tc.want == "" && ok:
		t.Errorf("clientIP(%q, %q: %q) = %v, true; want fail closed", tc.remote, h, tc.lines, got)
	case tc.want != "" && !ok:
		t.Errorf("clientIP(%q, %q: %q) failed closed; want %s", tc.remote, h, tc.lines, tc.want)
	case tc.want != "" && got != netip.MustParseAddr(tc.want):
		t.Errorf("clientIP(%q, %q: %q) = %v; want %s", tc.remote, h, tc.lines, got, tc.want)
	}
}

func TestClientIPXForwardedFor(t *testing.T) {
	tests := []clientIPCase{
		{name: "no trusted proxies: XFF ignored", remote: "10.0.0.1:1234", lines: []string{"203.0.113.9"}, want: "10.0.0.1"},
		{name: "no trusted proxies: garbage XFF ignored", remote: "10.0.0.1:1234", lines: []string{"garbage"}, want: "10.0.0.1"},
		{name: "untrusted peer: XFF ignored", trusted: testTrusted, remote: "198.51.100.1:1234", lines: []string{"10.0.0.5"}, want: "198.51.100.1"},
		{name: "untrusted peer: garbage XFF ignored", trusted: testTrusted, remote: "198.51.100.1:1234", lines: []string{"garbage"}, want: "198.51.100.1"},
		{name: "trusted peer with XFF", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "trusted peer without XFF", trusted: testTrusted, remote: "10.0.0.1:1234", want: "10.0.0.1"},
		{name: "trusted peer with empty XFF", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{""}, want: "10.0.0.1"},
		{name: "XFF of empty entries only", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{" , ,,\t, "}, want: "10.0.0.1"},
		{name: "chain of trusted hops", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9, 10.1.1.1, 10.2.2.2"}, want: "203.0.113.9"},
		{name: "spoofed left entry: client says it is 10.0.0.1", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"10.0.0.1, 203.0.113.9"}, want: "203.0.113.9"},
		{name: "spoofed left entries behind trusted hops", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"10.0.0.1, 198.51.100.7, 203.0.113.9, 10.9.9.9"}, want: "203.0.113.9"},
		{name: "all-trusted chain: leftmost entry", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"10.5.5.5, 10.1.1.1"}, want: "10.5.5.5"},
		{name: "garbage left of the client is never read", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"garbage, 203.0.113.9"}, want: "203.0.113.9"},
		{name: "garbage right of the client fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9, garbage"}},
		{name: "garbage between trusted hops fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9, garbage, 10.1.1.1"}},
		{name: "unknown fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"unknown"}},
		{name: "obfuscated identifier fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"_hidden"}},
		{name: "leading zero fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"010.0.0.1"}},
		{name: "short IPv4 fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113"}},
		{name: "host name fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"proxy.example.com"}},
		{name: "zone fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"fe80::1%eth0"}},
		{name: "overlong entry fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{strings.Repeat("0", 100) + "1.2.3.4"}},
		{name: "empty entries are skipped", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9,, 10.1.1.1 , "}, want: "203.0.113.9"},
		{name: "spaces and tabs around entries", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"\t203.0.113.9 ,\t10.1.1.1\t"}, want: "203.0.113.9"},
		{name: "IPv6 client behind IPv6 proxy", trusted: testTrusted, remote: "[2001:db8:ffff::1]:443", lines: []string{"2001:db8::42"}, want: "2001:db8::42"},
		{name: "IPv6 in upper case", trusted: testTrusted, remote: "[2001:db8:ffff::1]:443", lines: []string{"2001:DB8::42"}, want: "2001:db8::42"},
		{name: "IPv6 trusted hop skipped", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"2001:db8::42, 2001:db8:ffff::7"}, want: "2001:db8::42"},
		{name: "IPv4-mapped entry is unmapped", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"::ffff:203.0.113.9"}, want: "203.0.113.9"},
		{name: "IPv4-mapped trusted hop is skipped", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9, ::ffff:10.1.1.1"}, want: "203.0.113.9"},
		{name: "IPv4 with port", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9:5678"}, want: "203.0.113.9"},
		{name: "IPv6 with port", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"[2001:db8::1]:80"}, want: "2001:db8::1"},
		{name: "IPv6 in brackets without port", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"[2001:db8::1]"}, want: "2001:db8::1"},
		{name: "trusted hop with port is skipped", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9, 10.1.1.1:8080"}, want: "203.0.113.9"},
		{name: "IPv4 in brackets fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"[203.0.113.9]:80"}},
		{name: "port out of range fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9:65536"}},
		{name: "empty port fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9:"}},
		{name: "named port fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9:http"}},
		{name: "unclosed bracket fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"[2001:db8::1"}},
		{name: "multiple lines: last line first", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"198.51.100.7", "203.0.113.9, 10.1.1.1"}, want: "203.0.113.9"},
		{name: "multiple lines: trusted lines skipped", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9", "10.1.1.1", "10.2.2.2"}, want: "203.0.113.9"},
		{name: "multiple lines: empty line skipped", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9", ""}, want: "203.0.113.9"},
		{name: "multiple lines: all trusted", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"10.3.3.3", "10.1.1.1"}, want: "10.3.3.3"},
		{name: "only the configured header is walked", trusted: testTrusted, remote: "10.0.0.1:1234", header: headerForwarded, lines: []string{"for=203.0.113.9"}, want: "10.0.0.1"},
		{name: "peer without port", trusted: testTrusted, remote: "10.0.0.1", lines: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "peer bare IPv6", trusted: testTrusted, remote: "2001:db8:ffff::1", lines: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "peer IPv4-mapped", trusted: testTrusted, remote: "[::ffff:10.0.0.1]:1234", lines: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "peer IPv4-mapped, untrusted", remote: "[::ffff:198.51.100.1]:1234", want: "198.51.100.1"},
		{name: "peer with zone, trusted", trusted: testTrusted, remote: "[fe80::1%eth0]:1234", lines: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "peer with zone, untrusted", remote: "[fe80::1%eth0]:1234", want: "fe80::1"},
		{name: "peer not parseable", trusted: testTrusted, remote: "not-an-address", lines: []string{"203.0.113.9"}},
		{name: "peer not parseable, no trusted proxies", remote: "not-an-address:80"},
		{name: "peer empty (unix socket)", remote: ""},
		{name: "peer unix socket name", remote: "@"},
		{name: "peer IPv4 in brackets", remote: "[10.0.0.1]:80"},
		{name: "peer with empty zone", remote: "[fe80::1%]:80"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, headerXForwardedFor) })
	}
}

func TestClientIPForwarded(t *testing.T) {
	tests := []clientIPCase{
		{name: "no trusted proxies: Forwarded ignored", remote: "10.0.0.1:1234", lines: []string{"for=203.0.113.9"}, want: "10.0.0.1"},
		{name: "one element", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=203.0.113.9"}, want: "203.0.113.9"},
		{name: "other parameters", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=203.0.113.9;proto=https;by=10.0.0.1"}, want: "203.0.113.9"},
		{name: "for is not first", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"proto=https;for=203.0.113.9"}, want: "203.0.113.9"},
		{name: "parameter name in upper case", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"For=203.0.113.9"}, want: "203.0.113.9"},
		{name: "quoted IPv4 with port", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{`for="203.0.113.9:4711"`}, want: "203.0.113.9"},
		{name: "quoted IPv6 with port", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{`for="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17"},
		{name: "quoted IPv6", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{`for="[2001:db8:cafe::17]"`}, want: "2001:db8:cafe::17"},
		{name: "obfuscated port", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{`for="[2001:db8:cafe::17]:_p0rt"`}, want: "2001:db8:cafe::17"},
		{name: "chain of trusted hops", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=203.0.113.9, for=10.1.1.1;proto=http, for=\"[2001:db8:ffff::3]\""}, want: "203.0.113.9"},
		{name: "spoofed left element", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=10.0.0.1, for=203.0.113.9"}, want: "203.0.113.9"},
		{name: "all trusted: leftmost", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=10.5.5.5, for=10.1.1.1"}, want: "10.5.5.5"},
		{name: "multiple lines", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=198.51.100.7", "for=203.0.113.9;proto=https"}, want: "203.0.113.9"},
		{name: "unknown fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=unknown"}},
		{name: "obfuscated identifier fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=_hidden"}},
		{name: "quoted obfuscated identifier fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{`for="_hidden"`}},
		{name: "unknown behind a trusted hop fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=unknown, for=10.1.1.1"}},
		{name: "unknown left of the client is never read", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=unknown, for=203.0.113.9"}, want: "203.0.113.9"},
		{name: "element without for fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"proto=https;by=10.0.0.1"}},
		{name: "for twice fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=203.0.113.9;for=10.1.1.1"}},
		{name: "pair without value fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=203.0.113.9;secure"}},
		{name: "empty for fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{`for=""`}},
		{name: "unterminated quote fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{`for="203.0.113.9`}},
		{name: "comma in a quoted string fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{`for="203.0.113.9,10.1.1.1"`}},
		{name: "escape in a quoted string fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{`for="203.0.113.\9"`}},
		{name: "bare XFF value fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"203.0.113.9"}},
		{name: "empty elements are skipped", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=203.0.113.9, ,\t, for=10.1.1.1"}, want: "203.0.113.9"},
		{name: "element of empty pairs fails closed", trusted: testTrusted, remote: "10.0.0.1:1234", lines: []string{"for=203.0.113.9, ;;"}},
		{name: "only the configured header is walked", trusted: testTrusted, remote: "10.0.0.1:1234", header: headerXForwardedFor, lines: []string{"203.0.113.9"}, want: "10.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, headerForwarded) })
	}
}

// hostileHeader returns n copies of entry joined by commas.
func hostileHeader(entry string, n int) string {
	return strings.Repeat(entry+", ", n-1) + entry
}

// TestClientIPHostileHeader sends 10,000-entry headers written by a client
// that wants to be taken for an allow-listed address (10.0.0.1, which is also
// a trusted proxy here, or 198.51.100.7). The walk either finds the address
// the trusted proxy saw or fails closed after maxHops elements.
func TestClientIPHostileHeader(t *testing.T) {
	const n = 10000
	spoofed := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("198.51.100.7")}
	tests := []clientIPCase{
		{name: "allow-listed entries, then the real client", lines: []string{hostileHeader("198.51.100.7", n) + ", 203.0.113.9"}, want: "203.0.113.9"},
		{name: "trusted entries, then the real client", lines: []string{hostileHeader("10.0.0.1", n) + ", 203.0.113.9"}, want: "203.0.113.9"},
		{name: "garbage entries, then the real client", lines: []string{hostileHeader("x", n) + ", 203.0.113.9"}, want: "203.0.113.9"},
		{name: "trusted entries only", lines: []string{hostileHeader("10.0.0.1", n)}},
		{name: "allow-listed entry behind trusted entries", lines: []string{"198.51.100.7, " + hostileHeader("10.0.0.1", n)}},
		{name: "empty entries", lines: []string{"198.51.100.7" + strings.Repeat(",", n)}},
		{name: "header lines", lines: append([]string{"198.51.100.7"}, strings.Split(hostileHeader("10.0.0.1", n), ", ")...)},
		{name: "Forwarded trusted elements only", header: headerForwarded, lines: []string{hostileHeader("for=10.0.0.1", n)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.trusted, tc.remote = testTrusted, "10.0.0.1:1234"
			h := headerXForwardedFor
			if tc.header != "" {
				h = tc.header
			}
			got, ok := clientIP(newIPRequest(tc.remote, h, tc.lines...), tc.trusted, h)
			for _, s := range spoofed {
				if ok && got == s {
					t.Fatalf("clientIP = %v: a spoofed address", got)
				}
			}
			tc.run(t, h)
		})
	}
}

// TestClientIPHopLimit checks the bound: a client behind maxHops-1 trusted
// hops is found, one behind maxHops is not.
func TestClientIPHopLimit(t *testing.T) {
	for _, tc := range []struct {
		trustedHops int
		wantOK      bool
	}{
		{maxHops - 1, true},
		{maxHops, false},
	} {
		line := "203.0.113.9, " + hostileHeader("10.1.1.1", tc.trustedHops)
		got, ok := clientIP(newIPRequest("10.0.0.1:1234", headerXForwardedFor, line), testTrusted, headerXForwardedFor)
		if ok != tc.wantOK || ok && got != netip.MustParseAddr("203.0.113.9") {
			t.Errorf("client behind %d trusted hops: clientIP = %v, %v; want ok %v", tc.trustedHops, got, ok, tc.wantOK)
		}
	}
}

// allocRequests are requests that exercise every path of clientIP, for the
// allocation test and the benchmarks.
func allocRequests() []struct {
	name, header string
	r            *http.Request
} {
	return []struct {
		name, header string
		r            *http.Request
	}{
		{"untrusted peer", headerXForwardedFor, newIPRequest("198.51.100.1:1234", headerXForwardedFor, "203.0.113.9")},
		{"XFF one hop", headerXForwardedFor, newIPRequest("10.0.0.1:1234", headerXForwardedFor, "203.0.113.9")},
		{"XFF chain", headerXForwardedFor, newIPRequest("10.0.0.1:1234", headerXForwardedFor, "198.51.100.7, 203.0.113.9:5678, 10.1.1.1, 10.2.2.2")},
		{"XFF IPv6", headerXForwardedFor, newIPRequest("[2001:db8:ffff::1%eth0]:443", headerXForwardedFor, "[2001:db8::42]:80, 2001:db8:ffff::7")},
		{"XFF garbage", headerXForwardedFor, newIPRequest("10.0.0.1:1234", headerXForwardedFor, "203.0.113.9, 1.2.3")},
		{"Forwarded", headerForwarded, newIPRequest("10.0.0.1:1234", headerForwarded, `for="[2001:db8:cafe::17]:4711";proto=https, for=10.1.1.1`)},
		{"Forwarded unknown", headerForwarded, newIPRequest("10.0.0.1:1234", headerForwarded, "for=unknown")},
		{"hostile 10000 spoofed", headerXForwardedFor, newIPRequest("10.0.0.1:1234", headerXForwardedFor, hostileHeader("198.51.100.7", 10000)+", 203.0.113.9")},
		{"hostile 10000 trusted", headerXForwardedFor, newIPRequest("10.0.0.1:1234", headerXForwardedFor, hostileHeader("10.0.0.1", 10000))},
		{"hostile 10000 garbage", headerXForwardedFor, newIPRequest("10.0.0.1:1234", headerXForwardedFor, hostileHeader("::::", 10000))},
		{"peer not parseable", headerXForwardedFor, newIPRequest("garbage", headerXForwardedFor, "203.0.113.9")},
	}
}

func TestClientIPDoesNotAllocate(t *testing.T) {
	for _, tc := range allocRequests() {
		if n := testing.AllocsPerRun(100, func() { clientIP(tc.r, testTrusted, tc.header) }); n != 0 {
			t.Errorf("%s: clientIP allocates %v times per call; want 0", tc.name, n)
		}
	}
}

func BenchmarkClientIP(b *testing.B) {
	for _, tc := range allocRequests() {
		b.Run(strings.ReplaceAll(tc.name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				clientIP(tc.r, testTrusted, tc.header)
			}
		})
	}
}
