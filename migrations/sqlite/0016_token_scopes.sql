-- API tokens narrow their role to scopes (space-separated) and may expire. Existing API
-- tokens get the scopes that cover what their role was used for; kiosk tokens have none.
ALTER TABLE tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN expires_at TEXT;
UPDATE tokens SET scopes = CASE role
    WHEN 'admin' THEN 'admin'
    WHEN 'operator' THEN 'read deploys:write alerts:write'
    ELSE 'read' END
WHERE kind = 'api';
