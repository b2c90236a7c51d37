package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/server"
	"github.com/gomaint/maintenance/internal/storeurl"
)

// Where the store comes from when --store and MAINTENANCE_STORE are absent:
// the "store" line of a configuration file in serve's format.
const (
	configEnv         = "MAINTENANCE_CONFIG"
	systemConfig      = "/etc/maintenance/maintenance.conf"
	userConfigRelPath = "maintenance/maintenance.conf"
)

// howChosen says, in every error about a missing store, how a command
// chooses its store.
const howChosen = "the store is --store, else $MAINTENANCE_STORE, else the \"store\" line of $MAINTENANCE_CONFIG, $XDG_CONFIG_HOME/maintenance/maintenance.conf or /etc/maintenance/maintenance.conf, else " + storeurl.Default

// storeFlagValue is --store: it records that the store was chosen by it.
type storeFlagValue struct{ e *env }

func (v storeFlagValue) String() string {
	if v.e == nil {
		return ""
	}
	return v.e.storeURL
}

func (v storeFlagValue) Set(s string) error {
	v.e.storeURL, v.e.storeFrom = s, "--store"
	return nil
}

// chooseStore sets the store from the environment, then the configuration
// file, then the default; --store, parsed later, overrides it.
func (e *env) chooseStore() error {
	if u := e.getenv(storeEnv); u != "" {
		e.storeURL, e.storeFrom = u, storeEnv
		return nil
	}
	file, must := e.getenv(configEnv), true
	if file == "" {
		must = false
		file = systemConfig
		if dir := e.getenv("XDG_CONFIG_HOME"); dir != "" {
			if p := filepath.Join(dir, userConfigRelPath); exists(p) {
				file = p
			}
		} else if home := e.getenv("HOME"); home != "" {
			if p := filepath.Join(home, ".config", userConfigRelPath); exists(p) {
				file = p
			}
		}
	}
	data, err := os.ReadFile(file)
	switch {
	case err == nil:
		raw, err := server.ParseConfigFile(file, data)
		if err != nil {
			return err
		}
		if v := raw["store"]; len(v) > 0 {
			e.storeURL, e.storeFrom = v[0].Value, "config file "+file
			return nil
		}
	case must || !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("reading the configuration file %s ($%s): %w", file, configEnv, errors.Unwrap(err))
	}
	e.storeURL, e.storeFrom = storeurl.Default, "default"
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// missingStore returns an error when the store is kept in a file (SQLite,
// file) that does not exist: only "serve" and "init" create a store, so
// that a command run from the wrong directory does not switch an empty
// store that no gate reads.
func (e *env) missingStore() error {
	kind, path, err := storeurl.Parse(e.storeURL)
	if err != nil || kind != "sqlite" && kind != "file" {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	if _, err := os.Stat(abs); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("store %s (chosen by %s): %s does not exist; create it with 'maintenance init', or name the store of your gates (%s)", e.storeName(), e.storeFrom, abs, howChosen)
}

// openStore opens the store named by url (see storeurl for the accepted
// forms). A URL that is not accepted is an error wrapping
// maintenance.ErrInvalid (exit code 2) that names it and lists the accepted
// forms; a store that cannot be opened is an ordinary error (exit code 1).
// The caller closes the store.
func openStore(ctx context.Context, url string) (maintenance.Store, error) {
	return storeurl.Open(ctx, url)
}

// storeName is the store as status shows it: its URL, password redacted,
// with the absolute path of a store kept in a file.
func (e *env) storeName() string {
	kind, path, err := storeurl.Parse(e.storeURL)
	if err == nil && (kind == "sqlite" || kind == "file") {
		if abs, err := filepath.Abs(path); err == nil {
			return kind + ":" + abs
		}
	}
	return storeurl.Redact(e.storeURL)
}
