package maintenance

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseWebhookURL(t *testing.T) {
	for _, ok := range []string{"https://hooks.example.com/m", "http://127.0.0.1:8080/hook?token=x", "http://10.0.0.7/h", "https://[2001:db8::1]/x"} {
		if got, err := ParseWebhookURL(ok); err != nil || got != ok {
			t.Errorf("ParseWebhookURL(%q) = %q, %v", ok, got, err)
		}
	}
	for _, bad := range []string{"", "ftp://x/", "javascript:alert(1)", "https://", "https:///path", "//example.com/x", "https://u:p@example.com/",
		"https://u@example.com/", "https://example.com/#f", "https://example.com/ x", "https://example.com/\n", "http://169.254.169.254/latest/meta-data",
		"http://[fe80::1]/", "http://0.0.0.0/", "http://[::]/", "http://224.0.0.1/", "http://[::ffff:169.254.169.254]/", "http://example.com:0/",
		"http://example.com:99999/", "https://example.com/" + strings.Repeat("a", MaxWebhookURL)} {
		if _, err := ParseWebhookURL(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseWebhookURL(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func FuzzParseWebhookURL(f *testing.F) {
	for _, s := range []string{"https://hooks.example.com/m", "http://u:p@x/", "http://[fe80::1%25eth0]/", "http://169.254.169.254/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseWebhookURL(s)
		if err != nil {
			return
		}
		// What is accepted is canonical, and stays accepted.
		again, err := ParseWebhookURL(u)
		if err != nil || again != u {
			t.Fatalf("ParseWebhookURL(%q) = %q, then %q, %v", s, u, again, err)
		}
		pu, err := url.Parse(u)
		if err != nil || pu.User != nil || pu.Fragment != "" || pu.Host == "" || pu.Scheme != "http" && pu.Scheme != "https" ||
			strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			t.Fatalf("accepted %q: %+v, %v", u, pu, err)
		}
	})
}

func TestSealSecret(t *testing.T) {
	key, other := newKey(), newKey()
	sealed, err := SealSecret(key, "0a1b2c3d", "whsec_abc")
	if err != nil || strings.Contains(sealed, "whsec_abc") {
		t.Fatalf("SealSecret = %q, %v", sealed, err)
	}
	if s, err := OpenSecret(key, "0a1b2c3d", sealed); err != nil || s != "whsec_abc" {
		t.Errorf("OpenSecret = %q, %v", s, err)
	}
	for name, f := range map[string]func() (string, error){
		"OtherKey":     func() (string, error) { return OpenSecret(other, "0a1b2c3d", sealed) },
		"OtherWebhook": func() (string, error) { return OpenSecret(key, "99999999", sealed) },
		"Altered":      func() (string, error) { return OpenSecret(key, "0a1b2c3d", sealed[:len(sealed)-2]+"AA") },
		"NotSealed":    func() (string, error) { return OpenSecret(key, "0a1b2c3d", "whsec_abc") },
		"ShortKey":     func() (string, error) { return OpenSecret(key[:5], "0a1b2c3d", sealed) },
	} {
		if s, err := f(); err == nil || s != "" || strings.Contains(err.Error(), "whsec_abc") {
			t.Errorf("%s: OpenSecret = %q, %v; want an error that does not show the secret", name, s, err)
		}
	}
}

func TestSlackText(t *testing.T) {
	until := time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		p    WebhookPayload
		want string
	}{
		{WebhookPayload{Type: "on", Site: "shop.example.com", Actor: "alice", Source: "cli", Reason: "deploy <v2> & co", After: &SiteState{Until: until}},
			":construction: *shop.example.com*: maintenance on by alice (cli), until 2026-11-21 15:00 UTC: deploy &lt;v2&gt; &amp; co"},
		{WebhookPayload{Type: "off", Site: "*", Actor: "bob", Source: "api"}, ":white_check_mark: *every site*: maintenance off by bob (api)"},
		{WebhookPayload{Type: EventReminder, Site: "shop.example.com", RemindBefore: "10m", Window: &WindowRef{From: until, Until: until.Add(time.Hour)}},
			":alarm_clock: *shop.example.com*: maintenance starts in 10m, at 2026-11-21 15:00 UTC, until 2026-11-21 16:00 UTC"},
		{WebhookPayload{Type: EventForgotten, Site: "shop.example.com", MaxDuration: "4h"}, ":warning: *shop.example.com* has been in maintenance for more than 4h with no end: forgotten?"},
	} {
		if got := tc.p.SlackText(); got != tc.want {
			t.Errorf("SlackText(%s) =\n%s\nwant\n%s", tc.p.Type, got, tc.want)
		}
	}
}

// TestPostNoRedirectNoLinkLocal checks the client of deliveries: a
// redirect is a failure, not followed; a link-local address is refused at
// the connection, whatever the URL says.
func TestPostNoRedirectNoLinkLocal(t *testing.T) {
	var hit atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/target" {
			hit.Add(1)
			return
		}
		http.Redirect(w, r, "/target", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c := webhookClient(2*time.Second, nil)
	p := &WebhookPayload{ID: "evt_1", Type: "on"}
	err := postWebhook(context.Background(), c, &Webhook{URL: srv.URL + "/hook"}, "s", p, time.Now())
	if err == nil || !strings.Contains(err.Error(), "307") || hit.Load() != 0 {
		t.Errorf("redirect: %v, target hit %d times; want a failure, not followed", err, hit.Load())
	}
	err = postWebhook(context.Background(), c, &Webhook{URL: "http://169.254.169.254/latest/secret"}, "s", p, time.Now())
	if err == nil || !strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "/latest/secret") {
		t.Errorf("link-local: %v; want refused, without the path", err)
	}
}

// TestWebhookMetadataAddresses: the cloud metadata endpoints that are not
// link-local (AWS's IPv6 one, Alibaba's), and link-local IPv4 addresses
// carried in IPv6 (NAT64, 6to4, IPv4-compatible), are refused like
// 169.254.169.254, when added and at the connection.
func TestWebhookMetadataAddresses(t *testing.T) {
	for _, s := range []string{"fd00:ec2::254", "100.100.100.200", "64:ff9b::a9fe:a9fe", "64:ff9b::169.254.169.254",
		"2002:a9fe:a9fe::1", "::169.254.169.254", "64:ff9b::e000:1"} {
		a := netip.MustParseAddr(s)
		if webhookAddrAllowed(a) {
			t.Errorf("webhookAddrAllowed(%s) = true, want refused", s)
		}
		if _, err := ParseWebhookURL("http://" + netip.AddrPortFrom(a, 80).String() + "/"); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseWebhookURL(%s) = %v, want ErrInvalid", s, err)
		}
	}
	// Their neighbours stay accepted: a private or public address.
	for _, s := range []string{"fd00:ec2::253", "100.100.100.201", "64:ff9b::c000:221", "2002:c000:221::1", "10.0.0.7", "::1"} {
		if !webhookAddrAllowed(netip.MustParseAddr(s)) {
			t.Errorf("webhookAddrAllowed(%s) = false, want accepted", s)
		}
	}
}
