-- Replicas sharing one database, and which replica polls each target. A replica's
-- membership expires unless its heartbeat renews it; every target it holds is free to
-- claim from that moment (one row written per heartbeat, not one per target).
-- Times are Unix milliseconds.
CREATE TABLE replicas (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

ALTER TABLE targets ADD COLUMN lease_holder TEXT;
CREATE INDEX targets_by_lease_holder ON targets (lease_holder);
