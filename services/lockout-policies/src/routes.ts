// Lockout policies query API: the instance default, an org's own policy, an org's effective policy (its
// own, else the default: ZITADEL's LockoutPolicyByOrg), and a list with keyset pagination. A token
// restricted to an org reads that org's policies and the default only.
import { idSchema } from "@idp/events";
import { badRequest, decodeCursor, detailsSchema, encodeCursor, forbidden, notFound, pageQuery, type RouteDeps, type SqlWhere, type Tenant, tenantRows, tenantWhere, toDetails } from "@idp/runtime";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { PolicyState } from "./projection.ts";

/** An org-restricted token sees its org's policy and the instance default (which applies to its org). */
const orgScope = (p: (value: unknown) => string, orgId: string) => `(p.is_default OR p.resource_owner = ${p(orgId)})`;

/** Sortable fields → a non-null SQL expression; creation dates travel in cursors as integer microseconds. */

const SORTS = {
  id: { sql: "p.id", kind: "text" },
  creationDate: { sql: "p.creation_date", kind: "timestamp" },
} as const;
type SortKey = keyof typeof SORTS;
type Sort = (typeof SORTS)[SortKey];

const sortValue = (sort: Sort) => (sort.kind === "timestamp" ? `(extract(epoch FROM ${sort.sql}) * 1000000)::int8` : sort.sql);
function cursorValue(sort: Sort, v: unknown, p: (v: unknown) => string): string {
  if (sort.kind === "text") {
    if (typeof v !== "string") throw badRequest("cursor is malformed");
    return `${p(v)}::text`;
  }
  // Within PostgreSQL's timestamp range, so a forged cursor is a 400 and never an SQL error.
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < -2e17) throw badRequest("cursor is malformed");
  return `(timestamptz 'epoch' + ${p(v)}::int8 * interval '1 microsecond')`;
}

const listQuery = z.strictObject({
  isDefault: z
    .enum(["true", "false"])
    .transform((v) => v === "true")
    .optional()
    .describe("true: only the instance default; false: only org policies"),
  sort: z.enum(Object.keys(SORTS) as [SortKey, ...SortKey[]]).default("id"),
  ...pageQuery,
});

const policySchema = z.object({
  id: z.string().describe("the org id, or the instance id for the default"),
  isDefault: z.boolean(),
  state: z.string(),
  maxPasswordAttempts: z.number().describe("failed password checks before the user is locked; 0: never"),
  maxOtpAttempts: z.number().describe("failed OTP checks before the user is locked; 0: never"),
  showLockoutFailures: z.boolean(),
  details: detailsSchema,
});

const effectiveSchema = policySchema.extend({
  source: z.enum(["org", "default"]).describe("org: the org's own policy; default: the instance default applies"),
});

const SELECT = `SELECT p.id, p.resource_owner, p.creation_date, p.change_date, p.sequence, p.state, p.is_default,
  p.max_password_attempts, p.max_otp_attempts, p.show_lockout_failures
FROM lockout_policies p`;

type Row = Record<string, unknown> & { id: string };

function toPolicy(r: Row): z.infer<typeof policySchema> {
  return {
    id: r.id,
    isDefault: r.is_default === true,
    state: r.state === PolicyState.active ? "active" : r.state === PolicyState.removed ? "removed" : "unspecified",
    maxPasswordAttempts: Number(r.max_password_attempts),
    maxOtpAttempts: Number(r.max_otp_attempts),
    showLockoutFailures: r.show_lockout_failures === true,
    details: toDetails(r),
  };
}

/** An org-restricted token may only ask about its own org. */
function assertOrgAllowed(tenant: Tenant, orgId: string) {
  if (tenant.orgId && tenant.orgId !== orgId) throw forbidden(`this token is restricted to organization ${tenant.orgId}`);
}

const orgParams = z.strictObject({ orgId: idSchema });

