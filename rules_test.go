package maintenance_test

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/gomaint/maintenance"
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantMethod string
		wantKind   maintenance.PatternKind
		wantPath   string
		wantString string
	}{
		{name: "exact", in: "/health", wantKind: maintenance.Exact, wantPath: "/health", wantString: "/health"},
		{name: "root", in: "/", wantKind: maintenance.Exact, wantPath: "/", wantString: "/"},
		{name: "non-ASCII path", in: "/café", wantKind: maintenance.Exact, wantPath: "/café", wantString: "/café"},
		{name: "prefix", in: "/static/*", wantKind: maintenance.Prefix, wantPath: "/static/", wantString: "/static/*"},
		{name: "everything", in: "/*", wantKind: maintenance.Prefix, wantPath: "/", wantString: "/*"},
		{name: "regex", in: "^/api/v[0-9]+/health", wantKind: maintenance.Regexp, wantPath: "^/api/v[0-9]+/health", wantString: "^/api/v[0-9]+/health"},
		{name: "regex with alternation", in: "^/api|/x", wantKind: maintenance.Regexp, wantPath: "^/api|/x", wantString: "^/api|/x"},
		{name: "regex with a space", in: "^/a b", wantKind: maintenance.Regexp, wantPath: "^/a b", wantString: "^/a b"},
		{name: "regex with flags", in: "^(?i)/admin", wantKind: maintenance.Regexp, wantPath: "^(?i)/admin", wantString: "^(?i)/admin"},
		{name: "method and prefix", in: "POST /webhooks/*", wantMethod: "POST", wantKind: maintenance.Prefix, wantPath: "/webhooks/", wantString: "POST /webhooks/*"},
		{name: "method and regex", in: "GET ^/admin", wantMethod: "GET", wantKind: maintenance.Regexp, wantPath: "^/admin", wantString: "GET ^/admin"},
		{name: "spaces trimmed", in: "  /padded  ", wantKind: maintenance.Exact, wantPath: "/padded", wantString: "/padded"},
		{name: "spaces after the method", in: "PUT   /x", wantMethod: "PUT", wantKind: maintenance.Exact, wantPath: "/x", wantString: "PUT /x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := maintenance.ParsePattern(tc.in)
			if err != nil {
				t.Fatalf("ParsePattern(%q): %v", tc.in, err)
			}
			if p.Method != tc.wantMethod || p.Kind != tc.wantKind || p.Path != tc.wantPath {
				t.Errorf("ParsePattern(%q) = {Method: %q, Kind: %d, Path: %q}; want {%q, %d, %q}", tc.in, p.Method, p.Kind, p.Path, tc.wantMethod, tc.wantKind, tc.wantPath)
			}
			if got := p.String(); got != tc.wantString {
				t.Errorf("ParsePattern(%q).String() = %q; want %q", tc.in, got, tc.wantString)
			}
		})
	}
}

func TestParsePatternRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// want are substrings of the message: what is wrong or what is accepted.
		want []string
	}{
		{name: "empty", in: "", want: []string{"accepted: /exact/path, /prefix/*, ^regex"}},
		{name: "blank", in: "   ", want: []string{"accepted: /exact/path, /prefix/*, ^regex"}},
		{name: "no leading slash", in: "health", want: []string{"accepted: /exact/path, /prefix/*, ^regex"}},
		{name: "star alone", in: "*", want: []string{"accepted: /exact/path"}},
		{name: "method alone", in: "POST", want: []string{"accepted: /exact/path"}},
		{name: "lower-case method", in: "post /x", want: []string{`"post" is not a method`, "accepted: GET, HEAD, POST"}},
		{name: "unknown method", in: "FETCH /x", want: []string{`"FETCH" is not a method`, "accepted: GET"}},
		{name: "two methods", in: "GET POST /x", want: []string{"accepted: /exact/path"}},
		{name: "star in the middle", in: "/a*/b", want: []string{"'*' is accepted only at the end", "^regex"}},
		{name: "two stars", in: "/a/**", want: []string{"'*' is accepted only at the end"}},
		{name: "query", in: "/a?b=1", want: []string{"the path only, without ?query"}},
		{name: "fragment", in: "/a#top", want: []string{"#fragment"}},
		{name: "space in a path", in: "/a b", want: []string{"spaces and control characters are not accepted"}},
		{name: "space in a path after a method", in: "GET /a b", want: []string{"spaces and control characters are not accepted"}},
		{name: "tab in a path", in: "/a\tb", want: []string{"spaces and control characters are not accepted"}},
		{name: "control character", in: "/a\x00", want: []string{"control characters"}},
		{name: "invalid UTF-8", in: "/a\xff", want: []string{"not valid UTF-8"}},
		{name: "invalid regex", in: "^/a(", want: []string{"not a valid RE2 expression", "missing closing )"}},
		{name: "regex escaping its anchor", in: "^/x)|(/admin", want: []string{"not a valid RE2 expression"}},
		{name: "Perl-only regex", in: "^/(?=a)", want: []string{"not a valid RE2 expression"}},
		{name: "regex with invalid UTF-8", in: "^/a\xff", want: []string{"not a valid RE2 expression"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := maintenance.ParsePattern(tc.in)
			if err == nil {
				t.Fatalf("ParsePattern(%q) = %q; want an error", tc.in, p.String())
			}
			if !errors.Is(err, maintenance.ErrInvalid) {
				t.Errorf("ParsePattern(%q) error %v does not wrap ErrInvalid", tc.in, err)
			}
			msg := err.Error()
			for _, w := range append([]string{strconv.Quote(tc.in)}, tc.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("ParsePattern(%q) error %q does not contain %q", tc.in, msg, w)
				}
			}
		})
	}

	t.Run("too long", func(t *testing.T) {
		in := "/" + strings.Repeat("a", maintenance.MaxPatternLen)
		_, err := maintenance.ParsePattern(in)
		if !errors.Is(err, maintenance.ErrInvalid) || !strings.Contains(err.Error(), "at most 1024") {
			t.Errorf("ParsePattern(%d bytes) error = %v; want ErrInvalid saying at most 1024", len(in), err)
		}
	})
}

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		method  string
		path    string
		want    bool
	}{
		{"/health", "GET", "/health", true},
		{"/health", "POST", "/health", true},
		{"/health", "GET", "/health/", false},
		{"/health", "GET", "/healthz", false},
		{"/health", "GET", "/Health", false},
		{"/health", "GET", "/x/health", false},
		{"/static/*", "GET", "/static/app.js", true},
		{"/static/*", "GET", "/static/", true},
		{"/static/*", "GET", "/static/a/b/c", true},
		{"/static/*", "GET", "/static", true}, // the root of the prefix too
		{"/static*", "GET", "/stati", false},
		{"/static/*", "GET", "/staticfile", false},
		{"/*", "GET", "/anything", true},
		{"/*", "GET", "/", true},
		{"^/api/v[0-9]+/health", "GET", "/api/v2/health", true},
		{"^/api/v[0-9]+/health", "GET", "/api/v2/health/deep", true}, // not anchored at the end
		{"^/api/v[0-9]+/health", "GET", "/x/api/v2/health", false},   // anchored at the start
		{"^/api/v[0-9]+/health", "GET", "/api/vx/health", false},
		{"^/api|/x", "GET", "/x", true},
		{"^/api|/x", "GET", "/api/users", true},
		{"^/api|/x", "GET", "/y/x", false}, // the whole alternation is anchored
		{"^/a$", "GET", "/a", true},
		{"^/a$", "GET", "/ab", false},
		{"^(?i)/admin", "GET", "/ADMIN/users", true},
		{"^(?i)/admin", "GET", "/x/admin", false},
		{"^/a b", "GET", "/a b", true},
		{"^", "GET", "/anything", true},
		{"POST /webhooks/*", "POST", "/webhooks/stripe", true},
		{"POST /webhooks/*", "GET", "/webhooks/stripe", false},
		{"POST /webhooks/*", "POST", "/other", false},
		{"GET ^/a", "GET", "/a/b", true},
		{"GET ^/a", "HEAD", "/a/b", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.method+" "+tc.path, func(t *testing.T) {
			p, err := maintenance.ParsePattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Match(tc.method, tc.path); got != tc.want {
				t.Errorf("ParsePattern(%q).Match(%q, %q) = %v; want %v", tc.pattern, tc.method, tc.path, got, tc.want)
			}
		})
	}

	t.Run("zero value matches nothing", func(t *testing.T) {
		var p maintenance.Pattern
		if p.Match("GET", "/") || p.Match("GET", "") {
			t.Error("the zero Pattern matches")
		}
	})
}

