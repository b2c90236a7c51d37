package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
	"github.com/gomaint/maintenance/proxy"
	"github.com/gomaint/maintenance/staffcheck"
)

// serve's settings come from its flags and, with --config FILE, from a file
// of "name value" lines with the flags' names. A flag given on the command
// line wins over the file; a repeatable flag given on the command line
// replaces the file's list. The file is read again on SIGHUP.

// serveSetting describes one setting of serve: a flag, and a name in the
// configuration file.
type serveSetting struct {
	name    string
	repeat  bool // may be given more than once; the values add up
	boolean bool // "--name" alone, or "name" alone in the file, means true
	def     string
}

// serveSettings are serve's settings, in the order of the help. "store" is
// the global flag, accepted in the file too; "config" is not a setting.
var serveSettings = []serveSetting{
	{name: "listen", def: "127.0.0.1:8080"},
	{name: "upstream"},
	{name: "demo", boolean: true, def: "false"},
	{name: "site", repeat: true},
	{name: "upstream-timeout", def: proxy.DefaultUpstreamTimeout.String()},
	{name: "body-idle-timeout", def: defaultBodyIdleTimeout.String()},
	{name: "max-connections"},
	{name: "upstream-max-connections"},
	{name: "shutdown-timeout", def: defaultShutdownTimeout.String()},
	{name: "tls-cert"},
	{name: "tls-key"},
	{name: "trusted-proxy", repeat: true},
	{name: "trust-all-proxies", boolean: true, def: "false"},
	{name: "exempt", repeat: true},
	{name: "templates"},
	{name: "state-cache"},
	{name: "fail", def: "open"},
	{name: "release"},
	{name: "max-duration", def: "0s"},
	{name: "hold-timeout", def: maintenance.DefaultHoldTimeout.String()},
	{name: "hold-limit", def: strconv.Itoa(maintenance.DefaultHoldLimit)},
	{name: "metrics-listen"},
	{name: "log-format", def: "text"},
	{name: "access-log", boolean: true, def: "true"},
	{name: "admin", boolean: true, def: "false"},
	{name: "block-staff", boolean: true, def: "false"},
	{name: "staff-check"},
	{name: "staff-check-ttl", def: staffcheck.DefaultTTL.String()},
	{name: "webhooks", boolean: true, def: "true"},
	{name: "webhook-lease", def: maintenance.DefaultLeaseTTL.String()},
	{name: "store"},
}

func findSetting(name string) (serveSetting, bool) {
	i := slices.IndexFunc(serveSettings, func(s serveSetting) bool { return s.name == name })
	if i < 0 {
		return serveSetting{}, false
	}
	return serveSettings[i], true
}

// serveConfig is serve's checked configuration.
type serveConfig struct {
	file          string // --config
	listen        string
	metricsListen string
	store         string
	demo          bool
	upstream      *url.URL // the default upstream; nil with --demo or with routes only
	routes        []proxy.Route
	timeout       time.Duration
	bodyIdle      time.Duration // --body-idle-timeout; zero: none
	maxConns      int           // --max-connections: client connections at once
	upstreamConns int           // --upstream-max-connections: per upstream
	shutdown      time.Duration // --shutdown-timeout
	tlsCert       string
	tlsKey        string
	cert          *tls.Certificate
	gate          maintenance.Options // without Logger
	jsonLog       bool
	accessLog     bool
	admin         bool          // mount the admin page and API
	staffCheck    string        // --staff-check PATH; "" for none
	staffTTL      time.Duration // --staff-check-ttl
	webhooks      bool          // take part in delivering webhooks
	webhookLease  time.Duration
	// origin says where each setting's value came from, for messages.
	origin map[string]string
}

// rawValue is one value of a setting, with where it came from: "--listen"
// on the command line, "serve.conf:3: listen" in a file.
type rawValue struct{ value, origin string }

// collector is the flag.Value of a serve setting: it keeps the raw values,
// which are checked once the file is merged in.
type collector struct {
	s   serveSetting
	raw map[string][]rawValue
}

func (c *collector) String() string { return "" }
func (c *collector) Set(v string) error {
	if !c.s.repeat {
		c.raw[c.s.name] = nil // the last one wins, as with any flag
	}
	c.raw[c.s.name] = append(c.raw[c.s.name], rawValue{v, "--" + c.s.name})
	return nil
}
func (c *collector) IsBoolFlag() bool { return c.s.boolean }

