package server

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
)

// load parses args as serve's command line (with --store among the
// settings) and loads the configuration.
func load(def Defaults, args ...string) (*Config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	vals := Values{}
	for _, s := range Settings {
		fs.Var(vals.Flag(s), s.Name, "")
	}
	file := fs.String("config", "", "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("arguments %q", fs.Args())
	}
	return Load(vals, *file, def)
}

var noDefaults = Defaults{Store: "sqlite:m.db"}

func TestLoadServeConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "serve.conf")
	if err := os.WriteFile(conf, []byte(`# a comment
  listen 127.0.0.1:9000
upstream http://127.0.0.1:8000
site a.example.com=http://127.0.0.1:8001
site *.example.org
exempt POST /webhooks/*
exempt /healthz
access-log false
demo false
store file:from-file.json
`), 0o666); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		global    bool // --store before the command
		listen    string
		upstream  string
		routes    string
		sites     string
		exempt    string
		accessLog bool
		store     string
	}{
		{name: "file only", args: []string{"--config", conf}, listen: "127.0.0.1:9000", upstream: "http://127.0.0.1:8000",
			routes: "[a.example.com=http://127.0.0.1:8001]", sites: "[a.example.com *.example.org]", exempt: "[POST /webhooks/* /healthz]", store: "file:from-file.json"},
		{name: "flags win", args: []string{"--config", conf, "--listen", ":1", "--upstream", "http://10.0.0.1", "--access-log", "--store", "sqlite:flag.db"},
			listen: ":1", upstream: "http://10.0.0.1", routes: "[a.example.com=http://127.0.0.1:8001]", sites: "[a.example.com *.example.org]",
			exempt: "[POST /webhooks/* /healthz]", accessLog: true, store: "sqlite:flag.db"},
		{name: "a repeatable flag replaces the list", args: []string{"--config", conf, "--exempt", "/ping", "--site", "b.example.com"}, listen: "127.0.0.1:9000",
			upstream: "http://127.0.0.1:8000", routes: "[]", sites: "[b.example.com]", exempt: "[/ping]", store: "file:from-file.json"},
		{name: "global store wins", args: []string{"--config", conf}, global: true, listen: "127.0.0.1:9000", upstream: "http://127.0.0.1:8000",
			routes: "[a.example.com=http://127.0.0.1:8001]", sites: "[a.example.com *.example.org]", exempt: "[POST /webhooks/* /healthz]", store: "sqlite:global.db"},
		{name: "no file", args: []string{"--demo"}, listen: "127.0.0.1:8080", upstream: "<nil>", routes: "[]", sites: "[]", exempt: "[]", accessLog: true, store: "sqlite:env.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.global {
				// As the command passes a --store given before its name.
				args = append(args, "--store", "sqlite:global.db")
			}
			c, err := load(Defaults{Store: "sqlite:env.db"}, args...)
			if err != nil {
				t.Fatal(err)
			}
			var routes []string
			for _, r := range c.routes {
				routes = append(routes, r.Site+"="+r.Upstream.String())
			}
			up := "<nil>"
			if c.upstream != nil {
				up = c.upstream.String()
			}
			got := fmt.Sprintf("listen=%s upstream=%s routes=%v sites=%v exempt=%v access-log=%v store=%s",
				c.listen, up, fmt.Sprint(routesOrEmpty(routes)), fmt.Sprint(orEmpty(c.gate.Sites)), fmt.Sprint(orEmpty(c.gate.Exempt)), c.accessLog, c.store)
			want := fmt.Sprintf("listen=%s upstream=%s routes=%s sites=%s exempt=%s access-log=%v store=%s",
				tt.listen, tt.upstream, tt.routes, tt.sites, tt.exempt, tt.accessLog, tt.store)
			if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func routesOrEmpty(s []string) []string { return orEmpty(s) }

func TestParseServeConfig(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // name=value|... or the error
	}{
		{name: "empty", in: "", want: ""},
		{name: "comments and blanks", in: "# x\n\n   # y\n\t\n", want: ""},
		{name: "values keep inner spaces", in: "exempt  POST /webhooks/*  \n", want: "exempt=POST /webhooks/*"},
		{name: "tab separated", in: "listen\t:8080\r\n", want: "listen=:8080"},
		{name: "boolean alone", in: "demo\naccess-log false", want: "demo|access-log=false"},
		{name: "byte order mark", in: "\ufefflisten :1", want: "listen=:1"},
		{name: "a # inside a value is kept", in: "exempt ^/a#b", want: "exempt=^/a#b"},
		{name: "dashes", in: "--listen :1", want: `line 1: "--listen": write names without dashes: listen`},
		{name: "equals", in: "\nlisten=:1", want: `line 2: "listen=:1": write the name and the value separated by a space: listen :1`},
		{name: "upper case", in: "Listen :1", want: `line 1: setting name "Listen": accepted: a flag name without dashes, like listen or trusted-proxy`},
		{name: "control character", in: "listen :1\x00", want: `line 1: control character '\x00'; a line is: name value`},
		{name: "not UTF-8", in: "site \xff", want: "line 1: not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, err := parseConfigLines([]byte(tt.in))
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = formatConfigLines(lines)
			}
			if got != tt.want {
				t.Errorf("parseConfigLines(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func formatConfigLines(lines []configLine) string {
	var parts []string
	for _, l := range lines {
		if l.hasValue {
			parts = append(parts, l.name+"="+l.value)
		} else {
			parts = append(parts, l.name)
		}
	}
	return strings.Join(parts, "|")
}

// FuzzServeConfig checks that the configuration parser never panics, that
// what it accepts is well formed, that writing the settings back as
// "name value" lines parses to the same settings, and that turning them
// into serve's raw settings never panics either.
func FuzzServeConfig(f *testing.F) {
	for _, s := range []string{
		"", "# c\nlisten :8080\n", "site a.com=http://x\nsite *.b.com\n", "demo\n", "access-log false",
		"exempt POST /webhooks/*", "--listen :1", "listen=:1", "\ufeffupstream http://x\r\n", "a\tb\tc",
		"listen", "site \xff", "x \x00", "listen :1\nlisten :2", "config x", "store redis://u:p@h/0",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := parseConfigLines(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q does not name the line", err)
			}
			return
		}
		var b bytes.Buffer
		for _, l := range lines {
			if checkSettingName(l.name) != "" || l.name == "" {
				t.Fatalf("accepted a bad name %q", l.name)
			}
			if l.value != strings.TrimSpace(l.value) && l.value != strings.Trim(l.value, " \t") || strings.ContainsAny(l.value, "\n\r") {
				t.Fatalf("value %q not trimmed or spans lines", l.value)
			}
			if l.hasValue != (l.value != "") {
				t.Fatalf("hasValue %v with value %q", l.hasValue, l.value)
			}
			b.WriteString(l.name)
			if l.hasValue {
				b.WriteString(" " + l.value)
			}
			b.WriteString("\n")
		}
		again, err := parseConfigLines(b.Bytes())
		if err != nil {
			t.Fatalf("the settings written back do not parse: %v\n%s", err, b.String())
		}
		if formatConfigLines(again) != formatConfigLines(lines) {
			t.Fatalf("written back and parsed again: %q, want %q", formatConfigLines(again), formatConfigLines(lines))
		}
		if _, err := ParseConfigFile("f.conf", data); err != nil && !strings.HasPrefix(err.Error(), "f.conf:") {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}

func TestServeHoldFlags(t *testing.T) {
	c, err := load(noDefaults, "--demo", "--hold-timeout", "2m", "--hold-limit", "5")
	if err != nil {
		t.Fatal(err)
	}
	if c.gate.HoldTimeout != 2*time.Minute || c.gate.HoldLimit != 5 {
		t.Errorf("hold timeout %s, limit %d; want 2m, 5", c.gate.HoldTimeout, c.gate.HoldLimit)
	}
}

// An IPv4-mapped trusted proxy is the IPv4 prefix it maps, as the gate
// takes it: the proxy and the access log, which use the same list, must
// trust the same peers as the gate.
func TestServeTrustedProxyMapped(t *testing.T) {
	c, err := load(noDefaults, "--demo", "--trusted-proxy", "::ffff:10.0.0.0/104", "--trusted-proxy", "::ffff:192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.gate.TrustedProxies); got != "[10.0.0.0/8 192.0.2.1/32]" {
		t.Errorf("trusted proxies %s, want [10.0.0.0/8 192.0.2.1/32]", got)
	}
	_, err = load(noDefaults, "--demo", "--trusted-proxy", "::ffff:10.0.0.1/104")
	if err == nil || !strings.Contains(err.Error(), `--trusted-proxy "::ffff:10.0.0.1/104": host bits are set; did you mean ::ffff:10.0.0.0/104?`) {
		t.Errorf("an IPv4-mapped prefix with host bits: %v", err)
	}
}

// TestRetiredGenerationServesNothing: a request that picked a generation
// just before a reload retired it (and maybe closed its gate) goes to the
// generation that replaced it; one counted before keeps the old one open.
func TestRetiredGenerationServesNothing(t *testing.T) {
	mk := func(name string) *generation {
		return &generation{idle: make(chan struct{}), handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name)
		})}
	}
	old, cur := mk("old"), mk("new")
	s := &Server{}
	s.cur.Store(old)

	// Counted before the reload: served by the old one, which stays open
	// until the request is done.
	old.active.Add(1)
	s.cur.Store(cur)
	old.retired.Store(true)
	select {
	case <-old.idle:
		t.Fatal("the old generation closed with a request under way")
	default:
	}
	old.done()
	<-old.idle

	// Picked before the reload, counted after: served by the new one.
	w := httptest.NewRecorder()
	if old.serve(w, httptest.NewRequest("GET", "/", nil)) || w.Body.Len() != 0 {
		t.Fatalf("a retired generation served a request: %q", w.Body)
	}
	w = httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Body.String() != "new" {
		t.Errorf("served by %q, want the new generation", w.Body)
	}
	if n := old.active.Load(); n != 0 {
		t.Errorf("the old generation counts %d requests, want 0", n)
	}
}
func TestServeLimitFlags(t *testing.T) {
	c, err := load(noDefaults, "--demo")
	if err != nil {
		t.Fatal(err)
	}
	if c.bodyIdle != DefaultBodyIdleTimeout || c.shutdown != DefaultShutdownTimeout || c.maxConns != defaultMaxConnections(openFilesLimit()) || c.upstreamConns != c.maxConns {
		t.Errorf("defaults: body idle %s, shutdown %s, max connections %d, upstream %d", c.bodyIdle, c.shutdown, c.maxConns, c.upstreamConns)
	}
	conf := filepath.Join(t.TempDir(), "serve.conf")
	os.WriteFile(conf, []byte("demo\nmax-connections 100\nupstream-max-connections 10\nbody-idle-timeout 5s\nshutdown-timeout 2m\n"), 0o666)
	if c, err = load(noDefaults, "--config", conf); err != nil {
		t.Fatal(err)
	}
	if c.bodyIdle != 5*time.Second || c.shutdown != 2*time.Minute || c.maxConns != 100 || c.upstreamConns != 10 {
		t.Errorf("from the file: body idle %s, shutdown %s, max connections %d, upstream %d", c.bodyIdle, c.shutdown, c.maxConns, c.upstreamConns)
	}
	for _, args := range [][]string{
		{"--max-connections", "0"},
		{"--max-connections", "many"},
		{"--upstream-max-connections", "-1"},
		{"--body-idle-timeout", "-1s"},
		{"--shutdown-timeout", "soon"},
	} {
		_, err := load(noDefaults, append([]string{"--demo"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("--%s %q: accepted: ", strings.TrimPrefix(args[0], "--"), args[1])) {
			t.Errorf("%q: %v, want an error naming the value and what is accepted", args, err)
		}
		if !errors.Is(err, maintenance.ErrInvalid) {
			t.Errorf("%q: %v does not wrap maintenance.ErrInvalid (exit 2)", args, err)
		}
	}
	for _, n := range []uint64{256, 1024, 65536, 1 << 20} {
		m := defaultMaxConnections(n)
		if 2*m+connReserve(int(n))+fdHeadroom > int(n) || m < 1 {
			t.Errorf("limit %d: --max-connections %d does not leave room for the upstreams", n, m)
		}
	}
}
