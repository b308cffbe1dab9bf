// Lists every read-model table of the given schemas (default: every service's) and fails when one lacks
// row-level security, a policy for the query role, its grant, a restrictive org policy (unless the table
// is declared org-neutral with a reason), or the trigger that keeps instance_id and resource_owner from
// changing.  npx tsx infra/check-rls.ts [schema…]
import { createPool, rlsProblems } from "@idp/runtime";
import { allServices } from "../test/support/services.ts";

const schemas = process.argv.slice(2).length ? process.argv.slice(2) : (await allServices()).map((s) => s.name.replaceAll("-", "_"));
const pool = createPool({ connectionString: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/idp", max: 1 });
let failed = false;
for (const schema of schemas) {
  const { tables, problems } = await rlsProblems(pool, schema);
  if (tables.length === 0) console.log(`${schema}: no read-model tables (schema not migrated?)`);
  for (const t of tables) {
    const p = problems.filter((x) => x.table === t);
    console.log(`${schema}.${t}: ${p.length ? p.map((x) => x.problem).join("; ") : "ok"}`);
  }
  failed ||= problems.length > 0 || tables.length === 0;
}
await pool.end();
process.exit(failed ? 1 : 0);