// loadServeConfig parses serve's command line and its configuration file,
// and checks every value. Errors are usage errors (exit 2) that name the
// value, where it came from and what is accepted.
func loadServeConfig(e *env, args []string) (*serveConfig, error) {
	fs := e.newFlagSet("serve", serveUsage)
	raw := map[string][]rawValue{}
	for _, s := range serveSettings {
		if s.name != "store" {
			fs.Var(&collector{s, raw}, s.name, "")
		}
	}
	var file string
	fs.StringVar(&file, "config", "", "")
	pos, err := fs.parse(args)
	if err != nil {
		return nil, err
	}
	if err := noArgs("serve", pos); err != nil {
		return nil, err
	}
	fromFlag := e.storeFlag
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "store" {
			fromFlag = true
		}
	})
	if fromFlag {
		raw["store"] = []rawValue{{e.storeURL, "--store"}}
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, usageErrorf("--config %q: %v", file, errors.Unwrap(err))
		}
		fromFile, err := serveConfigSettings(file, data)
		if err != nil {
			return nil, err
		}
		for name, vals := range fromFile {
			if len(raw[name]) == 0 {
				raw[name] = vals
			}
		}
	}
	c, err := checkServeConfig(e, raw)
	if err != nil {
		return nil, err
	}
	c.file = file
	return c, nil
}

// serveConfigSettings turns the lines of a configuration file into the raw
// values of serve's settings.
func serveConfigSettings(file string, data []byte) (map[string][]rawValue, error) {
	lines, err := parseServeConfig(data)
	if err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			return nil, usageErrorf("%s:%d: %s", file, ce.line, ce.msg)
		}
		return nil, usageErrorf("%s: %v", file, err)
	}
	raw := map[string][]rawValue{}
	firstLine := map[string]int{}
	for _, l := range lines {
		s, ok := findSetting(l.name)
		switch {
		case l.name == "config":
			return nil, usageErrorf("%s:%d: config: a configuration file cannot name another one", file, l.line)
		case !ok:
			return nil, usageErrorf("%s:%d: unknown setting %q; accepted: %s", file, l.line, l.name, settingNames())
		case !s.repeat && firstLine[l.name] > 0:
			return nil, usageErrorf("%s:%d: %s is already set on line %d; only %s can be given more than once", file, l.line, l.name, firstLine[l.name], repeatableNames())
		}
		v := l.value
		if !l.hasValue {
			if !s.boolean {
				return nil, usageErrorf("%s:%d: %s needs a value, like: %s %s", file, l.line, l.name, l.name, settingExample(l.name))
			}
			v = "true"
		}
		firstLine[l.name] = l.line
		raw[l.name] = append(raw[l.name], rawValue{v, fmt.Sprintf("%s:%d: %s", file, l.line, l.name)})
	}
	return raw, nil
}

