-- On-call schedules: layers of people taking turns, overrides, and each user's calendar feed
-- secret (only its SHA-256 is kept). Times are Unix milliseconds; a layer's first handoff is
-- a local time in the schedule's zone ('YYYY-MM-DDTHH:MM'), its participants a JSON array.
CREATE TABLE oncall_schedules (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    time_zone  TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE oncall_layers (
    id            BIGSERIAL PRIMARY KEY,
    schedule_id   BIGINT NOT NULL REFERENCES oncall_schedules(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    rotation      TEXT NOT NULL CHECK (rotation IN ('daily', 'weekly')),
    first_handoff TEXT NOT NULL,
    participants  TEXT NOT NULL,
    window_start  TEXT,
    window_end    TEXT
);
CREATE INDEX oncall_layers_by_schedule ON oncall_layers (schedule_id);

CREATE TABLE oncall_overrides (
    id          BIGSERIAL PRIMARY KEY,
    schedule_id BIGINT NOT NULL REFERENCES oncall_schedules(id) ON DELETE CASCADE,
    username    TEXT NOT NULL,
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX oncall_overrides_by_schedule ON oncall_overrides (schedule_id, ends_at);

CREATE TABLE calendar_feeds (
    user_id     BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);
