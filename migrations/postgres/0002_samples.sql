-- One row per poll per target: the interval's signals and its latency bucket deltas.
-- Times are Unix milliseconds in every table from here on: compact and the same in both dialects.
CREATE TABLE samples (
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

-- The latest poll of each target, for pages that show the whole fleet at once.
CREATE TABLE target_status (
    target_id   BIGINT PRIMARY KEY REFERENCES targets(id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    state       TEXT NOT NULL,
    failures    TEXT NOT NULL,
    readiness   TEXT,
    mcp         TEXT,
    p95         DOUBLE PRECISION,
    error_ratio DOUBLE PRECISION,
    rps         DOUBLE PRECISION
);

-- Each distinct tool list a target has offered, oldest first.
CREATE TABLE tool_catalogs (
    id        BIGSERIAL PRIMARY KEY,
    target_id BIGINT NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    at        BIGINT NOT NULL,
    tools     TEXT NOT NULL
);
CREATE INDEX tool_catalogs_by_target ON tool_catalogs (target_id, id);
