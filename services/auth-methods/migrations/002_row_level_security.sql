-- Tenant isolation in the database: the query role sees only rows of the instance its transaction set.
ALTER TABLE user_auth_methods ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_method_users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_auth_methods FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
CREATE POLICY tenant_isolation ON auth_method_users FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
GRANT SELECT ON user_auth_methods, auth_method_users TO idp_query;
