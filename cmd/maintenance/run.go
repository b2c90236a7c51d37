package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gomaint/maintenance"
)

const runUsage = `Usage: maintenance run [--site HOST]... [--message [LANG=]TEXT]... [--reason TEXT]
                       [--mode full|read-only|errors|hold] -- COMMAND [ARG]...

Switches maintenance on for the sites named with --site, declaring the ones
that are new, or for every declared site, * included, when none is named
(like "maintenance on"); runs COMMAND with its arguments as given (no shell);
then puts every site it switched back exactly as it was before: on or off,
message, reason, mode, window, rules. A site it declared is removed again.
It restores also when the command fails, is not found, or is stopped with
Ctrl-C. The command must follow "--".

Flags:
  --site HOST     a site: shop.example.com, *.example.com or *; repeatable
  --message TEXT  shown to visitors on the maintenance page; LANG=TEXT gives
                  it in one language (see "maintenance help on"); repeatable
  --reason TEXT   for operators: kept on the site and in the audit log, on
                  the change and on the restore
  --mode MODE     full (the default), read-only or errors; see
                  "maintenance help on"

The command gets the standard input, output and error of run, and its
environment with MAINTENANCE_STORE set to the store run uses, so that a
"maintenance" command it runs sees the same store. SIGINT, SIGTERM and SIGHUP
sent to run are passed to the command; run waits for it to end, restores,
and exits.

If someone else changes a site while the command runs, run does not
overwrite their change: it leaves that site as it is and says so.

Diagnostics ("maintenance: on for ...", "maintenance: restored ...") go to
standard error.

The command is looked up before anything is switched, and starts only once
every live gate serves the switch (see --wait below): before that, requests
would still pass.

Exit codes: the command's exit code; 128+N when a signal N ended it (130 for
SIGINT); 126 when it cannot be started (after restoring). Before the command
starts: 127 when it is not found or not executable (nothing switched, nothing
logged); 2 for invalid usage or input (nothing changed); 1 when the store
cannot be reached, and 1 when the wait for the gates runs out (the state is
restored, the gates behind are named, the command is not run). After the
command, run waits the same way until every live gate serves the restore,
so that what follows run in a deploy script finds the sites as they were;
1 also when the command succeeded but the state could not be restored, or
the gates behind the restore are still behind when the wait runs out
(named on standard error).
`

// runSignals are the signals that run passes to the command.
var runSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// childExitError makes the CLI exit with the exit code of the command that
// "maintenance run" ran; exitCode maps it.
type childExitError struct {
	code int
	msg  string
}

func (e *childExitError) Error() string { return e.msg }

