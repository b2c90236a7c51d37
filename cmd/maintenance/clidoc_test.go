package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// updateCLIDoc rewrites docs/cli.md from the help texts:
//
//	go test ./cmd/maintenance -run TestCLIReference -update
var updateCLIDoc = flag.Bool("update", false, "rewrite docs/cli.md from the help texts")

// cliDocPath is docs/cli.md, seen from this package's directory.
var cliDocPath = filepath.Join("..", "..", "docs", "cli.md")

// cliReference returns the text of docs/cli.md: the output of
// "maintenance help", then that of "maintenance help COMMAND" for every
// command, in the order of the help.
func cliReference(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`# Command-line reference

<!-- Generated from the help texts of the maintenance command by
     go test ./cmd/maintenance -run TestCLIReference -update
     Do not edit: change the help texts and regenerate. -->

This is the output of ` + "`maintenance help`" + ` and of ` + "`maintenance help COMMAND`" + ` for every
command. [The CLI at a glance](cli-guide.md) shows them at work: the store, waiting for the fleet,
exit codes and ` + "`--json`" + `.

Commands: `)
	for i, name := range commandOrder {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "[%s](#maintenance-%s)", name, name)
	}
	b.WriteString(".\n\n## maintenance help\n\n")
	help := func(args ...string) {
		out, stderr, err := runIn(t, nil, args...)
		if err != nil || stderr != "" {
			t.Fatalf("maintenance %s: %v, stderr %q", strings.Join(args, " "), err, stderr)
		}
		b.WriteString("```text\n" + strings.TrimRight(out, "\n") + "\n```\n")
	}
	help("help")
	for _, name := range commandOrder {
		fmt.Fprintf(&b, "\n## maintenance %s\n\n", name)
		help("help", name)
	}
	return b.String()
}

// TestCLIReference fails when docs/cli.md is not what the help texts give,
// so the reference never drifts from the program.
func TestCLIReference(t *testing.T) {
	want := cliReference(t)
	if *updateCLIDoc {
		if err := os.WriteFile(cliDocPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(cliDocPath)
	if err != nil {
		t.Fatalf("%v; write it with: go test ./cmd/maintenance -run TestCLIReference -update", err)
	}
	if !bytes.Equal(got, []byte(want)) {
		gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(want, "\n")
		line := 0
		for line < len(gotLines) && line < len(wantLines) && gotLines[line] == wantLines[line] {
			line++
		}
		t.Errorf("docs/cli.md differs from the help texts from line %d; regenerate it with:\n"+
			"\tgo test ./cmd/maintenance -run TestCLIReference -update", line+1)
	}
}
