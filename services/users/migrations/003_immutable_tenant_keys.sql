-- instance_id and resource_owner of every read-model table never change after insert (the runtime's
-- projector_guard_tenant_keys attaches the trigger; the RLS checker fails on a table without it).
SELECT projector_guard_tenant_keys();
