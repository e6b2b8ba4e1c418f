-- Incidents: each one's phases (with their clocks), checklist steps, and timeline entries.
-- Times are Unix milliseconds.
CREATE TABLE incidents (
    id            BIGSERIAL PRIMARY KEY,
    title         TEXT NOT NULL,
    severity      TEXT NOT NULL,
    commander     TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
    runbook       TEXT,
    alert_id      BIGINT REFERENCES alerts(id) ON DELETE SET NULL,
    target_ids    TEXT NOT NULL,
    declared_by   TEXT NOT NULL,
    declared_at   BIGINT NOT NULL,
    resolved_at   BIGINT,
    current_phase BIGINT NOT NULL
);
CREATE INDEX incidents_by_state ON incidents (state, declared_at);

CREATE TABLE incident_phases (
    incident_id BIGINT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    idx         BIGINT NOT NULL,
    name        TEXT NOT NULL,
    budget_secs BIGINT,
    started_at  BIGINT,
    ended_at    BIGINT,
    PRIMARY KEY (incident_id, idx)
);

CREATE TABLE incident_steps (
    id          BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    phase       BIGINT NOT NULL,
    text        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'done', 'skipped')),
    actor       TEXT,
    at          BIGINT,
    reason      TEXT
);
CREATE INDEX incident_steps_by_incident ON incident_steps (incident_id, id);

CREATE TABLE incident_events (
    id          BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    text        TEXT NOT NULL
);
CREATE INDEX incident_events_by_incident ON incident_events (incident_id, id);
