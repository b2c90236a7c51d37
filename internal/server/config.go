package server

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/proxy"
)

// serve's settings come from its flags and, with --config FILE, from a file
// of "name value" lines with the flags' names. A flag given on the command
// line wins over the file; a repeatable flag given on the command line
// replaces the file's list. The file is read again on reload.

// Value is one value of a setting, with where it came from: "--listen" on
// the command line, "serve.conf:3: listen" in a file.
type Value struct {
	Value, Origin string
	// the setting's, for messages (set by Load)
	name, example string
}

// Values are the values given for serve's settings, by name.
type Values map[string][]Value

// Flag returns the flag.Value of setting s: each use adds a value to v (or
// replaces it, for a setting that is not repeatable). The values are
// checked by Load.
func (v Values) Flag(s Setting) flag.Value { return &collector{s, v} }

type collector struct {
	s   Setting
	raw Values
}

func (c *collector) String() string { return "" }
func (c *collector) Set(v string) error {
	if !c.s.Repeat {
		c.raw[c.s.Name] = nil // the last one wins, as with any flag
	}
	c.raw[c.s.Name] = append(c.raw[c.s.Name], Value{Value: v, Origin: "--" + c.s.Name})
	return nil
}
func (c *collector) IsBoolFlag() bool { return c.s.Bool }

// Defaults are what the settings default to outside serve's own table.
type Defaults struct {
	Store   string // the store when no "store" setting is given
	Release string // the release when none is given ($MAINTENANCE_RELEASE)
}

// Error is a bad setting: its message names the value, where it came from
// and what is accepted. It wraps maintenance.ErrInvalid.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return maintenance.ErrInvalid }

func invalidf(format string, args ...any) error {
	return &Error{fmt.Sprintf(format, args...)}
}

// Config is serve's checked configuration, made by Load.
type Config struct {
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
	tlsCert       Value
	tlsKey        Value
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
	// canon is each setting's value in canonical form, for reloads.
	canon map[string]string

	upstreamOrigin string
	routed         map[string]Value // the --site with an upstream, by site
	trustedOrigins []Value          // of gate.TrustedProxies
}

// Store returns the URL of the store the server opens.
func (c *Config) Store() string { return c.store }

// JSONLog reports whether the log is in JSON (--log-format json).
func (c *Config) JSONLog() bool { return c.jsonLog }

// Load checks the values of serve's settings given on the command line
// (flags) and in the configuration file (file, when not empty: the file's
// values of a setting count when the command line has none) and returns
// the configuration. Errors (*Error) name the value, where it came from
// and what is accepted.
func Load(flags Values, file string, def Defaults) (*Config, error) {
	raw := Values{}
	for name, vals := range flags {
		raw[name] = vals
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, invalidf("--config %q: %v", file, errors.Unwrap(err))
		}
		fromFile, err := ParseConfigFile(file, data)
		if err != nil {
			return nil, err
		}
		for name, vals := range fromFile {
			if len(raw[name]) == 0 {
				raw[name] = vals
			}
		}
	}
	c := &Config{origin: map[string]string{}, canon: map[string]string{}}
	c.gate.Release = def.Release
	for _, s := range Settings {
		vals := raw[s.Name]
		if !s.Repeat {
			// The value given last, else the default.
			v := Value{Value: s.Default, Origin: "--" + s.Name}
			if len(vals) > 0 {
				v = vals[len(vals)-1]
			} else if s.Name == "store" {
				v = Value{Value: def.Store}
			}
			vals = []Value{v}
		}
		var canon []string
		for _, v := range vals {
			v.name, v.example = s.Name, s.Example
			c.origin[s.Name] = v.Origin
			cv, err := s.parse(c, v)
			if err != nil {
				return nil, err
			}
			canon = append(canon, cv)
		}
		c.canon[s.Name] = strings.Join(canon, "\n")
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	return c, nil
}

// ParseConfigFile turns the lines of a configuration file into the values
// of serve's settings. Errors (*Error) name the file and the line.
func ParseConfigFile(file string, data []byte) (Values, error) {
	lines, err := parseConfigLines(data)
	if err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			return nil, invalidf("%s:%d: %s", file, ce.line, ce.msg)
		}
		return nil, invalidf("%s: %v", file, err)
	}
	raw := Values{}
	firstLine := map[string]int{}
	for _, l := range lines {
		s, ok := FindSetting(l.name)
		switch {
		case l.name == "config":
			return nil, invalidf("%s:%d: config: a configuration file cannot name another one", file, l.line)
		case !ok:
			return nil, invalidf("%s:%d: unknown setting %q; accepted: %s", file, l.line, l.name, settingNames())
		case !s.Repeat && firstLine[l.name] > 0:
			return nil, invalidf("%s:%d: %s is already set on line %d; only %s can be given more than once", file, l.line, l.name, firstLine[l.name], repeatableNames())
		}
		v := l.value
		if !l.hasValue {
			if !s.Bool {
				return nil, invalidf("%s:%d: %s needs a value, like: %s %s", file, l.line, l.name, l.name, example(l.name))
			}
			v = "true"
		}
		firstLine[l.name] = l.line
		raw[l.name] = append(raw[l.name], Value{Value: v, Origin: fmt.Sprintf("%s:%d: %s", file, l.line, l.name)})
	}
	return raw, nil
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

// parseConfigLines parses the lines of a configuration file: "name value"
// (the value is the rest of the line, spaces inside kept, around it
// trimmed), "name" alone for a boolean, blank lines, and comments: lines
// whose first non-blank character is '#'. Names are flag names without
// dashes. It checks the syntax only; the names and values are checked by
// the caller.
func parseConfigLines(data []byte) ([]configLine, error) {
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

// ParseTrustedProxy parses a --trusted-proxy value: a CIDR prefix or a
// single address, without host bits set.
func ParseTrustedProxy(s string) (netip.Prefix, error) {
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
// configuration and a reloaded one but take effect only on a restart, and
// puts their running values back into cur.
func restartChanges(old, cur *Config) []string {
	var names []string
	for _, s := range Settings {
		if !s.Restart || old.canon[s.Name] == cur.canon[s.Name] {
			continue
		}
		names = append(names, s.Name)
		// The running value, checked when it was loaded.
		s.parse(cur, Value{Value: old.canon[s.Name], Origin: old.origin[s.Name], name: s.Name, example: s.Example})
		cur.canon[s.Name] = old.canon[s.Name]
	}
	if (old.cert == nil) != (cur.cert == nil) {
		names = append(names, "tls-cert and tls-key (switching TLS on or off)")
		cur.tlsCert, cur.tlsKey, cur.cert = old.tlsCert, old.tlsKey, old.cert
	}
	return names
}
