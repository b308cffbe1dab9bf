// Tenant isolation enforced by the database: for every read-model table of every service, RLS is on
// with a policy for the query role, and a query WITHOUT any instance filter run through withTenant sees
// only that tenant's rows. Synthetic rows are generated from each table's own catalogue, so tables added
// later are covered without editing this test.
import { createPool, migrate, rlsProblems, serviceMigrations, withTenant } from "@idp/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { databaseUrl, uniqueName } from "../support/env.ts";
import { dropSchema } from "../support/service.ts";
import { allServices } from "../support/services.ts";

const services = await allServices();
const schemas: string[] = [];
afterAll(async () => {
  for (const s of schemas) await dropSchema(s);
});

const SAMPLE: Record<string, string> = {
  text: "'x'",
  bigint: "1",
  integer: "1",
  smallint: "1",
  boolean: "false",
  "timestamp with time zone": "now()",
  jsonb: "'{}'",
  ARRAY: "'{}'",
  interval: "'1 hour'",
  bytea: "'\\x00'",
};

describe.each(services.map((s) => [s.name, s] as const))("%s", (_name, def) => {
  it("every read-model table has RLS, a policy for the query role and a grant; RLS alone isolates tenants", async () => {
    const schema = uniqueName(`rls_${def.name}`);
    schemas.push(schema);
    const pool = createPool({ connectionString: databaseUrl(), schema, max: 2 });
    try {
      await migrate(pool, schema, serviceMigrations(def));
      const { tables, problems } = await rlsProblems(pool, schema);
      expect(tables.length).toBeGreaterThan(0);
      expect(problems).toEqual([]);

      for (const table of tables) {
        const { rows: cols } = await pool.query(
          `SELECT column_name, data_type, is_nullable = 'NO' AND column_default IS NULL AND is_generated = 'NEVER' AS required
           FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
          [schema, table],
        );
        for (const instance of ["tenant-a", "tenant-b"]) {
          const required = cols.filter((c) => c.required || c.column_name === "instance_id");
          const values = required.map((c) => (c.column_name === "instance_id" ? `'${instance}'` : (SAMPLE[c.data_type] ?? "'x'")));
          await pool.query(`INSERT INTO ${table} (${required.map((c) => `"${c.column_name}"`).join(", ")}) VALUES (${values.join(", ")})`);
        }
        // No WHERE clause at all: only the row-level security policy stands between the tenants.
        const seen = await withTenant(pool, { instanceId: "tenant-a" }, async (db) => (await db.query(`SELECT instance_id FROM ${table}`)).rows);
        expect(seen, table).toEqual([{ instance_id: "tenant-a" }]);
        const none = await withTenant(pool, { instanceId: "tenant-c" }, async (db) => (await db.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n);
        expect(none, table).toBe(0);
      }
      // The query role cannot write, even if a handler tried.
      await expect(withTenant(pool, { instanceId: "tenant-a" }, (db) => db.query(`DELETE FROM ${tables[0]}`))).rejects.toThrow(
        /read-only transaction|permission denied/,
      );
    } finally {
      await pool.end();
    }
  });
});
