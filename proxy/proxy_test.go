package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/proxy"
)

// echo is an upstream that answers with its name and what it received.
func echo(t *testing.T, name string) *url.URL {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s %s\n", name, r.Method, r.Host, r.URL.RequestURI())
		for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Real-Ip", "True-Client-Ip", "Cf-Connecting-Ip", "X-Client-Ip", "Fastly-Client-Ip", "X-Cluster-Client-Ip"} {
			fmt.Fprintf(w, "%s: %s\n", k, strings.Join(r.Header.Values(k), " | "))
		}
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

func mustNew(t *testing.T, o proxy.Options) *proxy.Proxy {
	t.Helper()
	p, err := proxy.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// do sends a request through h and returns the status and body.
func do(t *testing.T, h http.Handler, r *http.Request) (int, string, http.Header) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String(), w.Header()
}

func TestRouting(t *testing.T) {
	def, shop, wild, deep := echo(t, "default"), echo(t, "shop"), echo(t, "wild"), echo(t, "deep")
	p := mustNew(t, proxy.Options{Upstream: def, Routes: []proxy.Route{
		{Site: "Shop.Example.com", Upstream: shop},
		{Site: "*.example.org", Upstream: wild},
		{Site: "*.eu.example.org", Upstream: deep},
		{Site: "::1", Upstream: shop},
	}})
	tests := []struct{ host, want string }{
		{"shop.example.com", "shop"},
		{"SHOP.example.COM:8443", "shop"},
		{"shop.example.com.", "shop"},
		{"www.shop.example.com", "default"},
		{"a.example.org", "wild"},
		{"a.b.example.org", "wild"},
		{"example.org", "default"},
		{"a.eu.example.org", "deep"},
		{"x.a.eu.example.org", "deep"},
		{"eu.example.org", "wild"},
		{"[::1]:8080", "shop"},
		{"[0:0::1]", "shop"},
		{"other.test", "default"},
		{"", "default"},
		{"[bad", "default"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x", nil)
			r.Host = tt.host
			code, body, _ := do(t, p, r)
			if code != 200 || !strings.HasPrefix(body, tt.want+" ") {
				t.Errorf("Host %q: %d %q, want upstream %s", tt.host, code, body, tt.want)
			}
		})
	}
	got := p.Routes()
	if len(got) != 5 || got[0].Site != "*" || got[1].Site != "shop.example.com" {
		t.Errorf("Routes() = %v, want * first and canonical sites", got)
	}
}

func TestNoRoute(t *testing.T) {
	p := mustNew(t, proxy.Options{Routes: []proxy.Route{{Site: "shop.example.com", Upstream: echo(t, "shop")}}})
	r := httptest.NewRequest("GET", "/x", nil)
	r.Host = "other.test"
	r.Header.Set("Accept", "application/json")
	code, body, h := do(t, p, r)
	if code != http.StatusBadGateway || h.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, "No application is configured for this host") {
		t.Errorf("no route: %d %s %q", code, h.Get("Content-Type"), body)
	}
	if _, ok := p.Site("other.test"); ok {
		t.Error("Site(other.test) found a route")
	}
	if s, ok := p.Site("SHOP.example.com:80"); !ok || s != "shop.example.com" {
		t.Errorf("Site(SHOP.example.com:80) = %q, %v", s, ok)
	}
}

func TestNewErrors(t *testing.T) {
	up := echo(t, "up")
	bad, _ := url.Parse("ftp://x")
	tests := []struct {
		name string
		o    proxy.Options
	}{
		{"nothing", proxy.Options{}},
		{"bad site", proxy.Options{Routes: []proxy.Route{{Site: "bad host", Upstream: up}}}},
		{"no upstream", proxy.Options{Routes: []proxy.Route{{Site: "a.com"}}}},
		{"bad upstream", proxy.Options{Routes: []proxy.Route{{Site: "a.com", Upstream: bad}}}},
		{"two for one site", proxy.Options{Routes: []proxy.Route{{Site: "a.com", Upstream: up}, {Site: "A.com", Upstream: up}}}},
		{"default twice", proxy.Options{Upstream: up, Routes: []proxy.Route{{Site: "*", Upstream: up}}}},
		{"trusted proxy with host bits", proxy.Options{Upstream: up, TrustedProxies: []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr("10.0.0.1"), 8)}}},
		{"invalid trusted proxy", proxy.Options{Upstream: up, TrustedProxies: []netip.Prefix{{}}}},
		{"trusting everyone", proxy.Options{Upstream: up, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := proxy.New(tt.o); !errors.Is(err, maintenance.ErrInvalid) {
				t.Errorf("New: %v, want ErrInvalid", err)
			}
		})
	}
}

