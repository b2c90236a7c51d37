package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/gomaint/maintenance/internal/safetext"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

// storeEnv is the environment variable read when --store is absent.
const storeEnv = "MAINTENANCE_STORE"

// env is what a command runs with: its standard streams, the store URL and
// the process environment. Commands never touch os.Stdout, os.Getenv and the
// like directly, so tests can run them in-process.
type env struct {
	stdin io.Reader
	// stdout and stderr escape the control and format characters of what
	// is written to them (safetext.Writer): values read from a store may
	// hold any, and none may reach a terminal raw.
	stdout, stderr io.Writer
	// rawStdout and rawStderr are the streams themselves, for the command
	// that "maintenance run" starts.
	rawStdout, rawStderr io.Writer
	// storeURL is the store to open: --store given before the command, else
	// $MAINTENANCE_STORE, else the configuration file's, else storeurl.Default. A command's flag set (see
	// newFlagSet) lets --store after the command name override it, so it is
	// final only once the command has parsed its flags.
	storeURL string
	// storeFlag is true when --store was given before the command name,
	// so that a command's configuration file cannot override it.
	storeFlag bool
	// storeFrom says how the store was chosen, for messages: "--store",
	// "MAINTENANCE_STORE", "config file PATH" or "default".
	storeFrom string
	getenv    func(string) string
	// wait is --wait of a command that changes the state: how long it
	// waits for the fleet (see env.change).
	wait time.Duration
	// defaultWait is the default of --wait: $MAINTENANCE_WAIT, else
	// maintenance.DefaultWait.
	defaultWait time.Duration
	// fleet is how the fleet followed the last change (env.change).
	fleet *fleetReport
	// probing is set by completion: newFlagSet records the flag set in
	// probed, and parse (or subcommand, for a command with subcommands)
	// returns errProbe before the command does anything.
	probing bool
	probed  *flagSet
	// probedSubs are the subcommand names subcommand saw while probing.
	probedSubs []string
}

// run runs the CLI with the arguments after the program name.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{stdin: stdin, stdout: safetext.NewWriter(stdout), stderr: safetext.NewWriter(stderr),
		rawStdout: stdout, rawStderr: stderr, getenv: os.Getenv}
	return e.main(ctx, args)
}

// main parses the global flags, picks the command and runs it.
func (e *env) main(ctx context.Context, args []string) error {
	if err := e.chooseStore(); err != nil {
		return err
	}
	e.defaultWait = maintenance.DefaultWait
	if v := e.getenv(waitEnv); v != "" {
		d, err := maintenance.ParseWait(v)
		if err != nil {
			return fmt.Errorf("$%s: %w", waitEnv, err)
		}
		e.defaultWait = d
	}
	var storeFlag string
	global := flag.NewFlagSet("maintenance", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	global.Usage = func() {}
	global.StringVar(&storeFlag, "store", "", "")
	showVersion := global.Bool("version", false, "")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(e.stdout, e.usage())
			return nil
		}
		return usageErrorf("%v%s; run 'maintenance help' for usage", err, flagHint(global, err))
	}
	if storeFlag != "" {
		e.storeURL, e.storeFlag, e.storeFrom = storeFlag, true, "--store"
	}
	args = global.Args()
	if *showVersion {
		if len(args) > 0 {
			return usageErrorf("--version takes no command; got %q", args)
		}
		return currentBuild().write(e.stdout)
	}
	if len(args) == 0 {
		fmt.Fprint(e.stderr, e.usage())
		return usageErrorf("no command given; run 'maintenance help' for usage")
	}
	name, args := args[0], args[1:]
	if name == "help" {
		return e.help(ctx, args)
	}
	if name == completeCommand {
		return e.complete(ctx, args)
	}
	c, ok := commands[name]
	if !ok {
		return usageErrorf("unknown command %q%s; run 'maintenance help' for the list of commands", name, didYouMean(name, commandNames()))
	}
	return c.run(ctx, e, args)
}

// commandNames returns the names of the commands, "help" included, in the
// order of "maintenance help".
func commandNames() []string {
	return append(slices.Clone(commandOrder), "help")
}

