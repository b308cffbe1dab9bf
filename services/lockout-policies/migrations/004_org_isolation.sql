-- Organisation isolation in the database: when the query transaction names the token's org (app.org_id,
-- '' for a token without org restriction) the query role sees only that org's rows. RESTRICTIVE, so it is
-- ANDed with the instance policy instead of widening it.
-- An org's own policy (resource_owner = id = org id), and the instance default, which is what an org
-- without its own policy gets (the effective policy).
CREATE POLICY org_isolation ON lockout_policies AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR is_default OR resource_owner = current_setting('app.org_id', true));
