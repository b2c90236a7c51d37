package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/password"
	"github.com/gomaint/maintenance/internal/testenv"
	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/crypto/bcrypt"
)

func TestMain(m *testing.M) {
	// The scripts run this binary as "maintenance": hash passwords at the
	// lowest bcrypt cost there, so that user scripts take milliseconds.
	password.Cost = bcrypt.MinCost
	testscript.Main(testenv.Reporting(m), map[string]func(){"maintenance": main, "maintenance-test-get": httpGet})
}

// TestScript runs the scripts in testdata/script: every user-visible
// behaviour of the CLI, run as a real process.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds:                scriptCmds,
	})
}

// TestScriptFileStore runs the command scripts again on the file store, to
// show that the CLI behaves the same whatever the store. Scripts that name
// SQLite anywhere but in their MAINTENANCE_STORE line, and the serve
// scripts, are left out.
func TestScriptFileStore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the scripts a second time")
	}
	const sqliteLine, fileLine = "env MAINTENANCE_STORE=sqlite:$WORK/m.db\n", "env MAINTENANCE_STORE=file:$WORK/m.json\n"
	paths, err := filepath.Glob("testdata/script/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		script := strings.ReplaceAll(string(data), sqliteLine, fileLine)
		if strings.HasPrefix(filepath.Base(p), "serve") || script == string(data) || strings.Contains(script, "sqlite") {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), []byte(script), 0o666); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no script to run on the file store")
	}
	testscript.Run(t, testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds:                scriptCmds,
	})
}

// scriptCmds are the custom commands of the scripts. Test files of other
// commands add theirs from an init function.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"exits": cmdExits,
}

// cmdExits is the script command "exits CODE PROGRAM [ARGS...]": it runs
// the program like exec and fails unless it exits with CODE. Its stdout and
// stderr are checked by the stdout and stderr commands that follow.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad exit code %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			ts.Fatalf("exits: %v", err)
		}
		got = exit.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		name string
		args []string
		site string
		note string
		json bool
		pos  []string
	}{
		{name: "none"},
		{name: "flags first", args: []string{"--site", "a.com", "/x"}, site: "a.com", pos: []string{"/x"}},
		{name: "flags last", args: []string{"/x", "--site", "a.com"}, site: "a.com", pos: []string{"/x"}},
		{name: "mixed", args: []string{"a", "--site=a.com", "b", "-json", "c", "--note", "n"}, site: "a.com", note: "n", json: true, pos: []string{"a", "b", "c"}},
		{name: "double dash ends flags", args: []string{"--site", "a.com", "--", "--note", "x"}, site: "a.com", pos: []string{"--note", "x"}},
		{name: "double dash after a positional", args: []string{"a", "--", "-json"}, pos: []string{"a", "-json"}},
		{name: "lone dash is positional", args: []string{"-", "--json"}, json: true, pos: []string{"-"}},
		{name: "flag value that looks positional", args: []string{"--note", "add", "x"}, note: "add", pos: []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			site := fs.String("site", "", "")
			note := fs.String("note", "", "")
			asJSON := fs.Bool("json", false, "")
			pos, err := parseInterleaved(fs, tt.args)
			if err != nil {
				t.Fatalf("parseInterleaved(%q): %v", tt.args, err)
			}
			got := fmt.Sprintf("site=%q note=%q json=%v", *site, *note, *asJSON)
			want := fmt.Sprintf("site=%q note=%q json=%v", tt.site, tt.note, tt.json)
			if got != want {
				t.Errorf("parseInterleaved(%q): flags %s, want %s", tt.args, got, want)
			}
			if diff := cmp.Diff(tt.pos, pos); diff != "" {
				t.Errorf("parseInterleaved(%q): positional arguments (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestParseInterleavedErrors(t *testing.T) {
	for _, args := range [][]string{{"x", "--bogus"}, {"x", "--site"}, {"--json=maybe"}} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("site", "", "")
		fs.Bool("json", false, "")
		if _, err := parseInterleaved(fs, args); err == nil {
			t.Errorf("parseInterleaved(%q) = nil error, want one", args)
		}
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   int
		stderr string
	}{
		{name: "nil", err: nil, code: 0},
		{name: "help", err: flag.ErrHelp, code: 0},
		{name: "usage", err: usageErrorf("unknown command %q", "x"), code: 2, stderr: "maintenance: unknown command \"x\"\n"},
		{name: "invalid", err: fmt.Errorf("on: %w", maintenance.ErrInvalid), code: 2, stderr: "maintenance: on: invalid input\n"},
		{name: "not found", err: notFoundf("site %q is not declared", "a.com"), code: 2, stderr: "maintenance: site \"a.com\" is not declared\n"},
		{name: "conflict", err: fmt.Errorf("on: %w", maintenance.ErrConflict), code: 1, stderr: "maintenance: on: conflict\n"},
		{name: "closed", err: maintenance.ErrClosed, code: 1, stderr: "maintenance: closed\n"},
		{name: "io", err: errors.New("open m.db: permission denied"), code: 1, stderr: "maintenance: open m.db: permission denied\n"},
		{name: "canceled", err: context.Canceled, code: 1, stderr: "maintenance: context canceled\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := exitCode(tt.err, &stderr); got != tt.code {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.code)
			}
			if got := stderr.String(); got != tt.stderr {
				t.Errorf("exitCode(%v) printed %q, want %q", tt.err, got, tt.stderr)
			}
		})
	}
}

// runIn runs the CLI in-process with the given environment variables.
func runIn(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string { return vars[k] }}
	err = e.main(t.Context(), args)
	return out.String(), errOut.String(), err
}

func TestStoreURLPrecedence(t *testing.T) {
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{name: "flag before", env: "bogus:env", args: []string{"--store", "bogus:before", "status"}, want: "bogus:before"},
		{name: "flag before with =", args: []string{"--store=bogus:eq", "status"}, want: "bogus:eq"},
		{name: "flag after", env: "bogus:env", args: []string{"status", "--store", "bogus:after"}, want: "bogus:after"},
		{name: "flag after a positional", args: []string{"ignore", "add", "/x", "--store=bogus:sub"}, want: "bogus:sub"},
		{name: "after wins over before", args: []string{"--store", "bogus:before", "log", "--store", "bogus:after"}, want: "bogus:after"},
		{name: "env", env: "bogus:env", args: []string{"status"}, want: "bogus:env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runIn(t, map[string]string{storeEnv: tt.env}, tt.args...)
			if exitCode(err, io.Discard) != exitInvalid || !strings.Contains(err.Error(), fmt.Sprintf("store %q is not supported", tt.want)) {
				t.Errorf("run %q with %s=%q: error %v, want the unsupported store %q", tt.args, storeEnv, tt.env, err, tt.want)
			}
		})
	}
}

func TestRegister(t *testing.T) {
	savedCommands, savedOrder := maps.Clone(commands), slices.Clone(commandOrder)
	savedGroups := slices.Clone(commandGroups)
	savedGroups[len(savedGroups)-1].names = slices.Clone(savedGroups[len(savedGroups)-1].names)
	t.Cleanup(func() { commands, commandOrder, commandGroups = savedCommands, savedOrder, savedGroups })

	var gotArgs []string
	var gotStore string
	register("frob", command{summary: "frob the sites", run: func(ctx context.Context, e *env, args []string) error {
		fs := e.newFlagSet("frob", "Usage: maintenance frob [--hard] ARG\n")
		hard := fs.Bool("hard", false, "")
		pos, err := fs.parse(args)
		if err != nil {
			return err
		}
		gotArgs, gotStore = append(pos, fmt.Sprint(*hard)), e.storeURL
		return nil
	}})

	if _, _, err := runIn(t, nil, "frob", "x", "--hard", "--store", "file:f.json"); err != nil {
		t.Fatalf("frob: %v", err)
	}
	if diff := cmp.Diff([]string{"x", "true"}, gotArgs); diff != "" || gotStore != "file:f.json" {
		t.Errorf("frob got args (-want +got):\n%s\nand store %q, want file:f.json", diff, gotStore)
	}
	out, _, err := runIn(t, nil, "help")
	if err != nil || !regexpMatch(`(?m)^  version +print the version of this program\n  frob +frob the sites\n  help `, out) {
		t.Errorf("help = %v, output:\n%s\nwant frob listed last, before help", err, out)
	}
	out, _, err = runIn(t, nil, "help", "frob")
	if err != nil || out != "Usage: maintenance frob [--hard] ARG\n" {
		t.Errorf("help frob = %v, output %q", err, out)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("registering frob twice did not panic")
		}
	}()
	register("frob", command{run: commands["frob"].run})
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"; run 'maintenance help'`},
		{[]string{"--bogus", "status"}, "flag provided but not defined: -bogus"},
		{[]string{"status", "--bogus"}, "status: flag provided but not defined: -bogus; run 'maintenance help status'"},
		{[]string{"ignore", "add", "/x", "--bogus"}, "ignore add: flag provided but not defined: -bogus; run 'maintenance help ignore'"},
		{[]string{"sites"}, "sites: missing subcommand; accepted: ls, add, rm"},
		{[]string{"sites", "frob"}, `sites: unknown subcommand "frob"; accepted: ls, add, rm`},
		{[]string{"help", "frob"}, `unknown command "frob"`},
		{[]string{"on", "--status", "abc"}, `--status "abc": not a number; accepted: 200 or 400-599`},
		{[]string{"on", "--retry-after", "500ms"}, `--retry-after "500ms": out of range; accepted: whole seconds from 1s to 168h`},
		{[]string{"on", "extra"}, `on takes no arguments, got ["extra"]`},
		{[]string{"log", "--limit", "0"}, `--limit "0": accepted: a whole number of events, at least 1`},
	}
	for _, tt := range tests {
		_, _, err := runIn(t, nil, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run %q: error %v, want one containing %q", tt.args, err, tt.want)
		}
		if code := exitCode(err, io.Discard); code != 2 {
			t.Errorf("run %q: exit code %d, want 2", tt.args, code)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		out, stderr, err := runIn(t, nil, args...)
		if err != nil || !strings.HasPrefix(out, "Usage: maintenance [--store URL] COMMAND") || stderr != "" {
			t.Errorf("run %q = %v, stdout %q, stderr %q", args, err, out, stderr)
		}
	}
	for name := range commands {
		for _, args := range [][]string{{"help", name}, {name, "-h"}, {name, "--help"}} {
			out, _, err := runIn(t, nil, args...)
			if code := exitCode(err, io.Discard); code != 0 || !strings.HasPrefix(out, "Usage: maintenance "+name) {
				t.Errorf("run %q: exit code %d, output %q", args, code, out)
			}
		}
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
