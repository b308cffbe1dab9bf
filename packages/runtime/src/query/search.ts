// Search bodies: a tree of typed queries combined with andQuery / orQuery / notQuery, validated at the edge
// (bounded depth and size) and compiled to one SQL condition whose values are all parameters.
import type { FastifyRequest } from "fastify";
import type pg from "pg";
import { z } from "zod";
import type { Tenant } from "../http/auth.ts";
import { badRequest } from "../http/errors.ts";
import type { CursorKeys } from "./cursor.ts";
import { type Keyset, pageSchema } from "./keyset.ts";
import { tenantRows } from "./tenant-read.ts";
import type { Param, SqlWhere } from "./where.ts";

/** Bounds of a query tree: nesting of and/or/not, and typed queries in all. */
export const TREE_LIMITS = { depth: 5, leaves: 50 } as const;

/** A node of the tree: exactly one key, a typed query or a combinator. */
export type QueryNode = { andQuery?: { queries: QueryNode[] }; orQuery?: { queries: QueryNode[] }; notQuery?: { query: QueryNode } } & {
  [leaf: string]: unknown;
};

/** SQL for each typed query of a tree, given its validated value. */
export type LeafSql<L extends Record<string, z.ZodType>> = { [K in keyof L]: (p: Param, v: z.output<L[K]>) => string };

const oneKey = (n: object) => Object.values(n).filter((v) => v !== undefined).length === 1;

/**
 * The schema of one node of a query tree over these typed queries (named `id` in the OpenAPI document).
 * Each typed query is a strict object, so an unknown query type or field is a 400.
 */
export function queryTree<L extends Record<string, z.ZodType>>(id: string, leaves: L): z.ZodType<QueryNode> {
  const optionalLeaves = Object.fromEntries(Object.entries(leaves).map(([k, s]) => [k, s.optional()]));
  const node: z.ZodType<QueryNode> = z
    .strictObject({
      ...optionalLeaves,
      get andQuery() {
        return z.strictObject({ queries: z.array(node).min(1).max(TREE_LIMITS.leaves) }).optional();
      },
      get orQuery() {
        return z.strictObject({ queries: z.array(node).min(1).max(TREE_LIMITS.leaves) }).optional();
      },
      get notQuery() {
        return z.strictObject({ query: node }).optional();
      },
    })
    .refine(oneKey, "a query holds exactly one typed query, andQuery, orQuery or notQuery")
    .meta({
      id,
      description: `One query: exactly one of the properties. andQuery/orQuery/notQuery nest at most ${TREE_LIMITS.depth} deep; at most ${TREE_LIMITS.leaves} typed queries in all.`,
    }) as unknown as z.ZodType<QueryNode>;
  return node;
}

/** The nesting depth of combinators and the number of typed queries of a list of nodes (AND-ed). */
export function treeSize(nodes: readonly QueryNode[]): { depth: number; leaves: number } {
  let depth = 0;
  let leaves = 0;
  const walk = (n: QueryNode, d: number) => {
    const children = n.andQuery?.queries ?? n.orQuery?.queries ?? (n.notQuery ? [n.notQuery.query] : undefined);
    if (!children) {
      leaves++;
      depth = Math.max(depth, d);
      return;
    }
    for (const c of children) walk(c, d + 1);
  };
  for (const n of nodes) walk(n, 0);
  return { depth, leaves };
}

/** A zod refinement of a body's `queries`: within TREE_LIMITS. */
export function checkTreeSize(nodes: readonly QueryNode[], ctx: z.RefinementCtx): void {
  const { depth, leaves } = treeSize(nodes);
  if (depth > TREE_LIMITS.depth) ctx.addIssue({ code: "custom", path: ["queries"], message: `queries nest ${depth} deep; at most ${TREE_LIMITS.depth}` });
  if (leaves > TREE_LIMITS.leaves) ctx.addIssue({ code: "custom", path: ["queries"], message: `${leaves} typed queries; at most ${TREE_LIMITS.leaves}` });
}

// JSON nesting a body may have before it is validated: generous for TREE_LIMITS (three JSON levels per
// tree level), and low enough that the recursive validation never exhausts the stack.
const MAX_JSON_DEPTH = 40;

/** Fastify preValidation hook: a body nested deeper than any valid tree is a 400 before zod walks it. */
export async function boundedJsonDepth(req: FastifyRequest): Promise<void> {
  const stack: [unknown, number][] = [[req.body, 0]];
  while (stack.length) {
    const [v, d] = stack.pop() as [unknown, number];
    if (typeof v !== "object" || v === null) continue;
    if (d >= MAX_JSON_DEPTH) throw badRequest(`invalid body: nested more than ${MAX_JSON_DEPTH} levels`);
    for (const c of Object.values(v)) stack.push([c, d + 1]);
  }
}

