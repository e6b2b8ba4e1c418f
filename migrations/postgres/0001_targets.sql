CREATE TABLE targets (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    base_url      TEXT NOT NULL,
    interval_secs INTEGER NOT NULL CHECK (interval_secs BETWEEN 1 AND 3600),
    tags          JSONB NOT NULL DEFAULT '[]',
    source        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
