// Auth methods query API: a user's methods, the method types a user can log in with (ZITADEL's
// ListUserAuthMethodTypes: ready methods plus password and IdP), and a search over all methods with ZITADEL's
// filters (user, token, org, types, state), sorting and keyset pagination.
import { idSchema } from "@idp/events";
import {
  cursorKeys,
  type DetailsRow,
  detailsSchema,
  enumName,
  enumNames,
  errorBodySchema,
  keyset,
  notFound,
  pageSchema,
  type RouteDeps,
  type SqlWhere,
  type Tenant,
  tenantWhere,
  toDetails,
  withTenant,
} from "@idp/runtime";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { idpLinkRoutes, userHasIdpLink } from "./idp-link-routes.ts";
import { MethodState, MethodType } from "./projection.ts";

type TypeName = keyof typeof MethodType;
type StateName = keyof typeof MethodState;
const typeNames = enumNames(MethodType);

const typesFilter = z
  .string()
  .max(500)
  .transform((s) => s.split(",").filter(Boolean))
  .pipe(z.array(z.enum(typeNames)).min(1).max(typeNames.length))
  .optional()
  .describe(`comma-separated method types: ${typeNames.join(", ")}`);
const stateNames = enumNames(MethodState);
const stateFilter = z
  .string()
  .max(200)
  .transform((s) => s.split(",").filter(Boolean))
  .pipe(z.array(z.enum(stateNames)).min(1).max(stateNames.length))
  .optional()
  .describe(`one state, or comma-separated states: ${stateNames.join(", ")}`);
/** A WebAuthn relying-party id (a host name). */
const domainFilter = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.-]+$/, "a host name")
  .optional()
  .describe("WebAuthn methods only of this relying-party id; methods without a domain (TOTP, OTP, …) always count");

const COLUMNS = `m.user_id, m.method_type, m.token_id, m.state, m.name, m.domain, m.sequence, m.creation_date,
  m.change_date, m.resource_owner`;

/** Rows are unique by (user, type, token) within the instance: that is the tie-breaker. */
const methods = keyset({
  name: "auth-methods",
  columns: COLUMNS,
  from: "user_auth_methods m",
  sorts: {
    creationDate: { sql: "m.creation_date", kind: "timestamp" },
    changeDate: { sql: "m.change_date", kind: "timestamp" },
    userId: { sql: "m.user_id", kind: "text" },
    type: { sql: "m.method_type", kind: "int" },
  },
  tieBreaker: [
    { sql: "m.user_id", kind: "text" },
    { sql: "m.method_type", kind: "int" },
    { sql: "m.token_id", kind: "text" },
  ],
});

const listQuery = z.strictObject({
  userId: idSchema.optional(),
  orgId: idSchema.optional().describe("resource owner (organization) id of the user"),
  tokenId: z.string().min(1).max(200).optional().describe("WebAuthn token id"),
  types: typesFilter,
  state: stateFilter,
  domain: domainFilter,
  ...methods.params("creationDate"),
});
const userQuery = z.strictObject({ types: typesFilter, state: stateFilter, domain: domainFilter });
const typesQuery = z.strictObject({
  onlyReady: z
    .enum(["true", "false"])
    .default("true")
    .transform((v) => v === "true")
    .describe("only methods that are set up (default true)"),
  domain: domainFilter,
});

const methodSchema = z
  .object({
    userId: z.string(),
    type: z.string(),
    tokenId: z.string().nullable().describe("WebAuthn token id (U2F, passwordless); null for the others"),
    state: z.string(),
    name: z.string().nullable(),
    domain: z.string().nullable().describe("WebAuthn relying-party id"),
    details: detailsSchema,
  })
  .meta({ id: "AuthMethod" });

/** A row of `COLUMNS`, as pg returns it. */
interface Row extends DetailsRow {
  user_id: string;
  method_type: number;
  token_id: string;
  state: number;
  name: string | null;
  domain: string | null;
}

const toMethod = (r: Row): z.infer<typeof methodSchema> => ({
  userId: r.user_id,
  type: enumName(MethodType, r.method_type),
  tokenId: r.token_id || null,
  state: enumName(MethodState, r.state),
  name: r.name || null,
  domain: r.domain,
  details: toDetails(r),
});

