-- Paging: each user's contact methods (a destination as channels keep one), escalation
-- policies (levels as JSON), the escalations of alert groups under them, and every page.
-- Times are Unix milliseconds.
CREATE TABLE contact_methods (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label      TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('webhook', 'slack', 'teams', 'pagerduty', 'email')),
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    settings   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, label)
);

CREATE TABLE escalation_policies (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    min_severity TEXT NOT NULL,
    tags         TEXT NOT NULL,
    levels       TEXT NOT NULL,
    repeat_count INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

-- An escalation pages until it is acknowledged, resolved or exhausted (ended_at), and is
-- kept unresolved until its alerts are, so the resolution reaches everyone paged.
CREATE TABLE escalations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    group_key   TEXT NOT NULL,
    policy_id   INTEGER REFERENCES escalation_policies(id) ON DELETE SET NULL,
    policy_name TEXT NOT NULL,
    level_index INTEGER NOT NULL,
    round_index INTEGER NOT NULL,
    next_at     INTEGER,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    ended       TEXT,
    resolved_at INTEGER
);
CREATE UNIQUE INDEX escalations_unresolved_once ON escalations (group_key, policy_id)
    WHERE resolved_at IS NULL;

CREATE TABLE escalation_alerts (
    escalation_id INTEGER NOT NULL REFERENCES escalations(id) ON DELETE CASCADE,
    alert_id      INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    PRIMARY KEY (escalation_id, alert_id)
);
CREATE INDEX escalation_alerts_by_alert ON escalation_alerts (alert_id);

CREATE TABLE pages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    escalation_id INTEGER NOT NULL REFERENCES escalations(id) ON DELETE CASCADE,
    level_index   INTEGER NOT NULL,
    round_index   INTEGER NOT NULL,
    event         TEXT NOT NULL,
    username      TEXT NOT NULL,
    method        TEXT NOT NULL,
    method_id     INTEGER,
    kind          TEXT,
    pending       BOOLEAN NOT NULL,
    at            INTEGER NOT NULL,
    error         TEXT
);
CREATE INDEX pages_by_escalation ON pages (escalation_id);
