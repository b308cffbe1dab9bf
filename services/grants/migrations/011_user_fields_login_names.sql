-- What grants show of their user besides the username and display name (ZITADEL joins users, humans and
-- login names at query time), and what the user's preferred login name is computed from at query time:
-- the orgs' verified domains and primary domain, and the domain policies. Rows projected before this
-- migration have NULL in the new lookup_users columns until the projection is rebuilt.

ALTER TABLE lookup_users
  ADD COLUMN type       smallint, -- 1 human, 2 machine
  ADD COLUMN first_name text,
  ADD COLUMN last_name  text,
  ADD COLUMN email      text,
  ADD COLUMN avatar_key text;

CREATE TABLE org_domains (
  instance_id    text        NOT NULL,
  org_id         text        NOT NULL,
  resource_owner text        NOT NULL, -- the org
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  domains        text[]      NOT NULL, -- verified domains
  primary_domain text,
  PRIMARY KEY (instance_id, org_id)
);

-- owner_id: the org, or the instance for the instance default (is_default).
CREATE TABLE domain_policies (
  instance_id    text        NOT NULL,
  owner_id       text        NOT NULL,
  resource_owner text        NOT NULL,
  change_date    timestamptz NOT NULL,
  sequence       bigint      NOT NULL,
  must_be_domain boolean     NOT NULL,
  is_default     boolean     NOT NULL,
  PRIMARY KEY (instance_id, owner_id)
);

ALTER TABLE org_domains ENABLE ROW LEVEL SECURITY;
ALTER TABLE domain_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON org_domains FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
CREATE POLICY tenant_isolation ON domain_policies FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
GRANT SELECT ON org_domains, domain_policies TO idp_query;

-- As for lookup_users: an org sees its own rows, and those of the orgs of users its grants name (a grant
-- shows its user's login name even when the user belongs to another org); the instance default always.
CREATE POLICY org_isolation ON org_domains AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR org_id = current_setting('app.org_id', true)
         OR EXISTS (SELECT 1 FROM user_grants g JOIN lookup_users u ON u.instance_id = g.instance_id AND u.user_id = g.user_id
                    WHERE g.instance_id = org_domains.instance_id AND u.resource_owner = org_domains.org_id
                      AND g.resource_owner = current_setting('app.org_id', true)));
CREATE POLICY org_isolation ON domain_policies AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR is_default OR owner_id = current_setting('app.org_id', true)
         OR EXISTS (SELECT 1 FROM user_grants g JOIN lookup_users u ON u.instance_id = g.instance_id AND u.user_id = g.user_id
                    WHERE g.instance_id = domain_policies.instance_id AND u.resource_owner = domain_policies.owner_id
                      AND g.resource_owner = current_setting('app.org_id', true)));

SELECT projector_guard_tenant_keys();
