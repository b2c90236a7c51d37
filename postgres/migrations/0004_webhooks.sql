-- Run with search_path set to the store's schema: names are unqualified.

-- Webhook delivery (issue 17). The webhooks themselves live in the state
-- document; what delivery keeps is not state: no version, no event, no
-- notification.

-- Leases: one process of the fleet holds a lease until a time.
CREATE TABLE leases (
	name   text        PRIMARY KEY,
	holder text        NOT NULL,
	until  timestamptz NOT NULL
);

-- The delivery cursor of each webhook (maintenance.Cursor).
CREATE TABLE webhook_cursors (
	id     text  PRIMARY KEY,
	cursor jsonb NOT NULL
);
