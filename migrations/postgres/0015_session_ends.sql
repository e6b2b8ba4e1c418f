-- When a user's sessions were last ended (a password change, a role change, disabling, or
-- "sign out everywhere"), in Unix milliseconds: a session begun before it is refused.
ALTER TABLE users ADD COLUMN sessions_after_ms BIGINT NOT NULL DEFAULT 0;
