CREATE TABLE targets (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    base_url      TEXT NOT NULL,
    interval_secs INTEGER NOT NULL CHECK (interval_secs BETWEEN 1 AND 3600),
    tags          TEXT NOT NULL DEFAULT '[]',
    source        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
