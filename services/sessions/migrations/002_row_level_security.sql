-- Tenant isolation in the database: the query role sees only rows of the instance its transaction set.
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE session_users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sessions FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
CREATE POLICY tenant_isolation ON session_users FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
GRANT SELECT ON sessions, session_users TO idp_query;
