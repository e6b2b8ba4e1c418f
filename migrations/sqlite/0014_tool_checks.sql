-- Synthetic tool calls: what an admin asked mcpops to call on a target (the spec as JSON),
-- and the result of each call. Times are Unix milliseconds.
CREATE TABLE tool_checks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    target_id  INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    spec       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX tool_checks_by_target ON tool_checks (target_id, id);

-- No foreign key: a batch of polls stored just after a check was deleted must not fail for
-- it. Retention removes the results of deleted checks with the old ones.
CREATE TABLE check_results (
    check_id  INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    ms        REAL,
    outcome   TEXT NOT NULL,
    reason    TEXT
);
CREATE INDEX check_results_by_check ON check_results (check_id, at);
CREATE INDEX check_results_by_time ON check_results (at);

-- Where each check stands, with the target's latest status (JSON; NULL before any check).
ALTER TABLE target_status ADD COLUMN checks TEXT;
