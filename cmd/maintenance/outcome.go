package main

import "github.com/gomaint/maintenance"

// outcomeJSON is the part every --json of a command that changes the state
// shares, embedded first in its object: the state's version after the
// change, and how the fleet followed it, as "maintenance on --json" gives
// them. Gates is null and elapsed_ms 0 when nothing was waited for (--wait
// 0, or no change to wait for).
type outcomeJSON struct {
	Version   int64                   `json:"version"`
	Gates     *maintenance.FleetGates `json:"gates"`
	ElapsedMS int64                   `json:"elapsed_ms"`
}

// outcome returns the outcome of the last change, whose state has version,
// and marks the fleet's report printed (it is in the JSON, not on stderr).
func (e *env) outcome(version int64) outcomeJSON {
	o := outcomeJSON{Version: version}
	if f := e.fleet.json(); f != nil {
		o.Gates, o.ElapsedMS = &f.Gates, f.ElapsedMS
		e.fleet.printed = true
	}
	return o
}

// writeOutcome prints fields, the outcome of a change whose state has
// version, as one JSON object, with "version", "gates" and "elapsed_ms"
// added (see outcomeJSON); keys come sorted.
func (e *env) writeOutcome(version int64, fields map[string]any) error {
	o := e.outcome(version)
	fields["version"], fields["gates"], fields["elapsed_ms"] = o.Version, o.Gates, o.ElapsedMS
	return writeJSON(e.stdout, fields)
}
