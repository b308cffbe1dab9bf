// Where a get-by-id request's database time goes: the route's statement sequence (BEGIN READ ONLY,
// set_config role + tenant, the SELECT, COMMIT) with the SELECT unprepared (as today: planned on every
// request) vs a named prepared statement (planned once per connection), sequentially on one connection.
//   npx tsx bench/tools/api-sql.ts <schema> [requests=2000]
import { createPool } from "@idp/runtime";

const [schema, n = "2000"] = process.argv.slice(2);
if (!schema) throw new Error("usage: api-sql.ts <schema> [requests]");
const pool = createPool({ connectionString: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/idp", schema, max: 1 });
const SELECT = `SELECT u.*,
  ARRAY(SELECT ln.login_name FROM login_names ln WHERE ln.instance_id = u.instance_id AND ln.user_id = u.id
        ORDER BY ln.is_primary DESC, ln.login_name) AS login_names,
  (SELECT ln.login_name FROM login_names ln WHERE ln.instance_id = u.instance_id AND ln.user_id = u.id AND ln.is_primary
   ORDER BY ln.login_name LIMIT 1) AS preferred_login_name
FROM users u WHERE u.instance_id = $1 AND u.id = $2`;
const { rows: users } = await pool.query("SELECT instance_id, id FROM users ORDER BY md5(id) LIMIT 500");
const c = await pool.connect();
const run = async (label: string, prepared: boolean) => {
  const times: number[] = [];
  const select: number[] = [];
  for (let i = 0; i < Number(n); i++) {
    const u = users[i % users.length];
    const t0 = performance.now();
    await c.query("BEGIN READ ONLY");
    await c.query("SELECT set_config('role', $2, true), set_config('app.instance_id', $1, true)", [u.instance_id, "idp_query"]);
    const t1 = performance.now();
    await c.query(prepared ? { name: "user_by_id", text: SELECT, values: [u.instance_id, u.id] } : { text: SELECT, values: [u.instance_id, u.id] });
    select.push(performance.now() - t1);
    await c.query("COMMIT");
    times.push(performance.now() - t0);
  }
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor((p / 100) * xs.length)]?.toFixed(2);
  console.log(`${label}: request p50 ${pct(times, 50)} ms, p99 ${pct(times, 99)} ms; SELECT alone p50 ${pct(select, 50)} ms, p99 ${pct(select, 99)} ms`);
};
await run("unprepared (today)", false);
await run("prepared (named) ", true);
const explain = await c.query(`EXPLAIN (ANALYZE, SUMMARY) ${SELECT.replace("$1", `'${users[0].instance_id}'`).replace("$2", `'${users[0].id}'`)}`);
console.log(explain.rows.filter((r) => /Planning Time|Execution Time/.test(r["QUERY PLAN"])).map((r) => r["QUERY PLAN"]).join("; "));
c.release();
await pool.end();
