// Auth methods query API: a user's methods, the method types a user can log in with (ZITADEL's
// ListUserAuthMethodTypes: ready methods plus password), and a search over all methods with ZITADEL's
// filters (user, token, org, types, state), sorting and keyset pagination.
import { idSchema } from "@idp/events";
import { badRequest, decodeCursor, detailsSchema, encodeCursor, notFound, pageQuery, type RouteDeps, type SqlWhere, type Tenant, tenantRows, tenantWhere, toDetails, withTenant } from "@idp/runtime";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { MethodState, MethodType } from "./projection.ts";

type TypeName = keyof typeof MethodType;
type StateName = keyof typeof MethodState;
const typeNames = Object.keys(MethodType) as [TypeName, ...TypeName[]];
const stateNames = Object.keys(MethodState) as [StateName, ...StateName[]];
const typeName = (n: number) => typeNames.find((k) => MethodType[k] === n) ?? "unspecified";
const stateName = (n: number) => stateNames.find((k) => MethodState[k] === n) ?? "unspecified";

const typesFilter = z
  .string()
  .max(500)
  .transform((s) => s.split(",").filter(Boolean))
  .pipe(z.array(z.enum(typeNames)).min(1).max(typeNames.length))
  .optional()
  .describe(`comma-separated method types: ${typeNames.join(", ")}`);
const stateFilter = z.enum(stateNames).optional();

/** Sortable fields → SQL expression (non-null) and kind; rows are unique by (user, type, token). */
const SORTS = {
  creationDate: { sql: "m.creation_date", kind: "timestamp" },
  changeDate: { sql: "m.change_date", kind: "timestamp" },
  userId: { sql: "m.user_id", kind: "text" },
  type: { sql: "m.method_type", kind: "int" },
} as const;
type SortKey = keyof typeof SORTS;
type Sort = (typeof SORTS)[SortKey];

// Timestamps travel in cursors as integer microseconds since the epoch: exact, and a forged value is
// a 400 here, never a cast error in SQL.
const sortValue = (sort: Sort) => (sort.kind === "timestamp" ? `(extract(epoch FROM ${sort.sql}) * 1000000)::int8` : sort.sql);
function cursorValue(kind: Sort["kind"], v: unknown, p: (v: unknown) => string): string {
  if (kind === "text") return `${p(String(v))}::text`;
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw badRequest("cursor is malformed");
  if (kind === "int") return `${p(v)}::int8`;
  return `(timestamptz 'epoch' + ${p(v)}::int8 * interval '1 microsecond')`;
}
/** The cursor's tie-breaker is the row's key after the instance: [user id, method type, token id]. */
const tieBreaker = z.tuple([z.string(), z.number().int().min(-32768).max(32767), z.string()]);
function decodeTie(id: string): z.infer<typeof tieBreaker> {
  try {
    return tieBreaker.parse(JSON.parse(id));
  } catch {
    throw badRequest("cursor is malformed");
  }
}

const listQuery = z.strictObject({
  userId: idSchema.optional(),
  orgId: idSchema.optional().describe("resource owner (organization) id of the user"),
  tokenId: z.string().min(1).max(200).optional().describe("WebAuthn token id"),
  types: typesFilter,
  state: stateFilter,
  sort: z.enum(Object.keys(SORTS) as [SortKey, ...SortKey[]]).default("creationDate"),
  ...pageQuery,
});
const userQuery = z.strictObject({ types: typesFilter, state: stateFilter });
const typesQuery = z.strictObject({
  onlyReady: z
    .enum(["true", "false"])
    .default("true")
    .transform((v) => v === "true")
    .describe("only methods that are set up (default true)"),
});

const methodSchema = z.object({
  userId: z.string(),
  type: z.string(),
  tokenId: z.string().nullable().describe("WebAuthn token id (U2F, passwordless); null for the others"),
  state: z.string(),
  name: z.string().nullable(),
  domain: z.string().nullable().describe("WebAuthn relying-party id"),
  details: detailsSchema,
});

const SELECT = `SELECT m.user_id, m.method_type, m.token_id, m.state, m.name, m.domain, m.sequence, m.creation_date,
  m.change_date, m.resource_owner
FROM user_auth_methods m`;

type Row = Record<string, unknown> & { user_id: string; method_type: number; token_id: string };

const toMethod = (r: Row): z.infer<typeof methodSchema> => ({
  userId: r.user_id,
  type: typeName(r.method_type),
  tokenId: r.token_id || null,
  state: stateName(r.state as number),
  name: (r.name as string) || null,
  domain: (r.domain as string | null) ?? null,
  details: toDetails(r),
});

function filterMethods(w: SqlWhere, q: { types?: TypeName[] | undefined; state?: StateName | undefined }) {
  if (q.types) w.add((p) => `m.method_type = ANY(${p(q.types?.map((t) => MethodType[t]))}::int2[])`);
  if (q.state) w.add((p) => `m.state = ${p(MethodState[q.state as StateName])}`);
}

