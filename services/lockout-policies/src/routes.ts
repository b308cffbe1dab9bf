// Lockout policies query API: the instance default, an org's own policy, an org's effective policy (its
// own, else the default: ZITADEL's LockoutPolicyByOrg), and a list with keyset pagination. A token
// restricted to an org reads that org's policies and the default only.
import { idSchema } from "@idp/events";
import {
  cursorKeys,
  type DetailsRow,
  detailsSchema,
  enumName,
  errorBodySchema,
  flag,
  forbidden,
  keyset,
  notFound,
  type OrgScope,
  pageSchema,
  type RouteDeps,
  type SqlWhere,
  type Tenant,
  tenantRows,
  tenantWhere,
  toDetails,
} from "@idp/runtime";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { PolicyState } from "./projection.ts";

/** An org-restricted token sees its org's policy and the instance default (which applies to its org). */
const orgScope: OrgScope = (p, orgId) => `(p.is_default OR p.resource_owner = ${p(orgId)})`;

const COLUMNS = `p.id, p.resource_owner, p.creation_date, p.change_date, p.sequence, p.state, p.is_default,
  p.max_password_attempts, p.max_otp_attempts, p.show_lockout_failures`;

const policies = keyset({
  name: "lockout-policies",
  columns: COLUMNS,
  from: "lockout_policies p",
  sorts: {
    id: { sql: "p.id", kind: "text" },
    creationDate: { sql: "p.creation_date", kind: "timestamp" },
  },
  tieBreaker: [{ sql: "p.id", kind: "text" }],
});

const listQuery = z.strictObject({
  isDefault: flag.optional().describe("true: only the instance default; false: only org policies"),
  ...policies.params("id"),
});

const policySchema = z
  .object({
    id: z.string().describe("the org id, or the instance id for the default"),
    isDefault: z.boolean(),
    state: z.string(),
    maxPasswordAttempts: z.number().describe("failed password checks before the user is locked; 0: never"),
    maxOtpAttempts: z.number().describe("failed OTP checks before the user is locked; 0: never"),
    showLockoutFailures: z.boolean(),
    details: detailsSchema,
  })
  .meta({ id: "LockoutPolicy" });

const effectiveSchema = policySchema
  .extend({
    source: z.enum(["org", "default"]).describe("org: the org's own policy; default: the instance default applies"),
  })
  .meta({ id: "EffectiveLockoutPolicy" });

const SELECT = `SELECT ${COLUMNS} FROM lockout_policies p`;

/** A row of `COLUMNS`, as pg returns it. */
interface Row extends DetailsRow {
  id: string;
  state: number;
  is_default: boolean;
  max_password_attempts: number | string;
  max_otp_attempts: number | string;
  show_lockout_failures: boolean;
}

function toPolicy(r: Row): z.infer<typeof policySchema> {
  return {
    id: r.id,
    isDefault: r.is_default === true,
    state: enumName(PolicyState, r.state),
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
  ({ db, config }: RouteDeps): FastifyPluginAsync =>
  async (app) => {
    const readPage = policies.reader(db, cursorKeys(config.cursorKeys, app.log));
    const query = async (tenant: Tenant, w: SqlWhere, suffix = "") => tenantRows<Row>(db, tenant, w.prepared(SELECT, suffix));

    app.get(
      "/lockout-policies/default",
      {
        schema: {
          operationId: "getDefaultLockoutPolicy",
          summary: "Get the instance's default lockout policy",
          tags: ["lockout policies"],
          response: { 200: policySchema, 404: errorBodySchema },
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

    app.get<{ Params: z.infer<typeof orgParams> }>(
      "/orgs/:orgId/lockout-policy",
      {
        schema: {
          operationId: "getOrgLockoutPolicy",
          summary: "Get an organization's own lockout policy",
          description: "404 when the organization has no policy of its own (the default applies: see /effective).",
          tags: ["lockout policies"],
          params: orgParams,
          response: { 200: policySchema, 404: errorBodySchema },
        },
      },
      async (req) => {
        const { orgId } = req.params;
        assertOrgAllowed(req.tenant, orgId);
        const w = tenantWhere(req.tenant, "p", orgScope);
        w.add((p) => `p.id = ${p(orgId)} AND NOT p.is_default`);
        const [row] = await query(req.tenant, w);
        if (!row) throw notFound(`organization ${orgId} has no lockout policy of its own`);
        return toPolicy(row);
      },
    );

    app.get<{ Params: z.infer<typeof orgParams> }>(
      "/orgs/:orgId/lockout-policy/effective",
      {
        schema: {
          operationId: "getEffectiveLockoutPolicy",
          summary: "Get the lockout policy that applies to an organization",
          description: "The organization's own policy if it has one, else the instance default (`source` says which).",
          tags: ["lockout policies"],
          params: orgParams,
          response: { 200: effectiveSchema, 404: errorBodySchema },
        },
      },
      async (req) => {
        const { orgId } = req.params;
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

    app.get<{ Querystring: z.infer<typeof listQuery> }>(
      "/lockout-policies",
      {
        schema: {
          operationId: "searchLockoutPolicies",
          summary: "List lockout policies",
          description: "The instance default and every org policy. Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["lockout policies"],
          querystring: listQuery,
          response: { 200: pageSchema(policySchema) },
        },
      },
      async (req) => {
        const q = req.query;
        const w = tenantWhere(req.tenant, "p", orgScope);
        if (q.isDefault !== undefined) w.add(() => (q.isDefault ? "p.is_default" : "NOT p.is_default"));
        const { rows, nextCursor } = await readPage<Row>(req.tenant, q, w);
        return { result: rows.map(toPolicy), nextCursor };
      },
    );
  };
