-- The gate registry: one row per running gate, replaced by its heartbeats.
-- info is a maintenance.GateInfo as JSON (TEXT, not JSON, which SQLite would
-- give numeric affinity); last_seen is its LastSeen in Unix milliseconds,
-- for expiry. It is not part of the state: no version, no event.
CREATE TABLE gates (
	id        TEXT    PRIMARY KEY,
	info      TEXT    NOT NULL,
	last_seen INTEGER NOT NULL
);
CREATE INDEX gates_last_seen ON gates (last_seen);
