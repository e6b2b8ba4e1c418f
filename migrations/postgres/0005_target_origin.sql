-- Where a target came from within its source: the file that lists it, for file sources.
ALTER TABLE targets ADD COLUMN origin TEXT NOT NULL DEFAULT '';
