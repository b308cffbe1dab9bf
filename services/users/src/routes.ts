// Users query API: get by id, the list with ZITADEL's user filters as query parameters, and the search with
// ZITADEL's query tree as a JSON body; sorting and keyset pagination on both.
import { idSchema } from "@idp/events";
import {
  boundedJsonDepth,
  cursorKeys,
  type DetailsRow,
  detailsSchema,
  enumName,
  enumNames,
  errorBodySchema,
  flag,
  idList,
  iso,
  keyset,
  notFound,
  pageSchema,
  type RouteDeps,
  searchPageSchema,
  searchReader,
  tenantRows,
  tenantWhere,
  textMatch,
  toDetails,
} from "@idp/runtime";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { filterByMetadata, metadataQuery, metadataRoutes } from "./metadata-routes.ts";
import { UserState, UserType } from "./projection.ts";
import { addSearchQueries, emailsCondition, loginNameCondition, SORTING_COLUMNS, searchBody, textFilter, verifiedCondition } from "./search-queries.ts";

/** `?emails=a,b`: 1 to 100 e-mail addresses. */
const emailList = z
  .string()
  .max(4000)
  .transform((s) => s.split(",").filter(Boolean))
  .pipe(z.array(textFilter).min(1).max(100));

// Login names come from a view (ZITADEL's login_names3 rules); one subquery yields both the list and the
// preferred name, so the view is evaluated once per returned row (after ORDER BY/LIMIT in lists).
const COLUMNS = `u.*,
  (SELECT json_build_object(
     'all', coalesce(array_agg(ln.login_name ORDER BY ln.is_primary DESC, ln.login_name), '{}'),
     'preferred', min(ln.login_name) FILTER (WHERE ln.is_primary))
   FROM login_names ln WHERE ln.instance_id = u.instance_id AND ln.user_id = u.id) AS login`;

const users = keyset({
  name: "users",
  columns: COLUMNS,
  from: "users u",
  sorts: {
    id: { sql: "u.id", kind: "text" },
    username: { sql: "lower(u.username)", kind: "text" },
    displayName: { sql: "lower(coalesce(u.display_name, ''))", kind: "text" },
    email: { sql: "lower(coalesce(u.email, ''))", kind: "text" },
    firstName: { sql: "lower(coalesce(u.first_name, ''))", kind: "text" },
    lastName: { sql: "lower(coalesce(u.last_name, ''))", kind: "text" },
    nickName: { sql: "lower(coalesce(u.nick_name, ''))", kind: "text" },
    state: { sql: "u.state", kind: "int" },
    type: { sql: "u.type", kind: "int" },
    creationDate: { sql: "u.creation_date", kind: "timestamp" },
    changeDate: { sql: "u.change_date", kind: "timestamp" },
  },
  tieBreaker: [{ sql: "u.id", kind: "text" }],
});

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
  nickName: textFilter.optional(),
  nickNameMethod: textMatch,
  phone: textFilter.optional(),
  phoneMethod: textMatch,
  isEmailVerified: flag.optional().describe("users whose e-mail is (true) or is not (false) verified"),
  isPhoneVerified: flag.optional().describe("users whose phone is (true) or is not (false) verified"),
  emails: emailList.optional().describe("comma-separated e-mail addresses, case-insensitive"),
  loginName: textFilter.optional().describe("exact login name, case-insensitive"),
  preferredLoginName: textFilter.optional().describe("exact preferred login name, case-insensitive"),
  state: z.enum(enumNames(UserState)).optional(),
  type: z.enum(enumNames(UserType)).optional(),
  orgId: idSchema.optional().describe("resource owner (organization) id"),
  ids: idList.optional().describe("comma-separated user ids"),
  ...metadataQuery,
  ...users.params("id"),
});

const userSchema = z
  .object({
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
    machine: z.object({ name: z.string().nullable(), description: z.string().nullable(), accessTokenType: z.string(), hasSecret: z.boolean() }).optional(),
    details: detailsSchema,
  })
  .meta({ id: "User" });

/** A row of `COLUMNS`, as pg returns it. */
interface Row extends DetailsRow {
  id: string;
  state: number;
  type: number;
  username: string;
  login: { all: string[]; preferred: string | null };
  first_name: string | null;
  last_name: string | null;
  nick_name: string | null;
  display_name: string | null;
  preferred_language: string | null;
  gender: number | null;
  avatar_key: string | null;
  email: string | null;
  is_email_verified: boolean | null;
  phone: string | null;
  is_phone_verified: boolean | null;
  password_set: boolean | null;
  password_change_required: boolean | null;
  password_changed: Date | null;
  mfa_init_skipped: Date | null;
  machine_name: string | null;
  machine_description: string | null;
  access_token_type: number | null;
  has_secret: boolean | null;
}

