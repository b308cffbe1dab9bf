import pg from "pg";

const schema = process.argv[2];
const c = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/idp" });
await c.connect();
await c.query(`SET search_path = ${schema}`);
const { rows } = await c.query("SELECT * FROM users");
const cols = Object.keys(rows[0]);
const types = (
  await c.query(
    "SELECT attname, format_type(atttypid, atttypmod) t FROM pg_attribute WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
  )
).rows;
const def = types.map((r) => `"${r.attname}" ${r.t}`).join(", ");
const nonKey = cols.filter((x) => x !== "instance_id" && x !== "id");
const set = nonKey.map((x) => `"${x}" = EXCLUDED."${x}"`).join(", ");
const t0 = performance.now();
const json = JSON.stringify(rows);
const tStr = performance.now() - t0;
console.log("rows", rows.length, "json MB", (json.length / 1e6).toFixed(1), "stringify ms", tStr.toFixed(0));
async function run(name: string, sql: string, params: unknown[], fresh: boolean) {
  await c.query("BEGIN");
  await c.query("CREATE TEMP TABLE IF NOT EXISTS x (LIKE users INCLUDING ALL) ON COMMIT DROP");
  if (!fresh) await c.query("INSERT INTO x SELECT * FROM users");
  const t = performance.now();
  await c.query(sql, params);
  const ms = performance.now() - t;
  await c.query("ROLLBACK");
  console.log(name, fresh ? "insert" : "update", ms.toFixed(0), "ms", ((ms * 1000) / rows.length).toFixed(1), "µs/row");
}
const ins = `INSERT INTO x (${cols.map((x) => `"${x}"`).join(", ")}) SELECT ${cols.map((x) => `"${x}"`).join(", ")} FROM`;
const conflict = `ON CONFLICT (instance_id, id) DO UPDATE SET ${set}`;
const colArrays = types.map((t) => rows.map((r) => r[t.attname]));
const unnestSql = `${ins} unnest(${types.map((t, i) => `$${i + 1}::${t.t}[]`).join(", ")}) AS r(${types.map((t) => `"${t.attname}"`).join(", ")}) ${conflict}`;
for (let i = 0; i < 0; i++)
  for (const fresh of [true, false]) {
    await run("jsonb", `${ins} jsonb_to_recordset($1::jsonb) AS r(${def}) ${conflict}`, [json], fresh);
    await run("json ", `${ins} json_to_recordset($1::json) AS r(${def}) ${conflict}`, [json], fresh);
    const t1 = performance.now();
    await run("unnest", unnestSql, colArrays, fresh);
    console.log("  unnest incl. client serialization", (performance.now() - t1).toFixed(0));
  }
await c.end();
const c2 = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/idp" });
await c2.connect();
await c2.query(`SET search_path = ${schema}`);
for (const [name, like] of [
  ["pk only", "INCLUDING DEFAULTS"],
  ["all idx", "INCLUDING ALL"],
]) {
  await c2.query("BEGIN");
  await c2.query(`CREATE TEMP TABLE y (LIKE users ${like}) ON COMMIT DROP`);
  if (name === "pk only") await c2.query("ALTER TABLE y ADD PRIMARY KEY (instance_id, id)");
  let t = performance.now();
  await c2.query("INSERT INTO y SELECT * FROM users");
  console.log(name, "insert from table", (performance.now() - t).toFixed(0));
  t = performance.now();
  await c2.query(
    `INSERT INTO y (${cols.map((x) => `"${x}"`).join(", ")}) SELECT ${cols.map((x) => `"${x}"`).join(", ")} FROM json_to_recordset($1::json) AS r(${def}) ON CONFLICT (instance_id, id) DO UPDATE SET ${set}`,
    [json],
  );
  console.log(name, "json upsert-update", (performance.now() - t).toFixed(0));
  t = performance.now();
  await c2.query(`SELECT count(*) FROM json_to_recordset($1::json) AS r(${def})`, [json]);
  console.log(name, "json parse only", (performance.now() - t).toFixed(0));
  await c2.query("ROLLBACK");
}
await c2.end();
