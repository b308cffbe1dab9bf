-- Organisation isolation in the database: when the query transaction names the token's org (app.org_id,
-- '' for a token without org restriction) the query role sees only that org's rows. RESTRICTIVE, so it is
-- ANDed with the instance policy instead of widening it.
-- A token belongs to its user's org (resource_owner).
CREATE POLICY org_isolation ON personal_access_tokens AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR resource_owner = current_setting('app.org_id', true));
