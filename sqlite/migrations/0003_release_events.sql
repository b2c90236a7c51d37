-- A change of the fleet's target release is an event without a site; it
-- names the releases before and after ("" when none).
ALTER TABLE events ADD COLUMN release_before TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN release_after TEXT NOT NULL DEFAULT '';
