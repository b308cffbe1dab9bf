-- Organisation isolation in the database: when the query transaction names the token's org (app.org_id,
-- '' for a token without org restriction) the query role sees only that org's rows. RESTRICTIVE, so it is
-- ANDed with the instance policy instead of widening it.
-- Both tables belong to the user's org (resource_owner).
CREATE POLICY org_isolation ON user_auth_methods AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR resource_owner = current_setting('app.org_id', true));
CREATE POLICY org_isolation ON auth_method_users AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR resource_owner = current_setting('app.org_id', true));
