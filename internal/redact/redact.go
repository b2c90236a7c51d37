// Package redact removes passwords from store URLs and DSNs, and from any
// text that may quote one (an error, a log line), in every form they take:
// the userinfo of a URL (redis://:PW@host, postgres://user:PW@host), query
// parameters (?password=PW, &sentinel_password=PW, percent-encoded names
// included), and PostgreSQL's keyword/value form (host=db password=PW,
// password='P W'). Every place that can show a store URL goes through it.
package redact

import (
	"net/url"
	"strings"
)

// Mask replaces each secret.
const Mask = "xxxxx"

// secretKey reports whether a parameter name (already unescaped) names a
// secret: any name with pass, pwd, secret or token in it.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"pass", "pwd", "secret", "token"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// String returns s with every password it holds replaced by Mask.
func String(s string) string {
	return params(userinfo(s))
}

// userinfo masks the password of every "scheme://user:PASSWORD@" in s: the
// userinfo runs from "://" to the last "@" before the next space, quote
// or end of the URL's authority-or-path text.
func userinfo(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+3])
		s = s[i+3:]
		end := strings.IndexAny(s, " \t\r\n\"'`<>")
		if end < 0 {
			end = len(s)
		}
		at := strings.LastIndex(s[:end], "@")
		if at < 0 {
			continue
		}
		user, _, hasPW := strings.Cut(s[:at], ":")
		if hasPW {
			b.WriteString(user + ":" + Mask + "@")
		} else {
			b.WriteString(s[:at+1])
		}
		s = s[at+1:]
	}
}

// params masks the value of every NAME=VALUE whose name names a secret.
func params(s string) string {
	var b strings.Builder
	for {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			b.WriteString(s)
			return b.String()
		}
		// The name: the run of name characters before "=" (spaces
		// around "=" allowed, as PostgreSQL allows them).
		k := eq
		for k > 0 && (s[k-1] == ' ' || s[k-1] == '\t') {
			k--
		}
		start := k
		for start > 0 && nameByte(s[start-1]) {
			start--
		}
		name := s[start:k]
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		b.WriteString(s[:eq+1])
		s = s[eq+1:]
		if !secretKey(name) {
			continue
		}
		// The value: quoted ('...' or "...", backslash escapes), else up
		// to a space, "&", ";", a quote or the end.
		v := 0
		for v < len(s) && (s[v] == ' ' || s[v] == '\t') {
			v++
		}
		b.WriteString(s[:v])
		s = s[v:]
		n := valueLen(s)
		b.WriteString(Mask)
		s = s[n:]
	}
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '%' || c == '+'
}

// valueLen returns the length of the value at the start of s.
func valueLen(s string) int {
	if s != "" && (s[0] == '\'' || s[0] == '"') {
		q := s[0]
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case q:
				return i + 1
			}
		}
		return len(s)
	}
	i := strings.IndexAny(s, " \t\r\n&;\"'`")
	if i < 0 {
		return len(s)
	}
	return i
}

// Error returns err with its message redacted (String), keeping what it
// wraps for errors.Is and errors.As; nil for nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if r := String(msg); r != msg {
		return &redacted{msg: r, err: err}
	}
	return err
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }
