-- 1-minute and 1-hour rollups: the same columns as samples, merged from the level below
-- (counters summed, bucket deltas merged, gauges averaged, state the worst seen).
CREATE TABLE rollups_1m (
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
CREATE TABLE rollups_1h (
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
-- How far each level has been rolled up (exclusive end, Unix milliseconds).
CREATE TABLE rollup_progress (
    level TEXT PRIMARY KEY,
    up_to INTEGER NOT NULL
);
-- Retention deletes by time across all targets.
CREATE INDEX samples_by_time ON samples (at);
CREATE INDEX rollups_1m_by_time ON rollups_1m (at);
CREATE INDEX rollups_1h_by_time ON rollups_1h (at);
