import type { Queryable } from "./pool.ts";

export interface RlsProblem {
  table: string;
  problem: string;
}

/**
 * Read-model tables of a schema (every table with an instance_id column, except the runtime's own
 * bookkeeping) that lack row-level security, a policy for the query role, or a grant to it.
 */
export async function rlsProblems(db: Queryable, schema: string, queryRole = "idp_query"): Promise<{ tables: string[]; problems: RlsProblem[] }> {
  const { rows } = await db.query(
    `SELECT c.relname AS table, c.relrowsecurity AS rls, c.relkind AS kind,
            EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = n.nspname AND p.tablename = c.relname
                    AND ($2 = ANY (p.roles) OR 'public' = ANY (p.roles))) AS policy,
            has_table_privilege($2, c.oid, 'SELECT') AS granted
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
       AND c.relname NOT LIKE 'projector\\_%' AND c.relname <> 'schema_migrations'
       AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'instance_id' AND NOT a.attisdropped)
     ORDER BY 1`,
    [schema, queryRole],
  );
  const problems: RlsProblem[] = [];
  for (const r of rows) {
    if (!r.rls) problems.push({ table: r.table, problem: "row level security is not enabled" });
    if (!r.policy) problems.push({ table: r.table, problem: `no policy applies to ${queryRole}` });
    if (!r.granted) problems.push({ table: r.table, problem: `${queryRole} cannot SELECT (the API could not read it)` });
  }
  return { tables: rows.map((r) => r.table as string), problems };
}
