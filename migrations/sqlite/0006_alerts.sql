-- Alerts: baseline overrides, the alerts themselves and every transition, notification
-- channels and their deliveries, silences, acknowledged tool catalogs and deploy markers.
-- Times are Unix milliseconds.
CREATE TABLE baseline_overrides (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    scope          TEXT NOT NULL CHECK (scope IN ('fleet', 'tag', 'target')),
    scope_key      TEXT NOT NULL,
    p50_ms         REAL,
    p95_ms         REAL,
    p99_ms         REAL,
    error_rate_pct REAL,
    rps            REAL,
    factor         REAL,
    for_polls      INTEGER,
    updated_by     TEXT NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (scope, scope_key)
);

CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    rule        TEXT NOT NULL,
    target_id   INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    severity    TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'firing', 'acknowledged', 'resolved')),
    summary     TEXT NOT NULL,
    silenced    BOOLEAN NOT NULL DEFAULT FALSE,
    opened_at   INTEGER NOT NULL,
    fired_at    INTEGER,
    acked_at    INTEGER,
    acked_by    TEXT,
    ack_note    TEXT,
    resolved_at INTEGER,
    updated_at  INTEGER NOT NULL
);
-- One open alert per rule and target: the engine's deduplication, enforced.
CREATE UNIQUE INDEX alerts_open_once ON alerts (rule, target_id) WHERE state <> 'resolved';
CREATE INDEX alerts_by_state ON alerts (state, opened_at);
CREATE INDEX alerts_by_target ON alerts (target_id, opened_at);

CREATE TABLE alert_transitions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id   INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alert_transitions_by_alert ON alert_transitions (alert_id, id);

CREATE TABLE channels (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('webhook', 'slack')),
    url          TEXT NOT NULL,
    min_severity TEXT NOT NULL,
    tags         TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE deliveries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    alert_id   INTEGER REFERENCES alerts(id) ON DELETE SET NULL,
    event      TEXT NOT NULL,
    attempt    INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    error      TEXT
);
CREATE INDEX deliveries_by_channel ON deliveries (channel_id, id);

CREATE TABLE silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    target     TEXT,
    tag        TEXT,
    rule       TEXT,
    owner      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    recurrence TEXT,
    created_at INTEGER NOT NULL
);

-- The tool list an operator last accepted per target; drift is measured against it.
CREATE TABLE tool_acks (
    target_id INTEGER PRIMARY KEY REFERENCES targets(id) ON DELETE CASCADE,
    tools     TEXT NOT NULL,
    acked_by  TEXT NOT NULL,
    acked_at  INTEGER NOT NULL
);

CREATE TABLE deploys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    target_id  INTEGER REFERENCES targets(id) ON DELETE CASCADE,
    tag        TEXT,
    version    TEXT NOT NULL,
    note       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX deploys_by_time ON deploys (at);