func TestParseUpstream(t *testing.T) {
	for _, s := range []string{"http://127.0.0.1:8000", "https://app.internal/base"} {
		if _, err := proxy.ParseUpstream(s); err != nil {
			t.Errorf("ParseUpstream(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "127.0.0.1:8000", "ftp://x", "http://", "http://a?x=1", "http://a#f", "http://u:p@a", "http:opaque"} {
		if _, err := proxy.ParseUpstream(s); err == nil {
			t.Errorf("ParseUpstream(%q) accepted it", s)
		}
	}
}

func TestForwardingHeaders(t *testing.T) {
	up := echo(t, "up")
	// Given IPv4-mapped, as the gate takes it: 10.0.0.0/8.
	p := mustNew(t, proxy.Options{Upstream: up, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}})
	tests := []struct {
		name, remote, host string
		in                 map[string]string
		want               []string
	}{
		{
			name: "untrusted peer: replaced", remote: "192.0.2.7:5555", host: "shop.example.com",
			in: map[string]string{"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Host": "evil.test", "X-Forwarded-Proto": "https", "Forwarded": "for=1.2.3.4"},
			want: []string{
				"X-Forwarded-For: 192.0.2.7\n", "X-Forwarded-Host: shop.example.com\n", "X-Forwarded-Proto: http\n",
				"Forwarded: for=192.0.2.7;host=shop.example.com;proto=http\n",
			},
		},
		{
			name: "trusted peer: kept and appended", remote: "10.1.2.3:5555", host: "shop.example.com",
			in: map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "www.example.com", "X-Forwarded-Proto": "https", "Forwarded": `for=203.0.113.9;proto=https`},
			want: []string{
				"X-Forwarded-For: 203.0.113.9, 10.1.2.3\n", "X-Forwarded-Host: www.example.com\n", "X-Forwarded-Proto: https\n",
				// This hop's element agrees with X-Forwarded-Host and -Proto.
				"Forwarded: for=203.0.113.9;proto=https, for=10.1.2.3;host=www.example.com;proto=https\n",
			},
		},
		{
			name: "trusted peer writing Forwarded only: X-Forwarded-* agree with it", remote: "10.1.2.3:5555", host: "127.0.0.1:8091",
			in: map[string]string{"Forwarded": `for=203.0.113.9;host="shop.local:443";proto=https`},
			want: []string{
				"X-Forwarded-For: 10.1.2.3\n", "X-Forwarded-Host: shop.local:443\n", "X-Forwarded-Proto: https\n",
				`Forwarded: for=203.0.113.9;host="shop.local:443";proto=https, for=10.1.2.3;host="shop.local:443";proto=https` + "\n",
			},
		},
		{
			name: "trusted peer with garbage X-Forwarded-Proto", remote: "10.1.2.3:5555", host: "shop.example.com",
			in:   map[string]string{"X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "a b"},
			want: []string{"X-Forwarded-Host: shop.example.com\n", "X-Forwarded-Proto: http\n", "Forwarded: for=10.1.2.3;host=shop.example.com;proto=http\n"},
		},
		{
			name: "untrusted peer: client-IP headers dropped, X-Real-IP is the peer", remote: "192.0.2.7:5555", host: "shop.example.com",
			in: map[string]string{"X-Real-IP": "203.0.113.7", "True-Client-IP": "203.0.113.7", "CF-Connecting-IP": "203.0.113.7",
				"X-Client-IP": "203.0.113.7", "Fastly-Client-IP": "203.0.113.7", "X-Cluster-Client-IP": "203.0.113.7"},
			want: []string{"X-Real-Ip: 192.0.2.7\n", "True-Client-Ip: \n", "Cf-Connecting-Ip: \n", "X-Client-Ip: \n", "Fastly-Client-Ip: \n", "X-Cluster-Client-Ip: \n"},
		},
		{
			name: "trusted peer: client-IP headers kept", remote: "10.1.2.3:5555", host: "shop.example.com",
			in:   map[string]string{"X-Real-IP": "203.0.113.7", "True-Client-IP": "203.0.113.8"},
			want: []string{"X-Real-Ip: 203.0.113.7\n", "True-Client-Ip: 203.0.113.8\n"},
		},
		{
			name: "trusted peer with nothing to keep", remote: "10.1.2.3:5555", host: "shop.example.com",
			want: []string{"X-Forwarded-For: 10.1.2.3\n", "X-Forwarded-Proto: http\n", "Forwarded: for=10.1.2.3;host=shop.example.com;proto=http\n"},
		},
		{
			name: "IPv6 quoted, host with port quoted", remote: "[2001:db8::17]:4711", host: "shop.example.com:8080",
			want: []string{`Forwarded: for="[2001:db8::17]";host="shop.example.com:8080";proto=http` + "\n"},
		},
		{
			name: "IPv4-mapped peer", remote: "[::ffff:192.0.2.1]:1", host: "a.test",
			want: []string{"Forwarded: for=192.0.2.1;host=a.test;proto=http\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x", nil)
			r.RemoteAddr, r.Host = tt.remote, tt.host
			for k, v := range tt.in {
				r.Header.Set(k, v)
			}
			code, body, _ := do(t, p, r)
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("upstream got:\n%s\nwant a line %q", body, w)
				}
			}
		})
	}
}

