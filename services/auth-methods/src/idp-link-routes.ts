// IdP links query API: the links of a user to its accounts at external IdPs (ZITADEL ListIDPLinks), a
// keyset list; and whether a user has any, which makes "idp" one of its auth method types.
import { idSchema } from "@idp/events";
import {
  cursorKeys,
  type DetailsRow,
  detailsSchema,
  errorBodySchema,
  keyset,
  notFound,
  pageSchema,
  type RouteDeps,
  type Tenant,
  tenantRows,
  tenantWhere,
  toDetails,
} from "@idp/runtime";
import type { FastifyPluginAsync } from "fastify";
import type pg from "pg";
import { z } from "zod";

const links = keyset({
  name: "idp-links",
  columns: "l.idp_id, l.external_user_id, l.user_id, l.display_name, l.sequence, l.creation_date, l.change_date, l.resource_owner",
  from: "idp_user_links l",
  sorts: {
    creationDate: { sql: "l.creation_date", kind: "timestamp" },
    changeDate: { sql: "l.change_date", kind: "timestamp" },
    idpId: { sql: "l.idp_id", kind: "text" },
  },
  // A link's key within the instance.
  tieBreaker: [
    { sql: "l.idp_id", kind: "text" },
    { sql: "l.external_user_id", kind: "text" },
  ],
});

const listQuery = z.strictObject({
  idpId: idSchema.optional().describe("only the links to this IdP configuration"),
  ...links.params("creationDate"),
});

const linkSchema = z
  .object({
    idpId: z.string().describe("the IdP configuration"),
    userId: z.string().describe("the user here"),
    externalUserId: z.string().describe("the user's id at the IdP"),
    displayName: z.string().nullable().describe("the user's name at the IdP"),
    details: detailsSchema,
  })
  .meta({ id: "IdpLink" });

/** A row of the list's columns, as pg returns it. */
interface Row extends DetailsRow {
  idp_id: string;
  external_user_id: string;
  user_id: string;
  display_name: string | null;
}

const toLink = (r: Row): z.infer<typeof linkSchema> => ({
  idpId: r.idp_id,
  userId: r.user_id,
  externalUserId: r.external_user_id,
  displayName: r.display_name,
  details: toDetails(r),
});

/** Whether the user has at least one IdP link (ZITADEL's ListUserAuthMethodTypes then adds "idp"). */
export async function userHasIdpLink(db: pg.Pool, tenant: Tenant, userId: string): Promise<boolean> {
  const w = tenantWhere(tenant, "l");
  w.add((p) => `l.user_id = ${p(userId)}`);
  return (await tenantRows(db, tenant, w.prepared("SELECT 1 AS linked FROM idp_user_links l", " LIMIT 1"))).length > 0;
}

export const idpLinkRoutes =
  ({ db, config }: Pick<RouteDeps, "db" | "config">): FastifyPluginAsync =>
  async (app) => {
    const readPage = links.reader(db, cursorKeys(config.cursorKeys, app.log));

    app.get<{ Params: { userId: string }; Querystring: z.infer<typeof listQuery> }>(
      "/users/:userId/idp-links",
      {
        schema: {
          operationId: "listUserIdpLinks",
          summary: "List a user's links to external IdPs (ZITADEL ListIDPLinks)",
          description: "Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["auth-methods"],
          params: z.strictObject({ userId: idSchema }),
          querystring: listQuery,
          response: { 200: pageSchema(linkSchema), 404: errorBodySchema },
        },
      },
      async (req) => {
        const { userId } = req.params;
        const q = req.query;
        const w = tenantWhere(req.tenant, "l");
        w.add((p) => `l.user_id = ${p(userId)}`);
        w.eq("l.idp_id", q.idpId);
        // The user id is a filter too: a cursor of one user's list is not valid for another's.
        const { rows, nextCursor } = await readPage<Row>(req.tenant, { ...q, userId }, w);
        if (rows.length === 0 && !q.cursor) {
          // Empty: a 404 unless this read model knows the user.
          const u = tenantWhere(req.tenant, "u");
          u.add((p) => `u.user_id = ${p(userId)}`);
          const [known] = await tenantRows(db, req.tenant, u.prepared("SELECT 1 AS known FROM auth_method_users u"));
          if (!known) throw notFound(`user ${userId} not found`);
        }
        return { result: rows.map(toLink), nextCursor };
      },
    );
  };