function filterMethods(w: SqlWhere, q: { types?: TypeName[] | undefined; state?: StateName[] | undefined; domain?: string | undefined }) {
  if (q.types) w.add((p) => `m.method_type = ANY(${p(q.types?.map((t) => MethodType[t]))}::int2[])`);
  if (q.state) w.add((p) => `m.state = ANY(${p(q.state?.map((t) => MethodState[t]))}::int2[])`);
  // As ZITADEL: a method bound to another relying party does not count; one bound to none does.
  if (q.domain) w.add((p) => `(m.domain IS NULL OR m.domain = '' OR lower(m.domain) = lower(${p(q.domain)}))`);
}

export const authMethodRoutes =
  ({ db, config }: RouteDeps): FastifyPluginAsync =>
  async (app) => {
    const readPage = methods.reader(db, cursorKeys(config.cursorKeys, app.log));
    await app.register(idpLinkRoutes({ db, config }));
    /** The user's methods, or a 404 when this read model knows neither the user nor any of its methods. */
    const userMethods = async (tenant: Tenant, userId: string, q: z.infer<typeof userQuery>) =>
      withTenant(db, tenant, async (c) => {
        const u = tenantWhere(tenant, "u");
        u.add((p) => `u.user_id = ${p(userId)}`);
        const [user] = (await c.query<{ password_set: boolean }>(u.prepared("SELECT u.password_set FROM auth_method_users u"))).rows;
        const w = tenantWhere(tenant, "m");
        w.add((p) => `m.user_id = ${p(userId)}`);
        filterMethods(w, q);
        const found = await c.query<Row>(`SELECT ${COLUMNS} FROM user_auth_methods m${w.sql()} ORDER BY m.creation_date, m.method_type, m.token_id`, w.values);
        if (!user && found.rows.length === 0) {
          // Filters may hide every method: only then check whether the user has any at all.
          const any = tenantWhere(tenant, "m");
          any.add((p) => `m.user_id = ${p(userId)}`);
          if ((await c.query(`SELECT 1 FROM user_auth_methods m${any.sql()} LIMIT 1`, any.values)).rowCount === 0) throw notFound(`user ${userId} not found`);
        }
        return { passwordSet: user?.password_set === true, methods: found.rows };
      });

    app.get<{ Params: { userId: string }; Querystring: z.infer<typeof userQuery> }>(
      "/users/:userId/auth-methods",
      {
        schema: {
          operationId: "listUserAuthMethods",
          summary: "List a user's auth methods",
          tags: ["auth-methods"],
          params: z.strictObject({ userId: idSchema }),
          querystring: userQuery,
          response: { 200: z.object({ result: z.array(methodSchema) }), 404: errorBodySchema },
        },
      },
      async (req) => {
        const { userId } = req.params;
        const { methods } = await userMethods(req.tenant, userId, req.query);
        return { result: methods.map(toMethod) };
      },
    );

    app.get<{ Params: { userId: string }; Querystring: z.infer<typeof typesQuery> }>(
      "/users/:userId/auth-method-types",
      {
        schema: {
          operationId: "listUserAuthMethodTypes",
          summary: "The auth method types of a user, password included (ZITADEL ListUserAuthMethodTypes)",
          tags: ["auth-methods"],
          params: z.strictObject({ userId: idSchema }),
          querystring: typesQuery,
          response: { 200: z.object({ types: z.array(z.string()) }), 404: errorBodySchema },
        },
      },
      async (req) => {
        const { userId } = req.params;
        const { onlyReady, domain } = req.query;
        const [{ passwordSet, methods }, idpLinked] = await Promise.all([
          userMethods(req.tenant, userId, { ...(onlyReady ? { state: ["ready" as const] } : {}), ...(domain ? { domain } : {}) }),
          userHasIdpLink(db, req.tenant, userId),
        ]);
        const types = new Set(methods.map((m) => enumName(MethodType, m.method_type)));
        return { types: [...(passwordSet ? ["password"] : []), ...(idpLinked ? ["idp"] : []), ...typeNames.filter((t) => types.has(t))] };
      },
    );

    app.get<{ Querystring: z.infer<typeof listQuery> }>(
      "/auth-methods",
      {
        schema: {
          operationId: "searchAuthMethods",
          summary: "Search auth methods",
          description: "Filters are AND-ed. Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["auth-methods"],
          querystring: listQuery,
          response: { 200: pageSchema(methodSchema) },
        },
      },
      async (req) => {
        const q = req.query;
        const w = tenantWhere(req.tenant, "m");
        w.eq("m.user_id", q.userId).eq("m.resource_owner", q.orgId).eq("m.token_id", q.tokenId);
        filterMethods(w, q);
        const { rows, nextCursor } = await readPage<Row>(req.tenant, q, w);
        return { result: rows.map(toMethod), nextCursor };
      },
    );
  };
