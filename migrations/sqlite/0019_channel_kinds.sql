-- Teams, PagerDuty and email channels. A channel keeps its secret (a PagerDuty routing key
-- or an SMTP password) apart from its address, and an email channel its user and mailboxes
-- as JSON in `settings`. SQLite cannot change a CHECK in place, so channels and the
-- deliveries that reference them are copied into new tables.
CREATE TABLE channels_v2 (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('webhook', 'slack', 'teams', 'pagerduty', 'email')),
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL DEFAULT '',
    settings     TEXT NOT NULL DEFAULT '{}',
    min_severity TEXT NOT NULL,
    tags         TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
INSERT INTO channels_v2 (id, name, kind, url, min_severity, tags, created_by, created_at)
    SELECT id, name, kind, url, min_severity, tags, created_by, created_at FROM channels;

CREATE TABLE deliveries_v2 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id INTEGER NOT NULL REFERENCES channels_v2(id) ON DELETE CASCADE,
    alert_id   INTEGER REFERENCES alerts(id) ON DELETE SET NULL,
    event      TEXT NOT NULL,
    attempt    INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    error      TEXT
);
INSERT INTO deliveries_v2 SELECT id, channel_id, alert_id, event, attempt, at, error FROM deliveries;

-- Ids of deleted channels and deliveries are not handed out again: the counters carry over.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'channels_v2', seq FROM sqlite_sequence WHERE name = 'channels'
    AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'channels_v2');
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'channels')
    WHERE name = 'channels_v2' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'channels');
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'deliveries_v2', seq FROM sqlite_sequence WHERE name = 'deliveries'
    AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'deliveries_v2');
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'deliveries')
    WHERE name = 'deliveries_v2' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'deliveries');

DROP TABLE deliveries;
DROP TABLE channels;
-- Renaming also rewrites deliveries_v2's reference to the new name.
ALTER TABLE channels_v2 RENAME TO channels;
ALTER TABLE deliveries_v2 RENAME TO deliveries;
CREATE INDEX deliveries_by_channel ON deliveries (channel_id, id);
-- An alert's page lists its deliveries.
CREATE INDEX deliveries_by_alert ON deliveries (alert_id, id);
