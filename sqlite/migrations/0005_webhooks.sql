-- Webhook delivery (issue 17). The webhooks themselves live in the state
-- document; what delivery keeps is not state: no version, no event.

-- Leases: one process of the fleet holds a lease until a time (Unix ms).
CREATE TABLE leases (
	name   TEXT    PRIMARY KEY,
	holder TEXT    NOT NULL,
	until  INTEGER NOT NULL
);

-- The delivery cursor of each webhook, as JSON (maintenance.Cursor).
CREATE TABLE webhook_cursors (
	id     TEXT PRIMARY KEY,
	cursor TEXT NOT NULL
);
