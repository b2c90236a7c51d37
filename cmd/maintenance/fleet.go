package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
)

// changing lists the commands that change the state: they take --wait and
// wait for the fleet (see env.change).
var changing = map[string]bool{
	"on": true, "off": true, "run": true,
	"schedule add": true, "schedule rm": true,
	"ignore add": true, "ignore rm": true, "allow add": true, "allow rm": true,
	"sites add": true, "sites rm": true, "sites set": true,
	"release set": true, "bypass create": true, "bypass revoke": true,
	"user add": true, "user passwd": true, "user rm": true,
	"token create": true, "token revoke": true,
}

// waitEnv sets the default of --wait.
const waitEnv = "MAINTENANCE_WAIT"

// waitUsage is added to the usage of every command in changing.
const waitUsage = `
Waiting for the fleet (every command that changes the state):
  --wait DUR     wait up to DUR (default $MAINTENANCE_WAIT, else 10s) until every live gate of the
                 store serves the change, then print "N/N gates switched in
                 X ms" (on a terminal, the count while it waits). When the
                 wait runs out, the gates still behind are named and the
                 command exits 1; the change stays made. --wait 0 does not
                 wait. With no live gate, a warning on stderr says that
                 nothing follows the store; the change is made all the same.
`

// waitFlag is the value of --wait.
type waitFlag struct{ d *time.Duration }

func (w waitFlag) String() string {
	if w.d == nil {
		return ""
	}
	return w.d.String()
}

func (w waitFlag) Set(v string) error {
	d, err := maintenance.ParseWait(v)
	if err != nil {
		return fmt.Errorf("%s", err) // the flag package says which flag
	}
	*w.d = d
	return nil
}

// fleetReport is what env.change learned of the fleet, printed by withStore
// after the command's own output.
type fleetReport struct {
	fleet maintenance.Fleet
	// waited is false when nothing was waited for (--wait 0, or no change).
	waited bool
	err    error
	// printed is set by a command that printed the report itself (--json).
	printed bool
	// toStderr sends the text report to stderr: the command's stdout is a
	// secret meant to be captured alone (token create, bypass create).
	toStderr bool
}

// fleetJSON is the stable JSON form of a wait for the fleet.
type fleetJSON struct {
	Version   int64                  `json:"version"`
	Gates     maintenance.FleetGates `json:"gates"`
	ElapsedMS int64                  `json:"elapsed_ms"`
}

func (r *fleetReport) json() *fleetJSON {
	if r == nil || !r.waited {
		return nil
	}
	return &fleetJSON{Version: r.fleet.Version, Gates: r.fleet.Gates, ElapsedMS: r.fleet.Elapsed.Milliseconds()}
}

// waitFleet waits for every live gate to serve version (see
// maintenance.WaitFleet), showing the count on stderr when it is a
// terminal, and warns on stderr when no gate follows the store.
func (e *env) waitFleet(ctx context.Context, st maintenance.Store, version int64) *fleetReport {
	r := &fleetReport{}
	if e.wait <= 0 {
		return r
	}
	// The progress line is ours, carriage return and erase included: it
	// goes to the terminal itself, not through the escaping stderr.
	tty := isTerminal(e.rawStderr)
	var progress func(maintenance.Fleet)
	shown := false
	if tty {
		progress = func(f maintenance.Fleet) {
			fmt.Fprintf(e.rawStderr, "\r%d/%d gates...", f.Gates.Switched, f.Gates.Live)
			shown = true
		}
	}
	f, err := maintenance.WaitFleet(ctx, st, version, e.wait, progress)
	if shown {
		fmt.Fprint(e.rawStderr, "\r\033[K")
	}
	r.fleet, r.err = f, err
	var lag *maintenance.LaggingError
	r.waited = err == nil || errors.As(err, &lag)
	if r.waited && f.Gates.Live == 0 {
		fmt.Fprintf(e.stderr, "maintenance: warning: no live gate follows store %s: the change is saved, but no request is blocked or let through by it until a gate (maintenance serve, or the library) runs on this store\n", storeurl.Redact(e.storeURL))
	}
	return r
}

// write prints the text report: "N/M gates switched in X ms".
func (r *fleetReport) write(e *env) {
	if r == nil || !r.waited || r.printed || r.fleet.Gates.Live == 0 {
		return
	}
	w := e.stdout
	if r.toStderr {
		w = e.stderr
	}
	fmt.Fprintf(w, "%d/%d gates switched to version %d in %d ms\n", r.fleet.Gates.Switched, r.fleet.Gates.Live, r.fleet.Version, r.fleet.Elapsed.Milliseconds())
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
