-- 1-minute and 1-hour rollups: the same columns as samples, merged from the level below
-- (counters summed, bucket deltas merged, gauges averaged, state the worst seen).
CREATE TABLE rollups_1m (
    target_id          BIGINT NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    at                 BIGINT NOT NULL,
    state              TEXT NOT NULL,
    live_ms            DOUBLE PRECISION,
    mcp_ms             DOUBLE PRECISION,
    seconds            DOUBLE PRECISION,
    requests           DOUBLE PRECISION,
    errors             DOUBLE PRECISION,
    p50                DOUBLE PRECISION,
    p95                DOUBLE PRECISION,
    p99                DOUBLE PRECISION,
    active_connections DOUBLE PRECISION,
    cpu_cores          DOUBLE PRECISION,
    memory_bytes       DOUBLE PRECISION,
    tools_executed     DOUBLE PRECISION,
    resources_accessed DOUBLE PRECISION,
    sessions_active    DOUBLE PRECISION,
    quota_remaining    DOUBLE PRECISION,
    buckets            TEXT,
    PRIMARY KEY (target_id, at)
);
CREATE TABLE rollups_1h (
    target_id          BIGINT NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    at                 BIGINT NOT NULL,
    state              TEXT NOT NULL,
    live_ms            DOUBLE PRECISION,
    mcp_ms             DOUBLE PRECISION,
    seconds            DOUBLE PRECISION,
    requests           DOUBLE PRECISION,
    errors             DOUBLE PRECISION,
    p50                DOUBLE PRECISION,
    p95                DOUBLE PRECISION,
    p99                DOUBLE PRECISION,
    active_connections DOUBLE PRECISION,
    cpu_cores          DOUBLE PRECISION,
    memory_bytes       DOUBLE PRECISION,
    tools_executed     DOUBLE PRECISION,
    resources_accessed DOUBLE PRECISION,
    sessions_active    DOUBLE PRECISION,
    quota_remaining    DOUBLE PRECISION,
    buckets            TEXT,
    PRIMARY KEY (target_id, at)
);
-- How far each level has been rolled up (exclusive end, Unix milliseconds).
CREATE TABLE rollup_progress (
    level TEXT PRIMARY KEY,
    up_to BIGINT NOT NULL
);
-- Retention deletes by time across all targets.
CREATE INDEX samples_by_time ON samples (at);
CREATE INDEX rollups_1m_by_time ON rollups_1m (at);
CREATE INDEX rollups_1h_by_time ON rollups_1h (at);
