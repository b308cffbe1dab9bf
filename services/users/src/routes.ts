// Users query API: get by id, and search with ZITADEL's user filters, sorting and keyset pagination.
import { idSchema } from "@idp/events";
import { badRequest, decodeCursor, detailsSchema, encodeCursor, iso, notFound, pageQuery, type RouteDeps, tenantRows, tenantWhere, textMatch, toDetails } from "@idp/runtime";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { UserState, UserType } from "./projection.ts";

const stateNames = Object.keys(UserState) as [keyof typeof UserState, ...(keyof typeof UserState)[]];
const typeNames = Object.keys(UserType) as [keyof typeof UserType, ...(keyof typeof UserType)[]];
const stateName = (n: number) => stateNames.find((k) => UserState[k] === n) ?? "unspecified";
const typeName = (n: number) => typeNames.find((k) => UserType[k] === n) ?? "unspecified";

const textFilter = z.string().min(1).max(200);

/** Sortable fields → a non-null SQL expression (keyset comparison needs a total order) and its kind. */
const SORTS = {
  id: { sql: "u.id", kind: "text" },
  username: { sql: "lower(u.username)", kind: "text" },
  displayName: { sql: "lower(coalesce(u.display_name, ''))", kind: "text" },
  email: { sql: "lower(coalesce(u.email, ''))", kind: "text" },
  firstName: { sql: "lower(coalesce(u.first_name, ''))", kind: "text" },
  lastName: { sql: "lower(coalesce(u.last_name, ''))", kind: "text" },
  state: { sql: "u.state", kind: "int" },
  type: { sql: "u.type", kind: "int" },
  creationDate: { sql: "u.creation_date", kind: "timestamp" },
  changeDate: { sql: "u.change_date", kind: "timestamp" },
} as const;
type SortKey = keyof typeof SORTS;

const listQuery = z.strictObject({
  username: textFilter.optional(),
  usernameMethod: textMatch,
  email: textFilter.optional(),
  emailMethod: textMatch,
  displayName: textFilter.optional(),
  displayNameMethod: textMatch,
  firstName: textFilter.optional(),
  firstNameMethod: textMatch,
  lastName: textFilter.optional(),
  lastNameMethod: textMatch,
  loginName: textFilter.optional().describe("exact login name, case-insensitive"),
  state: z.enum(stateNames).optional(),
  type: z.enum(typeNames).optional(),
  orgId: idSchema.optional().describe("resource owner (organization) id"),
  ids: z
    .string()
    .max(4000)
    .transform((s) => s.split(",").filter(Boolean))
    .pipe(z.array(idSchema).min(1).max(100))
    .optional()
    .describe("comma-separated user ids"),
  sort: z.enum(Object.keys(SORTS) as [SortKey, ...SortKey[]]).default("id"),
  ...pageQuery,
});

const userSchema = z.object({
  id: z.string(),
  state: z.string(),
  type: z.string(),
  username: z.string(),
  loginNames: z.array(z.string()),
  preferredLoginName: z.string().nullable(),
  human: z
    .object({
      firstName: z.string().nullable(),
      lastName: z.string().nullable(),
      nickName: z.string().nullable(),
      displayName: z.string().nullable(),
      preferredLanguage: z.string().nullable(),
      gender: z.number().nullable(),
      avatarKey: z.string().nullable(),
      email: z.object({ email: z.string().nullable(), isVerified: z.boolean() }),
      phone: z.object({ phone: z.string().nullable(), isVerified: z.boolean() }),
      passwordSet: z.boolean(),
      passwordChangeRequired: z.boolean(),
      passwordChanged: z.string().nullable(),
      mfaInitSkipped: z.string().nullable(),
    })
    .optional(),
  machine: z
    .object({ name: z.string().nullable(), description: z.string().nullable(), accessTokenType: z.string(), hasSecret: z.boolean() })
    .optional(),
  details: detailsSchema,
});

// Login names come from a view (ZITADEL's login_names3 rules); one subquery yields both the list and the
// preferred name, so the view is evaluated once per returned row (after ORDER BY/LIMIT in lists).
const SELECT = `SELECT u.*,
  (SELECT json_build_object(
     'all', coalesce(array_agg(ln.login_name ORDER BY ln.is_primary DESC, ln.login_name), '{}'),
     'preferred', min(ln.login_name) FILTER (WHERE ln.is_primary))
   FROM login_names ln WHERE ln.instance_id = u.instance_id AND ln.user_id = u.id) AS login
FROM users u`;

type Row = Record<string, unknown> & { id: string };
type LoginNames = { all: string[]; preferred: string | null };

