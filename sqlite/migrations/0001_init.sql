-- The whole maintenance.State as one JSON document, in a table of one row.
-- version is the state's version; doc holds the rest (its "version" field is
-- written equal to the column and ignored when read).
CREATE TABLE state (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL,
	doc     TEXT    NOT NULL
);
INSERT INTO state (id, version, doc) VALUES (1, 0, '{"version":0,"sites":[]}');

-- The audit log: one row per site changed by a change. "before" and "after"
-- are the site's state as JSON, NULL when the change declared or removed it.
CREATE TABLE events (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	version  INTEGER NOT NULL,
	time     TEXT    NOT NULL,
	actor    TEXT    NOT NULL,
	source   TEXT    NOT NULL,
	reason   TEXT    NOT NULL,
	action   TEXT    NOT NULL,
	site     TEXT    NOT NULL,
	"before" TEXT,
	"after"  TEXT
);
CREATE INDEX events_site ON events (site, id);
