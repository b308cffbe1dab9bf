-- Links of users to their accounts at external IdPs (ZITADEL idp_user_links).
CREATE TABLE idp_user_links (
  instance_id      text        NOT NULL,
  idp_id           text        NOT NULL, -- the IdP configuration
  external_user_id text        NOT NULL, -- the user's id at the IdP
  user_id          text        NOT NULL, -- the user's id here
  resource_owner   text        NOT NULL, -- the user's org
  creation_date    timestamptz NOT NULL,
  change_date      timestamptz NOT NULL,
  sequence         bigint      NOT NULL,
  display_name     text,
  PRIMARY KEY (instance_id, idp_id, external_user_id)
);
-- A user's links (the list, the IdP auth method type, the user cascade) and the org cascade.
CREATE INDEX idp_user_links_user_idx ON idp_user_links (instance_id, user_id);
CREATE INDEX idp_user_links_resource_owner_idx ON idp_user_links (instance_id, resource_owner);

-- Isolation as for the service's other tables: the instance, and the org of an org-restricted token.
ALTER TABLE idp_user_links ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idp_user_links FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
CREATE POLICY org_isolation ON idp_user_links AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR resource_owner = current_setting('app.org_id', true));
GRANT SELECT ON idp_user_links TO idp_query;
SELECT projector_guard_tenant_keys();