function toUser(r: Row): z.infer<typeof userSchema> {
  const base = {
    id: r.id,
    state: enumName(UserState, r.state),
    type: enumName(UserType, r.type),
    username: r.username,
    loginNames: r.login.all,
    preferredLoginName: r.login.preferred ?? null,
    details: toDetails(r),
  };
  if (r.type === UserType.machine) {
    return {
      ...base,
      machine: {
        name: r.machine_name,
        description: r.machine_description,
        accessTokenType: r.access_token_type === 1 ? "jwt" : "bearer",
        hasSecret: r.has_secret === true,
      },
    };
  }
  return {
    ...base,
    human: {
      firstName: r.first_name,
      lastName: r.last_name,
      nickName: r.nick_name,
      displayName: r.display_name,
      preferredLanguage: r.preferred_language,
      gender: r.gender,
      avatarKey: r.avatar_key,
      email: { email: r.email, isVerified: r.is_email_verified === true },
      phone: { phone: r.phone, isVerified: r.is_phone_verified === true },
      passwordSet: r.password_set === true,
      passwordChangeRequired: r.password_change_required === true,
      passwordChanged: iso(r.password_changed),
      mfaInitSkipped: iso(r.mfa_init_skipped),
    },
  };
}

export const userRoutes =
  ({ db, config }: RouteDeps): FastifyPluginAsync =>
  async (app) => {
    const keys = cursorKeys(config.cursorKeys, app.log);
    const readPage = users.reader(db, keys);
    const search = searchReader(users, db, keys, SORTING_COLUMNS);
    await app.register(metadataRoutes({ db, config }));
    app.get<{ Params: { userId: string } }>(
      "/users/:userId",
      {
        schema: {
          operationId: "getUser",
          summary: "Get a user by id",
          tags: ["users"],
          params: z.strictObject({ userId: idSchema }),
          response: { 200: userSchema, 404: errorBodySchema },
        },
      },
      async (req) => {
        const { userId } = req.params;
        const w = tenantWhere(req.tenant, "u");
        w.add((p) => `u.id = ${p(userId)}`);
        const [row] = await tenantRows<Row>(db, req.tenant, w.prepared(`SELECT ${COLUMNS} FROM users u`));
        if (!row) throw notFound(`user ${userId} not found`);
        return toUser(row);
      },
    );

    app.get<{ Querystring: z.infer<typeof listQuery> }>(
      "/users",
      {
        schema: {
          operationId: "searchUsers",
          summary: "Search users",
          description: "Filters are AND-ed. Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["users"],
          querystring: listQuery,
          response: { 200: pageSchema(userSchema) },
        },
      },
      async (req) => {
        const q = req.query;
        const w = tenantWhere(req.tenant, "u");
        w.text("u.username", q.username, q.usernameMethod);
        w.text("u.email", q.email, q.emailMethod);
        w.text("u.display_name", q.displayName, q.displayNameMethod);
        w.text("u.first_name", q.firstName, q.firstNameMethod);
        w.text("u.last_name", q.lastName, q.lastNameMethod);
        w.text("u.nick_name", q.nickName, q.nickNameMethod);
        w.text("u.phone", q.phone, q.phoneMethod);
        const { isEmailVerified, isPhoneVerified } = q;
        if (isEmailVerified !== undefined) w.add(() => verifiedCondition("u.is_email_verified", isEmailVerified));
        if (isPhoneVerified !== undefined) w.add(() => verifiedCondition("u.is_phone_verified", isPhoneVerified));
        if (q.emails) w.add((p) => emailsCondition(p, q.emails ?? []));
        if (q.state) w.eq("u.state", UserState[q.state]);
        if (q.type) w.eq("u.type", UserType[q.type]);
        w.eq("u.resource_owner", q.orgId);
        if (q.ids) w.add((p) => `u.id = ANY(${p(q.ids)}::text[])`);
        const { loginName, preferredLoginName } = q;
        if (loginName) w.add((p) => loginNameCondition(p, loginName, "equalsIgnoreCase"));
        if (preferredLoginName) w.add((p) => loginNameCondition(p, preferredLoginName, "equalsIgnoreCase", true));
        filterByMetadata(w, q);
        const { rows, nextCursor } = await readPage<Row>(req.tenant, q, w);
        return { result: rows.map(toUser), nextCursor };
      },
    );

    const body = searchBody(users.sortNames);
    app.post<{ Body: z.infer<typeof body> }>(
      "/users/_search",
      {
        preValidation: boundedJsonDepth,
        schema: {
          operationId: "searchUsersByQuery",
          summary: "Search users with a query tree (ZITADEL ListUsers)",
          description:
            "The queries are AND-ed; andQuery, orQuery and notQuery nest them. Pagination is keyset: pass `nextCursor` back as `cursor` with the same queries, sorting column and order.",
          tags: ["users"],
          body,
          response: { 200: searchPageSchema(userSchema, "user") },
        },
      },
      async (req) => {
        const { tenant, body: b } = req;
        const { rows, ...page } = await search<Row>(tenant, b, () => addSearchQueries(tenantWhere(tenant, "u"), b.queries));
        return { ...page, result: rows.map(toUser) };
      },
    );
  };
