package main

import "testing"

func TestSuggest(t *testing.T) {
	cmds := commandNames()
	for _, c := range []struct{ word, want string }{
		{"of", "off"}, {"stauts", "status"}, {"statu", "status"}, {"sties", "sites"},
		{"on", ""}, {"xyzzy", ""}, {"", ""}, {"o", ""}, {"sc", "schedule"},
	} {
		if got := suggest(c.word, cmds); got != c.want {
			t.Errorf("suggest(%q) = %q, want %q", c.word, got, c.want)
		}
	}
}

func FuzzSuggest(f *testing.F) {
	f.Add("stauts")
	f.Fuzz(func(t *testing.T, w string) {
		if s := suggest(w, commandNames()); s != "" && editDistance(w, s) > 2 && len(w) > len(s) {
			t.Fatalf("suggest(%q) = %q, too far", w, s)
		}
	})
}
