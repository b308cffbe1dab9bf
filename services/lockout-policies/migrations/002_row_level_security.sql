-- Tenant isolation in the database: the query role sees only rows of the instance its transaction set.
ALTER TABLE lockout_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lockout_policies FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
GRANT SELECT ON lockout_policies TO idp_query;
