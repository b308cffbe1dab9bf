// User grants query API: get by id, and search with ZITADEL's user-grant filters, sorting and keyset
// pagination. The user's names and org, the project's org and the granted org come from the lookups.
import { idSchema } from "@idp/events";
import {
  boundedJsonDepth,
  cursorKeys,
  type DetailsRow,
  detailsSchema,
  enumName,
  enumNames,
  errorBodySchema,
  idList,
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
import { GrantState, LookupUserType } from "./projection.ts";
import { addSearchQueries, LOGIN_NAME, roleKey, roleKeysCondition, SORTING_COLUMNS, searchBody, textFilter, withGrantedCondition } from "./search-queries.ts";

// Lookup rows may be missing (owner events not seen yet): the grant is shown with nulls, never hidden.
const FROM = `user_grants g
LEFT JOIN lookup_users u ON u.instance_id = g.instance_id AND u.user_id = g.user_id
LEFT JOIN lookup_projects p ON p.instance_id = g.instance_id AND p.project_id = g.project_id
LEFT JOIN lookup_project_grants pg ON pg.instance_id = g.instance_id AND pg.grant_id = g.grant_id
LEFT JOIN lookup_orgs o ON o.instance_id = g.instance_id AND o.org_id = g.resource_owner
LEFT JOIN lookup_orgs user_org ON user_org.instance_id = g.instance_id AND user_org.org_id = u.resource_owner
LEFT JOIN lookup_orgs granted_org ON granted_org.instance_id = g.instance_id AND granted_org.org_id = pg.granted_org
LEFT JOIN org_domains od ON od.instance_id = g.instance_id AND od.org_id = g.resource_owner`;
const COLUMNS = `g.*, u.username, u.display_name, u.resource_owner AS user_org_id, p.resource_owner AS project_org_id,
  pg.granted_org, u.type AS user_type, u.first_name, u.last_name, u.email, u.avatar_key, ${LOGIN_NAME} AS preferred_login_name,
  o.name AS org_name, od.primary_domain AS org_primary_domain, p.name AS project_name,
  user_org.name AS user_org_name, granted_org.name AS granted_org_name`;

const grants = keyset({
  name: "grants",
  columns: COLUMNS,
  from: FROM,
  sorts: {
    creationDate: { sql: "g.creation_date", kind: "timestamp" },
    changeDate: { sql: "g.change_date", kind: "timestamp" },
    id: { sql: "g.id", kind: "text" },
    userId: { sql: "g.user_id", kind: "text" },
    projectId: { sql: "g.project_id", kind: "text" },
    orgId: { sql: "g.resource_owner", kind: "text" },
    userOrgId: { sql: "coalesce(u.resource_owner, '')", kind: "text" },
  },
  tieBreaker: [{ sql: "g.id", kind: "text" }],
});

const listQuery = z.strictObject({
  userId: idSchema.optional(),
  projectId: idSchema.optional(),
  orgId: idSchema.optional().describe("organization owning the grant (resource owner)"),
  userOrgId: idSchema.optional().describe("organization of the granted user"),
  projectOrgId: idSchema.optional().describe("organization owning the project"),
  projectGrantId: idSchema.optional(),
  roleKey: roleKey.optional().describe("grants containing this role"),
  withGranted: idSchema.optional().describe("grants the organization owns, and grants on its projects"),
  roleKeys: z
    .string()
    .min(1)
    .max(2000)
    .transform((v) => v.split(","))
    .pipe(z.array(roleKey).max(100))
    .optional()
    .describe("comma-separated role keys: grants containing any of them"),
  userIds: idList.optional().describe("comma-separated user ids"),
  userType: z.enum(enumNames(LookupUserType)).optional(),
  userName: textFilter.optional(),
  userNameMethod: textMatch,
  loginName: textFilter.optional().describe("the user's preferred login name"),
  loginNameMethod: textMatch,
  displayName: textFilter.optional(),
  displayNameMethod: textMatch,
  firstName: textFilter.optional(),
  firstNameMethod: textMatch,
  lastName: textFilter.optional(),
  lastNameMethod: textMatch,
  email: textFilter.optional(),
  emailMethod: textMatch,
  orgName: textFilter.optional().describe("name of the organization owning the grant"),
  orgNameMethod: textMatch,
  orgDomain: textFilter.optional().describe("primary domain of the organization owning the grant"),
  orgDomainMethod: textMatch,
  projectName: textFilter.optional(),
  projectNameMethod: textMatch,
  state: z.enum(enumNames(GrantState)).optional(),
  ids: idList.optional().describe("comma-separated grant ids"),
  ...grants.params("creationDate"),
});

const grantSchema = z
  .object({
    id: z.string(),
    state: z.string(),
    roles: z.array(z.string()),
    organizationId: z.string().describe("organization owning the grant"),
    organizationName: z.string().nullable().describe("its name; null while the org is unknown here"),
    organizationPrimaryDomain: z.string().nullable().describe("its primary domain; null while it has none here"),
    user: z.object({
      id: z.string(),
      type: z.string().nullable().describe("human or machine; null while the user is unknown here"),
      username: z.string().nullable(),
      preferredLoginName: z.string().nullable().describe("username, or username@primary org domain when the domain policy requires it"),
      displayName: z.string().nullable(),
      firstName: z.string().nullable(),
      lastName: z.string().nullable(),
      email: z.string().nullable(),
      avatarKey: z.string().nullable(),
      organizationId: z.string().nullable(),
      organizationName: z.string().nullable().describe("the user's org's name; null while that org is unknown here"),
    }),
    project: z.object({ id: z.string(), name: z.string().nullable(), organizationId: z.string().nullable() }),
    projectGrant: z
      .object({
        id: z.string(),
        grantedOrganizationId: z.string().nullable(),
        grantedOrganizationName: z.string().nullable().describe("null while the granted org is unknown here"),
      })
      .nullable(),
    details: detailsSchema,
  })
  .meta({ id: "UserGrant" });

/** A row of `COLUMNS`, as pg returns it; the lookup columns are null when the lookup row is missing. */
interface Row extends DetailsRow {
  id: string;
  state: number;
  roles: string[];
  user_id: string;
  project_id: string;
  grant_id: string | null;
  username: string | null;
  display_name: string | null;
  user_org_id: string | null;
  project_org_id: string | null;
  granted_org: string | null;
  user_type: number | null;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  avatar_key: string | null;
  preferred_login_name: string | null;
  org_name: string | null;
  org_primary_domain: string | null;
  project_name: string | null;
  user_org_name: string | null;
  granted_org_name: string | null;
}

function toGrant(r: Row): z.infer<typeof grantSchema> {
  return {
    id: r.id,
    state: enumName(GrantState, r.state),
    roles: r.roles,
    organizationId: r.resource_owner,
    organizationName: r.org_name,
    organizationPrimaryDomain: r.org_primary_domain,
    user: {
      id: r.user_id,
      type: r.user_type == null ? null : enumName(LookupUserType, r.user_type),
      username: r.username,
      preferredLoginName: r.preferred_login_name,
      displayName: r.display_name,
      firstName: r.first_name,
      lastName: r.last_name,
      email: r.email,
      avatarKey: r.avatar_key,
      organizationId: r.user_org_id,
      organizationName: r.user_org_name,
    },
    project: { id: r.project_id, name: r.project_name, organizationId: r.project_org_id },
    projectGrant: r.grant_id ? { id: r.grant_id, grantedOrganizationId: r.granted_org, grantedOrganizationName: r.granted_org_name } : null,
    details: toDetails(r),
  };
}

export const grantRoutes =
  ({ db, config }: RouteDeps): FastifyPluginAsync =>
  async (app) => {
    const keys = cursorKeys(config.cursorKeys, app.log);
    const readPage = grants.reader(db, keys);
    const search = searchReader(grants, db, keys, SORTING_COLUMNS);
    app.get<{ Params: { grantId: string } }>(
      "/grants/:grantId",
      {
        schema: {
          operationId: "getUserGrant",
          summary: "Get a user grant by id",
          tags: ["grants"],
          params: z.strictObject({ grantId: idSchema }),
          response: { 200: grantSchema, 404: errorBodySchema },
        },
      },
      async (req) => {
        const { grantId } = req.params;
        const w = tenantWhere(req.tenant, "g");
        w.add((p) => `g.id = ${p(grantId)}`);
        const [row] = await tenantRows<Row>(db, req.tenant, w.prepared(`SELECT ${COLUMNS} FROM ${FROM}`));
        if (!row) throw notFound(`user grant ${grantId} not found`);
        return toGrant(row);
      },
    );

    app.get<{ Querystring: z.infer<typeof listQuery> }>(
      "/grants",
      {
        schema: {
          operationId: "searchUserGrants",
          summary: "Search user grants",
          description: "Filters are AND-ed. Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["grants"],
          querystring: listQuery,
          response: { 200: pageSchema(grantSchema) },
        },
      },
      async (req) => {
        const q = req.query;
        const w = tenantWhere(req.tenant, "g");
        w.eq("g.user_id", q.userId).eq("g.project_id", q.projectId).eq("g.resource_owner", q.orgId);
        w.eq("u.resource_owner", q.userOrgId).eq("p.resource_owner", q.projectOrgId).eq("g.grant_id", q.projectGrantId);
        if (q.roleKey) w.add((p) => `g.roles @> ARRAY[${p(q.roleKey)}::text]`);
        if (q.state) w.eq("g.state", GrantState[q.state]);
        if (q.ids) w.add((p) => `g.id = ANY(${p(q.ids)}::text[])`);
        if (q.userIds) w.add((p) => `g.user_id = ANY(${p(q.userIds)}::text[])`);
        if (q.roleKeys) w.add((p) => roleKeysCondition(p, q.roleKeys ?? []));
        if (q.withGranted) w.add((p) => withGrantedCondition(p, q.withGranted as string));
        if (q.userType) w.eq("u.type", LookupUserType[q.userType]);
        w.text("u.username", q.userName, q.userNameMethod);
        w.text(LOGIN_NAME, q.loginName, q.loginNameMethod);
        w.text("u.display_name", q.displayName, q.displayNameMethod);
        w.text("u.first_name", q.firstName, q.firstNameMethod);
        w.text("u.last_name", q.lastName, q.lastNameMethod);
        w.text("u.email", q.email, q.emailMethod);
        w.text("o.name", q.orgName, q.orgNameMethod);
        w.text("od.primary_domain", q.orgDomain, q.orgDomainMethod);
        w.text("p.name", q.projectName, q.projectNameMethod);
        const { rows, nextCursor } = await readPage<Row>(req.tenant, q, w);
        return { result: rows.map(toGrant), nextCursor };
      },
    );

    const body = searchBody(grants.sortNames);
    app.post<{ Body: z.infer<typeof body> }>(
      "/grants/_search",
      {
        preValidation: boundedJsonDepth,
        schema: {
          operationId: "searchUserGrantsByQuery",
          summary: "Search user grants with a query tree (ZITADEL ListUserGrants)",
          description:
            "The queries are AND-ed; andQuery, orQuery and notQuery nest them. Pagination is keyset: pass `nextCursor` back as `cursor` with the same queries, sorting column and order.",
          tags: ["grants"],
          body,
          response: { 200: searchPageSchema(grantSchema, "grant") },
        },
      },
      async (req) => {
        const { tenant, body: b } = req;
        const { rows, ...page } = await search<Row>(tenant, b, () => addSearchQueries(tenantWhere(tenant, "g"), b.queries));
        return { ...page, result: rows.map(toGrant) };
      },
    );
  };