// runRun implements "maintenance run".
func runRun(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("run", runUsage)
	var sites stringsFlag
	var message messageFlag
	var reason, mode optString
	fs.Var(&sites, "site", "")
	fs.Var(&message, "message", "")
	fs.Var(&reason, "reason", "")
	fs.Var(&mode, "mode", "")
	if e.probing {
		return errProbe
	}
	// Not parse: the flags end at the command, so that its own flags are
	// left alone.
	if err := fs.FlagSet.Parse(args); err != nil {
		return fs.fail(err)
	}
	argv := fs.Args()
	if n := len(args) - len(argv); len(argv) > 0 && (n == 0 || args[n-1] != "--") {
		return usageErrorf("run: put the command after --, like: maintenance run [flags] -- %s; run 'maintenance help run' for usage", strings.Join(argv, " "))
	}
	if len(argv) == 0 {
		return usageErrorf("run: no command given after --; run 'maintenance help run' for usage")
	}

	names, err := parseSiteFlags(sites)
	if err != nil {
		return err
	}
	// The sites are on for the whole run, whatever window they had: the
	// restore puts it back, even one that ended meanwhile.
	var noTime time.Time
	opts := maintenance.OnOptions{From: &noTime, Until: &noTime}
	if opts.Message, opts.Messages, err = message.parse(); err != nil {
		return err
	}
	if opts.Mode, err = parseModeFlag(mode); err != nil {
		return err
	}
	if err := opts.Validate(time.Now()); err != nil {
		return flagError(err)
	}
	if err := checkReason(reason.value); err != nil {
		return err
	}
	// A command that cannot be started must not cost an outage: it is
	// looked up before anything is switched.
	if _, err := exec.LookPath(argv[0]); err != nil {
		return &childExitError{code: 127, msg: fmt.Sprintf("run: %v; nothing was switched", err)}
	}

	// From here on, the signals are ours: they must not end run before it
	// has restored. They are passed to the command while it runs.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, runSignals...)
	defer signal.Stop(sigs)

	return e.withStore(ctx, func(st maintenance.Store) error {
		c := maintenance.On(names, opts)
		c.Actor, c.Source, c.Reason = maintenance.Actor(), source, reason.value
		var (
			child   *childExitError
			started bool
			lagged  bool
			targets = names
		)
		err := maintenance.During(ctx, st, c, func(ctx context.Context) error {
			started = true
			if len(targets) == 0 {
				if s, err := st.Load(context.WithoutCancel(ctx)); err == nil {
					for _, site := range s.Sites {
						targets = append(targets, site.Site)
					}
				}
			}
			fmt.Fprintf(e.stderr, "maintenance: on for %s\n", siteList(targets))
			// The command starts only once every live gate serves the
			// change (or a later state): before, requests still pass.
			if e.wait > 0 {
				cur, err := st.Load(ctx)
				if err != nil {
					return fmt.Errorf("reading the state: %w", err)
				}
				e.fleet = e.waitFleet(ctx, st, cur.Version)
				if e.fleet.err != nil {
					lagged = true
					return e.fleet.err
				}
				e.fleet.toStderr = true // stdout is the command's
				e.fleet.write(e)
			}
			child = e.runChild(argv, sigs)
			return nil
		})
		if !started {
			return err
		}
		if lagged {
			err = without(err, e.fleet.err) // reported below, as run's error
		}
		var skipped *maintenance.RestoreSkippedError
		left := map[string]bool{}
		if errors.As(err, &skipped) {
			for _, s := range skipped.Sites {
				left[s] = true
			}
		}
		var restored []string
		for _, n := range targets {
			if !left[n] {
				restored = append(restored, n)
			}
		}
		restoredOK := isOnlySkipped(err)
		switch {
		case !restoredOK:
			fmt.Fprintf(e.stderr, "maintenance: %v\n", err)
			fmt.Fprintf(e.stderr, "maintenance: sites may still be in maintenance; see them with: maintenance status\n")
		case len(restored) > 0:
			fmt.Fprintf(e.stderr, "maintenance: restored %s\n", siteList(restored))
		}
		if skipped != nil {
			fmt.Fprintf(e.stderr, "maintenance: %v\n", skipped)
		}
		// run returns once the fleet serves the restore too, as "off" does:
		// a deploy script that goes on after run must find the sites back.
		// With no live gate at the switch (already said), there is none to
		// wait for.
		var restoreLag error
		followed := e.fleet != nil && e.fleet.fleet.Gates.Live > 0
		if restoredOK && len(restored) > 0 && !lagged && followed {
			if cur, err := st.Load(context.WithoutCancel(ctx)); err != nil {
				restoreLag = fmt.Errorf("reading the state after the restore: %w", err)
			} else {
				r := e.waitFleet(context.WithoutCancel(ctx), st, cur.Version)
				r.toStderr = true
				r.write(e)
				restoreLag = r.err
			}
			if restoreLag != nil {
				fmt.Fprintf(e.stderr, "maintenance: restored in the store, but %v\n", restoreLag)
			}
		}
		switch {
		case lagged:
			return fmt.Errorf("%s not started, state restored: %w", argv[0], e.fleet.err)
		case child != nil:
			return child
		case !restoredOK:
			// The command succeeded, but sites may be left on.
			return &childExitError{code: exitFailed, msg: "the command succeeded, but the state could not be restored"}
		case restoreLag != nil:
			return &childExitError{code: exitFailed, msg: "the command succeeded and the state is restored, but not every gate serves the restore yet"}
		}
		return nil
	})
}

// without returns err, joined by errors.Join, with drop left out.
func without(err, drop error) error {
	if err == drop {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var keep []error
		for _, e := range j.Unwrap() {
			if e != drop {
				keep = append(keep, e)
			}
		}
		return errors.Join(keep...)
	}
	return err
}

// isOnlySkipped reports whether err is nil or only says that sites were
// left as someone else set them.
func isOnlySkipped(err error) bool {
	if err == nil {
		return true
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !isOnlySkipped(e) {
				return false
			}
		}
		return true
	}
	_, ok := err.(*maintenance.RestoreSkippedError)
	return ok
}

// siteList names sites for the diagnostics.
func siteList(sites []string) string {
	if len(sites) == 0 {
		return "no site"
	}
	return strings.Join(sites, ", ")
}

// runChild runs the command argv with run's standard streams, passes it the
// signals received on sigs until it ends, and returns how it ended: nil when
// it exited with code 0. A signal received before the command starts keeps
// it from starting.
func (e *env) runChild(argv []string, sigs <-chan os.Signal) *childExitError {
	select {
	case sig := <-sigs:
		return &childExitError{code: 128 + signalNumber(sig), msg: fmt.Sprintf("%s not started: got %v", argv[0], sig)}
	default:
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.rawStdout, e.rawStderr
	if e.rawStdout == nil {
		cmd.Stdout, cmd.Stderr = e.stdout, e.stderr
	}
	cmd.Env = append(os.Environ(), storeEnv+"="+e.storeURL)
	if err := cmd.Start(); err != nil {
		code := 126 // found but cannot be run, as in shells
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			code = 127
		}
		return &childExitError{code: code, msg: fmt.Sprintf("run: %v", err)}
	}
	done := make(chan struct{})
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for {
			select {
			case sig := <-sigs:
				cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	<-forwarded
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return &childExitError{code: exitFailed, msg: fmt.Sprintf("run: %s: %v", argv[0], err)}
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return &childExitError{code: 128 + int(ws.Signal()), msg: fmt.Sprintf("%s was ended by signal %d (%v)", argv[0], int(ws.Signal()), ws.Signal())}
	}
	return &childExitError{code: exit.ExitCode(), msg: fmt.Sprintf("%s exited with code %d", argv[0], exit.ExitCode())}
}

// signalNumber returns the number of a signal, for exit codes.
func signalNumber(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return int(s)
	}
	return int(syscall.SIGINT)
}
