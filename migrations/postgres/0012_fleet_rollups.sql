-- The whole fleet per minute, merged from the 1-minute rollups of every target (requests
-- summed over the minute, bucket deltas merged, gauges averaged per target), so fleet-wide
-- charts read one row per minute however large the fleet. target_id is always 0.
CREATE TABLE fleet_rollups_1m (
    target_id          BIGINT NOT NULL,
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
CREATE INDEX fleet_rollups_1m_by_time ON fleet_rollups_1m (at);
