-- One row per poll per target: the interval's signals and its latency bucket deltas.
-- Times are Unix milliseconds in every table from here on: compact and the same in both dialects.
CREATE TABLE samples (
    target_id          INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    at                 INTEGER NOT NULL,
    state              TEXT NOT NULL,
    live_ms            REAL,
    mcp_ms             REAL,
    seconds            REAL,
    requests           REAL,
    errors             REAL,
    p50                REAL,
    p95                REAL,
    p99                REAL,
    active_connections REAL,
    cpu_cores          REAL,
    memory_bytes       REAL,
    tools_executed     REAL,
    resources_accessed REAL,
    sessions_active    REAL,
    quota_remaining    REAL,
    buckets            TEXT,
    PRIMARY KEY (target_id, at)
) WITHOUT ROWID;

-- The latest poll of each target, for pages that show the whole fleet at once.
CREATE TABLE target_status (
    target_id   INTEGER PRIMARY KEY REFERENCES targets(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    state       TEXT NOT NULL,
    failures    TEXT NOT NULL,
    readiness   TEXT,
    mcp         TEXT,
    p95         REAL,
    error_ratio REAL,
    rps         REAL
);

-- Each distinct tool list a target has offered, oldest first.
CREATE TABLE tool_catalogs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    target_id INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    at        INTEGER NOT NULL,
    tools     TEXT NOT NULL
);
CREATE INDEX tool_catalogs_by_target ON tool_catalogs (target_id, id);
