-- Incidents: each one's phases (with their clocks), checklist steps, and timeline entries.
-- Times are Unix milliseconds.
CREATE TABLE incidents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    title         TEXT NOT NULL,
    severity      TEXT NOT NULL,
    commander     TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
    runbook       TEXT,
    alert_id      INTEGER REFERENCES alerts(id) ON DELETE SET NULL,
    target_ids    TEXT NOT NULL,
    declared_by   TEXT NOT NULL,
    declared_at   INTEGER NOT NULL,
    resolved_at   INTEGER,
    current_phase INTEGER NOT NULL
);
CREATE INDEX incidents_by_state ON incidents (state, declared_at);

CREATE TABLE incident_phases (
    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    budget_secs INTEGER,
    started_at  INTEGER,
    ended_at    INTEGER,
    PRIMARY KEY (incident_id, idx)
);

CREATE TABLE incident_steps (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    phase       INTEGER NOT NULL,
    text        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'done', 'skipped')),
    actor       TEXT,
    at          INTEGER,
    reason      TEXT
);
CREATE INDEX incident_steps_by_incident ON incident_steps (incident_id, id);

CREATE TABLE incident_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    text        TEXT NOT NULL
);
CREATE INDEX incident_events_by_incident ON incident_events (incident_id, id);
