package main

import (
	"context"
	"strings"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/file"
	"github.com/gomaint/maintenance/sqlite"
)

// storeForms lists the accepted store URLs, for error messages.
const storeForms = "sqlite:PATH, sqlite://PATH or file:PATH"

// openStore opens the store named by url:
//
//	sqlite:PATH, sqlite://PATH   an SQLite database file (created if missing)
//	file:PATH, file://PATH       a JSON file
//
// Any other URL is a usage error (exit code 2) that names it and lists the
// accepted forms; a store that cannot be opened is an ordinary error (exit
// code 1). The caller closes the store.
func openStore(ctx context.Context, url string) (maintenance.Store, error) {
	kind, path, err := parseStoreURL(url)
	if err != nil {
		return nil, err
	}
	var st maintenance.Store
	switch kind {
	case "sqlite":
		st, err = sqlite.Open(ctx, path)
	case "file":
		st, err = file.Open(ctx, path)
	}
	if err != nil {
		// The stores' errors say what failed and where.
		return nil, err
	}
	return st, nil
}

// parseStoreURL splits a store URL into its kind ("sqlite" or "file") and
// path, or returns a usage error.
func parseStoreURL(url string) (kind, path string, err error) {
	for _, k := range []string{"sqlite", "file"} {
		rest, ok := strings.CutPrefix(url, k+":")
		if !ok {
			continue
		}
		rest = strings.TrimPrefix(rest, "//")
		if rest == "" {
			return "", "", usageErrorf("store %q: the path is missing; accepted: %s", url, storeForms)
		}
		return k, rest, nil
	}
	return "", "", usageErrorf("store %q is not supported; accepted: %s (default %s)", url, storeForms, defaultStore)
}
