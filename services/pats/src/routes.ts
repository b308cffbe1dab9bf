// Personal access tokens query API: get by id, and search with ZITADEL's PAT filters (user, organization,
// creation and expiration dates), sorting and keyset pagination. No token material exists to return.
import { idSchema } from "@idp/events";
import {
  cursorKeys,
  type DetailsRow,
  detailsSchema,
  errorBodySchema,
  flag,
  idList,
  instant,
  keyset,
  notFound,
  pageSchema,
  type RouteDeps,
  tenantRows,
  tenantWhere,
  toDetails,
} from "@idp/runtime";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";

const COLUMNS = `t.id, t.resource_owner, t.creation_date, t.change_date, t.sequence, t.user_id, t.expiration,
  t.scopes, t.expiration <= now() AS expired`;

const tokens = keyset({
  name: "pats",
  columns: COLUMNS,
  from: "personal_access_tokens t",
  sorts: {
    creationDate: { sql: "t.creation_date", kind: "timestamp" },
    id: { sql: "t.id", kind: "text" },
    userId: { sql: "t.user_id", kind: "text" },
    orgId: { sql: "t.resource_owner", kind: "text" },
    expiration: { sql: "t.expiration", kind: "timestamp" },
  },
  tieBreaker: [{ sql: "t.id", kind: "text" }],
});

const listQuery = z.strictObject({
  ids: idList.optional().describe("comma-separated token ids"),
  userId: idSchema.optional().describe("tokens of this user"),
  orgId: idSchema.optional().describe("tokens of users of this organization (resource owner)"),
  creationDateFrom: instant.optional().describe("created at or after (RFC 3339)"),
  creationDateTo: instant.optional().describe("created before (RFC 3339)"),
  expirationAfter: instant.optional().describe("expiration after this time (RFC 3339)"),
  expirationBefore: instant.optional().describe("expiration before this time (RFC 3339)"),
  hideExpired: flag.optional().describe("true: leave out tokens whose expiration has passed (evaluated at query time)"),
  ...tokens.params("creationDate"),
});

const patSchema = z
  .object({
    id: z.string(),
    userId: z.string(),
    expirationDate: z.string(),
    expired: z.boolean().describe("the expiration has passed (at query time)"),
    scopes: z.array(z.string()),
    details: detailsSchema,
  })
  .meta({ id: "PersonalAccessToken" });

/** A row of `COLUMNS`, as pg returns it. */
interface Row extends DetailsRow {
  id: string;
  user_id: string;
  expiration: Date;
  scopes: string[] | null;
  expired: boolean;
}

function toPat(r: Row): z.infer<typeof patSchema> {
  return {
    id: r.id,
    userId: r.user_id,
    expirationDate: r.expiration.toISOString(),
    expired: r.expired === true,
    scopes: r.scopes ?? [],
    details: toDetails(r),
  };
}

export const patRoutes =
  ({ db, config }: RouteDeps): FastifyPluginAsync =>
  async (app) => {
    const readPage = tokens.reader(db, cursorKeys(config.cursorKeys, app.log));
    app.get<{ Params: { tokenId: string } }>(
      "/pats/:tokenId",
      {
        schema: {
          operationId: "getPersonalAccessToken",
          summary: "Get a personal access token by id",
          tags: ["personal access tokens"],
          params: z.strictObject({ tokenId: idSchema }),
          response: { 200: patSchema, 404: errorBodySchema },
        },
      },
      async (req) => {
        const { tokenId } = req.params;
        const w = tenantWhere(req.tenant, "t");
        w.add((p) => `t.id = ${p(tokenId)}`);
        const [row] = await tenantRows<Row>(db, req.tenant, w.prepared(`SELECT ${COLUMNS} FROM personal_access_tokens t`));
        if (!row) throw notFound(`personal access token ${tokenId} not found`);
        return toPat(row);
      },
    );

    app.get<{ Querystring: z.infer<typeof listQuery> }>(
      "/pats",
      {
        schema: {
          operationId: "searchPersonalAccessTokens",
          summary: "Search personal access tokens",
          description:
            "Filters are AND-ed. Expired tokens are kept until filtered out (`hideExpired`, `expirationAfter`). " +
            "Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["personal access tokens"],
          querystring: listQuery,
          response: { 200: pageSchema(patSchema) },
        },
      },
      async (req) => {
        const q = req.query;
        const w = tenantWhere(req.tenant, "t");
        if (q.ids) w.add((p) => `t.id = ANY(${p(q.ids)}::text[])`);
        w.eq("t.user_id", q.userId).eq("t.resource_owner", q.orgId);
        if (q.creationDateFrom) w.add((p) => `t.creation_date >= ${p(q.creationDateFrom)}`);
        if (q.creationDateTo) w.add((p) => `t.creation_date < ${p(q.creationDateTo)}`);
        if (q.expirationAfter) w.add((p) => `t.expiration > ${p(q.expirationAfter)}`);
        if (q.expirationBefore) w.add((p) => `t.expiration < ${p(q.expirationBefore)}`);
        if (q.hideExpired) w.add(() => "t.expiration > now()");
        const { rows, nextCursor } = await readPage<Row>(req.tenant, q, w);
        return { result: rows.map(toPat), nextCursor };
      },
    );
  };
