// Sessions query API: get by id, and search with ZITADEL's session filters (ids, user, creator, user
// agent, creation and expiration dates), sorting and keyset pagination. The token id is never returned.
import { idSchema } from "@idp/events";
import { badRequest, decodeCursor, detailsSchema, encodeCursor, iso, notFound, pageQuery, type RouteDeps, tenantRows, tenantWhere, toDetails } from "@idp/runtime";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { SessionState } from "./projection.ts";

/** Sessions belong to the instance; an org-restricted token sees the sessions of its org's users. */
const orgScope = (p: (value: unknown) => string, orgId: string) => `s.user_resource_owner = ${p(orgId)}`;

/** Sortable fields → a non-null SQL expression (keyset comparison needs a total order) and its kind. */

const SORTS = {
  creationDate: { sql: "s.creation_date", kind: "timestamp" },
  id: { sql: "s.id", kind: "text" },
} as const;
type SortKey = keyof typeof SORTS;
type Sort = (typeof SORTS)[SortKey];

// Timestamps travel in cursors as integer microseconds since the epoch: exact, and a forged value is
// either a safe integer (a valid bound) or a 400, never a cast error in SQL.
const sortValue = (sort: Sort) => (sort.kind === "timestamp" ? `(extract(epoch FROM ${sort.sql}) * 1000000)::int8` : sort.sql);
function cursorValue(kind: Sort["kind"], v: unknown, p: (v: unknown) => string): string {
  if (kind === "text") return `${p(String(v))}::text`;
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw badRequest("cursor is malformed");
  return `(timestamptz 'epoch' + ${p(v)}::int8 * interval '1 microsecond')`;
}

const instant = z.iso.datetime({ offset: true }).transform((v) => new Date(v));

const listQuery = z.strictObject({
  ids: z
    .string()
    .max(4000)
    .transform((s) => s.split(",").filter(Boolean))
    .pipe(z.array(idSchema).min(1).max(100))
    .optional()
    .describe("comma-separated session ids"),
  userId: idSchema.optional().describe("sessions whose checked user is this user"),
  creator: idSchema.optional().describe("user who created the session"),
  userAgentFingerprintId: z.string().min(1).max(200).optional(),
  creationDateFrom: instant.optional().describe("created at or after (RFC 3339)"),
  creationDateTo: instant.optional().describe("created before (RFC 3339)"),
  expiresAfter: instant.optional().describe("expiration after this time, or no expiration (RFC 3339)"),
  expiresBefore: instant.optional().describe("expiration before this time (RFC 3339); sessions without expiration never match"),
  active: z
    .enum(["true", "false"])
    .transform((v) => v === "true")
    .optional()
    .describe("true: only sessions not expired now; false: only expired ones"),
  sort: z.enum(Object.keys(SORTS) as [SortKey, ...SortKey[]]).default("creationDate"),
  ...pageQuery,
});

const check = z.object({ checkedAt: z.string() }).nullable();

const sessionSchema = z.object({
  id: z.string(),
  state: z.string(),
  creator: z.string(),
  user: z
    .object({
      id: z.string(),
      organizationId: z.string().nullable(),
      checkedAt: z.string().nullable(),
      username: z.string().nullable(),
      displayName: z.string().nullable(),
    })
    .nullable(),
  factors: z.object({
    password: check,
    intent: check,
    webAuthN: z.object({ checkedAt: z.string(), userVerified: z.boolean() }).nullable(),
    totp: check,
    otpSms: check,
    otpEmail: check,
    recoveryCode: check,
  }),
  hasToken: z.boolean().describe("a session token was issued; the token and its id are never returned"),
  metadata: z.record(z.string(), z.string()).describe("key → base64 value"),
  userAgent: z
    .object({
      fingerprintId: z.string().nullable(),
      ip: z.string().nullable(),
      description: z.string().nullable(),
      header: z.record(z.string(), z.array(z.string())).nullable(),
    })
    .nullable(),
  expirationDate: z.string().nullable(),
  details: detailsSchema,
});

// Explicit columns: the token id stays in the database.
const SELECT = `SELECT s.id, s.resource_owner, s.creation_date, s.change_date, s.sequence, s.state, s.creator,
  s.user_id, s.user_resource_owner, s.user_checked_at, s.password_checked_at, s.intent_checked_at,
  s.webauthn_checked_at, s.webauthn_user_verified, s.totp_checked_at, s.otp_sms_checked_at,
  s.otp_email_checked_at, s.mfa_recovery_code_checked_at, s.metadata, s.token_id IS NOT NULL AS has_token,
  s.user_agent_fingerprint_id, s.user_agent_ip, s.user_agent_description, s.user_agent_header, s.expiration,
  su.username, su.display_name
FROM sessions s
LEFT JOIN session_users su ON su.instance_id = s.instance_id AND su.user_id = s.user_id`;

type Row = Record<string, unknown> & { id: string };
const checked = (d: unknown) => (d instanceof Date ? { checkedAt: d.toISOString() } : null);
const stateName = (n: unknown) => (n === SessionState.active ? "active" : n === SessionState.terminated ? "terminated" : "unspecified");

