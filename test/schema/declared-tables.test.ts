// Each read-model table is declared once in TypeScript (columns, types, nullability, primary key) and
// created by the service's SQL migration. Here every declared table of every service is compared with the
// migrated schema in real PostgreSQL, so a migration and its declaration cannot drift apart.
import { type AnyTable, baseColumns, col, createPool, defineTable, migrate, serviceMigrations, tombstonesTable } from "@idp/runtime";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseUrl, uniqueName } from "../support/env.ts";
import { allServices } from "../support/services.ts";

// information_schema's udt_name for each declared column type.
const udtName: Record<string, string> = {
  text: "text",
  "text[]": "_text",
  int2: "int2",
  int4: "int4",
  int8: "int8",
  bool: "bool",
  timestamptz: "timestamptz",
  jsonb: "jsonb",
  bytea: "bytea",
};

interface ColumnShape {
  type: string;
  nullable: boolean;
}

/** The differences between a declared table and the table of that name in `schema` (empty: they agree). */
async function mismatches(pool: pg.Pool, schema: string, table: AnyTable): Promise<string[]> {
  const { rows } = await pool.query<{ column_name: string; udt_name: string; is_nullable: string }>(
    "SELECT column_name, udt_name, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
    [schema, table.name],
  );
  if (rows.length === 0) return [`${table.name}: no such table`];
  const actual = new Map<string, ColumnShape>(rows.map((r) => [r.column_name, { type: r.udt_name, nullable: r.is_nullable === "YES" }]));
  const declared = new Map<string, ColumnShape>(
    Object.entries(table.columns).map(([name, type]) => [name, { type: udtName[type] ?? `unknown ${type}`, nullable: table.nullable.includes(name) }]),
  );
  const out: string[] = [];
  for (const [name, d] of declared) {
    const a = actual.get(name);
    if (!a) out.push(`${table.name}.${name}: declared, not in the schema`);
    else if (a.type !== d.type) out.push(`${table.name}.${name}: declared ${d.type}, schema ${a.type}`);
    else if (a.nullable !== d.nullable)
      out.push(`${table.name}.${name}: declared ${d.nullable ? "nullable" : "NOT NULL"}, schema ${a.nullable ? "nullable" : "NOT NULL"}`);
  }
  for (const name of actual.keys()) if (!declared.has(name)) out.push(`${table.name}.${name}: in the schema, not declared`);

  const { rows: pk } = await pool.query<{ column_name: string }>(
    `SELECT a.attname AS column_name
     FROM pg_index i
     JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = format('%I.%I', $1::text, $2::text)::regclass AND i.indisprimary
     ORDER BY k.n`,
    [schema, table.name],
  );
  const actualKey = pk.map((r) => r.column_name);
  if (actualKey.join() !== table.key.join()) out.push(`${table.name}: declared key (${table.key.join(", ")}), schema key (${actualKey.join(", ")})`);
  return out;
}

const pools: pg.Pool[] = [];
const schemas: { pool: pg.Pool; schema: string }[] = [];

async function migrated(name: string, def: Parameters<typeof serviceMigrations>[0]) {
  const schema = uniqueName(`tables_${name}`);
  const pool = createPool({ connectionString: databaseUrl(), schema, max: 2 });
  pools.push(pool);
  schemas.push({ pool, schema });
  await migrate(pool, schema, serviceMigrations(def));
  return { pool, schema };
}

afterAll(async () => {
  for (const { pool, schema } of schemas) await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  for (const pool of pools) await pool.end();
});

const services = await allServices();

describe.each(services.map((def) => [def.name, def] as const))("%s: declared tables = migrated schema", (name, def) => {
  let db: { pool: pg.Pool; schema: string };
  beforeAll(async () => {
    db = await migrated(name, def);
  });

  it("declares at least one table", () => {
    expect(def.projection.tables.length).toBeGreaterThan(0);
  });

  it.each(def.projection.tables.map((t) => [t.name, t] as const))("%s", async (_table, table) => {
    expect(await mismatches(db.pool, db.schema, table)).toEqual([]);
  });

  // An undeclared table would be missed by the fold and by the instance-removal cascade.
  it("every table of the schema is declared (runtime bookkeeping and migrations aside)", async () => {
    const { rows } = await db.pool.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'projector\\_%' AND table_name <> 'schema_migrations' ORDER BY 1",
      [db.schema],
    );
    expect(rows.map((r) => r.table_name).sort()).toEqual(def.projection.tables.map((t) => t.name).sort());
  });

  it("instance.removed deletes the instance's rows of every declared table and records its tombstone", () => {
    const handlers = def.projection.handlersFor("instance.removed") ?? [];
    const deletes = handlers.flatMap((h) => (h.kind === "sql" ? h.statements({ instanceId: "i" } as never).map((st) => st.text) : []));
    expect(deletes).toEqual(def.projection.tables.map((t) => `DELETE FROM "${t.name}" WHERE instance_id = $1`));
    expect(handlers.some((h) => h.kind === "row" && h.table.name === tombstonesTable.name)).toBe(true);
  });

  it("the runtime's tombstones table", async () => {
    expect(await mismatches(db.pool, db.schema, tombstonesTable)).toEqual([]);
  });
});

describe("a declaration that disagrees with the schema", () => {
  it("is reported: wrong type, nullability, missing and extra columns, key", async () => {
    const def = services.find((d) => d.name === "pats");
    if (!def) throw new Error("pats service not found");
    const { pool, schema } = await migrated("wrong", def);
    const wrong = defineTable({
      name: "personal_access_tokens",
      key: ["instance_id", "user_id"],
      columns: {
        ...baseColumns,
        id: col.text,
        creation_date: col.timestamptz,
        user_id: col.text.nullable, // NOT NULL in the schema
        expiration: col.text, // timestamptz in the schema
        scope_list: col.textArray.nullable, // the schema calls it scopes
      },
    });
    expect((await mismatches(pool, schema, wrong)).sort()).toEqual(
      [
        "personal_access_tokens.user_id: declared nullable, schema NOT NULL",
        "personal_access_tokens.expiration: declared text, schema timestamptz",
        "personal_access_tokens.scope_list: declared, not in the schema",
        "personal_access_tokens.scopes: in the schema, not declared",
        "personal_access_tokens: declared key (instance_id, user_id), schema key (instance_id, id)",
      ].sort(),
    );
    const missing = defineTable({ name: "no_such_table", key: ["instance_id"], columns: { ...baseColumns } });
    expect(await mismatches(pool, schema, missing)).toEqual(["no_such_table: no such table"]);
  });
});
