-- Tenant isolation in the database: the query role sees only rows of the instance its transaction set.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_domains ENABLE ROW LEVEL SECURITY;
ALTER TABLE domain_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
CREATE POLICY tenant_isolation ON org_domains FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
CREATE POLICY tenant_isolation ON domain_policies FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
GRANT SELECT ON users, org_domains, domain_policies, login_names TO idp_query;
