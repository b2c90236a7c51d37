-- Run with search_path set to the store's schema: names are unqualified.

-- A change of the fleet's target release is an event without a site; it
-- names the releases before and after ('' when none).
ALTER TABLE events ADD COLUMN release_before text NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN release_after text NOT NULL DEFAULT '';
