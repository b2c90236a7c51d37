-- Run with search_path set to the store's schema: names are unqualified.

-- The whole maintenance.State as one JSON document, in a table of one row.
-- version is the state's version; doc holds the rest (its "version" field is
-- written equal to the column and ignored when read).
CREATE TABLE state (
	id      integer PRIMARY KEY CHECK (id = 1),
	version bigint  NOT NULL,
	doc     jsonb   NOT NULL
);
INSERT INTO state (id, version, doc) VALUES (1, 0, '{"version":0,"sites":[]}');

-- The audit log: one row per site changed by a change. "before" and "after"
-- are the site's state, NULL when the change declared or removed it.
CREATE TABLE events (
	id       bigserial   PRIMARY KEY,
	version  bigint      NOT NULL,
	"time"   timestamptz NOT NULL,
	actor    text        NOT NULL,
	source   text        NOT NULL,
	reason   text        NOT NULL,
	action   text        NOT NULL,
	site     text        NOT NULL,
	"before" jsonb,
	"after"  jsonb
);
CREATE INDEX events_site ON events (site, id);

-- The gates that sent a heartbeat: info is the maintenance.GateInfo as JSON,
-- last_seen its LastSeen, which expiry compares.
CREATE TABLE gates (
	id        text        PRIMARY KEY,
	info      jsonb       NOT NULL,
	last_seen timestamptz NOT NULL
);