/** The SQL condition of a node; NOT is the complement (a typed query on an absent value counts as false). */
export function treeSql<L extends Record<string, z.ZodType>>(n: QueryNode, leafSql: LeafSql<L>, p: Param): string {
  if (n.andQuery) return `(${n.andQuery.queries.map((c) => treeSql(c, leafSql, p)).join(" AND ")})`;
  if (n.orQuery) return `(${n.orQuery.queries.map((c) => treeSql(c, leafSql, p)).join(" OR ")})`;
  if (n.notQuery) return `(NOT coalesce(${treeSql(n.notQuery.query, leafSql, p)}, false))`;
  const [[key, value]] = Object.entries(n).filter(([, v]) => v !== undefined) as [[keyof L, unknown]];
  return `(${(leafSql[key] as (p: Param, v: unknown) => string)(p, value)})`;
}

/**
 * The body of a list's search endpoint: the AND-ed query tree, a sorting column (ZITADEL's name, or the
 * list's own sort name), order, page size, cursor, and whether to count all matches.
 */
export function searchBodySchema(
  tree: z.ZodType<QueryNode>,
  sortingColumns: Readonly<Record<string, string>>,
  sorts: readonly string[],
  o: { defaultColumn: string; asc: boolean; noun: string },
) {
  return z
    .strictObject({
      queries: z.array(tree).max(TREE_LIMITS.leaves).default([]).describe("AND-ed; each is one typed query or andQuery/orQuery/notQuery"),
      sortingColumn: z.enum([...Object.keys(sortingColumns), ...sorts] as [string, ...string[]]).default(o.defaultColumn),
      asc: z.boolean().default(o.asc),
      limit: z.number().int().min(1).max(200).default(50),
      cursor: z.string().max(2000).optional().describe("the nextCursor of the previous page, with the same body otherwise"),
      withTotal: z.boolean().default(false).describe(`also count every matching ${o.noun} (details.totalResult): costs a count`),
    })
    .superRefine((b, ctx) => checkTreeSize(b.queries, ctx));
}

/** A search page: the list's page, and the total with withTotal. */
export const searchPageSchema = <T extends z.ZodType>(item: T, noun: string) =>
  pageSchema(item).extend({
    details: z
      .object({ totalResult: z.number().int().describe(`${noun}s matching the queries, over all pages`) })
      .optional()
      .describe("with withTotal only"),
  });

/** A search body as searchBodySchema outputs it. */
type SearchBody = { queries: QueryNode[]; sortingColumn: string; asc: boolean; limit: number; cursor?: string | undefined; withTotal: boolean };

/** The keyset request of a search body; the cursor binds the query tree like a GET list's filters (zod's output order is canonical). */
function searchPageRequest<S extends string>(b: SearchBody, sortingColumns: Readonly<Record<string, S>>) {
  const sort = (b.sortingColumn in sortingColumns ? sortingColumns[b.sortingColumn] : b.sortingColumn) as S;
  return { sort, order: b.asc ? ("asc" as const) : ("desc" as const), limit: b.limit, cursor: b.cursor, queries: JSON.stringify(b.queries) };
}

/**
 * Reads the pages of a list's search endpoint: the body's sort (ZITADEL's sorting column or the list's
 * own name), order, limit and cursor; the conditions `where` builds (tenant scope and the body's queries,
 * built once for the page and once for the count); with withTotal, the count of every match.
 */
export function searchReader<S extends string>(list: Keyset<S>, db: pg.Pool, cursorKeys: CursorKeys, sortingColumns: Readonly<Record<string, S>>) {
  const readPage = list.reader(db, cursorKeys);
  return async <Row extends object>(tenant: Tenant, b: SearchBody, where: () => SqlWhere) => {
    const [page, total] = await Promise.all([
      readPage<Row>(tenant, searchPageRequest(b, sortingColumns), where()),
      b.withTotal ? countMatching(db, tenant, list.spec.from, where()) : undefined,
    ]);
    return { ...page, ...(total === undefined ? {} : { details: { totalResult: total } }) };
  };
}

/** Rows of `from` (the list's FROM clause) matching a search's conditions, for details.totalResult. */
async function countMatching(db: pg.Pool, tenant: Tenant, from: string, w: SqlWhere): Promise<number> {
  const [row] = await tenantRows<{ n: string }>(db, tenant, { text: `SELECT count(*)::text AS n FROM ${from}${w.sql()}`, values: w.values });
  return Number(row?.n ?? 0);
}

/** A search's queries (AND-ed) as conditions of a list's query, through the list's SQL per typed query. */
export function addQueries<L extends Record<string, z.ZodType>>(w: SqlWhere, queries: readonly QueryNode[], leafSql: LeafSql<L>): SqlWhere {
  for (const n of queries) w.add((p) => treeSql(n, leafSql, p));
  return w;
}
