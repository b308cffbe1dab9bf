-- Organisation isolation in the database: when the query transaction names the token's org (app.org_id,
-- '' for a token without org restriction) the query role sees only that org's rows. RESTRICTIVE, so it is
-- ANDed with the instance policy instead of widening it.
-- A grant belongs to the org that owns it (resource_owner: the project's org, or the granted org for a
-- granted project), not to the user's org.
CREATE POLICY org_isolation ON user_grants AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR resource_owner = current_setting('app.org_id', true));
-- The lookups a grant is shown with: the org's own rows, and those a grant the org owns refers to (a grant
-- shows its user's names and org, its project's org and granted org even when they are another org's).
CREATE POLICY org_isolation ON lookup_users AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR resource_owner = current_setting('app.org_id', true)
         OR EXISTS (SELECT 1 FROM user_grants g WHERE g.instance_id = lookup_users.instance_id AND g.user_id = lookup_users.user_id
                    AND g.resource_owner = current_setting('app.org_id', true)));
CREATE POLICY org_isolation ON lookup_projects AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR resource_owner = current_setting('app.org_id', true)
         OR EXISTS (SELECT 1 FROM user_grants g WHERE g.instance_id = lookup_projects.instance_id AND g.project_id = lookup_projects.project_id
                    AND g.resource_owner = current_setting('app.org_id', true)));
CREATE POLICY org_isolation ON lookup_project_grants AS RESTRICTIVE FOR SELECT TO idp_query
  USING (coalesce(current_setting('app.org_id', true), '') = '' OR resource_owner = current_setting('app.org_id', true) OR granted_org = current_setting('app.org_id', true)
         OR EXISTS (SELECT 1 FROM user_grants g WHERE g.instance_id = lookup_project_grants.instance_id AND g.grant_id = lookup_project_grants.grant_id
                    AND g.resource_owner = current_setting('app.org_id', true)));
