-- User metadata (ZITADEL user_metadata5): one opaque value per (instance, user, key).
CREATE TABLE user_metadata (
  instance_id    text        NOT NULL,
  user_id        text        NOT NULL,
  key            text        NOT NULL,
  resource_owner text        NOT NULL, -- the user's org
  creation_date  timestamptz NOT NULL,
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  value          bytea       NOT NULL,
  PRIMARY KEY (instance_id, user_id, key)
);
-- The org cascade, and the users list's metadata filter (users having a key).
CREATE INDEX user_metadata_resource_owner_idx ON user_metadata (instance_id, resource_owner);
CREATE INDEX user_metadata_key_idx ON user_metadata (instance_id, key);

-- Isolation as for the service's other tables: the instance, and the org of an org-restricted token.
ALTER TABLE user_metadata ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_metadata FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
CREATE POLICY org_isolation ON user_metadata AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR resource_owner = current_setting('app.org_id', true));
GRANT SELECT ON user_metadata TO idp_query;
SELECT projector_guard_tenant_keys();
