-- Admin users, API tokens and bypass links (issue 5). Their records live in
-- the state document; what is not state lives in tables of its own.

-- An event about a user, an API token or a bypass link names it ("user
-- alice", "token 3f9c2a1b", "bypass 8d1e0f2c"); '' for the others.
ALTER TABLE events ADD COLUMN target TEXT NOT NULL DEFAULT '';

-- The server key, which signs bypass cookies and admin sessions: one row,
-- inserted by the first Secrets.Key call. Not state: no version, no event.
CREATE TABLE server_key (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	key BLOB    NOT NULL
);

-- How many times each bypass link was used, by link ID; a link never used
-- has no row. Not state either.
CREATE TABLE bypass_uses (
	id   TEXT    PRIMARY KEY,
	uses INTEGER NOT NULL
);