export const authMethodRoutes =
  ({ db }: RouteDeps): FastifyPluginAsync =>
  async (app) => {
    /** The user's methods, or a 404 when this read model knows neither the user nor any of its methods. */
    const userMethods = async (tenant: Tenant, userId: string, q: z.infer<typeof userQuery>) =>
      withTenant(db, tenant.instanceId, async (c) => {
        const u = tenantWhere(tenant, "u");
        u.add((p) => `u.user_id = ${p(userId)}`);
        const user = (await c.query(u.prepared("SELECT u.password_set FROM auth_method_users u"))).rows[0] as { password_set: boolean } | undefined;
        const w = tenantWhere(tenant, "m");
        w.add((p) => `m.user_id = ${p(userId)}`);
        filterMethods(w, q);
        const methods = (await c.query(`${SELECT}${w.sql()} ORDER BY m.creation_date, m.method_type, m.token_id`, w.values)).rows as Row[];
        if (!user && methods.length === 0) {
          // Filters may hide every method: only then check whether the user has any at all.
          const any = tenantWhere(tenant, "m");
          any.add((p) => `m.user_id = ${p(userId)}`);
          if ((await c.query(`SELECT 1 FROM user_auth_methods m${any.sql()} LIMIT 1`, any.values)).rowCount === 0) throw notFound(`user ${userId} not found`);
        }
        return { passwordSet: user?.password_set === true, methods };
      });

    app.get(
      "/users/:userId/auth-methods",
      {
        schema: {
          summary: "List a user's auth methods",
          tags: ["auth-methods"],
          params: z.strictObject({ userId: idSchema }),
          querystring: userQuery,
          response: { 200: z.object({ result: z.array(methodSchema) }) },
        },
      },
      async (req) => {
        const { userId } = req.params as { userId: string };
        const { methods } = await userMethods(req.tenant, userId, req.query as z.infer<typeof userQuery>);
        return { result: methods.map(toMethod) };
      },
    );

    app.get(
      "/users/:userId/auth-method-types",
      {
        schema: {
          summary: "The auth method types of a user, password included (ZITADEL ListUserAuthMethodTypes)",
          tags: ["auth-methods"],
          params: z.strictObject({ userId: idSchema }),
          querystring: typesQuery,
          response: { 200: z.object({ types: z.array(z.string()) }) },
        },
      },
      async (req) => {
        const { userId } = req.params as { userId: string };
        const { onlyReady } = req.query as z.infer<typeof typesQuery>;
        const { passwordSet, methods } = await userMethods(req.tenant, userId, onlyReady ? { state: "ready" } : {});
        const types = new Set(methods.map((m) => typeName(m.method_type)));
        return { types: [...(passwordSet ? ["password"] : []), ...typeNames.filter((t) => types.has(t))] };
      },
    );

    app.get(
      "/auth-methods",
      {
        schema: {
          summary: "Search auth methods",
          description: "Filters are AND-ed. Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["auth-methods"],
          querystring: listQuery,
          response: { 200: z.object({ result: z.array(methodSchema), nextCursor: z.string().nullable() }) },
        },
      },
      async (req) => {
        const q = req.query as z.infer<typeof listQuery>;
        const w = tenantWhere(req.tenant, "m");
        if (q.userId) w.add((p) => `m.user_id = ${p(q.userId)}`);
        if (q.orgId) w.add((p) => `m.resource_owner = ${p(q.orgId)}`);
        if (q.tokenId) w.add((p) => `m.token_id = ${p(q.tokenId)}`);
        filterMethods(w, q);
        const sort = SORTS[q.sort];
        const cmp = q.order === "asc" ? ">" : "<";
        if (q.cursor) {
          const c = decodeCursor(q.cursor, { s: q.sort, d: q.order });
          const [userId, type, tokenId] = decodeTie(c.id);
          w.add(
            (p) =>
              `(${sort.sql}, m.user_id, m.method_type, m.token_id) ${cmp} (${cursorValue(sort.kind, c.v, p)}, ${p(userId)}::text, ${p(type)}::int2, ${p(tokenId)}::text)`,
          );
        }
        const dir = q.order;
        const sql = `${SELECT.replace("\nFROM user_auth_methods m", `, ${sortValue(sort)} AS sort_value\nFROM user_auth_methods m`)}${w.sql()}
          ORDER BY ${sort.sql} ${dir}, m.user_id ${dir}, m.method_type ${dir}, m.token_id ${dir} LIMIT ${q.limit + 1}`;
        const rows = (await tenantRows(db, req.tenant.instanceId, { text: sql, values: w.values })) as Row[];
        const page = rows.slice(0, q.limit);
        const last = page.at(-1);
        const nextCursor =
          rows.length > q.limit && last
            ? encodeCursor({ s: q.sort, d: q.order, v: last.sort_value as string | number, id: JSON.stringify([last.user_id, last.method_type, last.token_id]) })
            : null;
        return { result: page.map(toMethod), nextCursor };
      },
    );
  };
