// Package safetext decides which characters may be stored in a text field
// and shown on an operator's terminal, and escapes the others on output.
//
// A character is unsafe when a terminal or a text viewer may act on it
// instead of showing it, or may show it as something else: the C0 controls
// (U+0000-U+001F, newline and tab included), DEL (U+007F), the C1 controls
// (U+0080-U+009F, which a terminal may read as ESC sequences), the line
// and paragraph separators (U+2028, U+2029), and every format character
// (Unicode category Cf: bidirectional overrides and isolates, zero-width
// spaces, the byte order mark, the invisible tag characters) except the
// zero-width joiner and non-joiner (U+200C, U+200D), which emoji and several
// scripts need. Bytes that are not UTF-8 are unsafe too.
package safetext

import (
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// Unsafe reports whether r is unsafe (see the package documentation).
func Unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r < 0xa0:
		return false
	case r == 0x200c, r == 0x200d:
		return false
	case r == 0x2028, r == 0x2029:
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// Check returns a description of the first unsafe character of s ("U+001B
// at byte 0"), or "" when s is safe; newline and tab are accepted when
// multiline is set. Bytes that are not UTF-8 are reported too.
func Check(s string, multiline bool) string {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return fmt.Sprintf("byte 0x%02X at byte %d is not UTF-8", s[i], i)
			}
		}
		if multiline && (r == '\n' || r == '\t') {
			continue
		}
		if Unsafe(r) {
			return fmt.Sprintf("control or format character U+%04X at byte %d", r, i)
		}
	}
	return ""
}

// Escape returns s with every unsafe character written as a JSON escape
// (\u001b; a character outside the BMP as its UTF-16 pair), every byte that
// is not UTF-8 as \xFF, and newline and tab kept when keepLines is set.
func Escape(s string, keepLines bool) string {
	if clean(s, keepLines) {
		return s
	}
	return string(appendEscaped(nil, []byte(s), keepLines))
}

// clean reports whether s needs no escaping.
func clean[T string | []byte](s T, keepLines bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return cleanRunes([]byte(s[i:]), keepLines)
		}
		if (c < 0x20 || c == 0x7f) && !(keepLines && (c == '\n' || c == '\t')) {
			return false
		}
	}
	return true
}

func cleanRunes(s []byte, keepLines bool) bool {
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		if r == utf8.RuneError && n == 1 || Unsafe(r) && !(keepLines && (r == '\n' || r == '\t')) {
			return false
		}
		s = s[n:]
	}
	return true
}

const hex = "0123456789abcdef"

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}

func appendEscaped(out, p []byte, keepLines bool) []byte {
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		switch {
		case r == utf8.RuneError && n == 1:
			out = append(out, '\\', 'x', hex[p[0]>>4], hex[p[0]&0xf])
		case keepLines && (r == '\n' || r == '\t'):
			out = append(out, byte(r))
		case Unsafe(r):
			if r > 0xffff {
				r1, r2 := utf16Pair(r)
				out = appendU(appendU(out, r1), r2)
			} else {
				out = appendU(out, r)
			}
		default:
			out = append(out, p[:n]...)
		}
		p = p[n:]
	}
	return out
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

// Writer escapes what is written to it (see Escape; newlines and tabs are
// kept) before passing it on, so that no unsafe character read from a store
// reaches a terminal raw. JSON written through it stays valid JSON: the
// escapes it writes are JSON's, and encoding/json writes neither C0
// controls nor invalid UTF-8. Each Write is escaped on its own: a UTF-8
// sequence split across two writes is escaped as bytes, so write whole
// strings (fmt, text/tabwriter and encoding/json do). It is safe for
// concurrent use when the underlying writer is.
type Writer struct{ w io.Writer }

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write escapes p and writes it; it returns len(p) when the escaped form was
// written whole.
func (w *Writer) Write(p []byte) (int, error) {
	if clean(p, true) {
		return w.w.Write(p)
	}
	if _, err := w.w.Write(appendEscaped(make([]byte, 0, len(p)+16), p, true)); err != nil {
		return 0, err
	}
	return len(p), nil
}