// help prints the usage of the CLI, or of one command.
func (e *env) help(ctx context.Context, args []string) error {
	switch {
	case len(args) == 0:
		fmt.Fprint(e.stdout, e.usage())
		return nil
	case len(args) > 1:
		return usageErrorf("help takes one command name at most; got %q", args)
	}
	c, ok := commands[args[0]]
	if !ok {
		return usageErrorf("unknown command %q%s; run 'maintenance help' for the list of commands", args[0], didYouMean(args[0], commandNames()))
	}
	err := c.run(ctx, e, []string{"-h"})
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// usage returns the text of "maintenance help".
func (e *env) usage() string {
	var b strings.Builder
	b.WriteString(`Usage: maintenance [--store URL] COMMAND [flags] [args]

maintenance puts web sites into maintenance mode and back, and manages the
rules that let people and machines through while a site is in maintenance.

`)
	width := len("help")
	for _, name := range commandOrder {
		width = max(width, len(name))
	}
	for i, g := range commandGroups {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(g.title + ":\n")
		for _, name := range g.names {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, name, commands[name].summary)
		}
	}
	fmt.Fprintf(&b, "  %-*s  %s\n", width, "help", "show this text, or a command's flags and output: help COMMAND")
	b.WriteString(`
Global flags (accepted before or after the command name):
  --store URL   where the state is kept: sqlite:PATH (also sqlite://PATH),
                file:PATH, postgres://...[?schema=NAME] or
                redis://...[?prefix=P] (rediss:// for TLS); default:
                $MAINTENANCE_STORE, else the "store URL" line of a
                configuration file in the format of "serve --config":
                $MAINTENANCE_CONFIG, else
                $XDG_CONFIG_HOME/maintenance/maintenance.conf (default
                ~/.config/...), else /etc/maintenance/maintenance.conf;
                else sqlite:maintenance.db. Only "serve" and "init" create
                a store: other commands on a SQLite or file store that
                does not exist exit 1 and say where they looked.
  --wait DUR    commands that change the state: how long to wait for the
                fleet to serve the change (default $MAINTENANCE_WAIT, else
                10s; 0: do not wait)
  --version     print the version (as the version command does)

Flags and arguments may come in any order; "--" ends the flags.
DUR is a Go duration (90s, 2h30m). Times are printed in UTC, RFC 3339;
status and on/off also show the local time when the local zone is not UTC.

Output: the result on stdout, diagnostics and errors on stderr. --json output
is stable: fields may be added, never renamed or removed.

Exit codes:
  0  done (also "status", whatever the state of the sites: read it from
     the output)
  1  failed: the store is unreachable or unreadable, I/O error
  2  invalid usage or input (unknown command or flag, bad value, unknown
     site, pattern, entry, user, token or link); nothing was changed

Run 'maintenance help COMMAND' for the flags and output of a command.
`)
	return b.String()
}

// flagSet is a command's flag.FlagSet with its usage text.
type flagSet struct {
	*flag.FlagSet
	e     *env
	usage string
}

// newFlagSet returns a flag set for the command called name (as typed,
// "ignore add" for a subcommand) that also accepts --store. usage is
// printed on stdout for -h and --help.
func (e *env) newFlagSet(name, usage string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Parse reports errors to us; we print them once, in exitCode.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Var(storeFlagValue{e}, "store", "")
	if changing[name] {
		e.wait = e.defaultWait
		fs.Var(waitFlag{&e.wait}, "wait", "")
		usage += waitUsage
	}
	f := &flagSet{FlagSet: fs, e: e, usage: usage}
	if e.probing {
		e.probed = f
	}
	return f
}

// parse parses args, flags and positional arguments interleaved
// ("add /x --site a.com" works like "add --site a.com /x"), and returns the
// positional arguments. "--" ends the flags: everything after it is
// positional. For -h and --help it prints the usage on stdout and returns
// flag.ErrHelp, which exitCode maps to 0; other errors are usage errors.
func (fs *flagSet) parse(args []string) ([]string, error) {
	if fs.e.probing {
		return nil, errProbe
	}
	pos, err := parseInterleaved(fs.FlagSet, args)
	if err != nil {
		return nil, fs.fail(err)
	}
	return pos, nil
}

// fail turns an error from flag.FlagSet.Parse into the command's error: for
// flag.ErrHelp it prints the usage on stdout and returns flag.ErrHelp;
// anything else becomes a usage error.
func (fs *flagSet) fail(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(fs.e.stdout, fs.usage)
		return err
	}
	return usageErrorf("%s: %v%s; run 'maintenance help %s' for usage", fs.Name(), err, flagHint(fs.FlagSet, err), strings.Fields(fs.Name())[0])
}

// parseInterleaved parses the flags in args wherever they are and returns
// the other arguments in order.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// Parse stops at the first non-flag argument, or just after "--".
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// noArgs returns a usage error when a command that takes no positional
// arguments got some.
func noArgs(cmd string, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q; run 'maintenance help %s' for usage", cmd, args, strings.Fields(cmd)[0])
	}
	return nil
}

// stringsFlag is a repeatable string flag: each use appends a value.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// optString is a string flag that remembers whether it was given, so that
// an empty value can be told from an absent one.
type optString struct {
	value string
	set   bool
}

func (o *optString) String() string     { return o.value }
func (o *optString) Set(v string) error { o.value, o.set = v, true; return nil }

// ptr returns a pointer to the value when the flag was given, else nil.
func (o *optString) ptr() *string {
	if !o.set {
		return nil
	}
	v := o.value
	return &v
}
