-- Teams, PagerDuty and email channels. A channel keeps its secret (a PagerDuty routing key
-- or an SMTP password) apart from its address, and an email channel its user and mailboxes
-- as JSON in `settings`.
ALTER TABLE channels
    DROP CONSTRAINT channels_kind_check,
    ADD CONSTRAINT channels_kind_check
        CHECK (kind IN ('webhook', 'slack', 'teams', 'pagerduty', 'email')),
    ADD COLUMN secret TEXT NOT NULL DEFAULT '',
    ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- An alert's page lists its deliveries.
CREATE INDEX deliveries_by_alert ON deliveries (alert_id, id);
