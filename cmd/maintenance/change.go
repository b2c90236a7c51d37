package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
)

// source is the Source of every change the CLI makes.
const source = "cli"

// checkReason checks --reason as every change does, before the store is
// opened. Commands check the rest of their input with the root package's
// validators too, and leave to the store's Update only what depends on the
// stored state (an undeclared site, a missing rule).
func checkReason(reason string) error {
	return maintenance.ValidateReason(reason)
}

// change applies c as the person running the CLI, with the given reason.
// It returns the state the change was applied to, read inside the store's
// transaction, and the state after it, so that what the command prints is
// what it did. Then it waits for the fleet to serve the state after it
// (--wait); withStore prints how the fleet followed.
func (e *env) change(ctx context.Context, st maintenance.Store, c maintenance.Change, reason string) (before, after *maintenance.State, err error) {
	c.Actor, c.Source, c.Reason = maintenance.Actor(), source, reason
	before, after, err = maintenance.UpdateBefore(ctx, st, c)
	if err != nil {
		// Stores say which change failed; say it where one does not.
		if !strings.HasPrefix(err.Error(), c.Action+": ") {
			err = fmt.Errorf("%s: %w", c.Action, err)
		}
		return nil, nil, err
	}
	e.fleet = e.waitFleet(ctx, st, after.Version)
	return before, after, nil
}

// changed reports whether the change that led from before to after changed
// the site called name.
func changed(before, after *maintenance.State, name string) bool {
	s := after.Site(name)
	return s != nil && s.Version > before.Version
}

// withStore opens the store, runs f with it and closes it.
func (e *env) withStore(ctx context.Context, f func(st maintenance.Store) error) (err error) {
	if err := e.missingStore(); err != nil {
		return err
	}
	st, err := openStore(ctx, e.storeURL)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing store %s: %w", storeurl.Redact(e.storeURL), cerr)
		}
	}()
	if err := f(st); err != nil {
		return err
	}
	if e.fleet != nil {
		e.fleet.write(e)
		return e.fleet.err
	}
	return nil
}

// parseSiteFlags returns the canonical names of the sites given with --site.
func parseSiteFlags(sites []string) ([]string, error) {
	var names []string
	for _, s := range sites {
		n, err := maintenance.ParseSite(s)
		if err != nil {
			return nil, fmt.Errorf("--site: %w", err)
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names, nil
}
