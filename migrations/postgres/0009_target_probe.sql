-- Per-target probe settings (timeout, paths, metric names) as JSON, and the secret headers
-- sent with every probe as a JSON list of [name, value] (never shown on a page or logged).
ALTER TABLE targets ADD COLUMN probe TEXT NOT NULL DEFAULT '{}';
ALTER TABLE targets ADD COLUMN headers TEXT NOT NULL DEFAULT '[]';
