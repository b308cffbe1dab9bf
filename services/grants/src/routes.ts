// User grants query API: get by id, and search with ZITADEL's user-grant filters, sorting and keyset
// pagination. The user's names and org, the project's org and the granted org come from the lookups.
import { idSchema } from "@idp/events";
import { badRequest, decodeCursor, detailsSchema, encodeCursor, notFound, pageQuery, type RouteDeps, tenantRows, tenantWhere, toDetails } from "@idp/runtime";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { GrantState } from "./projection.ts";

const stateNames = Object.keys(GrantState) as [keyof typeof GrantState, ...(keyof typeof GrantState)[]];
const stateName = (n: number) => stateNames.find((k) => GrantState[k] === n) ?? "unspecified";

/** Sortable fields → a non-null SQL expression (keyset comparison needs a total order) and its kind. */
const SORTS = {
  creationDate: { sql: "g.creation_date", kind: "timestamp" },
  changeDate: { sql: "g.change_date", kind: "timestamp" },
  id: { sql: "g.id", kind: "text" },
  userId: { sql: "g.user_id", kind: "text" },
  projectId: { sql: "g.project_id", kind: "text" },
  orgId: { sql: "g.resource_owner", kind: "text" },
  userOrgId: { sql: "coalesce(u.resource_owner, '')", kind: "text" },
} as const;
type SortKey = keyof typeof SORTS;
// timestamptz as PostgreSQL renders it in a cursor; anything else would fail the cast (a 500, not a 400).
const PG_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;

const listQuery = z.strictObject({
  userId: idSchema.optional(),
  projectId: idSchema.optional(),
  orgId: idSchema.optional().describe("organization owning the grant (resource owner)"),
  userOrgId: idSchema.optional().describe("organization of the granted user"),
  projectOrgId: idSchema.optional().describe("organization owning the project"),
  projectGrantId: idSchema.optional(),
  roleKey: z.string().min(1).max(200).optional().describe("grants containing this role"),
  state: z.enum(stateNames).optional(),
  ids: z
    .string()
    .max(4000)
    .transform((s) => s.split(",").filter(Boolean))
    .pipe(z.array(idSchema).min(1).max(100))
    .optional()
    .describe("comma-separated grant ids"),
  sort: z.enum(Object.keys(SORTS) as [SortKey, ...SortKey[]]).default("creationDate"),
  ...pageQuery,
});

const grantSchema = z.object({
  id: z.string(),
  state: z.string(),
  roles: z.array(z.string()),
  organizationId: z.string().describe("organization owning the grant"),
  user: z.object({
    id: z.string(),
    username: z.string().nullable(),
    displayName: z.string().nullable(),
    organizationId: z.string().nullable(),
  }),
  project: z.object({ id: z.string(), organizationId: z.string().nullable() }),
  projectGrant: z.object({ id: z.string(), grantedOrganizationId: z.string().nullable() }).nullable(),
  details: detailsSchema,
});

// Lookup rows may be missing (owner events not seen yet): the grant is shown with nulls, never hidden.
const FROM = `FROM user_grants g
LEFT JOIN lookup_users u ON u.instance_id = g.instance_id AND u.user_id = g.user_id
LEFT JOIN lookup_projects p ON p.instance_id = g.instance_id AND p.project_id = g.project_id
LEFT JOIN lookup_project_grants pg ON pg.instance_id = g.instance_id AND pg.grant_id = g.grant_id`;
const COLUMNS = `g.*, u.username, u.display_name, u.resource_owner AS user_org_id, p.resource_owner AS project_org_id,
  pg.granted_org`;

type Row = Record<string, unknown> & { id: string };