// The Forwarded header serve writes is read back by a gate behind it that
// trusts serve.
func TestForwardedReadBack(t *testing.T) {
	var got string
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := maintenance.ClientIP(r, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "Forwarded")
		got = fmt.Sprint(a, ok)
	}))
	defer inner.Close()
	u, _ := url.Parse(inner.URL)
	p := mustNew(t, proxy.Options{Upstream: u})
	for _, remote := range []string{"192.0.2.9:1", "[2001:db8::9]:1"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		do(t, p, r)
		want := netip.MustParseAddrPort(remote).Addr().String() + " true"
		if got != want {
			t.Errorf("peer %s: the gate behind saw %s, want %s", remote, got, want)
		}
	}
}

func TestRawQueryKept(t *testing.T) {
	p := mustNew(t, proxy.Options{Upstream: echo(t, "up")})
	r := httptest.NewRequest("GET", "/p?a=1;b=2&c=%zz", nil)
	_, body, _ := do(t, p, r)
	if !strings.HasPrefix(body, "up GET example.com /p?a=1;b=2&c=%zz\n") {
		t.Errorf("upstream got %q", body)
	}
}

func TestUpstreamErrors(t *testing.T) {
	// A port with nothing listening: refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down, _ := url.Parse("http://" + ln.Addr().String())
	ln.Close()

	release := make(chan struct{})
	slowSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slowSrv.Close()
	defer close(release)
	slow, _ := url.Parse(slowSrv.URL)

	var mu sync.Mutex
	var observed []string
	observe := func(r *http.Request, site string, d time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		observed = append(observed, fmt.Sprintf("%s %v", site, err != nil))
	}
	p := mustNew(t, proxy.Options{Upstream: down, Routes: []proxy.Route{{Site: "slow.test", Upstream: slow}},
		UpstreamTimeout: 100 * time.Millisecond, ObserveUpstream: observe})

	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept", "application/json")
	code, body, h := do(t, p, r)
	if code != 502 || h.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, `"title":"Bad Gateway"`) {
		t.Errorf("refused: %d %s %s", code, h.Get("Content-Type"), body)
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.Host = "slow.test"
	code, body, h = do(t, p, r)
	if code != 504 || h.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(body, "taking too long") {
		t.Errorf("timeout: %d %s %s", code, h.Get("Content-Type"), body)
	}

	// A client that goes away is not an upstream error.
	ctx, cancel := context.WithCancel(context.Background())
	r = httptest.NewRequestWithContext(ctx, "GET", "/", nil)
	r.Host = "slow.test"
	cancel()
	code, _, _ = do(t, p, r)
	if code != 499 {
		t.Errorf("client gone: status %d, want 499", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"* true", "slow.test true"}; fmt.Sprint(observed) != fmt.Sprint(want) {
		t.Errorf("observed %q, want %q", observed, want)
	}
}

// serveProxy serves p on a real listener, since upgrades and flushing need a
// real connection.
func serveProxy(t *testing.T, p http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestWebSocketUpgrade(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "not an upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		// Echo lines back, upper-cased, until the client closes.
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString(strings.ToUpper(line))
			brw.Flush()
		}
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	addr := serveProxy(t, mustNew(t, proxy.Options{Upstream: u}))

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	for _, msg := range []string{"hello\n", "again\n"} {
		io.WriteString(conn, msg)
		got, err := br.ReadString('\n')
		if err != nil || got != strings.ToUpper(msg) {
			t.Fatalf("echo of %q: %q, %v", msg, got, err)
		}
	}
}

func TestStreamsAreFlushed(t *testing.T) {
	next := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" {
			w.Header().Set("Content-Type", "text/event-stream")
			// Content-Length known would not matter: SSE is flushed anyway.
		}
		rc := http.NewResponseController(w)
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			rc.Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	addr := serveProxy(t, mustNew(t, proxy.Options{Upstream: u}))
	for _, path := range []string{"/events", "/chunked"} {
		t.Run(path, func(t *testing.T) {
			resp, err := http.Get("http://" + addr + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			for i := range 3 {
				// Event i arrives while the upstream waits: it was flushed.
				line, err := br.ReadString('\n')
				if err != nil || line != fmt.Sprintf("data: %d\n", i) {
					t.Fatalf("event %d: %q, %v", i, line, err)
				}
				br.ReadString('\n')
				next <- struct{}{}
			}
		})
	}
}

func TestGateCredentialsStayOut(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	p := mustNew(t, proxy.Options{Upstream: u})
	tests := []struct {
		name    string
		cookies []string
		want    []string
	}{
		{name: "none", cookies: nil, want: nil},
		{name: "others kept", cookies: []string{"a=1; b=2"}, want: []string{"a=1; b=2"}},
		{name: "gate cookies removed", cookies: []string{maintenance.BypassCookie + "=s3cret; a=1; " + maintenance.SessionCookie + "=t0ken"}, want: []string{"a=1"}},
		{name: "only gate cookies", cookies: []string{maintenance.SessionCookie + "=t0ken"}, want: nil},
		{name: "a name that contains one", cookies: []string{"x" + maintenance.BypassCookie + "=1"}, want: []string{"x" + maintenance.BypassCookie + "=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header[maintenance.BypassHeader] = []string{"s3cret"}
			if tt.cookies != nil {
				r.Header["Cookie"] = tt.cookies
			}
			do(t, p, r)
			if v, ok := got[maintenance.BypassHeader]; ok {
				t.Errorf("the application got %s: %q", maintenance.BypassHeader, v)
			}
			if fmt.Sprint(got["Cookie"]) != fmt.Sprint(tt.want) {
				t.Errorf("the application got cookies %q, want %q", got["Cookie"], tt.want)
			}
		})
	}
}

// TestMaintenanceHeaderFromClientDropped: a Maintenance header is the
// gate's word only; one sent by a client never reaches the application,
// with or without a gate in front, in any case or number.
func TestMaintenanceHeaderFromClientDropped(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	p := mustNew(t, proxy.Options{Upstream: u})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header["Maintenance"] = []string{"on, mode=full", "on=?0"}
	do(t, p, r)
	if v, ok := got["Maintenance"]; ok {
		t.Errorf("the application got a client's Maintenance header: %q", v)
	}
}
