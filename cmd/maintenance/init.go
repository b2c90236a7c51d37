package main

import (
	"context"
	"fmt"

	"github.com/gomaint/maintenance/internal/storeurl"
)

const initUsage = `Usage: maintenance init

Creates the store (see --store in "maintenance help" for how it is chosen)
when it does not exist: a SQLite database or a store file, or the schema of
a PostgreSQL store; checks that it can be opened when it does. Every other
command but "serve" refuses a SQLite or file store that does not exist, so
that a command run from the wrong directory never switches an empty store
that no gate reads.

Output: "created STORE" or "exists STORE", and how the store was chosen.

With --json: {"store", "created", "chosen_by"}.
`

// runInit implements "maintenance init".
func runInit(ctx context.Context, e *env, args []string) error {
	flags := e.newFlagSet("init", initUsage)
	var asJSON bool
	flags.BoolVar(&asJSON, "json", false, "")
	pos, err := flags.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("init", pos); err != nil {
		return err
	}
	created, err := storeurl.Create(ctx, e.storeURL)
	if err != nil {
		return err
	}
	verb := "exists"
	if created {
		verb = "created"
	}
	if asJSON {
		return writeJSON(e.stdout, map[string]any{"store": e.storeName(), "created": created, "chosen_by": e.storeFrom})
	}
	fmt.Fprintf(e.stdout, "%s %s (chosen by %s)\n", verb, e.storeName(), e.storeFrom)
	return nil
}