func TestParseAllow(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "IPv4", in: "203.0.113.7", want: "203.0.113.7/32"},
		{name: "IPv4 with spaces", in: " 203.0.113.7\t", want: "203.0.113.7/32"},
		{name: "IPv4 CIDR", in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{name: "IPv4 /32", in: "203.0.113.7/32", want: "203.0.113.7/32"},
		{name: "everything IPv4", in: "0.0.0.0/0", want: "0.0.0.0/0"},
		{name: "IPv6", in: "2001:db8::1", want: "2001:db8::1/128"},
		{name: "IPv6 upper case", in: "2001:DB8::1", want: "2001:db8::1/128"},
		{name: "IPv6 CIDR", in: "2001:db8::/32", want: "2001:db8::/32"},
		{name: "everything IPv6", in: "::/0", want: "::/0"},
		{name: "IPv4-mapped address", in: "::ffff:10.0.0.1", want: "10.0.0.1/32"},
		{name: "IPv4-mapped CIDR", in: "::ffff:10.0.0.0/104", want: "10.0.0.0/8"},
		{name: "IPv4-mapped /128", in: "::ffff:10.0.0.1/128", want: "10.0.0.1/32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := maintenance.ParseAllow(tc.in)
			if err != nil {
				t.Fatalf("ParseAllow(%q): %v", tc.in, err)
			}
			if want := netip.MustParsePrefix(tc.want); got != want {
				t.Errorf("ParseAllow(%q) = %v; want %v", tc.in, got, want)
			}
		})
	}
}

func TestParseAllowRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "host bits set", in: "10.0.0.1/8", want: []string{"host bits are set", "did you mean 10.0.0.0/8?"}},
		{name: "host bits set, /24", in: "192.168.1.77/24", want: []string{"did you mean 192.168.1.0/24?"}},
		{name: "IPv6 host bits set", in: "2001:db8::1/32", want: []string{"did you mean 2001:db8::/32?"}},
		{name: "IPv4-mapped host bits set", in: "::ffff:10.0.0.1/104", want: []string{"did you mean ::ffff:10.0.0.0/104?"}},
		{name: "IPv4-mapped prefix shorter than /96", in: "::ffff:0:0/80", want: []string{"host bits are set"}},
		{name: "zone", in: "fe80::1%eth0", want: []string{"accepted: 203.0.113.7, 10.0.0.0/8, 2001:db8::/32"}},
		{name: "zone in a prefix", in: "fe80::%eth0/64", want: []string{"accepted: 203.0.113.7"}},
		{name: "empty", in: "", want: []string{"accepted: 203.0.113.7"}},
		{name: "host name", in: "office.example.com", want: []string{"not an IP address or CIDR prefix", "accepted"}},
		{name: "leading zero", in: "010.0.0.1", want: []string{"accepted"}},
		{name: "short IPv4", in: "10.0.0", want: []string{"accepted"}},
		{name: "prefix too long", in: "10.0.0.0/33", want: []string{"accepted"}},
		{name: "prefix without bits", in: "10.0.0.0/", want: []string{"accepted"}},
		{name: "two prefix lengths", in: "10.0.0.0/8/8", want: []string{"accepted"}},
		{name: "with a port", in: "203.0.113.7:80", want: []string{"accepted"}},
		{name: "in brackets", in: "[2001:db8::1]", want: []string{"accepted"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := maintenance.ParseAllow(tc.in)
			if err == nil {
				t.Fatalf("ParseAllow(%q) = %v; want an error", tc.in, p)
			}
			if !errors.Is(err, maintenance.ErrInvalid) {
				t.Errorf("ParseAllow(%q) error %v does not wrap ErrInvalid", tc.in, err)
			}
			msg := err.Error()
			for _, w := range append([]string{strconv.Quote(tc.in)}, tc.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("ParseAllow(%q) error %q does not contain %q", tc.in, msg, w)
				}
			}
		})
	}
}
