// Every text method of the shared where builder, and query trees built on it, against real PostgreSQL:
// each (method, value) pair finds exactly the rows a plain JavaScript model of the method finds, with
// LIKE wildcards, backslashes and quotes matched literally and NULL columns handled as documented.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { databaseUrl, uniqueName } from "../../../test/support/env.ts";
import { type Param, queryTree, SqlWhere, type TextMatch, textMethod, treeSize, treeSql } from "../src/index.ts";

const schema = uniqueName("textm");
const pool = new pg.Pool({ connectionString: databaseUrl(), max: 2, options: `-c search_path=${schema}` });
// ASCII only: lower() beyond ASCII depends on the database's collation, the model's on JavaScript.
const VALUES: (string | null)[] = ["Ada", "ada", "ADA LOVELACE", "lovelace", "a%b", "a_b", "axb", "a\\b", "it's", "", null];
const NEEDLES = ["ada", "Ada", "a", "A", "%", "_", "\\", "b", "'", "lace", "LACE", "a%b"];

const model: Record<TextMatch, (v: string | null, n: string) => boolean> = Object.fromEntries(
  textMethod.options.map((m) => {
    const ci = /IgnoreCase|IGNORE_CASE/.test(m) || m === "startsWith" || m === "contains";
    const f = (s: string) => (ci ? s.toLowerCase() : s);
    const op = /ENDS|ends/.test(m) ? "ew" : /STARTS|starts/.test(m) ? "sw" : /CONTAINS|contains/.test(m) ? "co" : /notEquals/.test(m) ? "ne" : "eq";
    const test = (v: string | null, n: string) => {
      if (op === "ne") return v === null || f(v) !== f(n);
      if (v === null) return false;
      const [a, b] = [f(v), f(n)];
      return op === "eq" ? a === b : op === "sw" ? a.startsWith(b) : op === "ew" ? a.endsWith(b) : a.includes(b);
    };
    return [m, test];
  }),
) as Record<TextMatch, (v: string | null, n: string) => boolean>;

beforeAll(async () => {
  await pool.query(`CREATE SCHEMA ${schema}`);
  await pool.query("CREATE TABLE t (id int PRIMARY KEY, v text)");
  for (const [i, v] of VALUES.entries()) await pool.query("INSERT INTO t VALUES ($1, $2)", [i, v]);
});
afterAll(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
});

const ids = async (w: SqlWhere) => (await pool.query(`SELECT id FROM t${w.sql()} ORDER BY id`, w.values)).rows.map((r) => r.id as number);
const expected = (pred: (v: string | null) => boolean) => VALUES.flatMap((v, i) => (pred(v) ? [i] : []));

describe("SqlWhere.text", () => {
  it.each(textMethod.options)("%s matches as the model does, for every value", async (method) => {
    for (const n of NEEDLES) expect(await ids(new SqlWhere().text("t.v", n, method)), `${method} ${n}`).toEqual(expected((v) => model[method](v, n)));
  });

  it("the short names startsWith and contains ignore case; ZITADEL's are case-sensitive", async () => {
    expect(await ids(new SqlWhere().text("t.v", "ADA", "startsWith"))).toEqual(
      await ids(new SqlWhere().text("t.v", "ADA", "TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE")),
    );
    expect(await ids(new SqlWhere().text("t.v", "ADA", "TEXT_QUERY_METHOD_STARTS_WITH"))).toEqual([2]);
    expect(await ids(new SqlWhere().text("t.v", "Lace", "contains"))).toEqual([2, 3]);
    expect(await ids(new SqlWhere().text("t.v", "Lace", "TEXT_QUERY_METHOD_CONTAINS"))).toEqual([]);
  });
});

describe("query trees", () => {
  const leaves = { vQuery: z.strictObject({ v: z.string(), method: textMethod }) };
  const node = queryTree("ScratchQuery", leaves);
  const leafSql = { vQuery: (p: Param, q: { v: string; method: TextMatch }) => new SqlWhere().text("t.v", q.v, q.method).condition(p) };
  const q = (v: string, method: TextMatch = "equals") => ({ vQuery: { v, method } });

  // A NULL column makes a typed query NULL: NOT must still be its complement (the NULL row is "not ada").
  it("and / or / not compile to one condition with numbered parameters; NOT is the complement", async () => {
    const tree = node.parse({
      orQuery: { queries: [q("ada"), { andQuery: { queries: [q("a", "startsWith"), { notQuery: { query: q("b", "endsWith") } }] } }] },
    });
    const w = new SqlWhere().add((p) => `t.id >= ${p(0)}`).add((p) => treeSql<typeof leaves>(tree, leafSql, p));
    expect(w.values).toEqual([0, "ada", "a", "b"]);
    // ada, or starts with a/A and does not end with b.
    expect(await ids(w)).toEqual(expected((v) => v !== null && (v === "ada" || (v.toLowerCase().startsWith("a") && !v.endsWith("b")))));
    const not = new SqlWhere().add((p) => treeSql<typeof leaves>(node.parse({ notQuery: { query: q("ada") } }), leafSql, p));
    expect(await ids(not)).toEqual(expected((v) => v !== "ada"));
  });

  it("refuses a node with no or two typed queries, and measures depth and size", () => {
    expect(node.safeParse({}).success).toBe(false);
    expect(node.safeParse({ ...q("a"), andQuery: { queries: [q("b")] } }).success).toBe(false);
    expect(node.safeParse({ otherQuery: {} }).success).toBe(false);
    const tree = node.parse({ andQuery: { queries: [q("a"), { notQuery: { query: { orQuery: { queries: [q("b"), q("c")] } } } }] } });
    expect(treeSize([tree, node.parse(q("d"))])).toEqual({ depth: 3, leaves: 4 });
  });
});