func settingNames() string {
	var names []string
	for _, s := range serveSettings {
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
}

func repeatableNames() string {
	var names []string
	for _, s := range serveSettings {
		if s.repeat {
			names = append(names, s.name)
		}
	}
	return strings.Join(names, ", ")
}

// settingExample is an example value of a setting, for messages.
func settingExample(name string) string {
	switch name {
	case "listen":
		return "127.0.0.1:8080"
	case "metrics-listen":
		return "127.0.0.1:9090"
	case "upstream":
		return "http://127.0.0.1:8000"
	case "site":
		return "shop.example.com=http://127.0.0.1:8001"
	case "trusted-proxy":
		return "10.0.0.0/8"
	case "exempt":
		return "/healthz"
	case "upstream-timeout", "max-duration", "body-idle-timeout":
		return "60s"
	case "shutdown-timeout", "webhook-lease":
		return "30s"
	case "max-connections", "upstream-max-connections":
		return "4096"
	case "hold-timeout", "staff-check-ttl":
		return "30s"
	case "staff-check":
		return "/staff-check"
	case "hold-limit":
		return "10000"
	case "fail":
		return "closed"
	case "log-format":
		return "json"
	}
	return "VALUE"
}

// configLine is one setting line of a configuration file.
type configLine struct {
	line     int
	name     string
	value    string
	hasValue bool
}

// configError is a syntax error on one line of a configuration file.
type configError struct {
	line int
	msg  string
}

func (e *configError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// parseServeConfig parses the lines of a configuration file: "name value"
// (the value is the rest of the line, spaces inside kept, around it
// trimmed), "name" alone for a boolean, blank lines, and comments: lines
// whose first non-blank character is '#'. Names are flag names without
// dashes. It checks the syntax only; the names and values are checked by
// the caller.
func parseServeConfig(data []byte) ([]configLine, error) {
	s := strings.TrimPrefix(string(data), "\ufeff")
	var out []configLine
	for i, line := range strings.Split(s, "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		if !utf8.ValidString(line) {
			return nil, &configError{n, "not valid UTF-8"}
		}
		for _, r := range line {
			if r != '\t' && (r < ' ' || r == 0x7f) {
				return nil, &configError{n, fmt.Sprintf("control character %q; a line is: name value", r)}
			}
		}
		line = strings.Trim(line, " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, hasValue := strings.Cut(line, " ")
		if j := strings.IndexByte(name, '\t'); j >= 0 {
			name, value, hasValue = line[:j], line[j+1:], true
		}
		value = strings.Trim(value, " \t")
		hasValue = hasValue && value != ""
		if err := checkSettingName(name); err != "" {
			return nil, &configError{n, err}
		}
		out = append(out, configLine{line: n, name: name, value: value, hasValue: hasValue})
	}
	return out, nil
}

// checkSettingName returns what is wrong with a setting name, or "".
func checkSettingName(name string) string {
	if k, v, ok := strings.Cut(name, "="); ok {
		return fmt.Sprintf("%q: write the name and the value separated by a space: %s %s", name, strings.TrimLeft(k, "-"), v)
	}
	if strings.HasPrefix(name, "-") {
		return fmt.Sprintf("%q: write names without dashes: %s", name, strings.TrimLeft(name, "-"))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c == '-' && i > 0 || c >= '0' && c <= '9' && i > 0) {
			return fmt.Sprintf("setting name %q: accepted: a flag name without dashes, like listen or trusted-proxy", name)
		}
	}
	return ""
}

// checkServeConfig checks the raw values of serve's settings and returns
// the configuration.
func checkServeConfig(e *env, raw map[string][]rawValue) (*serveConfig, error) {
	c := &serveConfig{origin: map[string]string{}}
	// one returns the value of a setting that is not repeatable: the last
	// one given, else the default.
	one := func(name string) (string, string) {
		if vs := raw[name]; len(vs) > 0 {
			v := vs[len(vs)-1]
			c.origin[name] = v.origin
			return v.value, v.origin
		}
		s, _ := findSetting(name)
		c.origin[name] = "--" + name
		return s.def, "--" + name
	}
	bad := func(origin, value, accepted string, args ...any) error {
		return usageErrorf("%s %q: %s", origin, value, fmt.Sprintf(accepted, args...))
	}
	boolean := func(name string) (bool, error) {
		v, origin := one(name)
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, bad(origin, v, "accepted: true or false")
		}
		return b, nil
	}
	duration := func(name string, zeroOK bool) (time.Duration, error) {
		v, origin := one(name)
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			return 0, bad(origin, v, "accepted: a duration, like %s", settingExample(name))
		case d < 0 || d == 0 && !zeroOK:
			return 0, bad(origin, v, "accepted: a positive duration, like %s", settingExample(name))
		}
		return d, nil
	}
	hostPort := func(name string) (string, error) {
		v, origin := one(name)
		if _, _, err := net.SplitHostPort(v); v != "" && err != nil {
			return "", bad(origin, v, "accepted: HOST:PORT or :PORT, like %s", settingExample(name))
		}
		return v, nil
	}
	var err error
	if c.listen, err = hostPort("listen"); err != nil {
		return nil, err
	}
	if c.listen == "" {
		return nil, bad(c.origin["listen"], "", "accepted: HOST:PORT or :PORT, like 127.0.0.1:8080")
	}
	if c.metricsListen, err = hostPort("metrics-listen"); err != nil {
		return nil, err
	}
	c.store = e.storeURL
	if vs := raw["store"]; len(vs) > 0 {
		c.store = vs[len(vs)-1].value
		if _, _, err := storeurl.Parse(c.store); err != nil {
			return nil, usageErrorf("%s: %v", vs[len(vs)-1].origin, err)
		}
	}
	if c.demo, err = boolean("demo"); err != nil {
		return nil, err
	}
	if c.accessLog, err = boolean("access-log"); err != nil {
		return nil, err
	}
	if c.webhooks, err = boolean("webhooks"); err != nil {
		return nil, err
	}
	if c.webhookLease, err = duration("webhook-lease", false); err != nil {
		return nil, err
	}
	if c.webhookLease < 3*time.Second || c.webhookLease > 10*time.Minute {
		v, origin := one("webhook-lease")
		return nil, bad(origin, v, "accepted: a duration from 3s to 10m, like 30s")
	}
	if c.admin, err = boolean("admin"); err != nil {
		return nil, err
	}
	if c.gate.BlockStaff, err = boolean("block-staff"); err != nil {
		return nil, err
	}
	switch v, origin := one("log-format"); v {
	case "text":
	case "json":
		c.jsonLog = true
	default:
		return nil, bad(origin, v, "accepted: text, json")
	}
	if c.timeout, err = duration("upstream-timeout", false); err != nil {
		return nil, err
	}
	if c.gate.MaxDuration, err = duration("max-duration", true); err != nil {
		return nil, err
	}
	if c.bodyIdle, err = duration("body-idle-timeout", true); err != nil {
		return nil, err
	}
	if c.shutdown, err = duration("shutdown-timeout", true); err != nil {
		return nil, err
	}
	count := func(name string) (int, error) {
		v, origin := one(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, bad(origin, v, "accepted: a positive number of connections, like %s", settingExample(name))
		}
		return n, nil
	}
	if c.maxConns, err = count("max-connections"); err != nil {
		return nil, err
	}
	if c.maxConns == 0 {
		c.maxConns = defaultMaxConnections(openFilesLimit())
	}
	if c.upstreamConns, err = count("upstream-max-connections"); err != nil {
		return nil, err
	}
	if c.upstreamConns == 0 {
		c.upstreamConns = c.maxConns
	}
	if c.gate.HoldTimeout, err = duration("hold-timeout", false); err != nil {
		return nil, err
	}
	if v, origin := one("staff-check"); v != "" {
		if _, err := staffcheck.ParsePath(v); err != nil {
			return nil, usageErrorf("%s: %v", origin, strings.TrimSuffix(err.Error(), ": "+maintenance.ErrInvalid.Error()))
		}
		c.staffCheck = v
	}
	if c.staffTTL, err = duration("staff-check-ttl", false); err != nil {
		return nil, err
	}
	if c.staffTTL < time.Second || c.staffTTL > staffcheck.MaxTTL {
		v, origin := one("staff-check-ttl")
		return nil, bad(origin, v, "accepted: a duration from 1s to 1h, like 30s")
	}
	if v, origin := one("hold-limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, bad(origin, v, "accepted: a positive number of requests, like 10000")
		}
		c.gate.HoldLimit = n
	}
	if v, origin := one("upstream"); v != "" {
		if c.upstream, err = proxy.ParseUpstream(v); err != nil {
			return nil, bad(origin, v, "accepted: an http:// or https:// URL with a host and no query, like http://127.0.0.1:8000")
		}
	}
	upstreamOrigin := c.origin["upstream"]

	// --site HOST declares a site; --site HOST=URL routes it too.
	routed := map[string]rawValue{}
	for _, rv := range raw["site"] {
		host, u, hasURL := strings.Cut(rv.value, "=")
		site, err := maintenance.ParseSite(host)
		if err != nil {
			return nil, usageErrorf("%s: %v", rv.origin, err)
		}
		if !slices.Contains(c.gate.Sites, site) {
			c.gate.Sites = append(c.gate.Sites, site)
		}
		if !hasURL {
			continue
		}
		up, err := proxy.ParseUpstream(u)
		if err != nil {
			return nil, bad(rv.origin, rv.value, "the upstream %q is not accepted: an http:// or https:// URL with a host and no query, like %s=http://127.0.0.1:8001", u, host)
		}
		if prev, dup := routed[site]; dup {
			return nil, bad(rv.origin, rv.value, "%s already has an upstream (%s %q); accepted: one upstream per site", site, prev.origin, prev.value)
		}
		routed[site] = rv
		if site == maintenance.DefaultSite {
			if c.upstream != nil {
				return nil, bad(rv.origin, rv.value, "the default upstream is already %s (%s); give one or the other", c.upstream, upstreamOrigin)
			}
			c.upstream, upstreamOrigin = up, rv.origin
			continue
		}
		c.routes = append(c.routes, proxy.Route{Site: site, Upstream: up})
	}
	switch {
	case c.demo && c.upstream != nil:
		return nil, usageErrorf("%s and %s: serve needs either --upstream URL or --demo, not both", c.origin["demo"], upstreamOrigin)
	case !c.demo && c.upstream == nil && len(c.routes) == 0:
		return nil, usageErrorf("serve needs an application: either --upstream URL or --demo, or --site HOST=URL for each site; run 'maintenance help serve' for usage")
	}

	if c.gate.TrustAllProxies, err = boolean("trust-all-proxies"); err != nil {
		return nil, err
	}
	for _, rv := range raw["trusted-proxy"] {
		p, err := parseTrustedProxy(rv.value)
		if err != nil {
			return nil, usageErrorf("%s %q: %v", rv.origin, rv.value, err)
		}
		if maintenance.WideTrustedPrefix(p) && !c.gate.TrustAllProxies {
			return nil, usageErrorf("%s %q: wider than /%d (IPv4) or /%d (IPv6), it trusts ordinary clients, who could then choose their own address and pass allow entries; accepted: a narrower prefix, like %s, or add --trust-all-proxies to mean it",
				rv.origin, rv.value, maintenance.MinTrustedBits4, maintenance.MinTrustedBits6, settingExample("trusted-proxy"))
		}
		c.gate.TrustedProxies = append(c.gate.TrustedProxies, p)
	}
	for _, rv := range raw["exempt"] {
		if _, err := maintenance.ParsePattern(rv.value); err != nil {
			return nil, usageErrorf("%s: %v", rv.origin, err)
		}
		c.gate.Exempt = append(c.gate.Exempt, rv.value)
	}
	c.gate.Templates, _ = one("templates")
	if v, origin := one("state-cache"); v != "" {
		if fi, err := os.Stat(filepath.Dir(v)); err != nil || !fi.IsDir() {
			return nil, bad(origin, v, "the directory %s does not exist", filepath.Dir(v))
		}
		c.gate.StateCache = v
	}
	switch v, origin := one("fail"); v {
	case "open":
	case "closed":
		c.gate.FailClosed = true
	default:
		return nil, bad(origin, v, "accepted: open, closed")
	}
	if v, origin := one("release"); v != "" {
		if _, err := maintenance.ParseRelease(v); err != nil {
			return nil, usageErrorf("%s: %v", origin, err)
		}
		c.gate.Release = v
	} else {
		c.gate.Release = e.getenv("MAINTENANCE_RELEASE")
	}

	cert, certOrigin := one("tls-cert")
	key, keyOrigin := one("tls-key")
	switch {
	case cert != "" && key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, usageErrorf("%s %q and %s %q: %v", certOrigin, cert, keyOrigin, key, err)
		}
		c.tlsCert, c.tlsKey, c.cert = cert, key, &pair
	case cert != "":
		return nil, usageErrorf("%s %q: --tls-key FILE is needed too; give both or neither", certOrigin, cert)
	case key != "":
		return nil, usageErrorf("%s %q: --tls-cert FILE is needed too; give both or neither", keyOrigin, key)
	}
	return c, nil
}

