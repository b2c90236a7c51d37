package maintenance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// RestoreTimeout is how long During may take to restore the state after fn
// returns. The restore does not stop when During's context is cancelled (a
// cancelled context is the usual reason to restore); this bounds it instead.
const RestoreTimeout = 30 * time.Second

// During applies the change c (usually one built with On), runs fn, and then
// puts every site the change modified back exactly as it was before: on or
// off, mode, message, reason, window, rules, all of it; a site that c
// declared is removed again. It is the library's `maintenance run`, the
// equivalent of a context manager:
//
//	c := maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{Message: &msg})
//	c.Reason = "db migration"
//	err := maintenance.During(ctx, store, c, migrate)
//
// The restore also happens when fn returns an error, when ctx is cancelled
// (it runs with a context that is not, bounded by RestoreTimeout) and when fn
// panics (the panic goes on after the restore; an error of the restore is
// lost then). A site that the change left as it was (already in the asked
// state) has nothing to restore.
//
// A site that someone else changed while fn ran is left as they set it: During
// does not overwrite their change. It then returns a *RestoreSkippedError
// naming those sites, joined (errors.Join) with fn's error, if any; the other
// sites are restored. Find it with errors.As.
//
// c's Actor, Source and Reason are recorded on both changes, the restore's
// action being "restore"; an empty Actor means Actor() and an empty Source
// means "library". If c cannot be applied, During returns its error and does
// not call fn.
func During(ctx context.Context, store Store, c Change, fn func(ctx context.Context) error) (err error) {
	if c.Apply == nil {
		return invalidf("change %q does nothing", c.Action)
	}
	if c.Actor == "" {
		c.Actor = Actor()
	}
	if c.Source == "" {
		c.Source = "library"
	}
	// The state the change is applied to, read inside the store's write
	// transaction, so that no other change can slip in between.
	var before *State
	apply := c.Apply
	c.Apply = func(st *State, reason string) error {
		before = st.Clone()
		return apply(st, reason)
	}
	after, err := store.Update(ctx, c)
	if err != nil {
		return err
	}
	// The sites the change modified carry the version it wrote; a no-op
	// writes no version.
	want := make(map[string]int64)
	if before != nil && after.Version == before.Version+1 {
		for _, s := range after.Sites {
			if s.Version == after.Version {
				want[s.Site] = s.Version
			}
		}
	}

	defer func() {
		if len(want) == 0 {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RestoreTimeout)
		defer cancel()
		var skipped []string
		r := restoreChange(before, want, &skipped)
		r.Actor, r.Source, r.Reason = c.Actor, c.Source, c.Reason
		if _, rerr := store.Update(rctx, r); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restoring the state of %s: %w", strings.Join(slices.Sorted(maps.Keys(want)), ", "), rerr))
			return
		}
		if len(skipped) > 0 {
			err = errors.Join(err, &RestoreSkippedError{Sites: skipped})
		}
	}()
	return fn(ctx)
}

// RestoreSkippedError is returned by During when sites were changed by
// someone else meanwhile: they were left as they are, not restored.
type RestoreSkippedError struct {
	// Sites are the names of the sites left as they are, sorted.
	Sites []string
}

func (e *RestoreSkippedError) Error() string {
	they := "they are"
	if len(e.Sites) == 1 {
		they = "it is"
	}
	return fmt.Sprintf("left %s as %s: changed by someone else meanwhile", strings.Join(e.Sites, ", "), they)
}
