// Personal access tokens query API: get by id, and search with ZITADEL's PAT filters (user, organization,
// creation and expiration dates), sorting and keyset pagination. No token material exists to return.
import { idSchema } from "@idp/events";
import { badRequest, decodeCursor, detailsSchema, encodeCursor, iso, notFound, pageQuery, type RouteDeps, tenantRows, tenantWhere, toDetails } from "@idp/runtime";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";

/**
 * Sortable fields → a non-null SQL expression (keyset comparison needs a total order) and its kind.
 * Timestamps travel in cursors as integers (exact, and a forged value is a safe integer or a 400, never a
 * cast error in SQL): creation dates in microseconds; expirations in milliseconds, because ZITADEL's
 * "never expires" is 9999-12-31, whose microseconds exceed JavaScript's safe integers.
 */
const SORTS = {
  creationDate: { sql: "t.creation_date", kind: "timestamp", unit: 1_000_000 },
  id: { sql: "t.id", kind: "text" },
  userId: { sql: "t.user_id", kind: "text" },
  orgId: { sql: "t.resource_owner", kind: "text" },
  expiration: { sql: "t.expiration", kind: "timestamp", unit: 1_000 },
} as const;
type SortKey = keyof typeof SORTS;
type Sort = (typeof SORTS)[SortKey];

const sortValue = (sort: Sort) => ("unit" in sort ? `(extract(epoch FROM ${sort.sql}) * ${sort.unit})::int8` : sort.sql);
function cursorValue(sort: Sort, v: unknown, p: (v: unknown) => string): string {
  if (!("unit" in sort)) {
    if (typeof v !== "string") throw badRequest("cursor is malformed");
    return `${p(v)}::text`;
  }
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw badRequest("cursor is malformed");
  // Outside PostgreSQL's timestamp range the comparison would fail in SQL: a forged cursor, not a 500.
  const seconds = v / sort.unit;
  if (seconds < -2e11 || seconds > 3e11) throw badRequest("cursor is malformed");
  return `(timestamptz 'epoch' + ${p(v)}::int8 * interval '${1_000_000 / sort.unit} microsecond')`;
}

const instant = z.iso.datetime({ offset: true }).transform((v) => new Date(v));
const flag = z.enum(["true", "false"]).transform((v) => v === "true");

const listQuery = z.strictObject({
  ids: z
    .string()
    .max(4000)
    .transform((s) => s.split(",").filter(Boolean))
    .pipe(z.array(idSchema).min(1).max(100))
    .optional()
    .describe("comma-separated token ids"),
  userId: idSchema.optional().describe("tokens of this user"),
  orgId: idSchema.optional().describe("tokens of users of this organization (resource owner)"),
  creationDateFrom: instant.optional().describe("created at or after (RFC 3339)"),
  creationDateTo: instant.optional().describe("created before (RFC 3339)"),
  expirationAfter: instant.optional().describe("expiration after this time (RFC 3339)"),
  expirationBefore: instant.optional().describe("expiration before this time (RFC 3339)"),
  hideExpired: flag.optional().describe("true: leave out tokens whose expiration has passed (evaluated at query time)"),
  sort: z.enum(Object.keys(SORTS) as [SortKey, ...SortKey[]]).default("creationDate"),
  ...pageQuery,
});

const patSchema = z.object({
  id: z.string(),
  userId: z.string(),
  expirationDate: z.string(),
  expired: z.boolean().describe("the expiration has passed (at query time)"),
  scopes: z.array(z.string()),
  details: detailsSchema,
});

const SELECT = `SELECT t.id, t.resource_owner, t.creation_date, t.change_date, t.sequence, t.user_id, t.expiration,
  t.scopes, t.expiration <= now() AS expired
FROM personal_access_tokens t`;

type Row = Record<string, unknown> & { id: string };

function toPat(r: Row): z.infer<typeof patSchema> {
  return {
    id: r.id,
    userId: r.user_id as string,
    expirationDate: iso(r.expiration) as string,
    expired: r.expired === true,
    scopes: (r.scopes as string[] | null) ?? [],
    details: toDetails(r),
  };
}

export const patRoutes =
  ({ db }: RouteDeps): FastifyPluginAsync =>
  async (app) => {
    app.get(
      "/pats/:tokenId",
      {
        schema: {
          summary: "Get a personal access token by id",
          tags: ["personal access tokens"],
          params: z.strictObject({ tokenId: idSchema }),
          response: { 200: patSchema },
        },
      },
      async (req) => {
        const { tokenId } = req.params as { tokenId: string };
        const w = tenantWhere(req.tenant, "t");
        w.add((p) => `t.id = ${p(tokenId)}`);
        const rows = await tenantRows(db, req.tenant.instanceId, w.prepared(SELECT));
        if (!rows[0]) throw notFound(`personal access token ${tokenId} not found`);
        return toPat(rows[0] as Row);
      },
    );

    app.get(
      "/pats",
      {
        schema: {
          summary: "Search personal access tokens",
          description:
            "Filters are AND-ed. Expired tokens are kept until filtered out (`hideExpired`, `expirationAfter`). " +
            "Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["personal access tokens"],
          querystring: listQuery,
          response: { 200: z.object({ result: z.array(patSchema), nextCursor: z.string().nullable() }) },
        },
      },
      async (req) => {
        const q = req.query as z.infer<typeof listQuery>;
        const w = tenantWhere(req.tenant, "t");
        if (q.ids) w.add((p) => `t.id = ANY(${p(q.ids)}::text[])`);
        if (q.userId) w.add((p) => `t.user_id = ${p(q.userId)}`);
        if (q.orgId) w.add((p) => `t.resource_owner = ${p(q.orgId)}`);
        if (q.creationDateFrom) w.add((p) => `t.creation_date >= ${p(q.creationDateFrom)}`);
        if (q.creationDateTo) w.add((p) => `t.creation_date < ${p(q.creationDateTo)}`);
        if (q.expirationAfter) w.add((p) => `t.expiration > ${p(q.expirationAfter)}`);
        if (q.expirationBefore) w.add((p) => `t.expiration < ${p(q.expirationBefore)}`);
        if (q.hideExpired) w.add(() => "t.expiration > now()");
        const sort = SORTS[q.sort];
        const cmp = q.order === "asc" ? ">" : "<";
        if (q.cursor) {
          const c = decodeCursor(q.cursor, { s: q.sort, d: q.order });
          w.add((p) => `(${sort.sql}, t.id) ${cmp} (${cursorValue(sort, c.v, p)}, ${p(c.id)}::text)`);
        }
        const sql = `${SELECT.replace("\nFROM personal_access_tokens t", `, ${sortValue(sort)} AS sort_value\nFROM personal_access_tokens t`)}${w.sql()} ORDER BY ${sort.sql} ${q.order}, t.id ${q.order} LIMIT ${q.limit + 1}`;
        const rows = (await tenantRows(db, req.tenant.instanceId, { text: sql, values: w.values })) as Row[];
        const page = rows.slice(0, q.limit);
        const last = page.at(-1);
        const nextCursor = rows.length > q.limit && last ? encodeCursor({ s: q.sort, d: q.order, v: last.sort_value as string | number, id: last.id }) : null;
        return { result: page.map(toPat), nextCursor };
      },
    );
  };
