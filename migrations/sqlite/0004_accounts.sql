CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'auditor', 'admin')),
    must_reset    BOOLEAN NOT NULL DEFAULT FALSE,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- Kiosk and API tokens; only a SHA-256 of the secret is kept.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL CHECK (kind IN ('kiosk', 'api')),
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'auditor', 'admin')),
    secret_hash  TEXT NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

-- Append-only: the code has no UPDATE or DELETE for it, and the triggers refuse them.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at_ms      INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    resource   TEXT NOT NULL,
    result     TEXT NOT NULL,
    ip         TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    request_id TEXT NOT NULL,
    reason     TEXT,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at_ms);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_event_type ON audit_log (event_type, seq);
-- Failures are rare and often what an auditor asks for.
CREATE INDEX audit_log_result ON audit_log (result, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- Full-text index only (contentless): rows are read from audit_log. The filter columns are
-- indexed too, so words plus filters are one intersection of short lists in the index.
CREATE VIRTUAL TABLE audit_search USING fts5 (
    resource, details, actor, event_type, action, result, content = ''
);
CREATE TRIGGER audit_log_index AFTER INSERT ON audit_log
BEGIN
    INSERT INTO audit_search (rowid, resource, details, actor, event_type, action, result)
    VALUES (new.seq, new.resource, new.details, new.actor, new.event_type, new.action, new.result);
END;
