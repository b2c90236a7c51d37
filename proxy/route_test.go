package proxy_test

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/file"
	"github.com/gomaint/maintenance/proxy"
)

// routeSites are declared both as the gate's sites and as the proxy's routes.
var routeSites = []string{
	"shop.example.com", "*.example.com", "*.deep.example.com", "example.net", "2001:db8::1",
	"192.0.2.1", "xn--bcher-kva.example", "*.xn--bcher-kva.example", "key.example.org",
}

// hostileHosts are Host header values where a gate and a proxy that parsed
// hosts each their own way could disagree.
var hostileHosts = []string{
	"shop.example.com", "SHOP.Example.COM", "shop.example.com:443", "shop.example.com.",
	"Shop.Example.Com.:8443", "shop.example.com..", "shop.example.com:x:y", "a.b.example.com",
	"x.DEEP.example.com", "deep.example.com", ".example.com", "example.com", "example.net.",
	"[2001:db8::1]", "[2001:DB8:0::1]:443", "[2001:db8::1%eth0]", "[2001:db8::1", "2001:db8::1",
	"[::ffff:192.0.2.1]", "192.0.2.1:80", "XN--BCHER-KVA.example", "www.xn--bcher-kva.example",
	"bücher.example", "\u212aey.example.org", "\u212aEY.example.org", "KEY.example.org", "",
	":", ":443", ".", "..", "[]", strings.Repeat("a", 250) + ".example.com",
}

// gateAndProxy returns a gate and a proxy of the same sites.
func gateAndProxy(t testing.TB) (*maintenance.Gate, *proxy.Proxy) {
	t.Helper()
	store, err := file.Open(t.Context(), filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := maintenance.New(t.Context(), store, maintenance.Options{Sites: routeSites})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	up := &url.URL{Scheme: "http", Host: "127.0.0.1:1"}
	o := proxy.Options{Upstream: up}
	for _, s := range routeSites {
		o.Routes = append(o.Routes, proxy.Route{Site: s, Upstream: up})
	}
	p, err := proxy.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return g, p
}

// agree fails t when the gate puts host in another site than the proxy's
// route: the request would be gated as one site and sent to another's
// upstream.
func agree(t *testing.T, g *maintenance.Gate, p *proxy.Proxy, host string) {
	t.Helper()
	site, ok := p.Site(host)
	if !ok {
		t.Fatalf("proxy: no route for %+q, though there is a default route", host)
	}
	if gate := g.SiteOf(host); gate != site {
		t.Fatalf("Host %+q: the gate says site %q, the proxy routes it to %q", host, gate, site)
	}
}

func TestRouteAgreesWithGate(t *testing.T) {
	g, p := gateAndProxy(t)
	for _, h := range hostileHosts {
		agree(t, g, p, h)
	}
	// The table is not all "*": the hosts do reach the sites.
	for host, want := range map[string]string{"SHOP.example.com.:1": "shop.example.com", "[2001:DB8::1]:443": "2001:db8::1", "a.x.deep.example.com": "*.deep.example.com"} {
		if got, _ := p.Site(host); got != want {
			t.Errorf("Site(%q) = %q, want %q", host, got, want)
		}
	}
}

func FuzzRouteAgreesWithGate(f *testing.F) {
	for _, h := range hostileHosts {
		f.Add(h)
	}
	g, p := gateAndProxy(f)
	f.Fuzz(func(t *testing.T, host string) { agree(t, g, p, host) })
}