function toGrant(r: Row): z.infer<typeof grantSchema> {
  return {
    id: r.id,
    state: stateName(r.state as number),
    roles: r.roles as string[],
    organizationId: r.resource_owner as string,
    user: {
      id: r.user_id as string,
      username: (r.username as string | null) ?? null,
      displayName: (r.display_name as string | null) ?? null,
      organizationId: (r.user_org_id as string | null) ?? null,
    },
    project: { id: r.project_id as string, organizationId: (r.project_org_id as string | null) ?? null },
    projectGrant: r.grant_id ? { id: r.grant_id as string, grantedOrganizationId: (r.granted_org as string | null) ?? null } : null,
    details: toDetails(r),
  };
}

export const grantRoutes =
  ({ db }: RouteDeps): FastifyPluginAsync =>
  async (app) => {
    app.get(
      "/grants/:grantId",
      {
        schema: {
          summary: "Get a user grant by id",
          tags: ["grants"],
          params: z.strictObject({ grantId: idSchema }),
          response: { 200: grantSchema },
        },
      },
      async (req) => {
        const { grantId } = req.params as { grantId: string };
        const w = tenantWhere(req.tenant, "g");
        w.add((p) => `g.id = ${p(grantId)}`);
        const rows = await tenantRows(db, req.tenant.instanceId, w.prepared(`SELECT ${COLUMNS} ${FROM}`));
        if (!rows[0]) throw notFound(`user grant ${grantId} not found`);
        return toGrant(rows[0] as Row);
      },
    );

    app.get(
      "/grants",
      {
        schema: {
          summary: "Search user grants",
          description: "Filters are AND-ed. Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["grants"],
          querystring: listQuery,
          response: { 200: z.object({ result: z.array(grantSchema), nextCursor: z.string().nullable() }) },
        },
      },
      async (req) => {
        const q = req.query as z.infer<typeof listQuery>;
        const w = tenantWhere(req.tenant, "g");
        if (q.userId) w.add((p) => `g.user_id = ${p(q.userId)}`);
        if (q.projectId) w.add((p) => `g.project_id = ${p(q.projectId)}`);
        if (q.orgId) w.add((p) => `g.resource_owner = ${p(q.orgId)}`);
        if (q.userOrgId) w.add((p) => `u.resource_owner = ${p(q.userOrgId)}`);
        if (q.projectOrgId) w.add((p) => `p.resource_owner = ${p(q.projectOrgId)}`);
        if (q.projectGrantId) w.add((p) => `g.grant_id = ${p(q.projectGrantId)}`);
        if (q.roleKey) w.add((p) => `g.roles @> ARRAY[${p(q.roleKey)}::text]`);
        if (q.state) w.add((p) => `g.state = ${p(GrantState[q.state as keyof typeof GrantState])}`);
        if (q.ids) w.add((p) => `g.id = ANY(${p(q.ids)}::text[])`);
        const sort = SORTS[q.sort];
        const cmp = q.order === "asc" ? ">" : "<";
        if (q.cursor) {
          const c = decodeCursor(q.cursor, { s: q.sort, d: q.order });
          if (typeof c.v !== "string") throw badRequest("cursor is malformed");
          if (sort.kind === "timestamp" && !PG_TIMESTAMP.test(c.v)) throw badRequest("cursor is malformed");
          const cast = sort.kind === "timestamp" ? "::timestamptz" : "::text";
          w.add((p) => `(${sort.sql}, g.id) ${cmp} (${p(c.v)}${cast}, ${p(c.id)}::text)`);
        }
        // The cursor carries the sort value as PostgreSQL renders it (full timestamp precision).
        const sql = `SELECT ${COLUMNS}, (${sort.sql})::text AS sort_value ${FROM}${w.sql()} ORDER BY ${sort.sql} ${q.order}, g.id ${q.order} LIMIT ${q.limit + 1}`;
        const rows = (await tenantRows(db, req.tenant.instanceId, { text: sql, values: w.values })) as Row[];
        const page = rows.slice(0, q.limit);
        const last = page.at(-1);
        const nextCursor = rows.length > q.limit && last ? encodeCursor({ s: q.sort, d: q.order, v: last.sort_value as string, id: last.id }) : null;
        return { result: page.map(toGrant), nextCursor };
      },
    );
  };
