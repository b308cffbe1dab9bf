import pg from "pg";

const schema = process.argv[2];
const c = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/idp" });
await c.connect();
await c.query(`SET search_path = ${schema}`);
const { rows } = await c.query("SELECT * FROM users");
const types = (
  await c.query(
    "SELECT attname, format_type(atttypid, atttypmod) t FROM pg_attribute WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
  )
).rows;
const cols = types.map((t) => t.attname);
const def = types.map((r) => `"${r.attname}" ${r.t}`).join(", ");
const set = cols
  .filter((x) => x !== "instance_id" && x !== "id")
  .map((x) => `"${x}" = EXCLUDED."${x}"`)
  .join(", ");
const q = cols.map((x) => `"${x}"`).join(", ");
let t = performance.now();
const objJson = JSON.stringify(rows);
const tObj = performance.now() - t;
t = performance.now();
const arrJson = JSON.stringify(rows.map((r) => cols.map((k) => r[k])));
const tArr = performance.now() - t;
console.log(
  "client: objects",
  tObj.toFixed(0),
  "ms",
  (objJson.length / 1e6).toFixed(1),
  "MB; arrays",
  tArr.toFixed(0),
  "ms",
  (arrJson.length / 1e6).toFixed(1),
  "MB",
);
const sel = (src: string) => types.map((ty, i) => `(${src}->>${i})::${ty.t}`).join(", ");
const variants: [string, string, string][] = [
  ["json_to_recordset objects", `SELECT ${q} FROM json_to_recordset($1::json) AS r(${def})`, objJson],
  ["jsonb arrays ->>", `SELECT ${sel("e")} FROM jsonb_array_elements($1::jsonb) e`, arrJson],
  ["json arrays ->>", `SELECT ${sel("e")} FROM json_array_elements($1::json) e`, arrJson],
];
for (let i = 0; i < 2; i++)
  for (const [name, select, param] of variants) {
    await c.query("BEGIN");
    await c.query("CREATE TEMP TABLE x (LIKE users INCLUDING ALL) ON COMMIT DROP");
    let t0 = performance.now();
    await c.query(`SELECT count(*) FROM (${select}) s`, [param]);
    const parse = performance.now() - t0;
    t0 = performance.now();
    await c.query(`INSERT INTO x (${q}) ${select} ON CONFLICT (instance_id, id) DO UPDATE SET ${set}`, [param]);
    const ins = performance.now() - t0;
    t0 = performance.now();
    await c.query(`INSERT INTO x (${q}) ${select} ON CONFLICT (instance_id, id) DO UPDATE SET ${set}`, [param]);
    const upd = performance.now() - t0;
    await c.query("ROLLBACK");
    console.log(name.padEnd(28), "parse", parse.toFixed(0), "insert", ins.toFixed(0), "update", upd.toFixed(0));
  }
await c.end();
