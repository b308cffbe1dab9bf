-- Tenant isolation in the database: the query role sees only rows of the instance its transaction set.
ALTER TABLE personal_access_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON personal_access_tokens FOR SELECT TO idp_query USING (instance_id = current_setting('app.instance_id', true));
GRANT SELECT ON personal_access_tokens TO idp_query;
