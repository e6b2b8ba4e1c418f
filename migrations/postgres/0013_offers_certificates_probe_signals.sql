-- What each target offers (liveness, readiness, metrics, MCP) as its latest poll found it,
-- the TLS certificate of an https target, and its calls, errors and p95 by tool from its
-- own metrics, each as JSON; NULL for statuses stored before mcpops looked.
ALTER TABLE target_status ADD COLUMN offers TEXT;
ALTER TABLE target_status ADD COLUMN certificate TEXT;
ALTER TABLE target_status ADD COLUMN tools TEXT;

-- Signals mcpops measures itself, for servers without /metrics: on rollup rows, the polls
-- covered and how many found the target down, and the MCP probe's round trips as bucket
-- deltas (JSON). Raw rows leave them NULL: one poll, its state and its mcp_ms say it all.
ALTER TABLE samples ADD COLUMN polls DOUBLE PRECISION;
ALTER TABLE samples ADD COLUMN polls_down DOUBLE PRECISION;
ALTER TABLE samples ADD COLUMN probe_buckets TEXT;
ALTER TABLE rollups_1m ADD COLUMN polls DOUBLE PRECISION;
ALTER TABLE rollups_1m ADD COLUMN polls_down DOUBLE PRECISION;
ALTER TABLE rollups_1m ADD COLUMN probe_buckets TEXT;
ALTER TABLE rollups_1h ADD COLUMN polls DOUBLE PRECISION;
ALTER TABLE rollups_1h ADD COLUMN polls_down DOUBLE PRECISION;
ALTER TABLE rollups_1h ADD COLUMN probe_buckets TEXT;
ALTER TABLE fleet_rollups_1m ADD COLUMN polls DOUBLE PRECISION;
ALTER TABLE fleet_rollups_1m ADD COLUMN polls_down DOUBLE PRECISION;
ALTER TABLE fleet_rollups_1m ADD COLUMN probe_buckets TEXT;
