package maintenance_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gomaint/maintenance"
)

func TestParseSite(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "host name", in: "shop.example.com", want: "shop.example.com"},
		{name: "upper case", in: "Shop.Example.COM", want: "shop.example.com"},
		{name: "trailing dot", in: "shop.example.com.", want: "shop.example.com"},
		{name: "spaces", in: "  shop.example.com\t", want: "shop.example.com"},
		{name: "single label", in: "localhost", want: "localhost"},
		{name: "digits and hyphens", in: "shop-2.123.example", want: "shop-2.123.example"},
		{name: "punycode", in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{name: "63-byte label", in: strings.Repeat("a", 63) + ".example", want: strings.Repeat("a", 63) + ".example"},
		{name: "253-byte name", in: longName(253), want: longName(253)},
		{name: "default site", in: "*", want: "*"},
		{name: "default site with spaces", in: " * ", want: "*"},
		{name: "wildcard", in: "*.example.com", want: "*.example.com"},
		{name: "wildcard canonicalized", in: "*.Example.COM.", want: "*.example.com"},
		{name: "IPv4", in: "192.0.2.1", want: "192.0.2.1"},
		{name: "IPv6", in: "2001:DB8:0::1", want: "2001:db8::1"},
		{name: "IPv6 in brackets", in: "[2001:db8::1]", want: "2001:db8::1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := maintenance.ParseSite(tc.in)
			if err != nil {
				t.Fatalf("ParseSite(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseSite(%q) = %q; want %q", tc.in, got, tc.want)
			}
			if again, err := maintenance.ParseSite(got); err != nil || again != got {
				t.Errorf("ParseSite(%q) = %q, %v; want the canonical form unchanged", got, again, err)
			}
		})
	}
}

// longName returns a host name of n bytes made of 63-byte labels.
func longName(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strings.Repeat("a", min(63, n-b.Len())))
	}
	return b.String()
}

func TestParseSiteRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "empty", in: "", want: []string{"empty", "accepted: a host name (shop.example.com), a wildcard (*.example.com) or *"}},
		{name: "blank", in: "   ", want: []string{"empty", "accepted"}},
		{name: "port", in: "shop.example.com:8080", want: []string{"without a port", "accepted: shop.example.com, *.example.com or *"}},
		{name: "IPv4 with port", in: "192.0.2.1:80", want: []string{"without a port"}},
		{name: "IPv6 with port", in: "[2001:db8::1]:80", want: []string{"without a port"}},
		{name: "unclosed bracket", in: "[2001:db8::1", want: []string{"accepted"}},
		{name: "unopened bracket", in: "2001:db8::1]", want: []string{"accepted"}},
		{name: "zone", in: "fe80::1%eth0", want: []string{"accepted"}},
		{name: "scheme", in: "https://shop.example.com", want: []string{"without a port or scheme"}},
		{name: "path", in: "shop.example.com/admin", want: []string{`character "/" is not allowed`}},
		{name: "wildcard of an IP", in: "*.192.0.2.1", want: []string{"a wildcard needs a domain name"}},
		{name: "two wildcards", in: "*.*.example.com", want: []string{`character "*" is not allowed`}},
		{name: "wildcard in the middle", in: "shop.*.com", want: []string{`character "*" is not allowed`}},
		{name: "wildcard without a dot", in: "*example.com", want: []string{`character "*" is not allowed`}},
		{name: "wildcard of nothing", in: "*.", want: []string{"not allowed"}},
		{name: "empty label", in: "shop..example.com", want: []string{"1 to 63 characters"}},
		{name: "leading dot", in: ".example.com", want: []string{"1 to 63 characters"}},
		{name: "dot alone", in: ".", want: []string{"1 to 63 characters"}},
		{name: "two trailing dots", in: "example.com..", want: []string{"1 to 63 characters"}},
		{name: "64-byte label", in: strings.Repeat("a", 64) + ".example", want: []string{"1 to 63 characters"}},
		{name: "254-byte name", in: longName(254), want: []string{"longer than 253 characters"}},
		{name: "leading hyphen", in: "-shop.example.com", want: []string{"cannot start or end with '-'"}},
		{name: "trailing hyphen", in: "shop-.example.com", want: []string{"cannot start or end with '-'"}},
		{name: "underscore", in: "shop_1.example.com", want: []string{`character "_" is not allowed`, "accepted: letters, digits, '-' and '.'"}},
		{name: "non-ASCII letter", in: "bücher.example", want: []string{`character "ü" is not allowed`}},
		{name: "Kelvin sign lower-cases to k", in: "\u212aey.example", want: []string{"character \"\u212a\" is not allowed"}},
		{name: "space inside", in: "shop example.com", want: []string{`character " " is not allowed`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := maintenance.ParseSite(tc.in)
			if err == nil {
				t.Fatalf("ParseSite(%q) = %q; want an error", tc.in, got)
			}
			if !errors.Is(err, maintenance.ErrInvalid) {
				t.Errorf("ParseSite(%q) error %v does not wrap ErrInvalid", tc.in, err)
			}
			msg := err.Error()
			for _, w := range append([]string{strconv.Quote(tc.in)}, tc.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("ParseSite(%q) error %q does not contain %q", tc.in, msg, w)
				}
			}
		})
	}
}