export const lockoutPolicyRoutes =
  ({ db }: RouteDeps): FastifyPluginAsync =>
  async (app) => {
    const query = async (tenant: Tenant, w: SqlWhere, suffix = "") =>
      (await tenantRows(db, tenant.instanceId, w.prepared(SELECT, suffix))) as Row[];

    app.get(
      "/lockout-policies/default",
      {
        schema: {
          summary: "Get the instance's default lockout policy",
          tags: ["lockout policies"],
          response: { 200: policySchema },
        },
      },
      async (req) => {
        const w = tenantWhere(req.tenant, "p", orgScope);
        w.add((p) => `p.id = ${p(req.tenant.instanceId)} AND p.is_default`);
        const [row] = await query(req.tenant, w);
        if (!row) throw notFound("the instance has no default lockout policy");
        return toPolicy(row);
      },
    );

    app.get(
      "/orgs/:orgId/lockout-policy",
      {
        schema: {
          summary: "Get an organization's own lockout policy",
          description: "404 when the organization has no policy of its own (the default applies: see /effective).",
          tags: ["lockout policies"],
          params: orgParams,
          response: { 200: policySchema },
        },
      },
      async (req) => {
        const { orgId } = req.params as z.infer<typeof orgParams>;
        assertOrgAllowed(req.tenant, orgId);
        const w = tenantWhere(req.tenant, "p", orgScope);
        w.add((p) => `p.id = ${p(orgId)} AND NOT p.is_default`);
        const [row] = await query(req.tenant, w);
        if (!row) throw notFound(`organization ${orgId} has no lockout policy of its own`);
        return toPolicy(row);
      },
    );

    app.get(
      "/orgs/:orgId/lockout-policy/effective",
      {
        schema: {
          summary: "Get the lockout policy that applies to an organization",
          description: "The organization's own policy if it has one, else the instance default (`source` says which).",
          tags: ["lockout policies"],
          params: orgParams,
          response: { 200: effectiveSchema },
        },
      },
      async (req) => {
        const { orgId } = req.params as z.infer<typeof orgParams>;
        assertOrgAllowed(req.tenant, orgId);
        const w = tenantWhere(req.tenant, "p", orgScope);
        w.add((p) => `((p.id = ${p(orgId)} AND NOT p.is_default) OR (p.id = ${p(req.tenant.instanceId)} AND p.is_default))`);
        // The org's own policy wins; the default is the fallback.
        const [row] = await query(req.tenant, w, " ORDER BY p.is_default LIMIT 1");
        if (!row) throw notFound(`no lockout policy applies to organization ${orgId}`);
        const policy = toPolicy(row);
        return { ...policy, source: policy.isDefault ? "default" : "org" };
      },
    );

    app.get(
      "/lockout-policies",
      {
        schema: {
          summary: "List lockout policies",
          description: "The instance default and every org policy. Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["lockout policies"],
          querystring: listQuery,
          response: { 200: z.object({ result: z.array(policySchema), nextCursor: z.string().nullable() }) },
        },
      },
      async (req) => {
        const q = req.query as z.infer<typeof listQuery>;
        const w = tenantWhere(req.tenant, "p", orgScope);
        if (q.isDefault !== undefined) w.add(() => (q.isDefault ? "p.is_default" : "NOT p.is_default"));
        const sort = SORTS[q.sort];
        const cmp = q.order === "asc" ? ">" : "<";
        if (q.cursor) {
          const c = decodeCursor(q.cursor, { s: q.sort, d: q.order });
          w.add((p) => `(${sort.sql}, p.id) ${cmp} (${cursorValue(sort, c.v, p)}, ${p(c.id)}::text)`);
        }
        const sql = `${SELECT.replace("\nFROM lockout_policies p", `, ${sortValue(sort)} AS sort_value\nFROM lockout_policies p`)}${w.sql()} ORDER BY ${sort.sql} ${q.order}, p.id ${q.order} LIMIT ${q.limit + 1}`;
        const rows = (await tenantRows(db, req.tenant.instanceId, { text: sql, values: w.values })) as Row[];
        const page = rows.slice(0, q.limit);
        const last = page.at(-1);
        const nextCursor = rows.length > q.limit && last ? encodeCursor({ s: q.sort, d: q.order, v: last.sort_value as string | number, id: last.id }) : null;
        return { result: page.map(toPolicy), nextCursor };
      },
    );
  };
