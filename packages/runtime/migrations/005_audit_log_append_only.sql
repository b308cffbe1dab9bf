-- The operator audit log is append-only for every role the services use. The query role gets no right
-- on it, PUBLIC neither, and the owner gives up UPDATE, DELETE and TRUNCATE. An owner can grant them
-- back and a superuser (the projector's connection in development) ignores grants, so a trigger refuses
-- the three statements for every role. INSERT stays (operator actions, a rebuild's copy of the log into
-- the schema it makes live); DROP SCHEMA … CASCADE of an old schema fires no trigger.
REVOKE ALL ON projector_audit_log FROM PUBLIC;
REVOKE ALL ON projector_audit_log FROM idp_query;
REVOKE UPDATE, DELETE, TRUNCATE ON projector_audit_log FROM CURRENT_USER;

CREATE FUNCTION projector_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'projector_audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'audit entries are never changed or removed; an old schema goes with its log';
END
$$;
-- Statement-level: refused even when no row matches, so nobody can probe which rows would be hit.
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON projector_audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION projector_audit_log_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON projector_audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION projector_audit_log_append_only();