function toUser(r: Row): z.infer<typeof userSchema> {
  const base = {
    id: r.id,
    state: stateName(r.state as number),
    type: typeName(r.type as number),
    username: r.username as string,
    loginNames: (r.login as LoginNames).all,
    preferredLoginName: (r.login as LoginNames).preferred ?? null,
    details: toDetails(r),
  };
  if (r.type === UserType.machine) {
    return {
      ...base,
      machine: {
        name: r.machine_name as string | null,
        description: r.machine_description as string | null,
        accessTokenType: r.access_token_type === 1 ? "jwt" : "bearer",
        hasSecret: r.has_secret === true,
      },
    };
  }
  return {
    ...base,
    human: {
      firstName: r.first_name as string | null,
      lastName: r.last_name as string | null,
      nickName: r.nick_name as string | null,
      displayName: r.display_name as string | null,
      preferredLanguage: r.preferred_language as string | null,
      gender: r.gender as number | null,
      avatarKey: r.avatar_key as string | null,
      email: { email: r.email as string | null, isVerified: r.is_email_verified === true },
      phone: { phone: r.phone as string | null, isVerified: r.is_phone_verified === true },
      passwordSet: r.password_set === true,
      passwordChangeRequired: r.password_change_required === true,
      passwordChanged: iso(r.password_changed),
      mfaInitSkipped: iso(r.mfa_init_skipped),
    },
  };
}

export const userRoutes =
  ({ db }: RouteDeps): FastifyPluginAsync =>
  async (app) => {
    app.get(
      "/users/:userId",
      {
        schema: {
          summary: "Get a user by id",
          tags: ["users"],
          params: z.strictObject({ userId: idSchema }),
          response: { 200: userSchema },
        },
      },
      async (req) => {
        const { userId } = req.params as { userId: string };
        const w = tenantWhere(req.tenant, "u");
        w.add((p) => `u.id = ${p(userId)}`);
        const rows = await tenantRows(db, req.tenant.instanceId, w.prepared(SELECT));
        if (!rows[0]) throw notFound(`user ${userId} not found`);
        return toUser(rows[0] as Row);
      },
    );

    app.get(
      "/users",
      {
        schema: {
          summary: "Search users",
          description: "Filters are AND-ed. Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["users"],
          querystring: listQuery,
          response: { 200: z.object({ result: z.array(userSchema), nextCursor: z.string().nullable() }) },
        },
      },
      async (req) => {
        const q = req.query as z.infer<typeof listQuery>;
        const w = tenantWhere(req.tenant, "u");
        w.text("u.username", q.username, q.usernameMethod);
        w.text("u.email", q.email, q.emailMethod);
        w.text("u.display_name", q.displayName, q.displayNameMethod);
        w.text("u.first_name", q.firstName, q.firstNameMethod);
        w.text("u.last_name", q.lastName, q.lastNameMethod);
        if (q.state) w.add((p) => `u.state = ${p(UserState[q.state as keyof typeof UserState])}`);
        if (q.type) w.add((p) => `u.type = ${p(UserType[q.type as keyof typeof UserType])}`);
        if (q.orgId) w.add((p) => `u.resource_owner = ${p(q.orgId)}`);
        if (q.ids) w.add((p) => `u.id = ANY(${p(q.ids)}::text[])`);
        if (q.loginName) {
          // Narrow by username first (indexed): a login name is the username, or username@domain.
          const at = q.loginName.lastIndexOf("@");
          const namePart = at > 0 ? q.loginName.slice(0, at) : q.loginName;
          w.add(
            (p) =>
              `lower(u.username) IN (lower(${p(q.loginName)}), lower(${p(namePart)})) AND EXISTS (SELECT 1 FROM login_names ln
               WHERE ln.instance_id = u.instance_id AND ln.user_id = u.id AND lower(ln.login_name) = lower(${p(q.loginName)}))`,
          );
        }
        const sort = SORTS[q.sort];
        const cmp = q.order === "asc" ? ">" : "<";
        if (q.cursor) {
          const c = decodeCursor(q.cursor, { s: q.sort, d: q.order });
          const cast = sort.kind === "int" ? "::int" : sort.kind === "timestamp" ? "::timestamptz" : "::text";
          if ((sort.kind === "int") !== (typeof c.v === "number")) throw badRequest("cursor is malformed");
          w.add((p) => `(${sort.sql}, u.id) ${cmp} (${p(c.v)}${cast}, ${p(c.id)}::text)`);
        }
        // The cursor carries the sort value as PostgreSQL computed it (same lower(), full timestamp precision).
        const sortValueSql = sort.kind === "timestamp" ? `(${sort.sql})::text` : sort.sql;
        const sql = `${SELECT.replace("FROM users u", `, ${sortValueSql} AS sort_value FROM users u`)}${w.sql()} ORDER BY ${sort.sql} ${q.order}, u.id ${q.order} LIMIT ${q.limit + 1}`;
        const rows = (await tenantRows(db, req.tenant.instanceId, { text: sql, values: w.values })) as Row[];
        const page = rows.slice(0, q.limit);
        const last = page.at(-1);
        const nextCursor =
          rows.length > q.limit && last ? encodeCursor({ s: q.sort, d: q.order, v: last.sort_value as string | number, id: last.id }) : null;
        return { result: page.map(toUser), nextCursor };
      },
    );
  };
