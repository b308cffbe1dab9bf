-- Organisation isolation in the database: when the query transaction names the token's org (app.org_id,
-- '' for a token without org restriction) the query role sees only that org's rows. RESTRICTIVE, so it is
-- ANDed with the instance policy instead of widening it.
CREATE POLICY org_isolation ON users AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR resource_owner = current_setting('app.org_id', true));
-- Login names of the org's users need the org's verified domains (org_id: the org they belong to) ...
CREATE POLICY org_isolation ON org_domains AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR org_id = current_setting('app.org_id', true));
-- ... and its domain policy (owner_id = org id), or else the instance default, which every org falls back on.
CREATE POLICY org_isolation ON domain_policies AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR is_default OR owner_id = current_setting('app.org_id', true));
