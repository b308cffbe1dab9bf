// User metadata query API: a user's metadata (keyset list, filtered by key) and one entry by key, with
// values returned base64 (they are opaque bytes); and the metadata filter of the users list.
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
  SqlWhere,
  type Tenant,
  tenantRows,
  tenantWhere,
  textMatch,
  toDetails,
} from "@idp/runtime";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";

/** Keys as the events bound them. */
const metadataKey = z.string().min(1).max(200);
/** Keys are case-sensitive (as in ZITADEL): exact match unless the client asks for another method. */
const keyMethod = textMatch.unwrap().default("equals");

/**
 * Bytes as base64 (RFC 4648; the URL-safe alphabet and missing padding are accepted too), passed on as
 * hex for `decode(…, 'hex')`: SQL only ever sees hex digits.
 */
const base64Bytes = z
  .string()
  .min(1)
  .max(4000)
  .regex(/^[A-Za-z0-9+/_-]+={0,2}$/, "must be base64")
  .refine((s) => s.replace(/=+$/, "").length % 4 !== 1, "must be base64")
  .transform((s) => Buffer.from(s, "base64").toString("hex"));

/** The users list's metadata filter: users having an entry with this key and/or this value. */
export const metadataQuery = {
  metadataKey: metadataKey.optional().describe("users with a metadata entry of this key (see metadataKeyMethod)"),
  metadataKeyMethod: keyMethod,
  metadataValue: base64Bytes
    .optional()
    .describe(
      "users with a metadata entry of exactly these bytes, given base64 (with metadataKey: that key's entry); in a query string, percent-encode + / and =",
    ),
};
type MetadataQuery = { metadataKey?: string | undefined; metadataKeyMethod: z.infer<typeof keyMethod>; metadataValue?: string | undefined };

/** Adds the metadata filter to a users query (alias `u`): key and value must match the same entry. */
export function filterByMetadata(w: SqlWhere, q: MetadataQuery): void {
  if (q.metadataKey === undefined && q.metadataValue === undefined) return;
  const entry = new SqlWhere().add(() => "md.instance_id = u.instance_id AND md.user_id = u.id");
  entry.text("md.key", q.metadataKey, q.metadataKeyMethod);
  if (q.metadataValue !== undefined) entry.add((p) => `md.value = decode(${p(q.metadataValue)}, 'hex')`);
  w.add((p) => `EXISTS (SELECT 1 FROM user_metadata md WHERE ${entry.condition(p)})`);
}

const entries = keyset({
  name: "user-metadata",
  columns: "m.user_id, m.key, m.value, m.sequence, m.creation_date, m.change_date, m.resource_owner",
  from: "user_metadata m",
  sorts: {
    key: { sql: "m.key", kind: "text" },
    creationDate: { sql: "m.creation_date", kind: "timestamp" },
    changeDate: { sql: "m.change_date", kind: "timestamp" },
  },
  // An entry's key within the tenant is (user, key).
  tieBreaker: [
    { sql: "m.user_id", kind: "text" },
    { sql: "m.key", kind: "text" },
  ],
});

const listQuery = z.strictObject({
  key: metadataKey.optional().describe("entries whose key matches (see keyMethod)"),
  keyMethod,
  ...entries.params("key"),
});

const metadataSchema = z
  .object({
    key: z.string(),
    value: z.string().describe("the value's bytes, base64"),
    details: detailsSchema,
  })
  .meta({ id: "UserMetadata" });

/** A row of the list's columns, as pg returns it. */
interface Row extends DetailsRow {
  user_id: string;
  key: string;
  value: Buffer;
}

const toMetadata = (r: Row): z.infer<typeof metadataSchema> => ({ key: r.key, value: r.value.toString("base64"), details: toDetails(r) });

export const metadataRoutes =
  ({ db, config }: Pick<RouteDeps, "db" | "config">): FastifyPluginAsync =>
  async (app) => {
    const readPage = entries.reader(db, cursorKeys(config.cursorKeys, app.log));
    /** A 404 unless this read model knows the user (an empty list or a missing key says nothing else). */
    const assertUser = async (tenant: Tenant, userId: string) => {
      const w = tenantWhere(tenant, "u");
      w.add((p) => `u.id = ${p(userId)}`);
      const [found] = await tenantRows(db, tenant, w.prepared("SELECT 1 AS found FROM users u"));
      if (!found) throw notFound(`user ${userId} not found`);
    };

    app.get<{ Params: { userId: string }; Querystring: z.infer<typeof listQuery> }>(
      "/users/:userId/metadata",
      {
        schema: {
          operationId: "listUserMetadata",
          summary: "List a user's metadata (ZITADEL ListUserMetadata)",
          description: "Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["users"],
          params: z.strictObject({ userId: idSchema }),
          querystring: listQuery,
          response: { 200: pageSchema(metadataSchema), 404: errorBodySchema },
        },
      },
      async (req) => {
        const { userId } = req.params;
        const q = req.query;
        const w = tenantWhere(req.tenant, "m");
        w.add((p) => `m.user_id = ${p(userId)}`);
        w.text("m.key", q.key, q.keyMethod);
        // The user id is a filter too: a cursor of one user's list is not valid for another's.
        const { rows, nextCursor } = await readPage<Row>(req.tenant, { ...q, userId }, w);
        if (rows.length === 0 && !q.cursor) await assertUser(req.tenant, userId);
        return { result: rows.map(toMetadata), nextCursor };
      },
    );

    app.get<{ Params: { userId: string; key: string } }>(
      "/users/:userId/metadata/:key",
      {
        schema: {
          operationId: "getUserMetadata",
          summary: "Get one metadata entry of a user by key (ZITADEL GetUserMetadataByKey)",
          tags: ["users"],
          params: z.strictObject({ userId: idSchema, key: metadataKey }),
          response: { 200: metadataSchema, 404: errorBodySchema },
        },
      },
      async (req) => {
        const { userId, key } = req.params;
        const w = tenantWhere(req.tenant, "m");
        w.add((p) => `m.user_id = ${p(userId)}`).add((p) => `m.key = ${p(key)}`);
        const [row] = await tenantRows<Row>(db, req.tenant, w.prepared(`SELECT ${entries.spec.columns} FROM user_metadata m`));
        if (!row) throw notFound(`metadata ${key} of user ${userId} not found`);
        return toMetadata(row);
      },
    );
  };
