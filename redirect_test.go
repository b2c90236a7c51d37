package maintenance

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRedirectOtherHost: a redirect target that a browser resolves to
// another host than the gate reads is refused wherever a redirect is
// checked: a change (CLI, API, admin) and a loaded state.
func TestRedirectOtherHost(t *testing.T) {
	bad := []string{
		`/\evil.example/phish`, `/\\evil.example`, `\\evil.example`, `\/evil.example`, "//evil.example/x",
		"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", " /x", "/x ", "/\x00x",
		`https://shop.example\.evil.example/`, `https:\\evil.example`, `https:/\evil.example`, "https:evil.example",
		"https:///evil.example", "https://user@evil.example/", "https://shop.example@evil.example/",
		"https://evil.example%2f.shop.example/", "https://b\u00fccher.example/", "https://[fe80::1%25eth0]/",
		"https://a..b/", "https://.evil/", "https://evil.example:x/", "javascript:alert(1)", "data:text/html,x",
		"ftp://x.example/", "x.example/path", "",
	}
	for _, v := range bad {
		if _, err := parseRedirect(v); !errors.Is(err, ErrInvalid) || v != "" && !strings.Contains(err.Error(), "redirect") {
			t.Errorf("parseRedirect(%q) = %v, want ErrInvalid naming the redirect", v, err)
		}
	}
	good := map[string]string{
		"/down": "", "/down?x=1": "", "https://status.example.com/": "status.example.com", "HTTP://Status.Example.com:8443/x": "status.example.com",
		"http://192.0.2.1/": "192.0.2.1", "https://[2001:db8::1]:443/": "2001:db8::1", "/caf\u00e9": "",
	}
	for v, host := range good {
		u, err := parseRedirect(v)
		if err != nil {
			t.Errorf("parseRedirect(%q): %v", v, err)
			continue
		}
		if strings.ToLower(u.Hostname()) != host {
			t.Errorf("parseRedirect(%q) host %q, want %q", v, u.Hostname(), host)
		}
	}
	// A change is refused and a stored state with such a target is invalid.
	st := stateOf(t, AddSites("shop.example.com"))
	if _, _, err := commitChange(st, On(nil, OnOptions{Redirect: ptr(`/\evil.example/phish`)}), time.Now()); !errors.Is(err, ErrInvalid) {
		t.Errorf("on --redirect '/\\evil.example/phish': %v, want ErrInvalid", err)
	}
	st = stateOf(t, AddSites("shop.example.com"), On(nil, OnOptions{Redirect: ptr("/down")}))
	st.Site("shop.example.com").Redirect = `/\evil.example/phish`
	if err := st.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("a stored state with redirect /\\evil.example/phish: Validate() = %v, want ErrInvalid", err)
	}
}
