package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gomaint/maintenance"
)

var gatesUsage = fmt.Sprintf(`Usage: maintenance gates [--json]

Lists the running gates (maintenance serve processes, and programs that use
the Go library) that share this store, sorted by ID. A gate reports itself
every %s and after every change it applies; one that stops cleanly is
removed at once, and one that stops reporting (a crash, a lost store) is no
longer listed after %s.

Flags:
  --json  print JSON instead of text

Output, one line per gate, or "no gates":

  ID               HOST   RELEASE  VERSION  STARTED               LAST SEEN             STORE ERROR
  web-1-4242-9f3c  web-1  v1.4.2   42       2026-11-21T09:00:00Z  2026-11-21T13:00:05Z  -

VERSION is the state version the gate serves: when it is the version that
"maintenance status" shows, the gate applies the latest change. STORE ERROR
is the last error the gate got reading the store ("-" when it is in sync):
such a gate keeps serving the last state it had. Times are in UTC.

With --json, one object (stable: fields may be added, never changed):

  {"gates": [{"id": "web-1-4242-9f3c", "host": "web-1", "release": "v1.4.2",
    "version": 42, "started": "RFC 3339 time" or null,
    "last_seen": "RFC 3339 time", "store_error": ""}]}

"release" and "store_error" are "" when the gate has none.
`, maintenance.GateHeartbeat, maintenance.GateTTL)

// runGates implements "maintenance gates".
func runGates(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("gates", gatesUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("gates", pos); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		gates, err := st.Gates(ctx)
		if err != nil {
			return fmt.Errorf("listing the gates: %w", err)
		}
		if asJSON {
			out := struct {
				Gates []gateJSON `json:"gates"`
			}{Gates: []gateJSON{}}
			for i := range gates {
				out.Gates = append(out.Gates, toGateJSON(&gates[i]))
			}
			return writeJSON(e.stdout, out)
		}
		if len(gates) == 0 {
			fmt.Fprintln(e.stdout, "no gates")
			return nil
		}
		t := newTable(e.stdout, "ID", "HOST", "RELEASE", "VERSION", "STARTED", "LAST SEEN", "STORE ERROR")
		for _, g := range gates {
			t.row(g.ID, g.Host, g.Release, fmt.Sprint(g.Version), formatUTC(g.Started), formatUTC(g.LastSeen), g.StoreError)
		}
		return t.flush()
	})
}

// formatUTC formats t in UTC, RFC 3339, for tables; "-" for the zero time.
func formatUTC(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}
