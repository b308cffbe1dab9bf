import type { Queryable } from "./pool.ts";

export interface RlsProblem {
  table: string;
  problem: string;
}

/** A table comment starting with this, followed by the reason, declares a table that no org restricts. */
export const ORG_NEUTRAL = "org-neutral:";

/**
 * Read-model tables of a schema (every table with an instance_id column, except the runtime's own
 * bookkeeping) that lack row-level security, a policy for the query role, a grant to it, an org policy
 * (RESTRICTIVE, reading app.org_id: a permissive one would widen the instance policy, not narrow it)
 * unless declared org-neutral with a reason, or the guard that keeps their tenant keys (instance_id,
 * resource_owner) from changing on UPDATE.
 */
export async function rlsProblems(db: Queryable, schema: string, queryRole = "idp_query"): Promise<{ tables: string[]; problems: RlsProblem[] }> {
  const { rows } = await db.query(
    `SELECT c.relname AS table, c.relrowsecurity AS rls, c.relkind AS kind,
            EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = n.nspname AND p.tablename = c.relname
                    AND ($2 = ANY (p.roles) OR 'public' = ANY (p.roles))) AS policy,
            EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = n.nspname AND p.tablename = c.relname
                    AND ($2 = ANY (p.roles) OR 'public' = ANY (p.roles)) AND p.permissive = 'RESTRICTIVE'
                    AND p.cmd IN ('SELECT', 'ALL') AND p.qual LIKE '%app.org_id%') AS org_policy,
            length(trim(substring(obj_description(c.oid, 'pg_class') FROM length($3) + 1))) > 0
              AND starts_with(obj_description(c.oid, 'pg_class'), $3) AS org_neutral,
            has_table_privilege($2, c.oid, 'SELECT') AS granted,
            -- An enabled BEFORE UPDATE row trigger (tgtype bits: row 1, before 2, update 16) on every
            -- column, running the runtime's guard, whose WHEN clause compares each key column the table has.
            EXISTS (SELECT 1 FROM pg_trigger g JOIN pg_proc f ON f.oid = g.tgfoid
                    WHERE g.tgrelid = c.oid AND g.tgenabled IN ('O', 'A') AND f.proname = 'projector_tenant_keys_immutable'
                      AND (g.tgtype::int & 19) = 19 AND cardinality(g.tgattr::int2[]) = 0
                      AND NOT EXISTS (SELECT 1 FROM pg_attribute k
                                      WHERE k.attrelid = c.oid AND k.attname IN ('instance_id', 'resource_owner') AND NOT k.attisdropped
                                        AND position(format('old.%1$s IS DISTINCT FROM new.%1$s', k.attname) IN pg_get_triggerdef(g.oid)) = 0)) AS keys_guarded
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
       AND c.relname NOT LIKE 'projector\\_%' AND c.relname <> 'schema_migrations'
       AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'instance_id' AND NOT a.attisdropped)
     ORDER BY 1`,
    [schema, queryRole, ORG_NEUTRAL],
  );
  const problems: RlsProblem[] = [];
  for (const r of rows) {
    if (!r.rls) problems.push({ table: r.table, problem: "row level security is not enabled" });
    if (!r.policy) problems.push({ table: r.table, problem: `no policy applies to ${queryRole}` });
    if (!r.org_policy && !r.org_neutral) {
      problems.push({ table: r.table, problem: `no RESTRICTIVE policy for ${queryRole} reads app.org_id (or COMMENT ON TABLE '${ORG_NEUTRAL} <reason>')` });
    }
    if (!r.granted) problems.push({ table: r.table, problem: `${queryRole} cannot SELECT (the API could not read it)` });
    if (!r.keys_guarded) {
      problems.push({
        table: r.table,
        problem: "tenant keys not guarded: no enabled tenant_keys_immutable trigger (SELECT projector_guard_tenant_keys() in a migration)",
      });
    }
  }
  return { tables: rows.map((r) => r.table as string), problems };
}
