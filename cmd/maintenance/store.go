package main

import (
	"context"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
)

// openStore opens the store named by url (see storeurl for the accepted
// forms). A URL that is not accepted is an error wrapping
// maintenance.ErrInvalid (exit code 2) that names it and lists the accepted
// forms; a store that cannot be opened is an ordinary error (exit code 1).
// The caller closes the store.
func openStore(ctx context.Context, url string) (maintenance.Store, error) {
	return storeurl.Open(ctx, url)
}
