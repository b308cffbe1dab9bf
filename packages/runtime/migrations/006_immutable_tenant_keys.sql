-- Tenant keys are immutable: once a read-model row is written, its instance_id and resource_owner never
-- change. The fold writes rows with INSERT … ON CONFLICT DO UPDATE of every non-key column, so without
-- this guard a second "added" event naming another org would silently move the row to that org. With
-- it, the statement fails; the applier retries the batch event by event and parks the offending event.
CREATE FUNCTION projector_tenant_keys_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_row jsonb := to_jsonb(OLD);
  new_row jsonb := to_jsonb(NEW);
  col text;
BEGIN
  FOREACH col IN ARRAY ARRAY['instance_id', 'resource_owner'] LOOP
    IF (old_row -> col) IS DISTINCT FROM (new_row -> col) THEN
      RAISE EXCEPTION 'tenant key %.% is immutable: the row belongs to %, an update tried to set %',
        TG_TABLE_NAME, col, coalesce(old_row ->> col, 'NULL'), coalesce(new_row ->> col, 'NULL')
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END LOOP;
  RETURN NEW;
END
$$;

-- Attaches the guard to every read-model table of the current schema that lacks it: base tables with an
-- instance_id column, except the runtime's bookkeeping (projector_*), the same tables the RLS checker
-- inspects. One call per service migration covers the tables it has created so far; the checker fails
-- on any table created later without a new call. The WHEN clause keeps unchanged keys (every ordinary
-- upsert) from calling the function at all. Returns the tables it guarded.
CREATE FUNCTION projector_guard_tenant_keys() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  t record;
BEGIN
  FOR t IN
    SELECT c.relname,
           string_agg(format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', a.attname), ' OR ' ORDER BY a.attnum) AS changed
    FROM pg_class c
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname IN ('instance_id', 'resource_owner') AND NOT a.attisdropped
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
      AND c.relname NOT LIKE 'projector\_%' AND c.relname <> 'schema_migrations'
      AND NOT EXISTS (SELECT FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = 'tenant_keys_immutable')
    GROUP BY c.relname
    HAVING bool_or(a.attname = 'instance_id')
    ORDER BY c.relname
  LOOP
    EXECUTE format('CREATE TRIGGER tenant_keys_immutable BEFORE UPDATE ON %I.%I FOR EACH ROW WHEN (%s) EXECUTE FUNCTION %I.projector_tenant_keys_immutable()',
      current_schema(), t.relname, t.changed, current_schema());
    RETURN NEXT t.relname;
  END LOOP;
END
$$;
