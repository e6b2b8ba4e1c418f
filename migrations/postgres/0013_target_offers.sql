-- What each target offers (liveness, readiness, metrics, MCP) as its latest poll found it,
-- and the TLS certificate of an https target, each as JSON; NULL for statuses stored before
-- mcpops looked.
ALTER TABLE target_status ADD COLUMN offers TEXT;
ALTER TABLE target_status ADD COLUMN certificate TEXT;
