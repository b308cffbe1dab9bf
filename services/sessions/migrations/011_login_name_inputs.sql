-- What the session user's preferred login name is computed from at query time (as the users service
-- computes it): the orgs' verified domains and primary domain, and the domain policies.

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

-- An org-restricted token sees the sessions of its own users only, so it needs its own org's domains and
-- policy, and the instance default every org falls back on.
CREATE POLICY org_isolation ON org_domains AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR org_id = current_setting('app.org_id', true));
CREATE POLICY org_isolation ON domain_policies AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR is_default OR owner_id = current_setting('app.org_id', true));

SELECT projector_guard_tenant_keys();