function toSession(r: Row): z.infer<typeof sessionSchema> {
  const ua = [r.user_agent_fingerprint_id, r.user_agent_ip, r.user_agent_description, r.user_agent_header].some((v) => v != null);
  return {
    id: r.id,
    state: stateName(r.state),
    creator: r.creator as string,
    user: r.user_id
      ? {
          id: r.user_id as string,
          organizationId: r.user_resource_owner as string | null,
          checkedAt: iso(r.user_checked_at),
          username: (r.username as string | null) ?? null,
          displayName: (r.display_name as string | null) ?? null,
        }
      : null,
    factors: {
      password: checked(r.password_checked_at),
      intent: checked(r.intent_checked_at),
      webAuthN:
        r.webauthn_checked_at instanceof Date
          ? { checkedAt: r.webauthn_checked_at.toISOString(), userVerified: r.webauthn_user_verified === true }
          : null,
      totp: checked(r.totp_checked_at),
      otpSms: checked(r.otp_sms_checked_at),
      otpEmail: checked(r.otp_email_checked_at),
      recoveryCode: checked(r.mfa_recovery_code_checked_at),
    },
    hasToken: r.has_token === true,
    metadata: (r.metadata as Record<string, string> | null) ?? {},
    userAgent: ua
      ? {
          fingerprintId: r.user_agent_fingerprint_id as string | null,
          ip: r.user_agent_ip as string | null,
          description: r.user_agent_description as string | null,
          header: r.user_agent_header as Record<string, string[]> | null,
        }
      : null,
    expirationDate: iso(r.expiration),
    details: toDetails(r),
  };
}

export const sessionRoutes =
  ({ db }: RouteDeps): FastifyPluginAsync =>
  async (app) => {
    app.get(
      "/sessions/:sessionId",
      {
        schema: {
          summary: "Get a session by id",
          tags: ["sessions"],
          params: z.strictObject({ sessionId: idSchema }),
          response: { 200: sessionSchema },
        },
      },
      async (req) => {
        const { sessionId } = req.params as { sessionId: string };
        const w = tenantWhere(req.tenant, "s", orgScope);
        w.add((p) => `s.id = ${p(sessionId)}`);
        const rows = await tenantRows(db, req.tenant.instanceId, w.prepared(SELECT));
        if (!rows[0]) throw notFound(`session ${sessionId} not found`);
        return toSession(rows[0] as Row);
      },
    );

    app.get(
      "/sessions",
      {
        schema: {
          summary: "Search sessions",
          description:
            "Filters are AND-ed. Terminated sessions are deleted; expired ones stay until filtered out (`active`, `expiresAfter`). " +
            "Pagination is keyset: pass `nextCursor` back as `cursor` with the same sort and order.",
          tags: ["sessions"],
          querystring: listQuery,
          response: { 200: z.object({ result: z.array(sessionSchema), nextCursor: z.string().nullable() }) },
        },
      },
      async (req) => {
        const q = req.query as z.infer<typeof listQuery>;
        const w = tenantWhere(req.tenant, "s", orgScope);
        if (q.ids) w.add((p) => `s.id = ANY(${p(q.ids)}::text[])`);
        if (q.userId) w.add((p) => `s.user_id = ${p(q.userId)}`);
        if (q.creator) w.add((p) => `s.creator = ${p(q.creator)}`);
        if (q.userAgentFingerprintId) w.add((p) => `s.user_agent_fingerprint_id = ${p(q.userAgentFingerprintId)}`);
        if (q.creationDateFrom) w.add((p) => `s.creation_date >= ${p(q.creationDateFrom)}`);
        if (q.creationDateTo) w.add((p) => `s.creation_date < ${p(q.creationDateTo)}`);
        // As in ZITADEL, "expires after" also matches sessions that never expire.
        if (q.expiresAfter) w.add((p) => `(s.expiration IS NULL OR s.expiration > ${p(q.expiresAfter)})`);
        if (q.expiresBefore) w.add((p) => `s.expiration < ${p(q.expiresBefore)}`);
        if (q.active === true) w.add(() => "(s.expiration IS NULL OR s.expiration > now())");
        if (q.active === false) w.add(() => "s.expiration <= now()");
        const sort = SORTS[q.sort];
        const cmp = q.order === "asc" ? ">" : "<";
        if (q.cursor) {
          const c = decodeCursor(q.cursor, { s: q.sort, d: q.order });
          w.add((p) => `(${sort.sql}, s.id) ${cmp} (${cursorValue(sort.kind, c.v, p)}, ${p(c.id)}::text)`);
        }
        const sql = `${SELECT.replace("\nFROM sessions s", `, ${sortValue(sort)} AS sort_value\nFROM sessions s`)}${w.sql()} ORDER BY ${sort.sql} ${q.order}, s.id ${q.order} LIMIT ${q.limit + 1}`;
        const rows = (await tenantRows(db, req.tenant.instanceId, { text: sql, values: w.values })) as Row[];
        const page = rows.slice(0, q.limit);
        const last = page.at(-1);
        const nextCursor = rows.length > q.limit && last ? encodeCursor({ s: q.sort, d: q.order, v: last.sort_value as string | number, id: last.id }) : null;
        return { result: page.map(toSession), nextCursor };
      },
    );
  };
