// tenantRows sends one simple-query string with the values as escaped literals: values must arrive
// byte for byte, named statements are prepared once per connection, and a failure leaves no trace.
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { databaseUrl } from "../../../test/support/env.ts";
import { tenantRows } from "../src/index.ts";

// One connection, so every call below reuses it (and its prepared statements) unless it is discarded.
const pool = new pg.Pool({ connectionString: databaseUrl(), max: 1 });
afterAll(() => pool.end());

const ECHO = "SELECT $1::text AS s, $2::text[] AS a, $3::int AS n, $4::bool AS b, $5::text AS missing, current_setting('app.instance_id', true) AS tenant";

describe("tenantRows", () => {
  it("passes quotes, backslashes, percent signs and non-ASCII text through unchanged", async () => {
    const tricky = `it's a \\ "quote"; DROP TABLE x; -- %_ é 😀 $1`;
    const array = ["x'y", 'a\\"b', "", "{,}", "NULL"];
    const [row] = await tenantRows(pool, { instanceId: "inst-'a" }, { text: ECHO, values: [tricky, array, 42, true, null] }, "postgres");
    expect(row).toEqual({ s: tricky, a: array, n: 42, b: true, missing: null, tenant: "inst-'a" });
  });

  it("prepares a named statement once per connection and reuses it", async () => {
    const named = { name: "echo_test", text: "SELECT $1::text AS s", values: ["one"] };
    expect(await tenantRows(pool, { instanceId: "i" }, named, "postgres")).toEqual([{ s: "one" }]);
    expect(await tenantRows(pool, { instanceId: "i" }, { ...named, values: ["two"] }, "postgres")).toEqual([{ s: "two" }]);
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'tenant_echo_test'");
    expect(rows[0].n).toBe(1);
  });

  it("the tenant setting lasts only for its transaction, and a failed read leaves a usable pool", async () => {
    await expect(tenantRows(pool, { instanceId: "i" }, { name: "broken", text: "SELECT 1/$1::int AS x", values: [0] }, "postgres")).rejects.toThrow(
      /division by zero/,
    );
    expect(await tenantRows(pool, { instanceId: "i" }, { name: "broken", text: "SELECT 1/$1::int AS x", values: [1] }, "postgres")).toEqual([{ x: 1 }]);
    const { rows } = await pool.query("SELECT current_setting('app.instance_id', true) AS tenant");
    expect(rows[0].tenant ?? "").toBe("");
  });

  it("reads in a read-only transaction as the given role, and the session is itself again afterwards", async () => {
    const [row] = await tenantRows(
      pool,
      { instanceId: "i" },
      { text: "SELECT current_setting('transaction_read_only') AS ro, current_user AS who", values: [] },
      "pg_read_all_data",
    );
    expect(row).toEqual({ ro: "on", who: "pg_read_all_data" });
    const { rows } = await pool.query("SELECT current_user AS who, current_setting('transaction_read_only') AS ro");
    expect(rows[0]).toEqual({ who: "postgres", ro: "off" });
  });

  it("refuses values it cannot write as a literal", async () => {
    await expect(tenantRows(pool, { instanceId: "i" }, { text: "SELECT $1::jsonb", values: [{ a: 1 }] }, "postgres")).rejects.toThrow(/unsupported parameter/);
  });
});
