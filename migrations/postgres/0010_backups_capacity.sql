-- Backups, verified restores and restores, as the admin page lists them (times in Unix ms).
CREATE TABLE backup_runs (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('backup', 'verify', 'restore')),
    actor       TEXT NOT NULL,
    archive     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    ok          BOOLEAN NOT NULL,
    bytes       BIGINT,
    detail      TEXT NOT NULL
);
CREATE INDEX backup_runs_by_time ON backup_runs (finished_at);

-- What-if capacity inputs, saved per user and scope (`fleet`, `tag:x`, `target:id`).
CREATE TABLE capacity_plans (
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    overrides  TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, scope)
);
