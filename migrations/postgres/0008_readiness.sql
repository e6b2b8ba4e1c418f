-- Operational readiness items ticked by hand, per target (times in Unix milliseconds).
CREATE TABLE readiness_ticks (
    target_id BIGINT NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    item      TEXT NOT NULL,
    ticked_by TEXT NOT NULL,
    ticked_at BIGINT NOT NULL,
    PRIMARY KEY (target_id, item)
);
