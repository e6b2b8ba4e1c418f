-- The whole fleet per minute, merged from the 1-minute rollups of every target (requests
-- summed over the minute, bucket deltas merged, gauges averaged per target), so fleet-wide
-- charts read one row per minute however large the fleet. target_id is always 0.
CREATE TABLE fleet_rollups_1m (
    target_id          INTEGER NOT NULL,
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
CREATE INDEX fleet_rollups_1m_by_time ON fleet_rollups_1m (at);
