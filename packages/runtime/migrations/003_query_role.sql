-- The query API's role: subject to row-level security (not the owner, not a superuser, no BYPASSRLS).
-- Read-model tables grant it SELECT and carry a policy on app.instance_id (set per request by withTenant).
DO $$
BEGIN
  -- Roles are cluster-wide: serialise creation across schemas migrating in parallel.
  PERFORM pg_advisory_xact_lock(hashtext('idp_query_role'));
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'idp_query') THEN
    CREATE ROLE idp_query LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END
$$;
GRANT USAGE ON SCHEMA {{schema}} TO idp_query;
-- Read-your-writes checks read the applied offsets (no tenant data in this table).
GRANT SELECT ON projector_offsets TO idp_query;
