package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
	"github.com/gomaint/maintenance/proxy"
	"github.com/gomaint/maintenance/staffcheck"
)

// Setting is one setting of serve: a flag on the command line and a line
// of the configuration file, with the same name. Settings is the one
// table of them: the usage text of the flags (FlagsUsage), the reading of
// the configuration file (ParseConfigFile), the checks of the values
// (Load) and what a reload can change (Server.Reload) all come from it.
type Setting struct {
	Name string
	// Arg is the value's placeholder in the usage, like ADDR or DUR;
	// empty for a boolean.
	Arg     string
	Default string // "" for none
	// Example is a value shown in messages about a bad or missing value.
	Example string
	Repeat  bool // may be given more than once; the values add up
	Bool    bool // "--name" alone, or "name" alone in the file, means true
	// Restart marks a setting that takes effect on a restart only: a
	// reload keeps the running value, and logs that it changed.
	Restart bool
	// Help is the flag's text in the usage, its lines wrapped as shown;
	// empty for a setting the usage does not list.
	Help string
	// parse checks one value (each value, for a repeatable setting; the
	// value given last, else the default, otherwise) and keeps it in c. It
	// returns the value in a canonical form, which tells whether a reload
	// changed it.
	parse func(c *Config, v Value) (string, error)
}

// Settings are serve's settings, in the order of the usage. "store" is
// the global flag, accepted in the file too; --config is not a setting.
var Settings = []Setting{
	{Name: "listen", Arg: "ADDR", Default: "127.0.0.1:8080", Example: "127.0.0.1:8080", Restart: true,
		Help:  "address to listen on (default 127.0.0.1:8080; use\n:8080 to listen on every interface)",
		parse: hostPort(func(c *Config) *string { return &c.listen }, true)},
	{Name: "upstream", Arg: "URL", Example: "http://127.0.0.1:8000",
		Help: "the default application, like http://127.0.0.1:8000",
		parse: func(c *Config, v Value) (string, error) {
			if v.Value == "" {
				return "", nil
			}
			u, err := proxy.ParseUpstream(v.Value)
			if err != nil {
				return "", v.bad("accepted: an http:// or https:// URL with a host and no query, like http://127.0.0.1:8000")
			}
			c.upstream, c.upstreamOrigin = u, v.Origin
			return u.String(), nil
		}},
	{Name: "demo", Bool: true, Default: "false", Restart: true,
		Help:  "serve a built-in sample app as the default",
		parse: boolean(func(c *Config) *bool { return &c.demo })},
	{Name: "site", Arg: "HOST[=URL]", Repeat: true, Example: "shop.example.com=http://127.0.0.1:8001",
		Help:  "declare a site (repeatable): exact host\n(shop.example.com), *.wildcard (any subdomain) or\n*; with =URL, its requests go to that application",
		parse: parseSite},
	{Name: "upstream-timeout", Arg: "DUR", Default: proxy.DefaultUpstreamTimeout.String(), Example: "60s",
		Help:  "how long an application may take to send its\nresponse headers before a 504 (default 60s); bodies\n(streams, downloads, uploads) have no time limit",
		parse: duration(func(c *Config) *time.Duration { return &c.timeout }, false)},
	{Name: "body-idle-timeout", Arg: "DUR", Default: DefaultBodyIdleTimeout.String(), Example: "60s",
		Help:  "a request body that sends nothing for this long is\ncut with a 408 (default 60s; 0s: never); a body\nthat keeps moving, however slowly, is not",
		parse: duration(func(c *Config) *time.Duration { return &c.bodyIdle }, true)},
	{Name: "max-connections", Arg: "N", Example: "4096", Restart: true,
		Help: "the most client connections open at once (default:\nfrom the descriptor limit, ulimit -n, leaving one\nper connection for its upstream); past it a small\nreserve answers /_maintenance/health only, then new\nconnections are closed",
		parse: func(c *Config, v Value) (string, error) {
			n, err := count(v)
			if n == 0 {
				n = defaultMaxConnections(openFilesLimit())
			}
			c.maxConns = n
			return strconv.Itoa(n), err
		}},
	{Name: "upstream-max-connections", Arg: "N", Example: "4096",
		Help: "the most connections to one application at once;\npast it requests wait their turn (default: the\nsame as --max-connections)",
		parse: func(c *Config, v Value) (string, error) {
			n, err := count(v)
			c.upstreamConns = n // 0: as --max-connections, once it is known
			return strconv.Itoa(n), err
		}},
	{Name: "shutdown-timeout", Arg: "DUR", Default: DefaultShutdownTimeout.String(), Example: "30s",
		Help:  "on SIGINT or SIGTERM, how long requests under way\nmay take to finish before they are cut (default\n30s)",
		parse: duration(func(c *Config) *time.Duration { return &c.shutdown }, true)},
	{Name: "tls-cert", Arg: "FILE",
		Help:  "serve HTTPS (and HTTP/2) with this certificate",
		parse: file(func(c *Config) *Value { return &c.tlsCert })},
	{Name: "tls-key", Arg: "FILE",
		Help:  "chain and key (PEM); both or neither",
		parse: file(func(c *Config) *Value { return &c.tlsKey })},
	{Name: "trusted-proxy", Arg: "CIDR", Repeat: true, Example: "10.0.0.0/8",
		Help: "a proxy in front of serve whose X-Forwarded-For and\nForwarded are believed and appended to (repeatable);\nwithout one, forwarding headers from clients are\nreplaced and the TCP peer is the client; a\nprefix wider than /8 (IPv4) or /32 (IPv6) needs\n--trust-all-proxies",
		parse: func(c *Config, v Value) (string, error) {
			p, err := ParseTrustedProxy(v.Value)
			if err != nil {
				return "", invalidf("%s %q: %v", v.Origin, v.Value, err)
			}
			c.gate.TrustedProxies = append(c.gate.TrustedProxies, p)
			c.trustedOrigins = append(c.trustedOrigins, v)
			return p.String(), nil
		}},
	{Name: "trust-all-proxies", Bool: true, Default: "false",
		Help:  "accept --trusted-proxy prefixes that wide, such\nas 0.0.0.0/0: every client in them may choose its\nown address (logged as a warning at start)",
		parse: boolean(func(c *Config) *bool { return &c.gate.TrustAllProxies })},
	{Name: "exempt", Arg: "PATTERN", Repeat: true, Example: "/healthz",
		Help: "a path never blocked, for every site (repeatable):\n/exact, /prefix/*, ^regex, with an optional method",
		parse: func(c *Config, v Value) (string, error) {
			if _, err := maintenance.ParsePattern(v.Value); err != nil {
				return "", invalidf("%s: %v", v.Origin, err)
			}
			c.gate.Exempt = append(c.gate.Exempt, v.Value)
			return v.Value, nil
		}},
	{Name: "templates", Arg: "DIR",
		Help: "page templates: DIR/503.html for every site,\nDIR/HOST/503.html for one (write *. as _.)",
		parse: func(c *Config, v Value) (string, error) {
			c.gate.Templates = v.Value
			return v.Value, nil
		}},
	{Name: "state-cache", Arg: "PATH",
		Help: "keep the last state read from the store in PATH, so\nthat serve starting while the store is unreachable\nserves it",
		parse: func(c *Config, v Value) (string, error) {
			if v.Value == "" {
				return "", nil
			}
			if fi, err := os.Stat(filepath.Dir(v.Value)); err != nil || !fi.IsDir() {
				return "", v.bad("the directory %s does not exist", filepath.Dir(v.Value))
			}
			c.gate.StateCache = v.Value
			return v.Value, nil
		}},
	{Name: "fail", Arg: "open|closed", Default: "open", Example: "closed",
		Help:  "what serve does when it starts while the store is\nunreachable and there is no state cache: open (the\ndefault) passes every request, closed answers every\nrequest with the maintenance page",
		parse: oneOf(func(c *Config, v string) { c.gate.FailClosed = v == "closed" }, "open", "closed")},
	{Name: "release", Arg: "ID",
		Help: "this instance's release, shown by 'maintenance\ngates' (default $MAINTENANCE_RELEASE)",
		parse: func(c *Config, v Value) (string, error) {
			if v.Value == "" {
				return "", nil
			}
			if _, err := maintenance.ParseRelease(v.Value); err != nil {
				return "", invalidf("%s: %v", v.Origin, err)
			}
			c.gate.Release = v.Value
			return v.Value, nil
		}},
	{Name: "hold-timeout", Arg: "DUR", Default: maintenance.DefaultHoldTimeout.String(), Example: "30s",
		Help:  "in mode hold, how long a request waits for the site\nto come back before it gets the maintenance answer\n(default 30s)",
		parse: duration(func(c *Config) *time.Duration { return &c.gate.HoldTimeout }, false)},
	{Name: "hold-limit", Arg: "N", Default: strconv.Itoa(maintenance.DefaultHoldLimit), Example: "10000",
		Help: "in mode hold, the most requests held at once; past\nit, the maintenance answer at once (default 10000)",
		parse: func(c *Config, v Value) (string, error) {
			if v.Value == "" {
				return "", nil // the gate's default
			}
			n, err := strconv.Atoi(v.Value)
			if err != nil || n < 1 {
				return "", v.bad("accepted: a positive number of requests, like 10000")
			}
			c.gate.HoldLimit = n
			return v.Value, nil
		}},
	{Name: "max-duration", Arg: "DUR", Default: "0s", Example: "60s",
		Help:  "call maintenance forgotten when a site has been on\nthis long with no end: an error in the log every\nminute, and a warning in 'maintenance status'\n(default: no limit)",
		parse: duration(func(c *Config) *time.Duration { return &c.gate.MaxDuration }, true)},
	{Name: "metrics-listen", Arg: "ADDR", Example: "127.0.0.1:9090", Restart: true,
		Help:  "serve Prometheus metrics on http://ADDR/metrics\n(off by default; a separate listener, so the\nmetrics are not exposed to visitors): the sites'\nstate, requests by site and outcome, and the\nupstreams' requests, errors and latency",
		parse: hostPort(func(c *Config) *string { return &c.metricsListen }, false)},
	{Name: "admin", Bool: true, Default: "false",
		Help:  "mount the admin page (/_maintenance/admin/) and the\nJSON API (/_maintenance/api/v1/) on this listener;\nsign in as a user of 'maintenance user add', call\nthe API with a token of 'maintenance token create'",
		parse: boolean(func(c *Config) *bool { return &c.admin })},
	{Name: "block-staff", Bool: true, Default: "false",
		Help:  "signed-in admins get the maintenance answer like\nevery visitor (by default their session lets them\nthrough the sites in maintenance)",
		parse: boolean(func(c *Config) *bool { return &c.gate.BlockStaff })},
	{Name: "staff-check", Arg: "PATH", Example: "/staff-check",
		Help: "let the application's own staff through: a request\nthat would get the maintenance answer and carries\ncookies or an Authorization header is let through\nwhen GET PATH on its site's application, with those\nheaders only, answers 2xx (fails closed on errors\nand after 2s)",
		parse: func(c *Config, v Value) (string, error) {
			if v.Value == "" {
				return "", nil
			}
			if _, err := staffcheck.ParsePath(v.Value); err != nil {
				return "", invalidf("%s: %v", v.Origin, strings.TrimSuffix(err.Error(), ": "+maintenance.ErrInvalid.Error()))
			}
			c.staffCheck = v.Value
			return v.Value, nil
		}},
	{Name: "staff-check-ttl", Arg: "DUR", Default: staffcheck.DefaultTTL.String(), Example: "30s",
		Help:  "how long an answer is kept per credential (default\n30s; 1s to 1h)",
		parse: durationIn(func(c *Config) *time.Duration { return &c.staffTTL }, time.Second, staffcheck.MaxTTL, "1s to 1h")},
	{Name: "webhooks", Bool: true, Default: "true", Restart: true,
		Help:  "do not deliver webhooks; by default every serve\ntakes part and the one holding the store's lease\ndelivers (see 'maintenance help webhook')",
		parse: boolean(func(c *Config) *bool { return &c.webhooks })},
	{Name: "webhook-lease", Arg: "DUR", Default: maintenance.DefaultLeaseTTL.String(), Example: "30s", Restart: true,
		Help:  "how long the delivery lease lasts unless renewed\n(3s to 10m, default 30s): another serve takes over\nwithin about that long after the holder dies",
		parse: durationIn(func(c *Config) *time.Duration { return &c.webhookLease }, 3*time.Second, 10*time.Minute, "3s to 10m")},
	{Name: "log-format", Arg: "text|json", Default: "text", Example: "json", Restart: true,
		Help:  "the format of every log line on stderr (default\ntext)",
		parse: oneOf(func(c *Config, v string) { c.jsonLog = v == "json" }, "text", "json")},
	{Name: "access-log", Bool: true, Default: "true",
		Help:  "no access log; by default every request is logged:\nmethod, host, path (no query), status, bytes,\nduration, client, site, outcome (the gate's\ndecision: passed, exempt, allowed-ip, bypass, held,\nblocked; gate for its own endpoints) and\nmaintenance=true when the visitor got the\nmaintenance answer",
		parse: boolean(func(c *Config) *bool { return &c.accessLog })},
	{Name: "store", Restart: true,
		parse: func(c *Config, v Value) (string, error) {
			// Not given (no origin): the command's store, checked where
			// it was chosen.
			if _, _, err := storeurl.Parse(v.Value); v.Origin != "" && err != nil {
				return "", invalidf("%s: %v", v.Origin, err)
			}
			c.store = v.Value
			return v.Value, nil
		}},
}

