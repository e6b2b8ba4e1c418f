-- A tool list seen again is stored once: its text lives on its newest sighting, and earlier
-- sightings point there (`same_as`, with empty `tools`). The sightings keep the history of
-- changes (instances that disagree go A, B, A) without a copy per flip.
ALTER TABLE tool_catalogs ADD COLUMN same_as INTEGER REFERENCES tool_catalogs(id) ON DELETE CASCADE;
UPDATE tool_catalogs SET same_as = (
    SELECT MAX(n.id) FROM tool_catalogs n
    WHERE n.target_id = tool_catalogs.target_id AND n.tools = tool_catalogs.tools
) WHERE id < (
    SELECT MAX(n.id) FROM tool_catalogs n
    WHERE n.target_id = tool_catalogs.target_id AND n.tools = tool_catalogs.tools
);
UPDATE tool_catalogs SET tools = '' WHERE same_as IS NOT NULL;
CREATE INDEX tool_catalogs_by_list ON tool_catalogs (same_as);
