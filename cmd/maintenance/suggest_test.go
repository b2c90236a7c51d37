package main

import (
	"io"
	"testing"
)

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

// TestProbeEveryCommand shows that completion learns the flags of every
// command and subcommand without running it: probing one that does not
// stop at its flag set would act on the store.
func TestProbeEveryCommand(t *testing.T) {
	e := &env{stdout: io.Discard, stderr: io.Discard, rawStdout: io.Discard, rawStderr: io.Discard,
		getenv: func(string) string { return "" }, storeURL: "sqlite:" + t.TempDir() + "/none.db"}
	for _, name := range commandOrder {
		fs, subs := e.probe(t.Context(), name, "")
		if fs == nil && subs == nil {
			t.Errorf("%s: probing found neither flags nor subcommands", name)
		}
		for _, sub := range subs {
			if fs, _ := e.probe(t.Context(), name, sub); fs == nil || fs.Lookup("store") == nil {
				t.Errorf("%s %s: probing found no flag set", name, sub)
			}
		}
	}
}
