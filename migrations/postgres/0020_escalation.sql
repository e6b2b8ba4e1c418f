-- Paging: each user's contact methods (a destination as channels keep one), escalation
-- policies (levels as JSON), the escalations of alert groups under them, and every page.
-- Times are Unix milliseconds.
CREATE TABLE contact_methods (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label      TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('webhook', 'slack', 'teams', 'pagerduty', 'email')),
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    settings   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, label)
);

CREATE TABLE escalation_policies (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    min_severity TEXT NOT NULL,
    tags         TEXT NOT NULL,
    levels       TEXT NOT NULL,
    repeat_count BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- An escalation pages until it is acknowledged, resolved or exhausted (ended_at), and is
-- kept unresolved until its alerts are, so the resolution reaches everyone paged.
CREATE TABLE escalations (
    id          BIGSERIAL PRIMARY KEY,
    group_key   TEXT NOT NULL,
    policy_id   BIGINT REFERENCES escalation_policies(id) ON DELETE SET NULL,
    policy_name TEXT NOT NULL,
    level_index BIGINT NOT NULL,
    round_index BIGINT NOT NULL,
    next_at     BIGINT,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    ended       TEXT,
    resolved_at BIGINT
);
CREATE UNIQUE INDEX escalations_unresolved_once ON escalations (group_key, policy_id)
    WHERE resolved_at IS NULL;

CREATE TABLE escalation_alerts (
    escalation_id BIGINT NOT NULL REFERENCES escalations(id) ON DELETE CASCADE,
    alert_id      BIGINT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    PRIMARY KEY (escalation_id, alert_id)
);
CREATE INDEX escalation_alerts_by_alert ON escalation_alerts (alert_id);

CREATE TABLE pages (
    id            BIGSERIAL PRIMARY KEY,
    escalation_id BIGINT NOT NULL REFERENCES escalations(id) ON DELETE CASCADE,
    level_index   BIGINT NOT NULL,
    round_index   BIGINT NOT NULL,
    event         TEXT NOT NULL,
    username      TEXT NOT NULL,
    method        TEXT NOT NULL,
    method_id     BIGINT,
    kind          TEXT,
    pending       BOOLEAN NOT NULL,
    at            BIGINT NOT NULL,
    error         TEXT
);
CREATE INDEX pages_by_escalation ON pages (escalation_id);
