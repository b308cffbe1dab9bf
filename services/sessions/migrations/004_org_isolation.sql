-- Organisation isolation in the database: when the query transaction names the token's org (app.org_id,
-- '' for a token without org restriction) the query role sees only that org's rows. RESTRICTIVE, so it is
-- ANDed with the instance policy instead of widening it.
-- A session belongs to the instance (resource_owner); an org sees the sessions of its users
-- (user_resource_owner), so a session whose user is not checked yet is visible only instance-wide.
CREATE POLICY org_isolation ON sessions AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR user_resource_owner = current_setting('app.org_id', true));
CREATE POLICY org_isolation ON session_users AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR resource_owner = current_setting('app.org_id', true));
