package safetext

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		s         string
		multiline bool
		bad       bool
	}{
		{"Back at 14:00 — désolé, 稍后回来 👩‍💻", false, false},
		{"line\nline\tx", true, false},
		{"line\nline", false, true},
		{"a\rb", true, true},
		{"\x1b[2K", true, true},
		{"\x00", true, true},
		{"\x7f", true, true},
		{"\u009b31m", true, true},
		{"abc\u202eexe", true, true},
		{"\u2066x\u2069", true, true},
		{"zero\u200bwidth", true, true},
		{"\ufeffbom", true, true},
		{"tag\U000E0041", true, true},
		{"line\u2028sep", true, true},
		{"\xff", true, true},
		{"\xc3(", true, true},
	} {
		if got := Check(tc.s, tc.multiline) != ""; got != tc.bad {
			t.Errorf("Check(%q, %v) bad = %v, want %v", tc.s, tc.multiline, got, tc.bad)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"\x1b]0;owned\x07": `\u001b]0;owned\u0007`,
		"a\u202eb":         `a\u202eb`,
		"\u009b":           `\u009b`,
		"t\U000E0041":      `t\udb40\udc41`,
		"\xff":             `\xff`,
		"ok\n":             "ok\n",
		"plain":            "plain",
	} {
		if got := Escape(in, true); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzWriter checks that nothing unsafe gets through the Writer, and that
// JSON written through it stays valid JSON with the same value.
func FuzzWriter(f *testing.F) {
	for _, s := range []string{"\x1b[2K\x1b[1G(nothing)", "a\u202eb\u009b", "\xff\xfe", "ok\nok\t", "tag\U000E0041"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		w := NewWriter(&b)
		if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write = %d, %v", n, err)
		}
		out := b.String()
		if !utf8.ValidString(out) {
			t.Fatalf("output %q is not UTF-8", out)
		}
		for _, r := range out {
			if Unsafe(r) && r != '\n' && r != '\t' {
				t.Fatalf("output %q holds U+%04X", out, r)
			}
		}
		// JSON written through it stays valid, with the same value.
		js, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		b.Reset()
		w.Write(js)
		var back string
		if err := json.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatalf("JSON %s through the writer is %s: %v", js, b.Bytes(), err)
		}
		var want string
		json.Unmarshal(js, &want)
		if back != want {
			t.Fatalf("JSON value changed: %q, want %q", back, want)
		}
	})
}
