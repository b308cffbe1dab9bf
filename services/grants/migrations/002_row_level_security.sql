-- Tenant isolation in the database: the query role sees only rows of the instance its transaction set.
ALTER TABLE user_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE lookup_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE lookup_projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE lookup_project_grants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_grants FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
CREATE POLICY tenant_isolation ON lookup_users FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
CREATE POLICY tenant_isolation ON lookup_projects FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
CREATE POLICY tenant_isolation ON lookup_project_grants FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
GRANT SELECT ON user_grants, lookup_users, lookup_projects, lookup_project_grants TO idp_query;
