-- The names grants show of their org and project: the project's from project.added (v2) and
-- project.changed, the org's from org.added and org.changed. Rows projected before this migration have
-- no name until the projection is rebuilt.

ALTER TABLE lookup_projects ADD COLUMN name text;

CREATE TABLE lookup_orgs (
  instance_id    text        NOT NULL,
  org_id         text        NOT NULL,
  resource_owner text        NOT NULL, -- the org itself
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  name           text        NOT NULL,
  PRIMARY KEY (instance_id, org_id)
);

ALTER TABLE lookup_orgs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lookup_orgs FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
GRANT SELECT ON lookup_orgs TO idp_query;
-- An org sees its own name; grants show only the name of the org owning them, which is the token's org.
CREATE POLICY org_isolation ON lookup_orgs AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR org_id = current_setting('app.org_id', true));

SELECT projector_guard_tenant_keys();
