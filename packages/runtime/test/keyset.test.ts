// One keyset pagination for every list: paging through real PostgreSQL rows with every sort kind, a
// composite tie-breaker, equal sort values, microsecond-close timestamps and the extreme years, in both
// directions and at several page sizes, returns every row exactly once and in ORDER BY order.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseUrl, uniqueName } from "../../../test/support/env.ts";
import { CursorKeys, keyset, SqlWhere, type Tenant } from "../src/index.ts";

// The keyset module is under test here, not row-level security: read as the owner of the scratch table.
process.env.QUERY_DB_ROLE = "postgres";
const schema = uniqueName("keyset");
const pool = new pg.Pool({ connectionString: databaseUrl(), max: 2, options: `-c search_path=${schema}` });
const keys = new CursorKeys(["keyset-test-key-0123456789abcdef0123"]);
const tenant: Tenant = { instanceId: "i", subject: "test", scopes: new Set() };

const list = keyset({
  name: "scratch",
  columns: "r.name, r.kind, r.at",
  from: "rows r",
  sorts: {
    name: { sql: "lower(r.name)", kind: "text" },
    kind: { sql: "r.kind", kind: "int" },
    at: { sql: "r.at", kind: "timestamp" },
  },
  tieBreaker: [
    { sql: "r.owner", kind: "text" },
    { sql: "r.kind", kind: "int" },
    { sql: "r.token", kind: "text" },
  ],
});
type Row = { name: string; kind: number; at: Date };

beforeAll(async () => {
  await pool.query(`CREATE SCHEMA ${schema}`);
  await pool.query("CREATE TABLE rows (owner text, kind int2, token text, name text NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (owner, kind, token))");
  // Equal names and times across rows, differing only in the tie-breaker; times a microsecond apart.
  await pool.query(`INSERT INTO rows
    SELECT 'o' || (g % 3), (g % 4)::int2, 't' || g, CASE WHEN g % 5 = 0 THEN 'Same' ELSE 'n' || g END,
      CASE g % 4 WHEN 0 THEN timestamptz '0001-01-01T00:00:00Z' WHEN 1 THEN timestamptz '9999-12-31T23:59:59.999999Z'
        ELSE timestamptz '2026-03-01T10:00:00Z' + (g % 3) * interval '1 microsecond' END
    FROM generate_series(1, 23) g`);
});
afterAll(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
});

async function pageThrough(sort: "name" | "kind" | "at", order: "asc" | "desc", limit: number) {
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const q = { sort, order, limit, ...(cursor ? { cursor } : {}) };
    const page = await list.read<Row>(pool, keys, tenant, q, new SqlWhere());
    expect(page.rows.length).toBeLessThanOrEqual(limit);
    seen.push(...page.rows.map((r) => `${r.name}|${r.kind}|${r.at.toISOString()}`));
    if (!page.nextCursor) return seen;
    cursor = page.nextCursor;
  }
  throw new Error("more than 100 pages");
}

describe("Keyset.read", () => {
  it.each([
    ["name", "lower(name)"],
    ["kind", "kind"],
    ["at", "at"],
  ] as const)("sort %s: every row once, in ORDER BY order, both directions, any page size", async (sort, sql) => {
    for (const order of ["asc", "desc"] as const) {
      const { rows } = await pool.query(`SELECT name, kind, at FROM rows ORDER BY ${sql} ${order}, owner ${order}, kind ${order}, token ${order}`);
      const expected = rows.map((r) => `${r.name}|${r.kind}|${r.at.toISOString()}`);
      expect(expected).toHaveLength(23);
      for (const limit of [1, 2, 5, 23, 50]) expect(await pageThrough(sort, order, limit), `${sort} ${order} ${limit}`).toEqual(expected);
    }
  });

  it("the cursor carries timestamps to the microsecond, whatever the session's time zone", async () => {
    const tz = new pg.Pool({ connectionString: databaseUrl(), max: 1, options: `-c search_path=${schema} -c TimeZone=Pacific/Chatham` });
    try {
      const first = await list.read<Row>(tz, keys, tenant, { sort: "at", order: "asc", limit: 7 }, new SqlWhere());
      const next = await list.read<Row>(pool, keys, tenant, { sort: "at", order: "asc", limit: 50, cursor: first.nextCursor ?? "" }, new SqlWhere());
      expect(first.rows.length + next.rows.length).toBe(23);
    } finally {
      await tz.end();
    }
  });

  it("builds one statement: the select list, the key columns, the keyset condition, ORDER BY and LIMIT", async () => {
    const w = new SqlWhere().add((p) => `r.owner = ${p("o1")}`);
    const { rows, nextCursor } = await list.read<Row>(pool, keys, tenant, { sort: "kind", order: "desc", limit: 2 }, w);
    expect(rows).toHaveLength(2);
    expect(nextCursor).toBeTruthy();
    const w2 = new SqlWhere().add((p) => `r.owner = ${p("o1")}`);
    const rest = await list.read<Row>(pool, keys, tenant, { sort: "kind", order: "desc", limit: 50, cursor: nextCursor ?? "" }, w2);
    const { rows: all } = await pool.query("SELECT count(*)::int AS n FROM rows WHERE owner = 'o1'");
    expect(rows.length + rest.rows.length).toBe(all[0].n);
  });
});
