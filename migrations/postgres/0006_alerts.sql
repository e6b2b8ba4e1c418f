-- Alerts: baseline overrides, the alerts themselves and every transition, notification
-- channels and their deliveries, silences, acknowledged tool catalogs and deploy markers.
-- Times are Unix milliseconds.
CREATE TABLE baseline_overrides (
    id             BIGSERIAL PRIMARY KEY,
    scope          TEXT NOT NULL CHECK (scope IN ('fleet', 'tag', 'target')),
    scope_key      TEXT NOT NULL,
    p50_ms         DOUBLE PRECISION,
    p95_ms         DOUBLE PRECISION,
    p99_ms         DOUBLE PRECISION,
    error_rate_pct DOUBLE PRECISION,
    rps            DOUBLE PRECISION,
    factor         DOUBLE PRECISION,
    for_polls      BIGINT,
    updated_by     TEXT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (scope, scope_key)
);

CREATE TABLE alerts (
    id          BIGSERIAL PRIMARY KEY,
    rule        TEXT NOT NULL,
    target_id   BIGINT NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    severity    TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'firing', 'acknowledged', 'resolved')),
    summary     TEXT NOT NULL,
    silenced    BOOLEAN NOT NULL DEFAULT FALSE,
    opened_at   BIGINT NOT NULL,
    fired_at    BIGINT,
    acked_at    BIGINT,
    acked_by    TEXT,
    ack_note    TEXT,
    resolved_at BIGINT,
    updated_at  BIGINT NOT NULL
);
-- One open alert per rule and target: the engine's deduplication, enforced.
CREATE UNIQUE INDEX alerts_open_once ON alerts (rule, target_id) WHERE state <> 'resolved';
CREATE INDEX alerts_by_state ON alerts (state, opened_at);
CREATE INDEX alerts_by_target ON alerts (target_id, opened_at);

CREATE TABLE alert_transitions (
    id         BIGSERIAL PRIMARY KEY,
    alert_id   BIGINT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    at         BIGINT NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alert_transitions_by_alert ON alert_transitions (alert_id, id);

CREATE TABLE channels (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('webhook', 'slack')),
    url          TEXT NOT NULL,
    min_severity TEXT NOT NULL,
    tags         TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE deliveries (
    id         BIGSERIAL PRIMARY KEY,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    alert_id   BIGINT REFERENCES alerts(id) ON DELETE SET NULL,
    event      TEXT NOT NULL,
    attempt    BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    error      TEXT
);
CREATE INDEX deliveries_by_channel ON deliveries (channel_id, id);

CREATE TABLE silences (
    id         BIGSERIAL PRIMARY KEY,
    target     TEXT,
    tag        TEXT,
    rule       TEXT,
    owner      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    recurrence TEXT,
    created_at BIGINT NOT NULL
);

-- The tool list an operator last accepted per target; drift is measured against it.
CREATE TABLE tool_acks (
    target_id BIGINT PRIMARY KEY REFERENCES targets(id) ON DELETE CASCADE,
    tools     TEXT NOT NULL,
    acked_by  TEXT NOT NULL,
    acked_at  BIGINT NOT NULL
);

CREATE TABLE deploys (
    id         BIGSERIAL PRIMARY KEY,
    target_id  BIGINT REFERENCES targets(id) ON DELETE CASCADE,
    tag        TEXT,
    version    TEXT NOT NULL,
    note       TEXT NOT NULL,
    at         BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX deploys_by_time ON deploys (at);