// FindSetting returns the setting called name.
func FindSetting(name string) (Setting, bool) {
	i := slices.IndexFunc(Settings, func(s Setting) bool { return s.Name == name })
	if i < 0 {
		return Setting{}, false
	}
	return Settings[i], true
}

// FlagsUsage returns the usage text of serve's flags, --config first, one
// setting after another: the flag, then its help in a column.
func FlagsUsage() string {
	const col = 25
	var b strings.Builder
	row := func(flag, help string) {
		b.WriteString("  " + flag)
		pad := col - 2 - len(flag)
		if pad < 1 {
			b.WriteString("\n")
			pad = col
		}
		for i, line := range strings.Split(help, "\n") {
			if i > 0 {
				pad = col
			}
			b.WriteString(strings.Repeat(" ", pad) + line + "\n")
		}
	}
	row("--config FILE", "read settings from FILE too (see below)")
	for _, s := range Settings {
		switch {
		case s.Help == "":
		case s.Bool && s.Default == "true":
			row("--"+s.Name+"=false", s.Help)
		case s.Bool:
			row("--"+s.Name, s.Help)
		default:
			row("--"+s.Name+" "+s.Arg, s.Help)
		}
	}
	return b.String()
}

// RestartUsage returns the sentence of the usage that names the settings
// that take effect on a restart only, wrapped as the usage is.
func RestartUsage() string {
	text := "These take effect on a restart only (a reload says so in the log):"
	for _, s := range Settings {
		if s.Restart {
			text += " " + s.Name + ","
		}
	}
	text += " and switching TLS on or off."
	var b strings.Builder
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > 75 {
			b.WriteString(line + "\n")
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	b.WriteString(line + "\n")
	return b.String()
}

func settingNames() string {
	var names []string
	for _, s := range Settings {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

func repeatableNames() string {
	var names []string
	for _, s := range Settings {
		if s.Repeat {
			names = append(names, s.Name)
		}
	}
	return strings.Join(names, ", ")
}

// The parsers of the table's rows.

// bad returns the error for a value that is not accepted: the value, where
// it came from, and what is accepted.
func (v Value) bad(accepted string, args ...any) error {
	return invalidf("%s %q: %s", v.Origin, v.Value, fmt.Sprintf(accepted, args...))
}

// example returns the example value of the setting named in v's origin.
func example(name string) string {
	if s, ok := FindSetting(name); ok && s.Example != "" {
		return s.Example
	}
	return "VALUE"
}

func boolean(field func(*Config) *bool) func(*Config, Value) (string, error) {
	return func(c *Config, v Value) (string, error) {
		b, err := strconv.ParseBool(v.Value)
		if err != nil {
			return "", v.bad("accepted: true or false")
		}
		*field(c) = b
		return strconv.FormatBool(b), nil
	}
}

func duration(field func(*Config) *time.Duration, zeroOK bool) func(*Config, Value) (string, error) {
	return func(c *Config, v Value) (string, error) {
		d, err := time.ParseDuration(v.Value)
		switch {
		case err != nil:
			return "", v.bad("accepted: a duration, like %s", v.example)
		case d < 0 || d == 0 && !zeroOK:
			return "", v.bad("accepted: a positive duration, like %s", v.example)
		}
		*field(c) = d
		return d.String(), nil
	}
}

// durationIn is a duration from lo to hi, which accepted says.
func durationIn(field func(*Config) *time.Duration, lo, hi time.Duration, accepted string) func(*Config, Value) (string, error) {
	parse := duration(field, false)
	return func(c *Config, v Value) (string, error) {
		canon, err := parse(c, v)
		if err != nil {
			return "", err
		}
		if d := *field(c); d < lo || d > hi {
			return "", v.bad("accepted: a duration from %s, like %s", accepted, v.example)
		}
		return canon, nil
	}
}

// hostPort is an address to listen on; empty when not required.
func hostPort(field func(*Config) *string, required bool) func(*Config, Value) (string, error) {
	return func(c *Config, v Value) (string, error) {
		if _, _, err := net.SplitHostPort(v.Value); v.Value != "" && err != nil || v.Value == "" && required {
			return "", v.bad("accepted: HOST:PORT or :PORT, like %s", v.example)
		}
		*field(c) = v.Value
		return v.Value, nil
	}
}

// oneOf is one of choices, which set keeps in c.
func oneOf(set func(c *Config, v string), choices ...string) func(*Config, Value) (string, error) {
	return func(c *Config, v Value) (string, error) {
		if !slices.Contains(choices, v.Value) {
			return "", v.bad("accepted: %s", strings.Join(choices, ", "))
		}
		set(c, v.Value)
		return v.Value, nil
	}
}

// file keeps a file name with where it came from; Load reads the files.
func file(field func(*Config) *Value) func(*Config, Value) (string, error) {
	return func(c *Config, v Value) (string, error) {
		*field(c) = v
		return v.Value, nil
	}
}

// count is a positive number of connections, or 0 when not given.
func count(v Value) (int, error) {
	if v.Value == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v.Value)
	if err != nil || n < 1 {
		return 0, v.bad("accepted: a positive number of connections, like %s", v.example)
	}
	return n, nil
}

// parseSite is one --site: HOST declares a site; HOST=URL routes it too.
func parseSite(c *Config, rv Value) (string, error) {
	host, u, hasURL := strings.Cut(rv.Value, "=")
	site, err := maintenance.ParseSite(host)
	if err != nil {
		return "", invalidf("%s: %v", rv.Origin, err)
	}
	if !slices.Contains(c.gate.Sites, site) {
		c.gate.Sites = append(c.gate.Sites, site)
	}
	if !hasURL {
		return rv.Value, nil
	}
	up, err := proxy.ParseUpstream(u)
	if err != nil {
		return "", rv.bad("the upstream %q is not accepted: an http:// or https:// URL with a host and no query, like %s=http://127.0.0.1:8001", u, host)
	}
	if c.routed == nil {
		c.routed = map[string]Value{}
	}
	if prev, dup := c.routed[site]; dup {
		return "", rv.bad("%s already has an upstream (%s %q); accepted: one upstream per site", site, prev.Origin, prev.Value)
	}
	c.routed[site] = rv
	if site == maintenance.DefaultSite {
		if c.upstream != nil {
			return "", rv.bad("the default upstream is already %s (%s); give one or the other", c.upstream, c.upstreamOrigin)
		}
		c.upstream, c.upstreamOrigin = up, rv.Origin
		return rv.Value, nil
	}
	c.routes = append(c.routes, proxy.Route{Site: site, Upstream: up})
	return rv.Value, nil
}

// finish checks what involves more than one setting, once each is parsed.
func (c *Config) finish() error {
	if c.upstreamConns == 0 {
		c.upstreamConns = c.maxConns
	}
	switch {
	case c.demo && c.upstream != nil:
		return invalidf("%s and %s: serve needs either --upstream URL or --demo, not both", c.origin["demo"], c.upstreamOrigin)
	case !c.demo && c.upstream == nil && len(c.routes) == 0:
		return invalidf("serve needs an application: either --upstream URL or --demo, or --site HOST=URL for each site; run 'maintenance help serve' for usage")
	}
	for i, p := range c.gate.TrustedProxies {
		if rv := c.trustedOrigins[i]; maintenance.WideTrustedPrefix(p) && !c.gate.TrustAllProxies {
			return invalidf("%s %q: wider than /%d (IPv4) or /%d (IPv6), it trusts ordinary clients, who could then choose their own address and pass allow entries; accepted: a narrower prefix, like %s, or add --trust-all-proxies to mean it",
				rv.Origin, rv.Value, maintenance.MinTrustedBits4, maintenance.MinTrustedBits6, example("trusted-proxy"))
		}
	}
	cert, key := c.tlsCert, c.tlsKey
	switch {
	case cert.Value != "" && key.Value != "":
		pair, err := tls.LoadX509KeyPair(cert.Value, key.Value)
		if err != nil {
			return invalidf("%s %q and %s %q: %v", cert.Origin, cert.Value, key.Origin, key.Value, err)
		}
		c.cert = &pair
	case cert.Value != "":
		return invalidf("%s %q: --tls-key FILE is needed too; give both or neither", cert.Origin, cert.Value)
	case key.Value != "":
		return invalidf("%s %q: --tls-cert FILE is needed too; give both or neither", key.Origin, key.Value)
	}
	return nil
}
