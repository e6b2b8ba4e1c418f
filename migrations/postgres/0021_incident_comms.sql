-- Incident communication: the operations and communications leads, when the next status
-- update is due, the updates as posted, and the follow-up action items. Times are Unix
-- milliseconds; an action item's due day is YYYY-MM-DD.
ALTER TABLE incidents ADD COLUMN ops_lead TEXT;
ALTER TABLE incidents ADD COLUMN comms_lead TEXT;
ALTER TABLE incidents ADD COLUMN update_due_at BIGINT;

CREATE TABLE incident_updates (
    id             BIGSERIAL PRIMARY KEY,
    incident_id    BIGINT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    at             BIGINT NOT NULL,
    author         TEXT NOT NULL,
    affected       TEXT NOT NULL,
    impact         TEXT NOT NULL,
    next_update_at BIGINT NOT NULL
);
CREATE INDEX incident_updates_by_incident ON incident_updates (incident_id, id);

CREATE TABLE incident_action_items (
    id          BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    text        TEXT NOT NULL,
    owner       TEXT NOT NULL,
    due_day     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    closed_by   TEXT,
    closed_at   BIGINT
);
CREATE INDEX incident_action_items_by_incident ON incident_action_items (incident_id, id);
-- The incidents page lists every open item, soonest due first.
CREATE INDEX incident_action_items_open ON incident_action_items (due_day) WHERE closed_at IS NULL;