// parseTrustedProxy parses a --trusted-proxy value: a CIDR prefix or a single
// address, without host bits set.
func parseTrustedProxy(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return netip.Prefix{}, errors.New("accepted: an IP address or CIDR prefix, like 10.0.0.0/8 or 192.0.2.1")
		}
		p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("host bits are set; did you mean %s?", m)
	}
	// As the gate takes it: the proxy and the access log use this list too.
	if p, err = maintenance.TrustedPrefix(p); err != nil {
		return netip.Prefix{}, err
	}
	return p, nil
}

// restartChanges returns the settings that differ between a running
// configuration and a reloaded one but take effect only on a restart.
func restartChanges(old, cur *serveConfig) []string {
	var names []string
	add := func(changed bool, name string) {
		if changed {
			names = append(names, name)
		}
	}
	add(old.listen != cur.listen, "listen")
	add(old.metricsListen != cur.metricsListen, "metrics-listen")
	add(old.store != cur.store, "store")
	add(old.webhooks != cur.webhooks, "webhooks")
	add(old.webhookLease != cur.webhookLease, "webhook-lease")
	add(old.demo != cur.demo, "demo")
	add(old.jsonLog != cur.jsonLog, "log-format")
	add(old.maxConns != cur.maxConns, "max-connections")
	add((old.cert == nil) != (cur.cert == nil), "tls-cert and tls-key (switching TLS on or off)")
	return names
}
