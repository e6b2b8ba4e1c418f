-- Operational readiness items ticked by hand, per target (times in Unix milliseconds).
CREATE TABLE readiness_ticks (
    target_id INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    item      TEXT NOT NULL,
    ticked_by TEXT NOT NULL,
    ticked_at INTEGER NOT NULL,
    PRIMARY KEY (target_id, item)
);
