package maintenance

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultWait is how long a change waits for the fleet by default (the
// CLI's --wait, the API's ?wait=).
const DefaultWait = 10 * time.Second

// MaxWait is the longest wait accepted from a person or a client.
const MaxWait = 10 * time.Minute

// Fleet is how the live gates of a store follow a state version: the answer
// of WaitFleet, printed by the CLI and returned by the API.
type Fleet struct {
	// Version is the state version waited for.
	Version int64      `json:"version"`
	Gates   FleetGates `json:"gates"`
	// Elapsed is the time spent waiting.
	Elapsed time.Duration `json:"-"`
}

// FleetGates counts the live gates and names those behind.
type FleetGates struct {
	// Live is the number of gates in the registry (seen within GateTTL).
	Live int `json:"live"`
	// Switched is the number of live gates that serve the version or a
	// later one.
	Switched int `json:"switched"`
	// Lagging are the live gates that serve an older version, by ID.
	Lagging []LaggingGate `json:"lagging"`
}

// LaggingGate is a live gate that serves an older version than the one
// waited for.
type LaggingGate struct {
	ID      string `json:"id"`
	Host    string `json:"host"`
	Version int64  `json:"version"`
}

// fleetOf counts gates against version.
func fleetOf(gates []GateInfo, version int64) FleetGates {
	f := FleetGates{Live: len(gates), Lagging: []LaggingGate{}}
	for _, g := range gates {
		if g.Version >= version {
			f.Switched++
			continue
		}
		f.Lagging = append(f.Lagging, LaggingGate{ID: g.ID, Host: g.Host, Version: g.Version})
	}
	return f
}

// LaggingError is the error of WaitFleet when the wait ran out with live
// gates still behind. The change itself stays made.
type LaggingError struct{ Fleet Fleet }

func (e *LaggingError) Error() string {
	var b strings.Builder
	f := e.Fleet
	fmt.Fprintf(&b, "%d of %d gates still serve an older version than %d after %s:", len(f.Gates.Lagging), f.Gates.Live, f.Version, f.Elapsed.Round(time.Millisecond))
	for i, g := range f.Gates.Lagging {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s (%s, version %d)", g.ID, g.Host, g.Version)
	}
	return b.String()
}

// Fleet poll intervals: short for the first fastFleetPolls, since a gate
// reports a change within milliseconds of the store's propagation time,
// then longer, to spare the store while a gate lags.
const (
	fastFleetPoll  = 5 * time.Millisecond
	fastFleetPolls = 500 * time.Millisecond
	slowFleetPoll  = 25 * time.Millisecond
)

// WaitFleet waits until every live gate of st serves version or a later one,
// or until wait has passed (0: it reads the registry once). progress, when
// not nil, is called after each read of the registry that changed the
// counts. It returns how the fleet followed; when the wait ran out with gates
// behind, also a *LaggingError naming them. A fleet with no live gate is
// returned at once, with no error (Live is 0: nothing follows the store).
// An error reading the registry is returned as it is.
func WaitFleet(ctx context.Context, st Store, version int64, wait time.Duration, progress func(Fleet)) (Fleet, error) {
	start := time.Now()
	deadline := start.Add(wait)
	last := FleetGates{Live: -1}
	for {
		gates, err := st.Gates(ctx)
		if err != nil {
			return Fleet{Version: version}, fmt.Errorf("reading the gate registry: %w", err)
		}
		f := Fleet{Version: version, Gates: fleetOf(gates, version), Elapsed: time.Since(start)}
		if f.Gates.Live == 0 || len(f.Gates.Lagging) == 0 {
			return f, nil
		}
		if progress != nil && (f.Gates.Live != last.Live || f.Gates.Switched != last.Switched) {
			progress(f)
		}
		last = f.Gates
		left := time.Until(deadline)
		if left <= 0 {
			return f, &LaggingError{Fleet: f}
		}
		poll := fastFleetPoll
		if time.Since(start) > fastFleetPolls {
			poll = slowFleetPoll
		}
		t := time.NewTimer(min(poll, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return f, fmt.Errorf("waiting for the gates: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// ParseWait parses a wait given by a person or a client: a Go duration
// (10s, 1m) or whole seconds, from 0 (do not wait) to MaxWait. Anything else
// is an error wrapping ErrInvalid.
func ParseWait(s string) (time.Duration, error) {
	const accepted = "accepted: a duration from 0 (do not wait) to 10m, like 10s or 30s"
	d, err := time.ParseDuration(s)
	if err != nil {
		n, serr := strconv.ParseInt(s, 10, 64)
		if serr != nil {
			return 0, invalidf("wait %q: not a duration; %s", s, accepted)
		}
		if n < 0 || n > int64(MaxWait/time.Second) {
			return 0, invalidf("wait %q: out of range; %s", s, accepted)
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 || d > MaxWait {
		return 0, invalidf("wait %q: out of range; %s", s, accepted)
	}
	return d, nil
}

// UpdateBefore applies c with st.Update and returns, with the state after
// the change, the state it was applied to, as read inside the store's
// transaction: what a caller reports as "before" is then what the change
// really found, even when another writer changed the state just before. A
// change that found nothing to do returns after.Version == before.Version.
func UpdateBefore(ctx context.Context, st Store, c Change) (before, after *State, err error) {
	inner := c.Apply
	if inner != nil {
		// Stores may apply a change more than once (a retried transaction):
		// the last call is the one that was committed.
		c.Apply = func(s *State, reason string) error {
			before = s.Clone()
			return inner(s, reason)
		}
	}
	after, err = st.Update(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	if before == nil || before.Version > after.Version {
		return nil, nil, fmt.Errorf("%s: the store did not apply the change to a state it read", c.Action)
	}
	return before, after, nil
}
